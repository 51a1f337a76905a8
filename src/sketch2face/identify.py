"""Who is this? Turn a sketch into a face and rank a gallery of photos by identity similarity.

    sketch2face identify witness.png --gallery photos/ --top 10 --sheet matches.png

Gallery embeddings (dlib ResNet, 128-d, see ``identity``) are computed once and kept in an index file:
by default in ``~/.cache/sketch2face/galleries/`` (galleries may be read-only), named after the
gallery's absolute path. Each entry remembers its file's size and modification time; a later run
embeds only new or changed photos and forgets deleted ones. The index is written atomically.

A generated face is a likeness, not evidence: the ranked list is a lead for a person to check.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from .data.datasets import list_images
from .data.transforms import ImageInput, InputImageError, load_image, to_grayscale, to_rgb
from .io import atomic_write_bytes

INDEX_VERSION = 1
EMBEDDING_SIZE = 128


def default_index_path(gallery: str | Path) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sketch2face" / "galleries"
    digest = hashlib.sha256(str(Path(gallery).resolve()).encode()).hexdigest()[:16]
    return root / f"{Path(gallery).resolve().name}-{digest}.npz"


@dataclass
class GalleryIndex:
    """Embeddings of every readable photo in a gallery folder (paths relative to ``root``)."""

    root: Path
    paths: list[str]
    fingerprints: list[str]
    embeddings: np.ndarray
    """(N, 128) float32."""
    detected: np.ndarray
    """(N,) bool: a face detector found a face (else the central box was embedded)."""
    unreadable: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def save(self, path: str | Path) -> None:
        buffer = io.BytesIO()
        meta = {"version": INDEX_VERSION, "root": str(self.root.resolve()), "unreadable": self.unreadable}
        np.savez(buffer, embeddings=self.embeddings.astype(np.float32), detected=self.detected,
                 paths=np.array(self.paths, dtype=object).astype(str),
                 fingerprints=np.array(self.fingerprints, dtype=str), meta=np.array(json.dumps(meta)))
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path, root: str | Path) -> "GalleryIndex | None":
        """The stored index for ``root``, or None when missing, unreadable, of another version or folder."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("version") != INDEX_VERSION or meta.get("root") != str(Path(root).resolve()):
                    return None
                embeddings = data["embeddings"]
                if embeddings.ndim != 2 or embeddings.shape[1] != EMBEDDING_SIZE:
                    return None
                return cls(Path(root), [str(p) for p in data["paths"]], [str(f) for f in data["fingerprints"]],
                           embeddings, data["detected"].astype(bool), list(meta.get("unreadable", [])))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # corrupt or truncated: rebuild
            return None


@dataclass
class IndexReport:
    embedded: int = 0
    reused: int = 0
    removed: int = 0
    unreadable: int = 0


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _embed_file(args: tuple[Path, Callable | None]):
    """Worker: read and embed one photo -> (vector, detected) or None when unreadable."""
    path, embed = args
    if embed is None:
        from .identity import embed_face as embed
    try:
        photo = to_rgb(load_image(path))
    except InputImageError:
        return None
    face = embed(photo)
    return np.asarray(face.vector, np.float32), bool(face.detected)


def build_index(gallery: str | Path, index_path: str | Path | None = None,
                embed: Callable[[np.ndarray], "object"] | None = None,
                progress: bool = True, workers: int = 1) -> tuple[GalleryIndex, IndexReport]:
    """Create or update the gallery's index; only new or changed photos are embedded, by ``workers``
    processes (dlib runs one image per core; use the number of cores for a large gallery).

    Raises:
        InputImageError: the gallery folder does not exist or has no images.
    """
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    gallery = Path(gallery)
    if not gallery.is_dir():
        raise InputImageError(f"gallery {gallery} is not a folder")
    index_path = Path(index_path) if index_path else default_index_path(gallery)
    files = list_images(gallery)
    if not files:
        raise InputImageError(f"gallery {gallery} has no images")
    old = GalleryIndex.load(index_path, gallery) if index_path.is_file() else None
    known = {p: (f, i) for i, (p, f) in enumerate(zip(old.paths, old.fingerprints))} if old else {}
    old_unreadable = set(old.unreadable) if old else set()

    report = IndexReport()
    paths, fingerprints, vectors, detected, unreadable = [], [], [], [], []
    todo = []
    for key in sorted(files):
        relative = str(files[key].relative_to(gallery))
        fingerprint = _fingerprint(files[key])
        if relative in known and known[relative][0] == fingerprint:
            i = known[relative][1]
            paths.append(relative)
            fingerprints.append(fingerprint)
            vectors.append(old.embeddings[i])
            detected.append(bool(old.detected[i]))
            report.reused += 1
        elif f"{relative}|{fingerprint}" in old_unreadable:
            unreadable.append(f"{relative}|{fingerprint}")
        else:
            todo.append((relative, fingerprint))
    current = {str(files[k].relative_to(gallery)) for k in files}
    report.removed = sum(1 for p in known if p not in current)
    save_every = 500  # a long first indexing run keeps its work if interrupted
    jobs = [(gallery / relative, embed) for relative, _ in todo]
    pool = ProcessPoolExecutor(workers) if workers > 1 and len(todo) > 1 else None
    results = pool.map(_embed_file, jobs, chunksize=8) if pool else map(_embed_file, jobs)
    try:
        for n, ((relative, fingerprint), result) in enumerate(
                zip(todo, tqdm(results, total=len(todo), desc="indexing gallery", unit="photo",
                               disable=not progress or not todo)), 1):
            if result is None:
                unreadable.append(f"{relative}|{fingerprint}")
                continue
            paths.append(relative)
            fingerprints.append(fingerprint)
            vectors.append(result[0])
            detected.append(result[1])
            report.embedded += 1
            if n % save_every == 0:
                _make_index(gallery, paths, fingerprints, vectors, detected, unreadable).save(index_path)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    report.unreadable = len(unreadable)
    index = _make_index(gallery, paths, fingerprints, vectors, detected, unreadable)
    if report.embedded or report.removed or old is None or len(unreadable) != len(old_unreadable):
        index.save(index_path)
    return index, report


