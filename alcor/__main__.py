"""`python -m alcor` is the `alcor` command."""

from alcor.cli import main

main()
