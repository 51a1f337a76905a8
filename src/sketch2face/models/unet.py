"""pix2pix U-Net generator (Isola et al., "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017), with configurable depth and width."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import init_weights, make_norm
from .registry import register_model, register_preset


def _up_conv(kind: str, in_channels: int, out_channels: int, bias: bool) -> list[nn.Module]:
    """Double the resolution: a transposed convolution, or resize then convolve."""
    if kind == "transpose":
        return [nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=bias)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=bias)]


@register_model("unet")
class UNetGenerator(nn.Module):
    """Encoder of stride-2 4x4 convolutions, mirrored decoder, skip connections at every scale.

    With ``num_downs=8`` a 256x256 input reaches 1x1 at the bottleneck, as in pix2pix.
    """

    kind = "generator"

    @dataclass
    class Config:
        in_channels: int = 1
        """Sketch channels (greyscale)."""
        out_channels: int = 3
        """Photo channels (RGB)."""
        base_channels: int = 64
        """Width of the first encoder layer; doubles per level up to ``max_channels``."""
        max_channels: int = 512
        num_downs: int = 8
        """Number of stride-2 levels; the input side must be divisible by 2**num_downs."""
        norm: str = "batch"
        dropout: float = 0.5
        """Dropout in the three innermost decoder levels (pix2pix's noise source); 0 disables."""
        upsample: str = "transpose"
        """Decoder up-sampling: "transpose" (pix2pix's 4x4 stride-2 transposed convolution) or "resize"
        (nearest-neighbour x2 then a 3x3 convolution, which avoids checkerboard artefacts;
        Odena et al., Distill 2016)."""
        skip_from: int = 0
        """Encoder levels below this pass no skip connection to the decoder. At 0 every level does, and
        the first level (one convolution away from the input) hands a drawn stroke straight to the
        full-resolution output, which then traces it; at 2 the finest skip is at 1/8 resolution, so
        strokes place the face parts but the decoder has to draw them."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        c = config
        if c.num_downs < 2:
            raise ValueError("num_downs must be at least 2")
        if not 0 <= c.skip_from < c.num_downs:
            raise ValueError(f"skip_from must be in [0, num_downs), got {c.skip_from}")
        if c.upsample not in ("transpose", "resize"):
            raise ValueError(f"upsample must be 'transpose' or 'resize', got {c.upsample!r}")
        widths = [min(c.base_channels * 2**i, c.max_channels) for i in range(c.num_downs)]
        bias = c.norm != "batch"  # a batch-norm after the conv makes its bias redundant

        self.encoder = nn.ModuleList([nn.Conv2d(c.in_channels, widths[0], 4, 2, 1)])
        for i in range(1, c.num_downs):
            innermost = i == c.num_downs - 1
            self.encoder.append(
                nn.Sequential(
                    nn.LeakyReLU(0.2),
                    nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=bias or innermost),
                    nn.Identity() if innermost else make_norm(c.norm, widths[i]),
                )
            )

        # decoder[i] produces the features that are concatenated with encoder level i-1
        self.decoder = nn.ModuleList()
        for i in range(c.num_downs):
            in_ch = widths[i] if i == c.num_downs - 1 or i < c.skip_from else 2 * widths[i]
            if i == 0:
                self.decoder.append(
                    nn.Sequential(nn.ReLU(), *_up_conv(c.upsample, in_ch, c.out_channels, bias=True), nn.Tanh())
                )
                continue
            layers = [nn.ReLU(), *_up_conv(c.upsample, in_ch, widths[i - 1], bias=bias),
                      make_norm(c.norm, widths[i - 1])]
            if c.dropout > 0 and c.num_downs - 4 <= i <= c.num_downs - 2:
                layers.append(nn.Dropout(c.dropout))
            self.decoder.append(nn.Sequential(*layers))
        self.bottleneck = self.build_bottleneck(widths[-1])
        init_weights(self)

    def build_bottleneck(self, channels: int) -> nn.Module:
        """What sits between the innermost encoder and decoder levels; variants override this."""
        return nn.Identity()

    def forward(self, sketch: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) in [-1, 1] -> (N, out_channels, H, W) in [-1, 1]."""
        skips = []
        x = sketch
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        skips[-1] = self.bottleneck(skips[-1])
        y = self.decoder[-1](skips[-1])
        for i in range(len(self.decoder) - 2, -1, -1):
            y = self.decoder[i](y if i < self.config.skip_from else torch.cat([y, skips[i]], dim=1))
        return y


register_preset("unet-tiny", "unet", base_channels=4, max_channels=16, num_downs=5)
