"""``sketch2face prepare-data``: align and cache a dataset as a paired folder that training reads.

Output layout (a paired folder plus a manifest)::

    OUT/photos/NAME.png        aligned photo, SIZE x SIZE RGB
    OUT/sketches/NAME.png      its sketch (hand-drawn, or synthesised in one of --styles)
    OUT/silhouettes/NAME.png   freehand styles only: the person's mask (MediaPipe), for redrawing
    OUT/manifest.json          per item: identity (for identity-disjoint splits), style, source file,
                               aligned or fallback framing, attributes (FS2K), 68 landmarks (freehand
                               styles); plus the options used

Sources: a paired folder (``photos/`` + ``sketches/`` with matching names, nested folders allowed; FS2K's
``annotations.json`` is read for styles and attributes) or ``--photos`` folders of unpaired photos
(LFW: the sub-folder is the identity; elsewhere the file) whose sketches are synthesised, one style
per photo chosen by a seeded hash of its name. Freehand styles (``strokes``, ``sketchy``, ``doodle``;
``data/freehand.py``) draw from the face's landmarks and silhouette, which are kept so that training
can redraw every sample; photos without a detectable face are skipped for them. A second run with the same options reuses every item
already written and only processes new ones.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..io import atomic_write_bytes
from . import freehand
from .align import NoFaceFoundWarning, align_face, detect_landmarks
from ..errors import DatasetError
from .datasets import list_images, paired_files
from .manifest import MANIFEST_FILE
from .sketch import STYLES, synthesize_sketch
from .transforms import InputImageError, load_image, prepare_photo, prepare_sketch, to_grayscale, to_rgb

MANIFEST_VERSION = 2  # 2: photo and sketch of a pair aligned by their own landmarks
SILHOUETTES = "silhouettes"


@dataclass
class PrepareOptions:
    size: int = 256
    align: bool = True
    styles: tuple[str, ...] = ("line", "xdog", "pen")
    """Synthetic styles for unpaired photos (one per photo)."""
    seed: int = 0
    limit: int | None = None
    """Take only N items: the first N sorted by name, or N spread evenly over the whole set with ``spread``."""
    spread: bool = False
    people: str | None = None
    """Only unpaired photos whose identity starts with a letter in this range, e.g. "A-S" (LFW's
    identity-disjoint training people; "T-Z" are kept for the freehand benchmark)."""

    def key(self) -> dict[str, Any]:
        return {"size": self.size, "align": self.align, "styles": list(self.styles), "seed": self.seed,
                "people": self.people}

    def person_wanted(self, identity: str) -> bool:
        if not self.people:
            return True
        first, _, last = self.people.upper().partition("-")
        initial = identity.split("/")[-1][:1].upper()
        return (first or "A") <= initial <= (last or first or "Z")


@dataclass
class PrepareReport:
    written: int = 0
    reused: int = 0
    no_face: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Unreadable, truncated or corrupt images (skipped)."""
    unpaired: list[str] = field(default_factory=list)
    """A photo without its sketch or a sketch without its photo (skipped)."""
    size_mismatch: list[str] = field(default_factory=list)
    """Pairs whose photo and sketch differ in size (kept: each is aligned by its own landmarks)."""


def _safe_name(key: str) -> str:
    return key.replace("/", "__")


def _style_for(name: str, styles: tuple[str, ...], seed: int) -> str:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return styles[int.from_bytes(digest[:4], "big") % len(styles)]


def _fs2k_annotations(root: Path) -> dict[str, dict[str, Any]]:
    path = root / "annotations.json"
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: unreadable annotations ({error})") from None
    return {e["image_name"]: e for e in entries if isinstance(e, dict) and "image_name" in e}


