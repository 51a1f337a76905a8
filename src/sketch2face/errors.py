"""Exceptions shared by modules that must not import each other's heavy dependencies."""


class MetricUnavailableError(RuntimeError):
    """A metric's network is not installed; the message says which package provides it."""
