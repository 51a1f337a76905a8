"""Milliseconds to compose a pencil portrait from a line drawing (sketch2face.compose), and to
generate the face from it with the default model, on this CPU.

    python benchmarks/compose.py [--drawings cache/freehand-bench/doodle/sketches] [--count 100]

Prints p50 and p95 of: composing alone (matching and blending; the bank is loaded before timing),
and the whole default pipeline on the same drawings with composing on and off.
"""
import argparse
import time
from pathlib import Path

import numpy as np

from sketch2face.compose import compose_sketch, default_bank
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
    print(f"compose ({len(framed)} drawings): {timed(compose_sketch, framed)}")
    for compose in (True, False):
        pipe = SketchToFacePipeline(compose=compose)
        pipe(paths[0])  # warm-up
        print(f"{pipe.model_name} ({pipe.backend_name} {pipe.precision}), compose={compose}: {timed(pipe, paths)}")


if __name__ == "__main__":
    main()
