"""Sheet of damaged CUFS test sketches and what each model draws from them.

    python scripts/repair_sheet.py [--models sketch2face-v1 sketch2face-repair] [--faces 0 120]
                                   [--output docs/results/repair/repair_examples.png]

Rows: a face with the eyes, the nose or the mouth erased (as `benchmarks/repair.py` erases them);
columns: damaged sketch | one face per model | the true photo.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from repair import REGIONS, damage  # noqa: E402

from sketch2face.data.transforms import load_image, to_rgb  # noqa: E402
from sketch2face.evaluate import resolve_eval_set  # noqa: E402
from sketch2face.pipeline import SketchToFacePipeline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sketch2face-v1", "sketch2face-repair"])
    parser.add_argument("--faces", nargs="+", type=int, default=[0, 120])
    parser.add_argument("--output", type=Path, default=Path("docs/results/repair/repair_examples.png"))
    args = parser.parse_args()
    evalset = resolve_eval_set("cufs-test")
    pipes = [SketchToFacePipeline(m) for m in args.models]
    rows = []
    for index in args.faces:
        photo = to_rgb(load_image(evalset.photos[index]))
        for region in ("eyes", "nose", "mouth"):
            damaged = damage(evalset.sketches[index], REGIONS[region])
            faces = [np.asarray(pipe(damaged, keep_size=True)) for pipe in pipes]
            rows.append(np.concatenate([np.repeat(damaged[:, :, None], 3, 2), *faces, photo], axis=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.output)
    print(f"wrote {args.output} (columns: damaged sketch, {', '.join(args.models)}, photo)")


if __name__ == "__main__":
    main()
