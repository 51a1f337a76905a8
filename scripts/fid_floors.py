"""What a good FID is at a test set's size, and what the composer's faces lose to repetition (E37).

    python scripts/fid_floors.py --set cache/freehand-bench/doodle [--model sketch2face-v7]
    python scripts/fid_floors.py --cufs

A freehand set (built by ``benchmarks/freehand.py``): FID / KID against its true photos of other real
LFW photos (``cache/freehand-lfw``), of random bank photos, of the model's composites, of their base faces
alone, of the chosen bases each once and with their repeats, and of as many random bank photos
repeated in the same pattern. ``--cufs``: the CUFS train photos (other people) and halves of the test
photos against the test photos. Three or two random draws where a row is random.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

import sketch2face.compose as compose
from sketch2face.data.transforms import load_image, to_rgb
from sketch2face.evaluate import generate_with_pipeline, resolve_eval_set
from sketch2face.fid import fid_from_features, inception_features, kid_from_features
from sketch2face.pipeline import SketchToFacePipeline


def _score(label: str, features: np.ndarray, reference: np.ndarray) -> None:
    print(f"| {label} | {len(features)} | {fid_from_features(features, reference):.1f} "
          f"| {kid_from_features(features, reference)[0]:.4f} |", flush=True)


def _photos(paths) -> np.ndarray:
    return inception_features([to_rgb(load_image(p)) for p in paths])


def cufs_floors() -> None:
    test = _photos(resolve_eval_set("cufs-test").photos)
    print("| against the 338 CUFS test photos | images | FID | KID |\n|---|---|---|---|")
    _score("CUFS train photos (other people)", _photos(resolve_eval_set("../shared/data/cufs/train").photos), test)
    rng = np.random.default_rng(0)
    for _ in range(3):
        order = rng.permutation(len(test))
        half = len(test) // 2
        print(f"| half of the test photos against the other half | {half} | "
              f"{fid_from_features(test[order[:half]], test[order[half:]]):.1f} | "
              f"{kid_from_features(test[order[:half]], test[order[half:]])[0]:.4f} |")


def freehand_floors(set_dir: Path, model: str) -> None:
    evalset = resolve_eval_set(str(set_dir))
    reference = _photos(evalset.photos)
    count = len(evalset.photos)
    bank = compose.default_bank()
    print(f"| against the {count} true photos of {set_dir.name} | images | FID | KID |\n|---|---|---|---|")
    lfw = sorted(Path("cache/freehand-lfw/photos").glob("*.png"))
    for seed in range(3):
        rng = np.random.default_rng(seed)
        _score(f"other real LFW photos (draw {seed})", _photos([lfw[i] for i in rng.choice(len(lfw), count, replace=False)]), reference)
        _score(f"random bank photos (draw {seed})",
               inception_features([bank.photo(int(i)) for i in rng.choice(len(bank), count, replace=False)]), reference)

    chosen: list[dict[str, int]] = []
    choose = compose.ExemplarBank.choose

    def recording_choose(self, *args, **kwargs):
        faces = choose(self, *args, **kwargs)
        chosen.append(faces)
        return faces

    compose.ExemplarBank.choose = recording_choose
    pipe = SketchToFacePipeline(model, backend="torch")
    _score(f"{model}'s faces", inception_features(generate_with_pipeline(pipe, evalset, progress=False).faces), reference)
    bases = [faces["base"] for faces in chosen]
    compose.ExemplarBank.choose = choose
    clone_part = compose._clone_part
    compose._clone_part = lambda canvas, *args, **kwargs: canvas  # no part swapped in
    _score(f"{model}'s base faces alone", inception_features(generate_with_pipeline(pipe, evalset, progress=False).faces), reference)
    compose._clone_part = clone_part

    counts = Counter(bases)
    distinct = sorted(counts)
    print(f"\n{len(distinct)} distinct bases for {len(bases)} drawings; most used {counts.most_common(3)}\n")
    features = dict(zip(distinct, inception_features([bank.photo(i) for i in distinct])))
    _score("the chosen bases with their repeats", np.stack([features[i] for i in bases]), reference)
    _score("the chosen bases, each once", np.stack([features[i] for i in distinct]), reference)
    others = np.setdiff1d(np.arange(len(bank)), distinct)
    rng = np.random.default_rng(0)
    for draw in range(2):
        picks = rng.choice(others, len(distinct), replace=False)
        picked = inception_features([bank.photo(int(i)) for i in picks])
        _score(f"random bank photos, each once (draw {draw})", picked, reference)
        repeats = np.concatenate([[k] * counts[i] for k, i in enumerate(distinct)])
        _score(f"random bank photos repeated as the chosen bases (draw {draw})", picked[repeats], reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, help="a freehand benchmark set, e.g. cache/freehand-bench/doodle")
    parser.add_argument("--model", default="sketch2face-v7")
    parser.add_argument("--cufs", action="store_true", help="the floors of CUFS test instead")
    args = parser.parse_args()
    if args.cufs:
        cufs_floors()
    elif args.set is not None:
        freehand_floors(args.set, args.model)
    else:
        parser.error("give --set or --cufs")


if __name__ == "__main__":
    main()
