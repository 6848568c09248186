"""Each kind's behaviour (a `Hooks` subclass, and for some kinds `install()` subscribing to
other kinds' events), bound to its declaration by `alcor.resources.registry`."""
