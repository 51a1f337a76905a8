"""Files the batch commands read and write: which images an argument names, where each result goes
(never over an input, never two results on one name), images written atomically with provenance, and
the side-by-side pairs and contact sheets people look at.

>>> files, errors = expand_inputs(["sketches/", "more/*.jpg"])          # doctest: +SKIP
>>> folder = OutputFolder("faces", "png", files)                         # doctest: +SKIP
>>> target = folder.target(files[0])                                     # doctest: +SKIP
"""
from __future__ import annotations

import glob
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, PngImagePlugin

from .data.transforms import IMAGE_SUFFIXES
from .io import atomic_write_bytes

#: Output formats by the names users type; the value is PIL's format name.
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}


class OutputError(OSError):
    """An output that cannot be written (a file where a folder should be, no permission, an input in
    the way); the message names the path and says what to do."""


@dataclass(frozen=True)
class InputFile:
    """An image named on the command line: ``relative`` is where its result goes under the output
    folder (its path inside a folder that was named, else its file name)."""

    path: Path
    relative: Path


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[InputFile], list[str]]:
    """Files, folders (their images, searched recursively, sorted) and glob patterns -> input files;
    plus one error line per argument that names nothing. A file named twice is read once."""
    found: list[InputFile] = []
    errors: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                errors.append(f"{item}: folder holds no images")
            found += [InputFile(p.resolve(), p.relative_to(path)) for p in images]
        elif path.exists():
            found.append(InputFile(path.resolve(), Path(path.name)))
        else:
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True) if Path(m).is_file())
            if not matches:
                errors.append(f"{item}: no such file, folder or matching pattern")
            found += [InputFile(p.resolve(), Path(p.name)) for p in matches]
    unique = list({f.path: f for f in reversed(found)}.values())[::-1]  # first mention wins
    return unique, errors


def ensure_folder(path: str | Path) -> Path:
    """Create an output folder (and its parents) that can be written to, or raise ``OutputError``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder; give a folder for the outputs")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise OutputError(f"{path}: cannot create the folder (permission denied)") from None
    except OSError as error:
        raise OutputError(f"{path}: cannot create the folder ({error.strerror or error})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: the folder is not writable (permission denied)")
    return path


class OutputFolder:
    """Names one output per input: ``root/<relative path of the input>.<format>``.

    An input is never overwritten (``OutputError`` names it), and when two inputs map to one name
    (``a.png`` and ``a.jpg``) the later gets ``a-2.png``; ``renamed`` tells the caller to say so."""

    def __init__(self, root: str | Path, fmt: str, inputs: Sequence[InputFile]):
        if fmt not in IMAGE_FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(IMAGE_FORMATS)}")
        self.root = Path(root)
        self.suffix = "." + ("jpg" if fmt == "jpeg" else fmt)
        self.inputs = {f.path for f in inputs}
        self.taken: set[Path] = set()

    def target(self, item: InputFile) -> tuple[Path, bool]:
        """(path to write, renamed?) for one input."""
        base = (self.root / item.relative).with_suffix(self.suffix)
        path, number = base, 2
        while path.resolve() in self.taken:
            path = base.with_name(f"{base.stem}-{number}{base.suffix}")
            number += 1
        if path.resolve() in self.inputs:
            raise OutputError(f"{path}: is an input; writing the result there would replace it "
                              "(choose another --output)")
        self.taken.add(path.resolve())
        return path, path != base


def save_image(image: Image.Image, path: str | Path | BinaryIO, description: str, fmt: str | None = None) -> None:
    """Save with ``Software``/``Description`` metadata (PNG text, JPEG EXIF). A path is written
    atomically (a temporary file renamed over it: never half a file); its format defaults to its suffix."""
    if fmt is None:
        if not isinstance(path, (str, Path)):
            raise ValueError("give the format when saving to a file object")
        fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(IMAGE_FORMATS)}")
    buffer = io.BytesIO()
    if IMAGE_FORMATS[fmt] == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", "sketch2face")
        info.add_text("Description", description)
        image.save(buffer, format="PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[0x0131] = "sketch2face"  # Software
        exif[0x010E] = description  # ImageDescription
        image.convert("RGB").save(buffer, format="JPEG", quality=95, exif=exif)
    if isinstance(path, (str, Path)):
        atomic_write_bytes(path, buffer.getvalue())
    else:
        path.write(buffer.getvalue())


def save_generated(image: Image.Image, path: str | Path | BinaryIO, model_name: str, fmt: str | None = None):
    """Save a generated image saying it is AI-generated by sketch2face and by which model."""
    save_image(image, path, f"AI-generated by sketch2face from a sketch (model: {model_name}). Not a photograph.",
               fmt)
    return path


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


#: A contact sheet is at most this wide (pixels); more cells go on more rows.
SHEET_MAX_WIDTH = 2400
LABEL_HEIGHT = 14


def contact_sheet(cells: Sequence[Image.Image], labels: Sequence[str] | None = None, gap: int = 8,
                  max_width: int = SHEET_MAX_WIDTH) -> Image.Image:
    """Cells in a grid, row by row, as many per row as fit in ``max_width`` (at least one), each with its
    label (for example the input's name) beneath it, on a white sheet."""
    if not cells:
        raise ValueError("a contact sheet needs at least one image")
    cell_w, cell_h = max(c.width for c in cells), max(c.height for c in cells)
    label_h = LABEL_HEIGHT if labels else 0
    columns = max(1, min(len(cells), (max_width + gap) // (cell_w + gap)))
    rows = math.ceil(len(cells) / columns)
    sheet = Image.new("RGB", (columns * cell_w + (columns - 1) * gap,
                              rows * (cell_h + label_h) + (rows - 1) * gap), "white")
    draw = ImageDraw.Draw(sheet)
    for index, cell in enumerate(cells):
        row, column = divmod(index, columns)
        x, y = column * (cell_w + gap), row * (cell_h + label_h + gap)
        sheet.paste(cell.convert("RGB"), (x, y))
        if labels:
            draw.text((x + 2, y + cell_h + 1), str(labels[index])[:60], fill="black")
    return sheet