def _align_pair(photo: np.ndarray, sketch: np.ndarray, options: PrepareOptions, label: str):
    """Align a paired photo and sketch, each by its own landmarks, so both land on the canonical
    geometry even when the artist did not trace the photo (FS2K's sketches sit about 3 px, up to
    10 px, away from their photos at 256x256 when placed by the photo's landmarks). When one of
    the two has no detectable face, the other's landmarks (scaled to its size) place both; when
    neither has, both get the centre framing."""
    photo_landmarks = detect_landmarks(photo)
    sketch_landmarks = detect_landmarks(sketch)
    source = {(True, True): "both", (True, False): "photo", (False, True): "sketch", (False, False): "none"}[
        (photo_landmarks is not None, sketch_landmarks is not None)]
    scale = np.array([sketch.shape[1] / photo.shape[1], sketch.shape[0] / photo.shape[0]])
    if sketch_landmarks is None and photo_landmarks is not None:
        sketch_landmarks = photo_landmarks * scale
    elif photo_landmarks is None and sketch_landmarks is not None:
        photo_landmarks = sketch_landmarks / scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoFaceFoundWarning)
        aligned_photo = align_face(photo, options.size, "photo", landmarks=photo_landmarks, name=label)
        aligned_sketch = align_face(sketch, options.size, "sketch", landmarks=sketch_landmarks, name=label)
    return aligned_photo.image, aligned_sketch.image, photo_landmarks is not None, source


