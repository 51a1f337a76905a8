"""Generators and discriminators, created by name."""
from .registry import create_model, list_models, register_model, register_preset
from . import bilstm, csi, patchgan, projected, unet, unet_res  # noqa: F401  (importing registers the architectures)

__all__ = ["create_model", "list_models", "register_model", "register_preset"]