def _make_index(gallery, paths, fingerprints, vectors, detected, unreadable) -> GalleryIndex:
    order = np.argsort(paths, kind="stable")
    embeddings = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, EMBEDDING_SIZE), np.float32)
    return GalleryIndex(Path(gallery), [paths[i] for i in order], [fingerprints[i] for i in order],
                        embeddings[order] if len(order) else embeddings,
                        np.asarray(detected, bool)[order] if len(order) else np.zeros(0, bool), list(unreadable))


@dataclass
class Match:
    rank: int
    path: Path
    distance: float
    """Euclidean distance between 128-d embeddings; dlib's same-person threshold is about 0.6."""
    face_found: bool = True
    """False when dlib found no face in the photo (a blank image, a thumbnail): its embedding is of
    the photo's centre and means little, so such photos rank after every photo with a face."""


def gallery_distances(query: np.ndarray, index: GalleryIndex) -> np.ndarray:
    return np.linalg.norm(index.embeddings - query[None].astype(np.float32), axis=1)


def rank_gallery(query: np.ndarray, index: GalleryIndex, top: int = 10,
                 distances: np.ndarray | None = None) -> list[Match]:
    """The ``top`` gallery photos closest to ``query`` (or by precomputed ``distances``): photos in
    which a face was found first, then the others, each group by distance."""
    if distances is None:
        distances = gallery_distances(query, index)
    order = np.lexsort((distances, ~index.detected))[:top]
    return [Match(r + 1, index.root / index.paths[i], float(distances[i]), bool(index.detected[i]))
            for r, i in enumerate(order)]


@dataclass
class IdentifyResult:
    face: Image.Image
    """The generated face whose embedding was searched."""
    face_detected: bool
    matches: list[Match]


def identify(sketch: ImageInput, index: GalleryIndex, pipeline=None, top: int = 10,
             embed: Callable | None = None, fuse_sketch: bool = False) -> IdentifyResult:
    """Sketch -> generated face -> the ``top`` closest gallery photos.

    With ``fuse_sketch`` a photo's score is the mean of its distances to the generated face and to the
    sketch itself (both embedded): with CUFS test plus 13,233 LFW distractors this ranks the true
    photo first more often than either alone (docs/forensics.md). The default pipeline never composes
    line drawings from bank faces (``sketch2face.compose``): their parts belong to other people."""
    if embed is None:
        from .identity import embed_face as embed
    if pipeline is None:
        from .pipeline import SketchToFacePipeline

        pipeline = SketchToFacePipeline(compose=False)
    if not len(index):
        raise InputImageError(f"gallery {index.root} has no readable photos")
    face = pipeline(sketch)
    embedding = embed(np.asarray(face.convert("RGB")))
    distances = gallery_distances(np.asarray(embedding.vector), index)
    if fuse_sketch:
        raw = embed(np.repeat(to_grayscale(load_image(sketch))[:, :, None], 3, axis=2))
        distances = (distances + gallery_distances(np.asarray(raw.vector), index)) / 2
    return IdentifyResult(face, bool(embedding.detected), rank_gallery(None, index, top, distances))


def match_sheet(sketch: ImageInput, result: IdentifyResult, thumb: int = 160) -> Image.Image:
    """Sketch | generated face | the matches in rank order, each labelled with rank and distance."""
    tiles = [(to_rgb(load_image(sketch)), "sketch"), (np.asarray(result.face.convert("RGB")), "generated")]
    for match in result.matches:
        try:
            tiles.append((to_rgb(load_image(match.path)), f"#{match.rank} d={match.distance:.3f}"))
        except InputImageError:
            continue
    sheet = Image.new("RGB", (len(tiles) * (thumb + 4), thumb + 20), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (array, label) in enumerate(tiles):
        image = Image.fromarray(array)
        image.thumbnail((thumb, thumb))
        x = i * (thumb + 4)
        sheet.paste(image, (x + (thumb - image.width) // 2, 0))
        draw.text((x + 2, thumb + 4), label, fill="black")
    return sheet


def format_matches(matches: Sequence[Match]) -> str:
    lines = ["rank  distance  photo"]
    lines += [f"{m.rank:>4}  {m.distance:8.4f}  {m.path}" + ("" if m.face_found else "  (no face found in this photo)")
              for m in matches]
    return "\n".join(lines)
