"""sketch2face: turn face sketches into photorealistic face photos."""
from .io import load_pretrained, save_pretrained
from .pipeline import SketchToFacePipeline

__all__ = ["SketchToFacePipeline", "create_model", "list_models", "load_pretrained", "save_pretrained"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # the model registry imports torch; the light install (ONNX Runtime only) never needs it
    if name in ("create_model", "list_models"):
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module 'sketch2face' has no attribute {name!r}")
