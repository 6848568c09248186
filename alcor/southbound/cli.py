"""`alcor sim`: many simulated agents in one process, for scale tests."""


def sim() -> None:
    """Run simulated host agents."""
