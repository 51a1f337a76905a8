"""Architectures and presets registered by name (after timm's ``register_model`` / ``create_model``)."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

from torch import nn

_ARCHITECTURES: dict[str, type[nn.Module]] = {}
_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make an architecture creatable by ``create_model(name)``.

    The class must define a nested ``Config`` dataclass and take it as its only argument.
    """

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _ARCHITECTURES or name in _PRESETS:
            raise ValueError(f"model {name!r} already registered")
        cls.arch_name = name
        _ARCHITECTURES[name] = cls
        return cls

    return decorate


def register_preset(name: str, arch: str, **config: Any) -> None:
    """Register a named configuration of an architecture (e.g. the ``-tiny`` presets used in tests)."""
    if name in _ARCHITECTURES or name in _PRESETS:
        raise ValueError(f"model {name!r} already registered")
    _PRESETS[name] = (arch, config)


def create_model(name: str, **config: Any) -> nn.Module:
    """Build an architecture or preset by name; keyword arguments override its config fields.

    >>> g = create_model("unet-tiny")
    >>> g.config.base_channels
    4
    """
    if name in _PRESETS:
        arch, preset = _PRESETS[name]
        config = {**preset, **config}
        name = arch
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose from {list_models()}")
    cls = _ARCHITECTURES[name]
    known = {f.name for f in fields(cls.Config)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{name}: unknown config field(s) {unknown}; known: {sorted(known)}")
    return cls(cls.Config(**config))


def list_models(kind: str | None = None) -> list[str]:
    """Names of registered architectures and presets, optionally only "generator" or "discriminator"."""
    names = []
    for name in sorted({*_ARCHITECTURES, *_PRESETS}):
        arch = _PRESETS[name][0] if name in _PRESETS else name
        if kind is None or getattr(_ARCHITECTURES[arch], "kind", None) == kind:
            names.append(name)
    return names
