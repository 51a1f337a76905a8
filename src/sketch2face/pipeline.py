"""SketchToFacePipeline: sketch in any form -> face photo. The CLI, evaluation and the web app all
call this; nothing else pre- or post-processes images."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from .backends import BackendUnavailableError, OnnxBackend, TorchBackend, choose_backend, onnx_file
from .data.transforms import (
    Frame, ImageInput, InputImageError, crop_to_frame, from_model_range, load_image, pad_to_square,
    erase_ruled_lines, prepare_photo, resize, square_region, strengthen_lines, style_planes, to_grayscale,
    to_model_range, whiten_paper,
)
from .io import COMPOSITES, DEFAULT_MODEL, Release, resolve_model_dir

#: A sketch whose darkest ink is this close to the paper (grey levels) is treated as blank.
BLANK_CONTRAST = 12


@dataclass
class PreparedSketch:
    """A sketch ready for the generator: (1, S, S) float32 in [-1, 1] and where it sat in its square."""

    values: np.ndarray
    frame: Frame
    greyscale: np.ndarray
    kind: str = "lines"
    """"portrait" (shaded, like CUFS's pencil portraits) or "lines" (``drawing_kind``)."""
    composed: bool = False
    """A line drawing turned into a portrait or photo of real face parts (``sketch2face.compose``)."""
    photo: np.ndarray | None = None
    """A face photo composed from real face parts (uint8 RGB at the model's resolution): the result
    itself, no generator runs for it."""
    base_face: int | None = None
    """With composing: the bank face whose head, hair and background the composite has (pass it back
    as ``keep_base`` while the same drawing goes on, so the person stays)."""
    how_drawn: str | None = None
    """With composing: matched as a head drawn with its hair or shoulder outline ("outline"), as a face
    drawn alone ("face"), or as a face drawn alone framed as such ("enlarged face"):
    ``compose.ExemplarBank.how_drawn``."""


#: Share of a framed 256x256 sketch's pixels that are mid-grey (100-224) and not the anti-aliased rim
#: of a dark stroke. Measured on up to 200 sketches per folder (``python scripts/measure_shading.py``):
#: CUFS train 0.066-0.480 (median 0.172), all 338 CUFS test 0.073-0.587; freehand training drawings 0-0.053
#: (p95 0.013); FS2K's artists' drawings spread over both sides (0.016-0.330, medians 0.086-0.157).
SHADED_SHARE = 0.06
#: The framing at which SHADED_SHARE was measured, and the fidelity and composing banks were made
#: (``fidelity.FRAME``; not imported from there, which would load OpenCV with every pipeline import).
MEASURED_AT = 256


def shaded_share(square: np.ndarray) -> float:
    """Mid-grey share of a uint8 sketch: shading, as opposed to lines on paper."""
    import cv2

    near_dark = cv2.dilate((square < 100).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return float(((square >= 100) & (square < 225) & ~near_dark).mean())


#: Where a framed 256x256 sketch's face would be shaded (x0, y0, x1, y1): the mean face's
#: (``freehand.MEAN_LANDMARKS_256``) width at the jaw, from 20 px above its brows to 12 px below its mouth.
FACE_INTERIOR = (70, 90, 186, 210)
#: A photographed drawing (grey paper, whitened) is a shaded portrait only if FACE_INTERIOR is shaded this
#: much, besides SHADED_SHARE overall: a phone's blur and noise turn the rims of thin lines and the
#: strands of a hatched head of hair into mid-grey, and a bare face between them is what tells a line
#: drawing. Chosen on photographed validation drawings (LFW A-S by the three non-test procedures) and
#: CUFS train and FS2K portraits: the largest of 0.08, 0.10, ... 0.16 that read none of those portraits
#: as lines (docs/experiments.md, E30). With it, photographed validation drawings read as lines 693 of
#: 720 times, 599 without (``scripts/measure_line_strength.py --photographed``); of 498 photographed FS2K
#: portraits one more is read as lines, of 400 CUFS none (``scripts/measure_shading.py``). Drawings on
#: white paper are judged by SHADED_SHARE alone.
SHADED_FACE_SHARE = 0.10


def drawing_kind(square: np.ndarray, photographed: bool = False) -> str:
    """"portrait" for a shaded sketch, "lines" for a line drawing (what a routed model dispatches on).
    The pipeline asks it of the drawing framed at 256x256 with its lines strengthened
    (``transforms.strengthen_lines``); ``photographed``: it was on grey paper (``whiten_paper`` whitened
    it), and its face must be shaded too (SHADED_FACE_SHARE)."""
    if shaded_share(square) < SHADED_SHARE:
        return "lines"
    if photographed:
        x0, y0, x1, y1 = FACE_INTERIOR
        if shaded_share(square[y0:y1, x0:x1]) < SHADED_FACE_SHARE:
            return "lines"
    return "portrait"


#: Where a drawing's ink sits in the models' framing: its larger side spans this share of the frame,
#: with its centre this far down. Measured on 400 freehand training drawings
#: (``python scripts/measure_framing.py cache/freehand-lfw [--no-silhouette]``): with the hair and
#: shoulder outline, span 0.843 and centre 0.516 (medians); the face alone, without hair, 0.492 and
#: 0.650. A head drawn with its hair lies between; the values below aim at it.
FRAMED_INK_SPAN = 0.8
FRAMED_INK_CENTRE_Y = 0.53
#: The framing of a face drawn alone, without hair or shoulder outline (the measurement above, with
#: ``--no-silhouette``): the composer uses it for a drawing its bank takes for a face drawn alone that
#: the framing above enlarged (``compose.ExemplarBank.how_drawn``).
FACE_ALONE_INK_SPAN = 0.49
FACE_ALONE_INK_CENTRE_Y = 0.65
#: Drawings whose ink spans less than this share of the square, or that sit further than this off
#: centre while spanning less than the framing above, are brought to it; the rest (pencil portraits,
#: artists' line drawings, drawings that fill the canvas) are only padded to a square.
FRAMED_ENOUGH_SPAN = 0.45
FRAMED_ENOUGH_OFFSET = 0.1


def ink_box(grey: np.ndarray) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of a drawing's ink, ignoring the outermost 0.5 % of it (specks, stray marks)."""
    paper = float(np.median(grey))
    ys, xs = np.nonzero(grey < paper - 50)
    if len(xs) < 20:
        return None
    x0, x1 = np.percentile(xs, [0.5, 99.5])
    y0, y1 = np.percentile(ys, [0.5, 99.5])
    return float(x0), float(y0), float(x1) + 1, float(y1) + 1


def locate_drawing(grey: np.ndarray) -> tuple[int, int, int] | None:
    """The square (left, top, side) that brings a small or off-centre drawing to the models' framing,
    or None when the drawing is framed well enough already."""
    box = ink_box(grey)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    height, width = grey.shape
    square = max(height, width)
    span = max(x1 - x0, y1 - y0)
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    offset = max(abs(centre_x - width / 2), abs(centre_y - height / 2))
    small = span < FRAMED_ENOUGH_SPAN * square
    off_centre = offset > FRAMED_ENOUGH_OFFSET * square and span < FRAMED_INK_SPAN * square
    if not (small or off_centre):
        return None
    side = max(16, int(round(span / FRAMED_INK_SPAN)))
    return int(round(centre_x - side / 2)), int(round(centre_y - FRAMED_INK_CENTRE_Y * side)), side


def face_alone_region(grey: np.ndarray) -> tuple[int, int, int] | None:
    """The square (left, top, side) in which a drawing's ink sits as a face drawn alone sits in the
    models' framing (FACE_ALONE_INK_SPAN, FACE_ALONE_INK_CENTRE_Y), or None for a drawing without ink."""
    box = ink_box(grey)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    side = max(16, int(round(max(x1 - x0, y1 - y0) / FACE_ALONE_INK_SPAN)))
    return (int(round((x0 + x1) / 2 - side / 2)), int(round((y0 + y1) / 2 - FACE_ALONE_INK_CENTRE_Y * side)), side)


def clean_drawing(image: ImageInput) -> tuple[np.ndarray, bool]:
    """The drawing as every model reads it, before framing: greyscale (transparency -> white paper),
    grey or unevenly lit paper whitened (``whiten_paper``, as in a photo of a drawing) and a ruled or
    squared page's printed lines erased (``erase_ruled_lines``). Returns the uint8 image and whether
    the paper needed whitening (a photographed drawing, which ``drawing_kind`` judges more strictly).

    Raises:
        InputImageError: unreadable input or a blank drawing.
    """
    as_given = to_grayscale(load_image(image))
    whitened = whiten_paper(as_given)
    grey = erase_ruled_lines(whitened)
    if int(grey.max()) - int(grey.min()) < BLANK_CONTRAST:
        raise InputImageError("the sketch is blank: draw or upload a face first")
    return grey, whitened is not as_given


def preprocess_sketch(image: ImageInput, resolution: int = 256, align: bool = True,
                      fidelity: float = 1.0, compose: bool = False, variation: int = 0,
                      composite: str = "portrait", keep_base: int | None = None,
                      photographed: bool = False) -> PreparedSketch:
    """Read, convert to greyscale (transparency -> white paper; grey or unevenly lit paper, as in a
    photo of a drawing, whitened: ``whiten_paper``; a ruled or squared page's lines erased:
    ``erase_ruled_lines``), frame, resize (a line drawing's lines kept dark
    and at least a pixel wide: ``strengthen_lines``), and move each face
    part towards plausible training drawings when ``fidelity`` < 1 (``sketch2face.fidelity``; for
    line drawings, not shaded portraits). With ``compose``, a line drawing becomes a ``composite`` of
    real face parts that look like its parts (``sketch2face.compose``; ``variation`` k takes the k-th
    next nearest parts; ``keep_base`` keeps the previous composite's person while it still fits): a
    "portrait" (pencil), which a routed model renders with its portrait model, or a "photo", which is
    the result (``PreparedSketch.photo``).

    Framing: a drawing that is small or off centre is cropped (or padded) to a square around its ink
    (``locate_drawing``); anything else, and everything with ``align=False``, is padded to a square.
    A line drawing to compose is also framed as a face drawn alone (``face_alone_region``; with
    ``align=False``, the same square), for the composer to use if it takes it for one.
    ``PreparedSketch.frame`` maps the output back to the input's frame either way.

    ``photographed``: judge it as a photo of a drawing though its paper is white (whitened already by
    ``clean_drawing``, as the web page does to an upload before it goes on the canvas).

    Raises:
        InputImageError: unreadable input or a blank sketch.
        ValueError: fidelity outside [0, 1], or an unknown composite.
    """
    if not 0.0 <= fidelity <= 1.0:
        raise ValueError(f"fidelity must be between 0 and 1, got {fidelity}")
    if composite not in COMPOSITES:
        raise ValueError(f"composite must be one of {', '.join(COMPOSITES)}, got {composite!r}")
    grey, whitened_here = clean_drawing(image)
    region = locate_drawing(grey) if align else None
    if region is None:
        square, frame = pad_to_square(grey, fill=255)
    else:
        square, frame = square_region(grey, *region, fill=255)
    # the kind's threshold, the part bank and the face bank are all at 256x256, whatever the model's size;
    # the kind is judged on the lines strengthened (faint or thin lines would read as shading), and only
    # a line drawing goes on strengthened
    lines_at_256 = strengthen_lines(square, MEASURED_AT)
    kind = drawing_kind(lines_at_256, photographed=photographed or whitened_here)
    if kind == "lines":
        at_256 = lines_at_256
        square = at_256 if resolution == MEASURED_AT else strengthen_lines(square, resolution)
    else:
        at_256, square = resize(square, (MEASURED_AT, MEASURED_AT)), resize(square, (resolution, resolution))
    composed = compose and kind == "lines"
    base_face = how_drawn = None
    if fidelity < 1.0 or composed:
        if fidelity < 1.0:
            from .fidelity import apply_fidelity

            at_256 = apply_fidelity(at_256, fidelity)
        if composed:
            from .compose import compose_drawing

            as_framed, alone_region = at_256, face_alone_region(grey) if align else None
            if alone_region is not None:
                alone_square, alone_frame = square_region(grey, *alone_region, fill=255)

            def face_alone() -> np.ndarray:  # only for a face drawn alone that the framing enlarged
                if alone_region is None:
                    return as_framed
                square = strengthen_lines(alone_square, MEASURED_AT)
                return apply_fidelity(square, fidelity) if fidelity < 1.0 else square

            made = compose_drawing(at_256, composite, variation, keep_base, face_alone=face_alone)
            base_face, how_drawn = made.faces["base"], made.how_drawn
            if how_drawn == "enlarged face" and alone_region is not None:
                frame, square = alone_frame, strengthen_lines(alone_square, resolution)
            if composite == "photo":
                photo = made.image if resolution == MEASURED_AT else resize(made.image, (resolution, resolution))
                return PreparedSketch(to_model_range(square)[None], frame, grey, kind, composed, photo, base_face,
                                      how_drawn)
            at_256, kind = made.image, "portrait"
        square = at_256 if resolution == MEASURED_AT else resize(at_256, (resolution, resolution))
    return PreparedSketch(to_model_range(square)[None], frame, grey, kind, composed, base_face=base_face,
                          how_drawn=how_drawn)


def release_routes(model) -> dict[str, str] | None:
    """A routed release's models by drawing kind ({"portrait": ..., "lines": ...}), or None.

    A routed release is a folder whose config.json has ``"arch": "router"`` and ``"routes"`` naming
    two releases or bundled models; it holds no weights of its own."""
    if model is not None and not isinstance(model, (str, Path)):
        return None
    return Release.open(model).routes


@dataclass
class SketchResult:
    """What became of one input of ``SketchToFacePipeline.run``: the face and the sketch as the model
    saw it, or the error that stopped it."""

    source: ImageInput
    face: Image.Image | None = None
    prepared: PreparedSketch | None = None
    error: InputImageError | None = None


def runs_here(model) -> bool:
    """Whether a release (or both models of a routed one) can run with what is installed: the light
    install without PyTorch runs only releases that ship ONNX files."""
    routes = release_routes(model)
    try:
        for name in routes.values() if routes else [model]:
            choose_backend(resolve_model_dir(name))
    except BackendUnavailableError:
        return False
    return True


class _ModelRunner:
    """Loads a generator (bundled name, release folder or module) behind an inference backend."""

    def __init__(self, model=None, precision: str | None = None, backend: str = "auto"):
        if model is not None and not isinstance(model, (str, Path)):  # a torch module
            if backend == "onnx":
                raise ValueError("a module runs with the torch backend; export it for onnx")
            self.model_dir = getattr(model, "release_dir", None)
            self.model_name = getattr(model, "arch_name", type(model).__name__)
            self.backend = TorchBackend(model, precision or "fp32")
            self.metadata = getattr(model, "release_metadata", {})
            self.in_channels = model.config.in_channels
        else:
            release = Release.open(model)
            self.model_dir = release.directory
            self.model_name = str(model) if model is not None else DEFAULT_MODEL
            self.metadata = release.metadata
            self.in_channels = release.in_channels
            backend, precision = choose_backend(self.model_dir, backend, precision)
            if backend == "onnx":
                self.backend = OnnxBackend(onnx_file(self.model_dir, precision), precision)
            else:
                from .io import load_pretrained

                self.backend = TorchBackend(load_pretrained(self.model_dir), precision)
        self.precision = self.backend.precision
        training = self.metadata.get("training", {})  # a module's record, or its release's
        self.resolution = int(training.get("image_size", 256))
        self.direction = training.get("direction", "sketch_to_photo")
        self.styles: list[str] = list(training.get("styles") or [])

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, C_in, S, S) float32 in [-1, 1] -> (N, C_out, S, S) float32 in [-1, 1]."""
        return self.backend(batch)


class SketchToFacePipeline(_ModelRunner):
    """Preprocess -> generator -> postprocess.

    A routed release (``release_routes``) sends each sketch to one of two models by its kind: shaded
    portraits to one, line drawings to the other (``drawing_kind``); ``predict`` runs the line model.

    Args:
        model: a bundled model name, a release folder, or a generator module (default: the default model).
        backend: "auto" (ONNX Runtime when installed and the release has an ONNX file, else PyTorch),
            "onnx" or "torch".
        precision: torch: "fp32" or "bf16" (autocast; faster on CPUs with AMX); onnx: "fp32" or "int8".
            Default fp32.
        align: bring small or off-centre drawings to the model's framing (``locate_drawing``); with
            ``keep_size`` the face is put back where the drawing was.
        fidelity: 1 follows the strokes exactly; lower values move each face part of a line drawing
            towards the nearest training drawings, 0 being the most plausible drawing near the strokes.
        compose: compose line drawings from real face parts that look like their parts
            (``sketch2face.compose``): a face with skin and hair where the line model gives a smooth
            average face, at the price of following the strokes only part by part. A router's release
            says whether it composes by default and into what (``Release.compose_lines``: a pencil
            portrait its portrait model renders, or a photo); a pipeline told to compose that has
            no such setting composes portraits.

    >>> pipe = SketchToFacePipeline()                      # doctest: +SKIP
    >>> face = pipe("sketch.png")                          # doctest: +SKIP
    """

    def __init__(self, model=None, precision: str | None = None, backend: str = "auto", align: bool = True,
                 fidelity: float = 1.0, compose: bool | None = None):
        routes = release_routes(model)
        self.portrait_runner: _ModelRunner | None = None
        composes_by_default, self.composite = False, "portrait"
        if routes is None:
            super().__init__(model, precision, backend)
        else:  # a routed release: line drawings to one model, shaded portraits to another
            super().__init__(routes["lines"], precision, backend)
            self.portrait_runner = _ModelRunner(routes["portrait"], precision, backend)
            self.routes = routes
            release = Release.open(model)
            composes_by_default = release.compose_lines is not None
            self.composite = release.compose_lines or self.composite
            self.model_dir = release.directory
            self.model_name = str(model) if model is not None else DEFAULT_MODEL
            self.metadata = release.metadata
            if self.portrait_runner.resolution != self.resolution:
                raise ValueError(f"{self.model_name}: its two models work at different resolutions")
        if self.direction != "sketch_to_photo" or self.in_channels != 1:
            raise ValueError(f"{self.model_name} is a photo -> sketch model; use PhotoToSketchPipeline "
                             "(sketch2face sketchify --model)")
        if not 0.0 <= fidelity <= 1.0:
            raise ValueError(f"fidelity must be between 0 and 1, got {fidelity}")
        self.align, self.fidelity = align, fidelity
        self.compose = composes_by_default if compose is None else compose

    def preprocess(self, image: ImageInput, fidelity: float | None = None, align: bool | None = None,
                   compose: bool | None = None, variation: int = 0, keep_base: int | None = None,
                   photographed: bool = False) -> PreparedSketch:
        """Read, convert to greyscale (transparency -> white paper), frame, resize and apply the
        fidelity control and composition (``preprocess_sketch``); ``fidelity``, ``align`` and ``compose``
        default to the pipeline's.

        Raises:
            InputImageError: unreadable input or a blank sketch.
        """
        return preprocess_sketch(image, self.resolution, self.align if align is None else align,
                                 self.fidelity if fidelity is None else fidelity,
                                 self.compose if compose is None else compose, variation, self.composite,
                                 keep_base, photographed)

    def postprocess(self, output: np.ndarray, frame: Frame, keep_size: bool = False) -> Image.Image:
        """(3, S, S) in [-1, 1], or a composed photo (S, S, 3) uint8 -> RGB image at the model's
        resolution or cropped back to the input's frame."""
        face = output if output.dtype == np.uint8 else from_model_range(np.transpose(output, (1, 2, 0)))
        if keep_size:
            face = crop_to_frame(face, frame)
        return Image.fromarray(face, "RGB")

    def __call__(self, images: ImageInput | Sequence[ImageInput], keep_size: bool = False,
                 batch_size: int = 8) -> Image.Image | list[Image.Image]:
        """Generate one face per sketch. A single input gives one image, a list gives a list.

        Raises:
            InputImageError: the first input that cannot be read or is blank (``run`` goes on instead).
        """
        single = not isinstance(images, (list, tuple))
        faces = []
        for result in self.run([images] if single else images, keep_size=keep_size, batch_size=batch_size):
            if result.error is not None:
                raise result.error
            faces.append(result.face)
        return faces[0] if single else faces

    def run(self, images: Iterable[ImageInput], keep_size: bool = False, batch_size: int = 8,
            fidelity: float | None = None, align: bool | None = None, compose: bool | None = None,
            variation: int = 0, keep_base: int | None = None, photographed: bool = False) -> Iterator[SketchResult]:
        """Yield one ``SketchResult`` per input, in order, ``batch_size`` inputs per generator call: the
        one inference loop of the CLI, evaluation, the web app and the benchmarks. An input that cannot
        be read, or is blank, yields its error and the others go on."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        pending: list[SketchResult] = []

        def flush() -> list[SketchResult]:
            ready = [r for r in pending if r.error is None]
            faces = self.generate_prepared([r.prepared for r in ready], keep_size, batch_size)
            for result, face in zip(ready, faces):
                result.face = face
            return pending[:]

        for image in images:
            try:
                pending.append(SketchResult(image, prepared=self.preprocess(image, fidelity, align, compose, variation,
                                                                            keep_base, photographed)))
            except InputImageError as error:
                pending.append(SketchResult(image, error=error))
            if len(pending) == batch_size:
                yield from flush()
                pending.clear()
        if pending:
            yield from flush()

    def generate_prepared(self, prepared: Sequence[PreparedSketch], keep_size: bool = False,
                          batch_size: int = 8) -> list[Image.Image]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        faces: list[Image.Image | None] = [None] * len(prepared)
        groups: dict[str, list[int]] = {}
        for index, item in enumerate(prepared):
            if item.photo is not None:  # composed from photos: already the face
                faces[index] = self.postprocess(item.photo, item.frame, keep_size)
                continue
            groups.setdefault(item.kind if self.portrait_runner is not None else "all", []).append(index)
        for kind, indices in groups.items():
            predict = self.portrait_runner.predict if kind == "portrait" else self.predict
            for start in range(0, len(indices), batch_size):
                chunk = indices[start:start + batch_size]
                outputs = predict(np.stack([prepared[i].values for i in chunk]))
                for i, output in zip(chunk, outputs):
                    faces[i] = self.postprocess(output, prepared[i].frame, keep_size)
        return faces


class PhotoToSketchPipeline(_ModelRunner):
    """The reverse direction: a face photo -> a sketch in a style the model was trained on.

    A style-conditioned model (trained with ``data.styles``) lists its styles in ``self.styles``;
    ``pipe(photo, style="fs2k-style1")`` picks one, the first is the default.
    """

    def __init__(self, model=None, precision: str | None = None, backend: str = "auto"):
        super().__init__(model, precision, backend)
        if self.direction != "photo_to_sketch":
            raise ValueError(f"{self.model_name} turns sketches into photos, not photos into sketches")
        if self.in_channels != 3 + len(self.styles):
            raise ValueError(f"{self.model_name}: {self.in_channels} input channels do not match an RGB photo "
                             f"plus {len(self.styles)} style plane(s)")

    def style_index(self, style: str | None) -> int | None:
        """Index of ``style`` among the model's styles (None: the default); ValueError for an unknown one."""
        if not self.styles:
            if style is not None:
                raise ValueError(f"{self.model_name} has a single style; do not pass style={style!r}")
            return None
        if style is None:
            return 0
        if style not in self.styles:
            raise ValueError(f"{self.model_name} has no style {style!r}; choose one of {', '.join(self.styles)}")
        return self.styles.index(style)

    def __call__(self, image: ImageInput, keep_size: bool = False, style: str | None = None) -> Image.Image:
        index = self.style_index(style)
        square, frame = prepare_photo(image, self.resolution)
        batch = np.transpose(to_model_range(square), (2, 0, 1))[None]
        if index is not None:
            batch = np.concatenate([batch, style_planes([index], len(self.styles), self.resolution)], axis=1)
        sketch = from_model_range(self.predict(batch)[0, 0])
        if keep_size:
            sketch = crop_to_frame(sketch, frame)
        return Image.fromarray(sketch, "L")
