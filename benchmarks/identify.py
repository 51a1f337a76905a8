"""Sketch -> photo identification on CUFS test: every test sketch searched among the 338 test photos,
then among those plus every LFW photo as distractors (13,233 photos of 5,749 other people).

    python benchmarks/identify.py [--models sketch2face-v1 baselines/pix2pix-cufs] [--output docs/results/identify]

Queries: (a) the raw sketch (greyscale as RGB) matched directly, (b) each model's generated face
(ONNX Runtime fp32 where exported). Embeddings: dlib ResNet 128-d (face-recognition-models),
Euclidean distance, the same code as `sketch2face identify`. Gallery indexes are cached in
cache/ (first run: about 15 minutes on 2 cores for LFW). Prints rank-1/rank-10 accuracy; writes
identify.json and identify.md to --output.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sketch2face.data.transforms import load_image, to_grayscale
from sketch2face.evaluate import data_root
from sketch2face.identify import build_index
from sketch2face.identity import embed_face
from sketch2face.pipeline import SketchToFacePipeline


def distances(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(Q, G) Euclidean distances between embeddings."""
    squared = (queries ** 2).sum(1)[:, None] + (gallery ** 2).sum(1)[None] - 2 * queries @ gallery.T
    return np.sqrt(np.maximum(squared, 0))


def ranks_of_truth(distance: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1-based rank of gallery[truth[i]] in row i of a (Q, G) distance matrix (ties in its favour)."""
    true = distance[np.arange(len(distance)), truth]
    return (distance < true[:, None]).sum(axis=1) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sketch2face-v1", "baselines/pix2pix-cufs"])
    parser.add_argument("--output", type=Path, default=Path("docs/results/identify"))
    parser.add_argument("--cache", type=Path, default=Path("cache"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-lfw", action="store_true", help="only the 338-photo gallery")
    args = parser.parse_args()

    root = data_root()
    test = root / "cufs" / "test"
    names = sorted((p.stem for p in (test / "sketches").iterdir()), key=int)
    photo_files = {p.stem: p for p in (test / "photos").iterdir()}
    cufs_index, _ = build_index(test / "photos", args.cache / "index-cufs-test-photos.npz", workers=args.workers)
    position = {Path(p).stem: i for i, p in enumerate(cufs_index.paths)}
    truth = np.array([position[n] for n in names])
    galleries = {"CUFS test photos (338)": cufs_index.embeddings}
    if not args.no_lfw:
        lfw_index, report = build_index(root / "lfw", args.cache / "index-lfw.npz", workers=args.workers)
        galleries[f"CUFS test + LFW ({len(cufs_index) + len(lfw_index):,})"] = np.concatenate(
            [cufs_index.embeddings, lfw_index.embeddings])
    assert all(photo_files[n].exists() for n in names)

    queries = {}
    sketches = [test / "sketches" / next(p.name for p in (test / "sketches").glob(f"{n}.*")) for n in names]
    embedded = [embed_face(np.repeat(to_grayscale(load_image(s))[:, :, None], 3, axis=2)) for s in tqdm(sketches, desc="raw sketches")]
    queries["raw sketch"] = (np.stack([e.vector for e in embedded]), np.mean([e.detected for e in embedded]), None)
    for model in args.models:
        pipe = SketchToFacePipeline(model)
        began = time.perf_counter()
        faces = pipe([str(s) for s in sketches], keep_size=True, batch_size=8)
        seconds = time.perf_counter() - began
        embedded = [embed_face(np.asarray(f)) for f in tqdm(faces, desc=model)]
        queries[f"{model} ({pipe.backend_name} {pipe.precision})"] = (
            np.stack([e.vector for e in embedded]), np.mean([e.detected for e in embedded]), 1000 * seconds / len(faces))

    results = []
    for gallery_name, gallery in galleries.items():
        gallery = gallery.astype(np.float64)
        matrices = {name: distances(v.astype(np.float64), gallery) for name, (v, _, _) in queries.items()}
        rows = [(name, matrices[name], detected, ms) for name, (_, detected, ms) in queries.items()]
        # fusion: the mean of the raw sketch's and the generated face's distances (identify --fuse-sketch)
        rows += [(f"{name} + raw sketch (mean distance)", (matrices[name] + matrices["raw sketch"]) / 2, detected, ms)
                 for name, (_, detected, ms) in queries.items() if name != "raw sketch"]
        for query_name, matrix, detected, ms in rows:
            ranks = ranks_of_truth(matrix, truth)
            results.append({"query": query_name, "gallery": gallery_name, "n_queries": len(ranks),
                            "rank1": float((ranks <= 1).mean()), "rank10": float((ranks <= 10).mean()),
                            "median_rank": float(np.median(ranks)), "face_detected": float(detected),
                            "generate_ms_per_image": ms})
    lines = ["| query | gallery | rank-1 | rank-10 | median rank | face detected in query |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['query']} | {r['gallery']} | {100 * r['rank1']:.1f}% | {100 * r['rank10']:.1f}% | "
                     f"{r['median_rank']:.0f} | {100 * r['face_detected']:.0f}% |")
    table = "\n".join(lines)
    print(table)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "identify.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "identify.md").write_text(
        f"CUFS test sketches (n = {len(names)}) searched by dlib embedding distance.\n"
        f"Command: `python benchmarks/identify.py --models {' '.join(args.models)}`\n\n{table}\n")


if __name__ == "__main__":
    main()
