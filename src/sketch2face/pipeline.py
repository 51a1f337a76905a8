"""SketchToFacePipeline: sketch in any form -> face photo. The CLI, evaluation and the web app all
call this; nothing else pre- or post-processes images."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from .data.transforms import (
    Frame, ImageInput, InputImageError, crop_to_frame, from_model_range, load_image, pad_to_square,
    resize, to_grayscale, to_model_range,
)
from .io import DEFAULT_MODEL, load_pretrained

#: A sketch whose darkest ink is this close to the paper (grey levels) is treated as blank.
BLANK_CONTRAST = 12


@dataclass
class PreparedSketch:
    """A sketch ready for the generator: (1, S, S) float32 in [-1, 1] and where it sat in its square."""

    values: np.ndarray
    frame: Frame
    greyscale: np.ndarray


class SketchToFacePipeline:
    """Preprocess -> generator -> postprocess.

    Args:
        model: a bundled model name, a release folder, or a generator module (default: the default model).
        precision: "fp32" or "bf16" (autocast; faster on CPUs with AMX).

    >>> pipe = SketchToFacePipeline()                      # doctest: +SKIP
    >>> face = pipe("sketch.png")                          # doctest: +SKIP
    """

    def __init__(self, model: str | Path | nn.Module | None = None, precision: str = "fp32"):
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
        if isinstance(model, nn.Module):
            self.generator = model.eval()
            self.model_name = getattr(model, "arch_name", type(model).__name__)
            metadata = {}
        else:
            self.generator = load_pretrained(model)
            self.model_name = str(model) if model is not None else DEFAULT_MODEL
            metadata = self.generator.release_metadata
        self.precision = precision
        self.resolution = int(metadata.get("training", {}).get("image_size", 256))
        self.in_channels = self.generator.config.in_channels

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None, **kwargs) -> "SketchToFacePipeline":
        return cls(name_or_path, **kwargs)

    def preprocess(self, image: ImageInput) -> PreparedSketch:
        """Read, convert to greyscale (transparency -> white paper), pad to a square and resize.

        Raises:
            InputImageError: unreadable input or a blank sketch.
        """
        grey = to_grayscale(load_image(image))
        if int(grey.max()) - int(grey.min()) < BLANK_CONTRAST:
            raise InputImageError("the sketch is blank: draw or upload a face first")
        square, frame = pad_to_square(grey, fill=255)
        square = resize(square, (self.resolution, self.resolution))
        return PreparedSketch(to_model_range(square)[None], frame, grey)

    @torch.no_grad()
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, 1, S, S) float32 in [-1, 1] -> (N, 3, S, S) float32 in [-1, 1]."""
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            output = self.generator(tensor)
        return output.float().numpy()

    def postprocess(self, output: np.ndarray, frame: Frame, keep_size: bool = False) -> Image.Image:
        """(3, S, S) in [-1, 1] -> RGB image at the model's resolution or cropped back to the input's frame."""
        face = from_model_range(np.transpose(output, (1, 2, 0)))
        if keep_size:
            face = crop_to_frame(face, frame)
        return Image.fromarray(face, "RGB")

    def __call__(self, images: ImageInput | Sequence[ImageInput], keep_size: bool = False,
                 batch_size: int = 8) -> Image.Image | list[Image.Image]:
        """Generate one face per sketch. A single input gives one image, a list gives a list."""
        single = not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        prepared = [self.preprocess(item) for item in items]
        faces = self.generate_prepared(prepared, keep_size=keep_size, batch_size=batch_size)
        return faces[0] if single else faces

    def generate_prepared(self, prepared: Sequence[PreparedSketch], keep_size: bool = False,
                          batch_size: int = 8) -> list[Image.Image]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        faces: list[Image.Image] = []
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start:start + batch_size]
            outputs = self.predict(np.stack([p.values for p in chunk]))
            faces += [self.postprocess(o, p.frame, keep_size) for o, p in zip(outputs, chunk)]
        return faces


def side_by_side(sketch: np.ndarray | Image.Image, face: Image.Image, gap: int = 8) -> Image.Image:
    """Sketch (left) and face (right) at the face's height on a white sheet."""
    sketch_img = sketch if isinstance(sketch, Image.Image) else Image.fromarray(sketch)
    sketch_img = sketch_img.convert("RGB")
    height = face.height
    width = max(1, round(sketch_img.width * height / sketch_img.height))
    sketch_img = sketch_img.resize((width, height), Image.Resampling.LANCZOS)
    sheet = Image.new("RGB", (width + gap + face.width, height), "white")
    sheet.paste(sketch_img, (0, 0))
    sheet.paste(face, (width + gap, 0))
    return sheet


def contact_sheet(rows: Sequence[Image.Image], gap: int = 8) -> Image.Image:
    """Stack images vertically on a white sheet (e.g. side-by-side pairs)."""
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height for r in rows) + gap * (len(rows) - 1)), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height + gap
    return sheet


def save_generated(image: Image.Image, path, model_name: str, fmt: str = "png"):
    """Save (to a path or a binary file object) with provenance metadata saying the image is
    AI-generated by sketch2face and by which model."""
    from PIL import PngImagePlugin

    if isinstance(path, (str, Path)):
        path = Path(path)
    note = f"AI-generated by sketch2face from a sketch (model: {model_name}). Not a photograph."
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", "sketch2face")
        info.add_text("Description", note)
        image.save(path, format="PNG", pnginfo=info)
    elif fmt in ("jpg", "jpeg"):
        exif = Image.Exif()
        exif[0x0131] = "sketch2face"  # Software
        exif[0x010E] = note  # ImageDescription
        image.save(path, format="JPEG", quality=95, exif=exif)
    else:
        raise ValueError(f"unknown output format {fmt!r}; choose png or jpg")
    return path
