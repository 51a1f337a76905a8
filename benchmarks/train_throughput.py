"""Training-step throughput (images/s) of every generator at 256x256 with a PatchGAN: sketch2face's
loop (bf16 autocast + channels_last) against plain fp32 eager, same architecture, same batch, one run.

    python benchmarks/train_throughput.py [--batch-size 8] [--steps 4] [--threads 2]
"""
from __future__ import annotations

import argparse
import contextlib
import platform
import time

import torch

from sketch2face.config import TrainConfig
from sketch2face.losses import GANLoss
from sketch2face.models import create_model
from sketch2face.train import StepParts, gan_step

GENERATORS = {
    "unet (pix2pix, 64)": ("unet", {}),
    "unet (default, 32/256)": ("unet", {"base_channels": 32, "max_channels": 256}),
    "unet (32/256, resize decoder)": ("unet", {"base_channels": 32, "max_channels": 256, "upsample": "resize"}),
    "unet-res": ("unet-res", {}),
    "unet-bilstm": ("unet-bilstm", {}),
    "csi-resnet": ("csi-resnet", {}),
}


def measure(arch: str, config: dict, fast: bool, batch_size: int, steps: int, size: int = 256) -> float:
    torch.manual_seed(0)
    generator = create_model(arch, **config)
    discriminator = create_model("patchgan", in_channels=generator.config.in_channels + 3)
    memory_format = torch.channels_last if fast else torch.contiguous_format
    generator.to(memory_format=memory_format)
    discriminator.to(memory_format=memory_format)
    parts = StepParts(generator, discriminator,
                      torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999)),
                      torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999)), GANLoss("vanilla"))
    tc = TrainConfig(batch_size=batch_size, precision="bf16" if fast else "fp32")
    sketch = (torch.rand(batch_size, 1, size, size) * 2 - 1).contiguous(memory_format=memory_format)
    photo = (torch.rand(batch_size, 3, size, size) * 2 - 1).contiguous(memory_format=memory_format)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if fast else contextlib.nullcontext()
    gan_step(parts, sketch, photo, tc, autocast)  # warm-up (allocations, oneDNN kernel selection)
    began = time.perf_counter()
    for _ in range(steps):
        gan_step(parts, sketch, photo, tc, autocast)
    return batch_size * steps / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# training-step throughput, 256x256, batch {args.batch_size}, {args.steps} timed steps after 1 warm-up,"
          f" {args.threads} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print("| generator | fp32 eager (img/s) | bf16 + channels_last (img/s) | speed-up |")
    print("|---|---|---|---|")
    for label, (arch, config) in GENERATORS.items():
        slow = measure(arch, config, False, args.batch_size, args.steps)
        fast = measure(arch, config, True, args.batch_size, args.steps)
        print(f"| {label} | {slow:.2f} | {fast:.2f} | {fast / slow:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
