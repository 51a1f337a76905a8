"""Score releases on a recipe's validation split, as training scores its checkpoints.

    python scripts/validate_release.py configs/sketch2face_long.yaml sketch2face-v1 runs/NNNNN/release ...

Prints one metrics.jsonl-style line per release (SSIM, PSNR, L1 per folder mean, and with the recipe's
``train.validate_realism``, KID, identity rank-1 and faces found): the starting point of a long run's
first part (a bundled model) scored on the same validation pairs as the part's checkpoints.
"""
from __future__ import annotations

import argparse
import json

from sketch2face.config import load_config
from sketch2face.io import load_pretrained
from sketch2face.train import RealismReference, evaluate_generator, load_training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("releases", nargs="+")
    args = parser.parse_args()
    config = load_config(args.config)
    _, validation = load_training_data(config)
    realism = RealismReference.of(validation.photos) if config.train.validate_realism else None
    for release in args.releases:
        scores = evaluate_generator(load_pretrained(release), validation, direction=config.data.direction,
                                    styles=config.data.styles, realism=realism)
        print(json.dumps({"release": release, **{k: round(v, 4) for k, v in scores.items()}}))


if __name__ == "__main__":
    main()
