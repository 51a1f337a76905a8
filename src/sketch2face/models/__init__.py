"""Generators and discriminators, created by name."""
from .registry import create_model, list_models, register_model, register_preset
from . import patchgan, unet  # noqa: F401  (importing registers the architectures)

__all__ = ["create_model", "list_models", "register_model", "register_preset"]
