"""FID and KID of a model's faces on a freehand benchmark set against the true photos as LFW gives them
and with their black funnelling wedges painted in (``data.align.fill_black_border``, as the exemplar
bank's photos are since E34): tells a change that matches the wedges from one that looks more like a photo.

    python scripts/score_wedge_free.py --set cache/freehand-bench/doodle [--model sketch2face-v7] [--bank OLD.npz]

``--bank``: compose from another bank file (E34's "before": ``git show ad497cd:src/sketch2face/assets/exemplar_bank.npz``).
The set is built by ``benchmarks/freehand.py``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import sketch2face.compose as compose
from sketch2face.data.align import fill_black_border
from sketch2face.data.transforms import load_image, to_rgb
from sketch2face.evaluate import generate_with_pipeline, resolve_eval_set
from sketch2face.fid import fid_from_features, inception_features, kid_from_features
from sketch2face.pipeline import SketchToFacePipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, required=True)
    parser.add_argument("--model", default="sketch2face-v7")
    parser.add_argument("--bank", type=Path)
    args = parser.parse_args()
    if args.bank is not None:
        bank = compose.ExemplarBank.load(args.bank)
        compose.default_bank = lambda: bank  # compose_drawing looks the default bank up at call time
    evalset = resolve_eval_set(str(args.set))
    photos = [to_rgb(load_image(path)) for path in evalset.photos]
    filled = [fill_black_border(photo) for photo in photos]
    changed = sum(not np.array_equal(a, b) for a, b in zip(photos, filled))
    faces = generate_with_pipeline(SketchToFacePipeline(args.model, backend="torch"), evalset, progress=False).faces
    features = inception_features(faces)
    print(f"{args.set.name}: {len(photos)} photos, {changed} with black padding; {args.model}, bank {args.bank or 'bundled'}")
    for label, references in (("as given", photos), ("with their wedges painted in", filled)):
        reference = inception_features(references)
        print(f"  against the photos {label}: FID {fid_from_features(features, reference):.1f}, "
              f"KID {kid_from_features(features, reference)[0]:.4f}")


if __name__ == "__main__":
    main()
