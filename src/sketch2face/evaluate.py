"""Score generated faces against true photos: per-image metrics, FID/KID, identity retrieval, latency.

Resolution and range: every metric compares the generated face with the true photo in the
dataset's own frame (CUFS: 200x250; the model works on the padded 256x256 square and its output is
cropped back), as RGB in floating point; PSNR/SSIM/R on [0, 1], MSE/L2 on 0-255, FSIM on 0-255
luminance (FeatureSIM.m), FID/KID on Inception pool3 features at 299x299.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .data.datasets import DatasetError, list_images, paired_files, split_train_val
from .data.transforms import load_image, to_grayscale, to_rgb
from .fsim import fsim
from .metrics import l2_255, mse_255, pearson_r, psnr, ssim



@dataclass(frozen=True)
class PerImageMetric:
    """Scores of one generated face against its true photo, and how the tables show them."""

    columns: tuple[tuple[str, str, str], ...]
    """(key, column heading, format) of each score ``score`` returns, in its order."""
    score: Callable[[np.ndarray, np.ndarray], tuple[float, ...]]
    """(generated face, true photo), both uint8 RGB of the photo's size -> one value per column."""


def _unit_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].double() / 255


def _on_unit_tensors(metric) -> Callable[[np.ndarray, np.ndarray], tuple[float]]:
    return lambda face, photo: (float(metric(_unit_tensor(face), _unit_tensor(photo))),)


#: Every per-image metric the tables report, in column order. Adding one is one entry here.
PER_IMAGE_METRICS = (
    PerImageMetric((("fsim", "FSIM", "{:.4f}"), ("fsimc", "FSIMc", "{:.4f}")), lambda face, photo: fsim(photo, face)),
    PerImageMetric((("ssim", "SSIM", "{:.4f}"),), _on_unit_tensors(ssim)),
    PerImageMetric((("psnr", "PSNR", "{:.2f}"),), _on_unit_tensors(psnr)),
    PerImageMetric((("pearson_r", "R", "{:.4f}"),), _on_unit_tensors(pearson_r)),
    PerImageMetric((("mse", "MSE", "{:.1f}"),), _on_unit_tensors(mse_255)),
    PerImageMetric((("l2", "L2", "{:.0f}"),), _on_unit_tensors(l2_255)),
)
PER_IMAGE = [key for metric in PER_IMAGE_METRICS for key, _, _ in metric.columns]
DATA_ROOT_ENV = "SKETCH2FACE_DATA"


