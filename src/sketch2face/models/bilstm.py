"""CNN + bidirectional LSTM generator (seed 001): a convolutional encoder, a bidirectional LSTM run
along every row of the encoded map (left-to-right and right-to-left) and then along every column,
so each position sees the whole face, and a U-Net decoder with skips. Works at 128x128 and 256x256."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import init_weights, make_norm
from .registry import register_model, register_preset


class RowColumnBiLSTM(nn.Module):
    """ReNet-style sweep: BiLSTM over rows, then over columns; residual, same channel count."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.rows = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
        self.columns = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)
        self.project = nn.Conv2d(2 * hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * h, w, c)            # every row is a sequence of w steps
        with torch.autocast("cpu", enabled=False):  # recurrences accumulate: keep them in fp32
            rows, _ = self.rows(rows.float())
            rows = rows.reshape(n, h, w, -1)
            columns = rows.permute(0, 2, 1, 3).reshape(n * w, h, -1)  # then every column, h steps
            columns, _ = self.columns(columns)
        out = columns.reshape(n, w, h, -1).permute(0, 3, 2, 1)       # (n, 2*hidden, h, w)
        return x + self.project(out.contiguous())


@register_model("unet-bilstm")
class UNetBiLSTMGenerator(nn.Module):
    kind = "generator"

    @dataclass
    class Config:
        in_channels: int = 1
        out_channels: int = 3
        base_channels: int = 64
        max_channels: int = 256
        num_downs: int = 4
        """Encoder levels before the LSTM: 256/2**4 = 16x16 rows and columns."""
        lstm_hidden: int = 128
        norm: str = "batch"

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        widths = [min(c.base_channels * 2**i, c.max_channels) for i in range(c.num_downs)]
        bias = c.norm != "batch"
        self.encoder = nn.ModuleList([nn.Sequential(nn.Conv2d(c.in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2))])
        for i in range(1, c.num_downs):
            self.encoder.append(nn.Sequential(nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=bias),
                                              make_norm(c.norm, widths[i]), nn.LeakyReLU(0.2)))
        self.context = RowColumnBiLSTM(widths[-1], c.lstm_hidden)
        self.decoder = nn.ModuleList()
        for i in range(c.num_downs - 1, 0, -1):
            in_ch = widths[i] if i == c.num_downs - 1 else 2 * widths[i]
            self.decoder.append(nn.Sequential(nn.ConvTranspose2d(in_ch, widths[i - 1], 4, 2, 1, bias=bias),
                                              make_norm(c.norm, widths[i - 1]), nn.ReLU()))
        self.head = nn.Sequential(nn.ConvTranspose2d(2 * widths[0], c.out_channels, 4, 2, 1), nn.Tanh())
        init_weights(self)

    def forward(self, sketch: torch.Tensor) -> torch.Tensor:
        skips = []
        x = sketch
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        y = self.context(x)
        for level, layer in zip(range(len(skips) - 1, 0, -1), self.decoder):
            y = layer(y if level == len(skips) - 1 else torch.cat([y, skips[level]], 1))
        return self.head(torch.cat([y, skips[0]], 1))


register_preset("unet-bilstm-tiny", "unet-bilstm", base_channels=4, max_channels=16, num_downs=3, lstm_hidden=8)
