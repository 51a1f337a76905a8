"""Exceptions shared by modules that must not import each other's heavy dependencies."""


class DatasetError(ValueError):
    """A dataset folder that cannot be used; the message says which file or folder and why."""


class MetricUnavailableError(RuntimeError):
    """A metric's network is not installed; the message says which package provides it."""