def _write_png(path: Path, pixels: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def prepare_dataset(out: str | Path, paired: str | Path | None = None, photos: list[str | Path] | None = None,
                    options: PrepareOptions | None = None, progress: bool = True) -> PrepareReport:
    """Align and cache a paired folder or unpaired photo folders into ``out`` (see module docstring)."""
    options = _checked(options or PrepareOptions())
    if (paired is None) == (not photos):
        raise DatasetError("give either a paired folder or photo folders")
    out = Path(out)
    manifest_path = out / MANIFEST_FILE
    items = _reusable_items(manifest_path, options)
    report = PrepareReport()
    if paired is not None:
        jobs, report.unpaired = _paired_jobs(Path(paired))
    else:
        jobs = _photo_jobs(photos, options)
    if options.limit is not None and options.spread and options.limit < len(jobs):
        # UTKFace's names begin with the age: the first N would all be babies
        jobs = [jobs[i] for i in np.linspace(0, len(jobs) - 1, options.limit).round().astype(int)]
    elif options.limit is not None:
        jobs = jobs[: options.limit]
    for name, job in tqdm(jobs, disable=not progress, unit="item", desc=f"prepare {out.name}"):
        photo_out, sketch_out = out / "photos" / f"{name}.png", out / "sketches" / f"{name}.png"
        if name in items and photo_out.is_file() and sketch_out.is_file():
            report.reused += 1
            continue
        try:
            prepared = _prepare_item(name, job, options, out, report)
        except InputImageError as error:
            report.failed.append(str(error))
            continue
        if prepared is None:
            continue
        photo_img, sketch_img, style, found = prepared
        if options.align and not found:
            report.no_face.append(str(job["photo_file"]))
        _write_png(photo_out, photo_img)
        _write_png(sketch_out, sketch_img)
        items[name] = {"name": name, "identity": job["identity"], "style": style, "source": str(job["photo_file"]),
                       "aligned": bool(options.align and found), "attributes": job.get("attributes", {})}
        if "landmarks" in job:
            items[name].update(landmarks=job["landmarks"], landmarks_size=options.size)
        report.written += 1
    manifest = {"version": MANIFEST_VERSION, "options": options.key(),
                "source": str(paired) if paired is not None else [str(p) for p in photos or []],
                "items": [items[n] for n in sorted(items)]}
    atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
    return report


def _checked(options: PrepareOptions) -> PrepareOptions:
    from .sketch import STYLE_ALIASES

    options.styles = tuple(STYLE_ALIASES.get(s, s) for s in options.styles)
    unknown = [s for s in options.styles if s not in STYLES + freehand.PROCEDURES]
    if unknown:
        raise DatasetError(f"unknown sketch style(s) {unknown}; choose from {STYLES + freehand.PROCEDURES}")
    if options.people is not None and not re.fullmatch(r"[A-Za-z](-[A-Za-z])?", options.people):
        raise DatasetError(f"people must be a letter or a letter range such as A-S, got {options.people!r}")
    return options


def _reusable_items(manifest_path: Path, options: PrepareOptions) -> dict[str, dict[str, Any]]:
    """The items of an earlier run with the same options and manifest version (the cache)."""
    if not manifest_path.is_file():
        return {}
    try:
        old = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        return {}
    if old.get("options") != options.key() or old.get("version") != MANIFEST_VERSION:
        return {}
    return {i["name"]: i for i in old.get("items", [])}


def _paired_jobs(root: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """One job per photo with a same-named sketch (FS2K's annotations give its style); and the files
    without a partner."""
    pairs, unpaired = paired_files(root)
    annotations = _fs2k_annotations(root)
    jobs = []
    for key, photo, sketch in pairs:
        entry = annotations.get(key, {})
        style = f"fs2k-style{entry['style']}" if "style" in entry else "hand-drawn"
        attributes = {k: v for k, v in entry.items() if k not in ("image_name", "style")}
        jobs.append((_safe_name(key), {"photo_file": photo, "sketch_file": sketch,
                                       "identity": key, "style": style, "attributes": attributes}))
    return jobs, unpaired


def _photo_jobs(photos: list[str | Path], options: PrepareOptions) -> list[tuple[str, dict[str, Any]]]:
    jobs = []
    for folder in photos:
        folder = Path(folder)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: not a folder")
        for key, path in list_images(folder).items():
            identity = key.split("/")[0] if "/" in key else key  # LFW: the folder is the person
            if options.person_wanted(identity):
                jobs.append((_safe_name(f"{folder.name}/{key}"), {"photo_file": path,
                                                                   "identity": f"{folder.name}/{identity}"}))
    return sorted(jobs)


def _prepare_item(name: str, job: dict[str, Any], options: PrepareOptions, out: Path, report: PrepareReport):
    """(photo, sketch, style, face found) for one job, or None when a freehand drawing finds no face;
    a freehand job gains its landmarks and writes its silhouette."""
    photo = to_rgb(load_image(job["photo_file"]))
    if "sketch_file" in job:
        sketch = to_grayscale(load_image(job["sketch_file"]))
        if sketch.shape[:2] != photo.shape[:2]:
            report.size_mismatch.append(f"{job['photo_file']}: photo {photo.shape[1]}x{photo.shape[0]}, "
                                        f"sketch {sketch.shape[1]}x{sketch.shape[0]}")
        if options.align:
            photo_img, sketch_img, found, _ = _align_pair(photo, sketch, options, str(job["photo_file"]))
        else:
            photo_img, sketch_img, found = prepare_photo(photo, options.size)[0], prepare_sketch(sketch, options.size), False
        return photo_img, sketch_img, job["style"], found
    if options.align:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoFaceFoundWarning)
            aligned = align_face(photo, options.size, "photo")
        photo_img, found = aligned.image, aligned.found
    else:
        photo_img, found = prepare_photo(photo, options.size)[0], False
    style = _style_for(name, options.styles, options.seed)
    seed = int.from_bytes(hashlib.sha256(f"{options.seed}:{name}".encode()).digest()[:4], "big")
    if style in freehand.PROCEDURES:
        geometry = freehand.detect_geometry(photo_img)
        if geometry is None:
            report.no_face.append(str(job["photo_file"]))
            return None
        sketch_img = freehand.draw_freehand(geometry, options.size, style, rng=seed)
        if geometry.silhouette is not None:
            _write_png(out / SILHOUETTES / f"{name}.png", geometry.silhouette)
        job["landmarks"] = np.round(geometry.landmarks, 1).tolist()
    else:
        sketch_img = synthesize_sketch(photo_img, style, seed=seed)
    if sketch_img.ndim == 3:  # colour style: training sketches are greyscale
        sketch_img = np.asarray(Image.fromarray(sketch_img).convert("L"))
    return photo_img, sketch_img, style, found


