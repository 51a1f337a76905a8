"""Milliseconds to compose a pencil portrait or a photo from a line drawing (sketch2face.compose),
and the whole pipeline of the default model and of sketch2face-v4 (which renders composed
portraits), on this CPU.

    python benchmarks/compose.py [--drawings cache/freehand-bench/doodle/sketches] [--count 100]

Prints p50 and p95 of: composing alone (matching and blending; the bank is loaded before timing),
and each pipeline on the same drawings with composing on and off.
"""
import argparse
import time
from pathlib import Path

import numpy as np

from sketch2face.compose import compose_photo, compose_sketch, default_bank
from sketch2face.io import DEFAULT_MODEL
from sketch2face.pipeline import SketchToFacePipeline, preprocess_sketch


def timed(function, items) -> str:
    """p50 and p95 milliseconds of ``function`` on each item."""
    times = []
    for item in items:
        began = time.perf_counter()
        function(item)
        times.append(1000 * (time.perf_counter() - began))
    return f"p50 {np.percentile(times, 50):.1f} ms, p95 {np.percentile(times, 95):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drawings", type=Path, default=Path("cache/freehand-bench/doodle/sketches"))
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    paths = sorted(args.drawings.glob("*.png"))[:args.count]
    if not paths:
        raise SystemExit(f"no drawings in {args.drawings} (run benchmarks/freehand.py once to make them)")
    default_bank()
    framed = [((preprocess_sketch(p).values[0] + 1) * 127.5).round().astype(np.uint8) for p in paths]
    print(f"compose a portrait ({len(framed)} drawings): {timed(compose_sketch, framed)}")
    print(f"compose a photo ({len(framed)} drawings): {timed(compose_photo, framed)}")
    for model in dict.fromkeys([DEFAULT_MODEL, "sketch2face-v4"]):
        for compose in (True, False):
            pipe = SketchToFacePipeline(model, compose=compose)
            pipe(paths[0])  # warm-up
            print(f"{pipe.model_name} ({pipe.backend_name} {pipe.precision}), compose={compose}: {timed(pipe, paths)}")


if __name__ == "__main__":
    main()