def data_root() -> Path:
    """Where the shared datasets live: $SKETCH2FACE_DATA, else ../shared/data beside the working
    directory or beside the source checkout."""
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV])
    candidates = [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[2].parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


@dataclass
class EvalSet:
    name: str
    names: list[str]
    sketches: list[Path]
    photos: list[Path]
    groups: dict[str, list[int]] = field(default_factory=dict)
    """Named subsets (index lists), always including "all"."""

    def subset(self, indices: list[int], name: str) -> "EvalSet":
        position = {old: new for new, old in enumerate(indices)}
        groups = {g: [position[i] for i in members if i in position] for g, members in self.groups.items()}
        groups = {g: members for g, members in groups.items() if members}
        groups["all"] = list(range(len(indices)))
        return EvalSet(name, [self.names[i] for i in indices], [self.sketches[i] for i in indices],
                       [self.photos[i] for i in indices], groups)


def resolve_eval_set(spec: str, split: str = "all", val_fraction: float = 0.08, split_seed: int = 0) -> EvalSet:
    """``cufs-test`` (with its CUHK/AR/XM2VTS subsets) or any paired folder (photos/ + sketches/).

    ``split="val"`` keeps only the pairs that training holds out for validation with the same
    ``val_fraction`` and ``split_seed`` (by identity, as ``sketch2face train`` splits), so a model can
    be scored on the part of a training folder it never saw; ``"train"`` keeps the rest.
    """
    if split not in ("all", "val", "train"):
        raise DatasetError(f"split must be all, val or train, got {split!r}")
    evalset = _resolve_eval_set(spec)
    if split == "all":
        return evalset
    from .data.manifest import read_manifest

    manifest = read_manifest(Path(spec)) if spec != "cufs-test" else None
    identities = [(manifest or {}).get(n, {}).get("identity", n) for n in evalset.names]
    train_idx, val_idx = split_train_val(identities, val_fraction, split_seed)
    return evalset.subset(val_idx if split == "val" else train_idx, f"{evalset.name}-{split}")


def _resolve_eval_set(spec: str) -> EvalSet:
    if spec == "cufs-test":
        root = data_root() / "cufs" / "test"
        evalset = _paired_folder(root, "cufs-test")
        subsets_file = root.parent / "test_subsets.tsv"
        if subsets_file.is_file():
            index = {n: i for i, n in enumerate(evalset.names)}
            for line in subsets_file.read_text().splitlines():
                parts = line.strip().split("\t")
                if len(parts) < 2 or not parts[0].isdigit() or parts[0] not in index:
                    continue
                evalset.groups.setdefault(parts[1], []).append(index[parts[0]])
        return evalset
    path = Path(spec)
    if not path.is_dir():
        raise DatasetError(f"{spec}: not a known dataset name (cufs-test) or a folder with photos/ and sketches/")
    return _paired_folder(path, path.name)


def _paired_folder(root: Path, name: str) -> EvalSet:
    pairs, _ = paired_files(root)
    if not pairs:
        raise DatasetError(f"{root}: no sketch/photo pairs with matching file names")
    names = [pair_name for pair_name, _, _ in pairs]
    groups = {"all": list(range(len(names)))}
    from .data.manifest import read_manifest

    manifest = read_manifest(root)
    if manifest:  # prepared folders: one subset per sketch style (FS2K's three styles, synthetic ones)
        for index, n in enumerate(names):
            style = manifest.get(n, {}).get("style")
            if style:
                groups.setdefault(style, []).append(index)
    return EvalSet(name, names, [sketch for _, _, sketch in pairs], [photo for _, photo, _ in pairs], groups)


@dataclass
class SystemOutput:
    """Faces one system produced for an EvalSet (uint8 RGB in each photo's frame) and its latency."""

    label: str
    faces: list[np.ndarray]
    ms_per_image: float | None = None


def generate_with_pipeline(pipe, evalset: EvalSet, batch_size: int = 8, progress: bool = True) -> SystemOutput:
    """Every sketch of the set through the pipeline (``SketchToFacePipeline.run``), each face in its photo's
    frame; ms/img counts preparation and generation. A sketch that cannot be read stops the evaluation."""
    faces = []
    began = time.perf_counter()
    results = pipe.run(evalset.sketches, keep_size=True, batch_size=batch_size)
    for name, result in tqdm(zip(evalset.names, results), total=len(evalset.names), disable=not progress,
                             desc=pipe.model_name, unit="sketch"):
        if result.error is not None:
            raise DatasetError(f"{name}: {result.error}")
        faces.append(np.asarray(result.face))
    return SystemOutput(pipe.model_name, faces, 1000 * (time.perf_counter() - began) / len(faces))


def sketch_baseline(evalset: EvalSet) -> SystemOutput:
    """The sketch itself, greyscale replicated to RGB: what any model must beat."""
    faces = [np.repeat(to_grayscale(load_image(p))[:, :, None], 3, axis=2) for p in evalset.sketches]
    return SystemOutput("sketch (no model)", faces)


def load_generated(folder: Path, evalset: EvalSet, label: str | None = None) -> SystemOutput:
    """Images made elsewhere, matched to the set by file stem."""
    found = list_images(folder)
    missing = [n for n in evalset.names if n not in found]
    if missing:
        raise DatasetError(f"{folder}: no generated image for {len(missing)} pair(s), e.g. {missing[:3]}")
    return SystemOutput(label or str(folder), [to_rgb(load_image(found[n])) for n in evalset.names])


def _fit(face: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if face.shape[:2] == shape:
        return face
    return np.asarray(Image.fromarray(face).resize((shape[1], shape[0]), Image.Resampling.BICUBIC))


def score_system(system: SystemOutput, photos: list[np.ndarray], evalset: EvalSet,
                 photo_features: np.ndarray | None, photo_embeddings: np.ndarray | None,
                 progress: bool = True) -> dict[str, dict[str, float]]:
    """Metrics per group for one system."""
    per_image: dict[str, list[float]] = {k: [] for k in PER_IMAGE}
    faces = [_fit(f, p.shape[:2]) for f, p in zip(system.faces, photos)]
    for face, photo in tqdm(list(zip(faces, photos)), disable=not progress, desc=f"scoring {system.label}",
                            unit="image"):
        for metric in PER_IMAGE_METRICS:
            for (key, _, _), value in zip(metric.columns, metric.score(face, photo), strict=True):
                per_image[key].append(float(value))
    arrays = {k: np.asarray(v) for k, v in per_image.items()}

    features = embeddings = None
    if photo_features is not None:
        from .fid import inception_features
        features = inception_features(faces)
    if photo_embeddings is not None:
        from .identity import embed_face, retrieval_ranks
        embedded = [embed_face(f) for f in faces]
        embeddings = np.stack([e.vector for e in embedded])
        detected = np.array([e.detected for e in embedded])
        # the gallery is always every photo of the set, whatever subset is reported
        ranks = retrieval_ranks(embeddings, photo_embeddings)
        distances = np.linalg.norm(embeddings - photo_embeddings, axis=1)

    results = {}
    for group, indices in evalset.groups.items():
        idx = np.asarray(indices)
        row = {"n": len(idx), **{k: float(arrays[k][idx].mean()) for k in PER_IMAGE}}
        if features is not None:
            from .fid import fid_from_features, kid_from_features
            row["fid"] = fid_from_features(features[idx], photo_features[idx])
            row["kid"], row["kid_std"] = kid_from_features(features[idx], photo_features[idx])
        if embeddings is not None:
            row["rank1"] = float((ranks[idx] <= 1).mean())
            row["rank5"] = float((ranks[idx] <= 5).mean())
            row["identity_distance"] = float(distances[idx].mean())
            row["face_detected"] = float(detected[idx].mean())
        if system.ms_per_image is not None:
            row["ms_per_image"] = system.ms_per_image
        results[group] = row
    return results


COLUMNS = [("n", "n", "{:d}"), ("fid", "FID", "{:.1f}"), ("kid", "KID", "{:.4f}"),
           *(column for metric in PER_IMAGE_METRICS for column in metric.columns),
           ("rank1", "rank-1", "{:.1%}"), ("rank5", "rank-5", "{:.1%}"),
           ("identity_distance", "id dist", "{:.3f}"), ("face_detected", "face found", "{:.1%}"),
           ("ms_per_image", "ms/img", "{:.1f}")]


def markdown_table(report: dict) -> str:
    lines = []
    groups = list(next(iter(report["systems"].values())).keys())
    present = [c for c in COLUMNS if any(c[0] in r for s in report["systems"].values() for r in s.values())]
    lines.append("| system | subset | " + " | ".join(c[1] for c in present) + " |")
    lines.append("|---|---|" + "---|" * len(present))
    for group in groups:
        for system, rows in report["systems"].items():
            row = rows[group]
            cells = [fmt.format(row[key]) if key in row else "" for key, _, fmt in present]
            lines.append(f"| {system} | {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save_grid(evalset: EvalSet, systems: list[SystemOutput], photos: list[np.ndarray], path: Path,
              count: int = 6) -> None:
    """Rows: sketch | each system's face | true photo, for pairs spread over the set."""
    picks = np.linspace(0, len(evalset.names) - 1, min(count, len(evalset.names))).round().astype(int)
    rows = []
    for i in picks:
        shape = photos[i].shape[:2]
        sketch = _fit(np.repeat(to_grayscale(load_image(evalset.sketches[i]))[:, :, None], 3, 2), shape)
        cells = [sketch] + [_fit(s.faces[i], shape) for s in systems] + [photos[i]]
        rows.append(np.concatenate(cells, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def evaluate(evalset: EvalSet, systems: list[Callable[[], SystemOutput]], output_dir: Path,
             with_fid: bool = True, with_identity: bool = True, progress: bool = True,
             command: str | None = None) -> dict:
    """Run every system, score it, write metrics.json, metrics.md and grid.png to ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    photos = [to_rgb(load_image(p)) for p in evalset.photos]
    photo_features = photo_embeddings = None
    if with_fid:
        from .fid import inception_features
        photo_features = inception_features(photos)
    if with_identity:
        from .identity import embed_face
        photo_embeddings = np.stack([embed_face(p).vector for p in photos])
    outputs, report = [], {"dataset": evalset.name, "n": len(evalset.names), "command": command,
                           "resolution": "each photo's own frame; model output cropped back from its square",
                           "systems": {}}
    for make in systems:
        system = make()
        outputs.append(system)
        report["systems"][system.label] = score_system(system, photos, evalset, photo_features,
                                                       photo_embeddings, progress)
    (output_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    note = (f"Dataset `{evalset.name}`, n = {len(evalset.names)}. FID/KID over a few hundred images are biased "
            "upwards; compare only at equal n. Identity: dlib ResNet embeddings, rank among all photos of the set.\n\n")
    header = f"Command: `{command}`\n\n" if command else ""
    (output_dir / "metrics.md").write_text(header + note + markdown_table(report))
    save_grid(evalset, outputs, photos, output_dir / "grid.png")
    return report
