"""Seconds per training step of a recipe's whole objective (its generator, discriminator and loss
terms, as ``gan_step`` runs them; no teacher) on random 256x256 batches: tells whether bf16 pays on
this CPU, and what a change to the step costs.

    python benchmarks/recipe_step_time.py configs/sketch2face_freehand.yaml [--batch-size 8] [--steps 3] \\
        [--set train.precision=fp32 ...]

Prints each step's time; the first includes one-off set-up (oneDNN kernels). No data is read.
"""
from __future__ import annotations

import argparse
import time

import torch

from sketch2face.config import load_config
from sketch2face.losses import DiffAugment, GANLoss, IdentityLoss, PerceptualLoss
from sketch2face.models import create_model
from sketch2face.train import StepParts, gan_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = load_config(args.recipe, args.set)
    tc = config.train
    generator = create_model(config.model.generator, **config.model.generator_config)
    discriminator = create_model(config.model.discriminator, in_channels=generator.config.in_channels
                                 + generator.config.out_channels, **config.model.discriminator_config)
    memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
    generator.to(memory_format=memory_format)
    discriminator.to(memory_format=memory_format)
    perceptual = PerceptualLoss().to(memory_format=memory_format) if tc.lambda_perceptual > 0 else None
    identity = IdentityLoss().to(memory_format=memory_format) if tc.lambda_identity > 0 else None
    augment = DiffAugment(tc.discriminator_augment, generator.config.out_channels) if tc.discriminator_augment else None
    parts = StepParts(generator, discriminator, torch.optim.Adam(generator.parameters(), tc.lr),
                      torch.optim.Adam(discriminator.parameters(), tc.lr), GANLoss(tc.gan_mode), perceptual,
                      discriminator_sees_sketch=config.model.discriminator_sees_sketch, augment=augment,
                      identity=identity)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=tc.precision == "bf16")
    size, batch = config.data.image_size, args.batch_size
    shape = (batch, generator.config.in_channels, size, size)
    sketch = (torch.rand(shape) * 2 - 1).contiguous(memory_format=memory_format)
    shape = (batch, generator.config.out_channels, size, size)
    photo = (torch.rand(shape) * 2 - 1).contiguous(memory_format=memory_format)
    print(f"{args.recipe} {' '.join(args.set)}: batch {batch}, {tc.precision}, {torch.get_num_threads()} threads")
    for step in range(args.steps):
        started = time.perf_counter()
        gan_step(parts, sketch, photo, tc, autocast)
        print(f"step {step}: {time.perf_counter() - started:.2f} s", flush=True)


if __name__ == "__main__":
    main()
