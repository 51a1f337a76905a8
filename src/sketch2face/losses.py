"""Training losses. Each works in fp32 even under bf16 autocast, since the reductions need the range."""
from __future__ import annotations

import torch
import torch.nn.functional as F


class GANLoss:
    """Adversarial loss on patch logits: "vanilla" (BCE with logits), "lsgan" (least squares), "hinge"."""

    def __init__(self, mode: str = "lsgan"):
        if mode not in ("vanilla", "lsgan", "hinge"):
            raise ValueError(f"unknown GAN loss {mode!r}")
        self.mode = mode

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real, fake = real_logits.float(), fake_logits.float()
        if self.mode == "vanilla":
            return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                          + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        if self.mode == "lsgan":
            return 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean())
        return 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        fake = fake_logits.float()
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        if self.mode == "lsgan":
            return ((fake - 1) ** 2).mean()
        return -fake.mean()


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction.float() - target.float()).abs().mean()
