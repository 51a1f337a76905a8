"""A projected discriminator (after Projected GAN, Sauer et al., NeurIPS 2021): the judged photo passes
through a frozen ImageNet EfficientNet-Lite0, fixed random 1x1 projections mix its channels and scales,
and small trained PatchGAN heads judge the mixed features at strides 4, 8, 16 and 32, each conditioned
on the sketch pooled to its size.

Why: a PatchGAN trained from scratch on 1,234 pairs learns its own features from the same few faces,
and nine parts of issue 15 saw it move the generator's realism by little (docs/experiments.md, E12-E31).
Pretrained features give the heads texture and part detectors from the start; the fixed random mixing
keeps the heads from reading only the few channels that separate the easiest cases (Projected GAN, 3.2).

The backbone is the network the perceptual loss uses (not Inception, which FID and KID measure with, nor
dlib's recogniser). It is frozen and kept out of ``state_dict`` (a shared cached copy), so a release's
discriminator file holds only the projections and heads.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..losses import efficientnet_lite0, efficientnet_taps
from .registry import register_model, register_preset

TAPS = (2, 4, 10, 14)
"""EfficientNet-Lite0 blocks ending its stride-4, 8, 16 and 32 stages (as the perceptual loss)."""
TAP_CHANNELS = (24, 40, 112, 192)


@lru_cache(maxsize=1)
def frozen_backbone() -> nn.Module:
    """The frozen EfficientNet-Lite0 every projected discriminator shares, in eval mode."""
    net = efficientnet_lite0().to(memory_format=torch.channels_last).eval()
    return net.requires_grad_(False)


def _fixed_projection(generator: torch.Generator, in_channels: int, out_channels: int) -> torch.Tensor:
    """A random 1x1 convolution weight, never trained: uniform with bound sqrt(3 / fan_in) (Kaiming's
    for a linear layer), so a mix keeps about the scale of the features it mixes."""
    bound = (3.0 / in_channels) ** 0.5
    return (torch.rand(out_channels, in_channels, 1, 1, generator=generator) * 2 - 1) * bound


@register_model("projected")
class ProjectedDiscriminator(nn.Module):
    """Returns one map of patch logits per tap; ``features`` adds every head block's output."""

    kind = "discriminator"

    @dataclass
    class Config:
        in_channels: int = 4
        """Sketch channels + photo channels; the last ``image_channels`` are the judged image."""
        image_channels: int = 3
        base_channels: int = 64
        """Width of the finest projection; each coarser tap gets twice the last."""
        num_scales: int = 4
        """How many of the four taps are judged, finest first."""
        num_downs: int = 3
        """Strided blocks of the finest head; each coarser head has one fewer (none below zero)."""
        seed: int = 0
        """Draws the fixed projections."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if not 1 <= c.num_scales <= len(TAPS):
            raise ValueError(f"projected: num_scales must be 1-{len(TAPS)}, got {c.num_scales}")
        if not 0 < c.image_channels <= c.in_channels:
            raise ValueError(f"projected: image_channels {c.image_channels} must be in 1..in_channels")
        self.sketch_channels = c.in_channels - c.image_channels
        generator = torch.Generator().manual_seed(c.seed)
        widths = [c.base_channels * 2**i for i in range(c.num_scales)]
        # cross-channel mixing of each tap, then cross-scale mixing from the coarsest tap down (an FPN
        # whose 1x1 convolutions are random and fixed): buffers, so the optimiser never sees them
        for i, (tap, width) in enumerate(zip(TAP_CHANNELS, widths)):
            self.register_buffer(f"channel_mix{i}", _fixed_projection(generator, tap, width))
            if i + 1 < c.num_scales:
                self.register_buffer(f"scale_mix{i}", _fixed_projection(generator, widths[i + 1], width))
        self.heads = nn.ModuleList()
        for i, width in enumerate(widths):
            blocks, channels = [], width + self.sketch_channels
            for d in range(max(0, c.num_downs - i)):
                out = c.base_channels * 2 ** min(i + d + 1, 3)
                blocks.append(nn.Sequential(spectral_norm(nn.Conv2d(channels, out, 4, 2, 1, bias=False)),
                                            nn.BatchNorm2d(out), nn.LeakyReLU(0.2)))
                channels = out
            blocks.append(spectral_norm(nn.Conv2d(channels, 1, 3, 1, 1)))
            self.heads.append(nn.ModuleList(blocks))

    def _projected(self, image: torch.Tensor) -> list[torch.Tensor]:
        if image.shape[1] == 1:
            image = image.repeat(1, 3, 1, 1)
        taps = efficientnet_taps(frozen_backbone(), image, TAPS[:self.config.num_scales])
        mixed = [F.conv2d(x, getattr(self, f"channel_mix{i}").to(x.dtype)) for i, x in enumerate(taps)]
        for i in reversed(range(len(mixed) - 1)):
            coarser = F.conv2d(mixed[i + 1], getattr(self, f"scale_mix{i}").to(mixed[i].dtype))
            mixed[i] = mixed[i] + F.interpolate(coarser, size=mixed[i].shape[2:], mode="bilinear",
                                                align_corners=False)
        return mixed

    def features(self, pair: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per tap: the projected features, then the output of every head block, the last being the patch
        logits (feature matching compares all but the logits)."""
        sketch, image = pair[:, :self.sketch_channels], pair[:, self.sketch_channels:]
        result = []
        for projected, head in zip(self._projected(image), self.heads):
            x = projected
            if self.sketch_channels:
                x = torch.cat([x, F.adaptive_avg_pool2d(sketch, projected.shape[2:]).to(x.dtype)], 1)
            outputs = [projected]
            for block in head:
                x = block(x)
                outputs.append(x)
            result.append(outputs)
        return result

    def forward(self, pair: torch.Tensor) -> list[torch.Tensor]:
        return [scale[-1] for scale in self.features(pair)]


register_preset("projected-tiny", "projected", base_channels=4, num_scales=3, num_downs=1)
