"""Widen a released U-Net generator for the next part of a long run (Net2WiderNet, sketch2face.models.widen).

    python scripts/widen_release.py sketch2face-long training/sketch2face-wide/start --max-channels 384

Writes a release folder that ``sketch2face train --continue-from`` accepts: the widened generator
(computing the same function up to --noise), the source release's discriminator unchanged and its
training record (every earlier part's steps and minutes) with a note of the widening. Continue it with
the same width in the recipe: ``--set model.generator_config.max_channels=384``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file

from sketch2face.io import DISCRIMINATOR_FILE, load_pretrained, save_pretrained
from sketch2face.models import create_model
from sketch2face.models.widen import widen_unet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a bundled model's name or a release folder")
    parser.add_argument("out", type=Path, help="the new release folder")
    parser.add_argument("--max-channels", type=int, required=True)
    parser.add_argument("--noise", type=float, default=0.01, help="relative noise on the copied filters")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = load_pretrained(args.source).float().eval()
    wide = widen_unet(model, args.max_channels, args.noise, args.seed).eval()
    probe = torch.rand(1, model.config.in_channels, 256, 256) * 2 - 1
    with torch.no_grad():
        change = float((wide(probe) - model(probe)).abs().max())
    metadata = dict(model.release_metadata)
    training = dict(metadata.get("training", {}))
    training["widened"] = {"from": str(args.source), "max_channels": [model.config.max_channels, args.max_channels],
                           "noise": args.noise, "seed": args.seed, "max_output_change": round(change, 5)}
    metadata["training"] = training
    discriminator = None
    disc_file = model.release_dir / DISCRIMINATOR_FILE
    if disc_file.is_file():
        record = training["discriminator"]
        judged = model.config.out_channels + (model.config.in_channels if record.get("sees_sketch", True) else 0)
        discriminator = create_model(record["arch"], in_channels=judged, **record["config"])
        discriminator.load_state_dict({k: v.float() if v.is_floating_point() else v
                                       for k, v in load_file(str(disc_file)).items()})
    save_pretrained(wide, args.out, metadata=metadata, discriminator=discriminator)
    parameters = [sum(p.numel() for p in m.parameters()) / 1e6 for m in (model, wide)]
    print(f"{args.out}: {parameters[0]:.1f} M -> {parameters[1]:.1f} M parameters; largest output change on a "
          f"random input {change:.5f}; discriminator {'copied' if discriminator is not None else 'none'}")


if __name__ == "__main__":
    main()
