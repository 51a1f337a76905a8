"""sketch2face: turn face sketches into photorealistic face photos."""
from .io import load_pretrained, save_pretrained
from .models import create_model, list_models
from .pipeline import SketchToFacePipeline

__all__ = ["SketchToFacePipeline", "create_model", "list_models", "load_pretrained", "save_pretrained"]
__version__ = "0.1.0"
