"""Conditional-GAN training loop (pix2pix objective) tuned for CPUs: bf16 autocast, channels_last,
EMA generator, atomic checkpoints with exact resume, a wall-clock budget and keep-best on validation."""
from __future__ import annotations

import copy
import json
import logging
import math
import random
import re
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .config import ConfigError, RunConfig, TrainConfig, save_config
from .data.augment import PairedAugment, SketchStyleAugment
from .data.datasets import PairedArrays, load_paired_folder, split_train_val
from .data.transforms import from_model_range, style_planes
from .io import atomic_torch_save, save_pretrained
from .losses import DiffAugment, GANLoss, IdentityLoss, PerceptualLoss, feature_matching, l1_loss, total_variation
from .metrics import psnr, ssim
from .models import create_model

log = logging.getLogger("sketch2face.train")


def new_run_dir(output_dir: str | Path, name: str) -> Path:
    """``runs/00003-name``: numbered so that runs sort by start order (StyleGAN3 convention)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in output_dir.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
    run_dir = output_dir / f"{max(numbers, default=-1) + 1:05d}-{name}"
    run_dir.mkdir()
    return run_dir


def batch_to_tensors(sketches: np.ndarray, photos: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N,H,W) and (N,H,W,3) -> float tensors in [-1, 1], (N,1,H,W) and (N,3,H,W)."""
    sketch = torch.from_numpy(np.ascontiguousarray(sketches)).float().div_(127.5).sub_(1).unsqueeze(1)
    photo = torch.from_numpy(np.ascontiguousarray(photos)).float().div_(127.5).sub_(1).permute(0, 3, 1, 2)
    return sketch, photo


def oriented(sketch: torch.Tensor, photo: torch.Tensor, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(generator input, target) for the training direction."""
    return (sketch, photo) if direction == "sketch_to_photo" else (photo, sketch)


def with_style(source: torch.Tensor, labels: list[str | None] | None, styles: list[str] | None) -> torch.Tensor:
    """Append the one-hot style planes of a style-conditioned model (no-op without ``styles``)."""
    if not styles:
        return source
    ids = [styles.index(label) for label in labels]
    planes = torch.from_numpy(style_planes(ids, len(styles), source.shape[-1]))
    return torch.cat([source, planes.to(source.dtype)], dim=1)


def batch_styles(data: PairedArrays, indices) -> list[str | None] | None:
    return None if data.styles is None else [data.styles[i] for i in indices]


def redraw_freehand(data: PairedArrays, indices, sketches: np.ndarray, procedures: list[str], strength: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Replace the sketches of freehand pairs by new drawings of the same faces (other pairs unchanged)."""
    from .data.freehand import FaceGeometry, draw_freehand

    sketches = sketches.copy()
    size = sketches.shape[1]
    for row, index in enumerate(indices):
        if not data.redrawable(index):
            continue
        silhouette = data.silhouettes[index] if data.silhouettes is not None and data.silhouettes[index].any() else None
        procedure = procedures[int(rng.integers(len(procedures)))]
        sketches[row] = draw_freehand(FaceGeometry(data.landmarks[index], silhouette), size, procedure, rng, strength)
    return sketches


def load_initial_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load a trained model's weights into a model of the same layers, where some convolutions may
    take fewer input channels (a U-Net level that lost its skip connection, ``skip_from``): those keep
    their leading input channels (the decoder's own features come first in the concatenation).
    Returns the names of the weights that were cut; any other mismatch is an error."""
    cut = []
    for module_name, module in model.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            continue
        name = f"{module_name}.weight"
        source = state.get(name)
        in_dim = 0 if isinstance(module, nn.ConvTranspose2d) else 1  # transposed: (in, out, k, k)
        wanted = module.weight.shape[in_dim]
        if source is not None and source.shape != module.weight.shape and source.shape[in_dim] > wanted and \
                source.narrow(in_dim, 0, wanted).shape == module.weight.shape:
            state = {**state, name: source.narrow(in_dim, 0, wanted).clone()}
            cut.append(name)
    model.load_state_dict(state)
    return cut


class EMA:
    """Exponential moving average of a model's parameters; buffers (batch-norm statistics) are copied.

    The decay warms up as (1 + step) / (10 + step), so early validation is not dominated by the
    random initial weights in short CPU runs.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)


class _StopFlag:
    """SIGINT/SIGTERM set a flag; the loop checkpoints and returns at the next step."""

    def __init__(self):
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals stay with the caller
                pass
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _rng_state(np_rng: np.random.Generator) -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np_rng.bit_generator.state, "python": list(random.getstate()[1])}


def _set_rng_state(state: dict[str, Any], np_rng: np.random.Generator) -> None:
    torch.set_rng_state(state["torch"])
    np_rng.bit_generator.state = state["numpy"]
    random.setstate((3, tuple(state["python"]), None))


@dataclass
class RealismReference:
    """The validation photos as the realism scores see them, computed once per run: Inception features
    (KID) and dlib identity embeddings (the gallery for rank-1)."""

    features: np.ndarray
    embeddings: np.ndarray

    @classmethod
    def of(cls, photos: np.ndarray) -> "RealismReference":
        from .fid import inception_features
        from .identity import embed_face

        return cls(inception_features(list(photos)), np.stack([embed_face(p).vector for p in photos]))

    def scores(self, faces: list[np.ndarray]) -> dict[str, float]:
        from .fid import inception_features, kid_from_features
        from .identity import embed_face, retrieval_ranks

        embedded = [embed_face(f) for f in faces]
        ranks = retrieval_ranks(np.stack([e.vector for e in embedded]), self.embeddings)
        return {"val_kid": kid_from_features(inception_features(faces), self.features)[0],
                "val_rank1": float((ranks <= 1).mean()), "val_face_found": float(np.mean([e.detected for e in embedded]))}


@torch.no_grad()
def evaluate_generator(generator: nn.Module, data: PairedArrays, batch_size: int = 8,
                       direction: str = "sketch_to_photo", styles: list[str] | None = None,
                       realism: RealismReference | None = None) -> dict[str, float]:
    """Mean L1 (model range), PSNR and SSIM (on [0, 1]) of a generator over paired arrays, in fp32;
    with ``realism``, also KID, identity rank-1 and the share of faces dlib finds (``RealismReference``).

    With several training folders each metric is the mean of the per-folder means (and ``val_ssim_K``
    reports folder K), so a large synthetic folder cannot outvote a small hand-drawn one in keep-best.
    KID and rank-1 pool every validation pair (a folder of a hundred is too few for a stable KID)."""
    generator.eval()
    l1s, psnrs, ssims, faces = [], [], [], []
    for start in range(0, len(data), batch_size):
        source, target = oriented(*batch_to_tensors(data.sketches[start:start + batch_size],
                                                    data.photos[start:start + batch_size]), direction)
        source = with_style(source, batch_styles(data, range(start, min(start + batch_size, len(data)))), styles)
        fake = generator(source).float().clamp(-1, 1)
        l1s.append((fake - target).abs().flatten(1).mean(1))
        fake01, real01 = (fake + 1) / 2, (target + 1) / 2
        psnrs.append(psnr(fake01, real01))
        ssims.append(ssim(fake01, real01))
        if realism is not None:
            faces.extend(from_model_range(fake.permute(0, 2, 3, 1).numpy()))
    per_image = {"val_l1": torch.cat(l1s), "val_psnr": torch.cat(psnrs), "val_ssim": torch.cat(ssims)}
    sources = torch.as_tensor(np.zeros(len(data), int) if data.sources is None else np.asarray(data.sources))
    folders = sorted(set(sources.tolist()))
    scores = {name: float(torch.stack([values[sources == k].mean() for k in folders]).mean())
              for name, values in per_image.items()}
    if len(folders) > 1:
        scores.update({f"val_ssim_{k}": float(per_image["val_ssim"][sources == k].mean()) for k in folders})
    if realism is not None:
        scores.update(realism.scores(faces))
    return scores


@torch.no_grad()
def save_sample_grid(generator: nn.Module, data: PairedArrays, path: Path, count: int = 4,
                     direction: str = "sketch_to_photo", styles: list[str] | None = None) -> None:
    """Rows of sketch | generated | photo (or photo | generated | sketch) for the first ``count`` pairs."""
    from PIL import Image

    generator.eval()
    count = min(count, len(data))
    source, _ = oriented(*batch_to_tensors(data.sketches[:count], data.photos[:count]), direction)
    source = with_style(source, batch_styles(data, range(count)), styles)
    fake = from_model_range(generator(source).float().permute(0, 2, 3, 1).numpy())
    if fake.shape[-1] == 1:
        fake = np.repeat(fake, 3, axis=-1)
    sketches = [np.repeat(data.sketches[i][:, :, None], 3, 2) for i in range(count)]
    first, last = (sketches, data.photos) if direction == "sketch_to_photo" else (data.photos, sketches)
    rows = [np.concatenate([first[i], fake[i], last[i]], axis=1) for i in range(count)]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    """Loss and validation curves as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [h for h in history if "loss_g" in h]
    val = [h for h in history if "val_ssim" in h]
    if not train:
        return
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    steps = [h["step"] for h in train]
    for key in ("loss_d", "loss_gan", "loss_fm"):
        if key in train[-1]:
            axes[0].plot(steps, [h.get(key, float("nan")) for h in train], label=key)
    axes[0].set_title("adversarial")
    axes[1].plot(steps, [h.get("loss_l1", float("nan")) for h in train], label="L1 (train)")
    if val:
        axes[1].plot([h["step"] for h in val], [h["val_l1"] for h in val], label="L1 (val)")
        axes[2].plot([h["step"] for h in val], [h["val_ssim"] for h in val], label="SSIM (val)")
    axes[1].set_title("L1")
    axes[2].set_title("validation SSIM")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def lr_factor(progress: float, decay_start: float) -> float:
    """pix2pix schedule: constant, then linear decay to zero; ``progress`` is the share of steps or
    of the time budget used, whichever is larger, so a time-budgeted run still ends annealed."""
    if progress <= decay_start or decay_start >= 1.0:
        return 1.0
    return max(0.0, 1.0 - (progress - decay_start) / (1.0 - decay_start))


def load_training_data(config: RunConfig) -> tuple[PairedArrays, PairedArrays]:
    """All training folders, split into train/validation by identity (a person is never on both sides)."""
    folder_styles = config.data.folder_styles or [None] * len(config.data.train)
    parts = [load_paired_folder(folder, config.data.image_size, default_style)
             for folder, default_style in zip(config.data.train, folder_styles)]
    data = PairedArrays.concatenate(parts)
    if config.data.styles:
        unknown = sorted({str(label) for label in data.styles if label not in config.data.styles})
        if unknown:
            raise ConfigError(f"training pairs have style label(s) {unknown} that are not in data.styles "
                              f"{config.data.styles}; add them or set data.folder_styles")
    train_idx, val_idx = split_train_val(data.identities, config.data.val_fraction, config.data.split_seed)
    if not train_idx:
        raise ConfigError("no training pairs left after the validation split")
    return data.subset(train_idx), data.subset(val_idx)


def sample_probabilities(data: PairedArrays, weights: list[float] | None) -> np.ndarray | None:
    """Per-pair sampling probabilities so that folder k supplies weights[k] of each epoch."""
    if not weights:
        return None
    counts = np.bincount(data.sources, minlength=len(weights)).astype(np.float64)
    per_pair = np.asarray(weights, dtype=np.float64)[data.sources] / np.maximum(counts[data.sources], 1)
    return per_pair / per_pair.sum()


@dataclass
class Continuation:
    """What a new part of a long training run starts from (``train --continue-from``)."""

    source: str
    generator: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    discriminator: dict[str, torch.Tensor] | None
    optimizers: tuple[dict, dict] | None
    """Adam states (generator, discriminator) when a full checkpoint was found; else fresh moments."""
    parts: list[dict[str, Any]]
    """Earlier parts: steps, minutes and CPU minutes of each."""


def load_continuation(spec: str | Path) -> Continuation:
    """A run folder (or checkpoint) whose full checkpoint still exists, else a release folder or bundled
    model: the EMA generator, the discriminator beside it when the release has one, its training record."""
    path = Path(spec)
    checkpoint_path = path / "checkpoints" / "last.pt" if path.is_dir() else path
    if checkpoint_path.suffix == ".pt" and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        part = {"run": checkpoint_path.parent.parent.name, "steps": state["step"],
                "minutes": round(state["elapsed_seconds"] / 60, 1),
                "cpu_minutes": round(state.get("cpu_seconds", 0.0) / 60, 1)}
        return Continuation(str(checkpoint_path), state["generator"], state["ema"], state["discriminator"],
                            (state["opt_g"], state["opt_d"]), [*state.get("parts", []), part])
    from safetensors.torch import load_file

    from .io import DISCRIMINATOR_FILE, load_pretrained

    release = path / "release" if (path / "release").is_dir() else spec
    model = load_pretrained(release)
    record = model.release_metadata.get("training", {})
    parts = record.get("parts") or [{"run": str(release), "steps": record.get("step", 0),
                                     "minutes": record.get("minutes", 0.0),
                                     "cpu_minutes": record.get("cpu_minutes", 0.0)}]
    disc_file = model.release_dir / DISCRIMINATOR_FILE
    discriminator = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(disc_file)).items()} \
        if disc_file.is_file() else None
    return Continuation(str(release), model.state_dict(), model.state_dict(), discriminator, None, parts)


class _Distributed:
    """torchrun data parallelism (gloo on CPU, nccl on GPU); a no-op for a single process."""

    def __init__(self):
        import os

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world > 1
        if self.enabled and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        if not self.enabled:
            return model
        return nn.parallel.DistributedDataParallel(model)

    def broadcast_parameters(self, model: nn.Module) -> None:
        if self.enabled:
            for tensor in list(model.parameters()) + list(model.buffers()):
                torch.distributed.broadcast(tensor.data, src=0)

    def average_gradients(self, model: nn.Module) -> None:
        if self.enabled:
            for p in model.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.SUM)
                    p.grad /= self.world

    def broadcast(self, value: Any) -> Any:
        if not self.enabled:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def any(self, flag: bool) -> bool:
        """True on every rank if it is true on one (so all ranks stop at the same step)."""
        if not self.enabled:
            return flag
        tensor = torch.tensor([1.0 if flag else 0.0])
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        return bool(tensor.item())

    def close(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            # every rank reaches the end before the group goes: a rank that tears it down while
            # another still writes its release can abort at exit (seen once under a loaded CPU)
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def epoch_order(n: int, seed: int, epoch: int, probabilities: np.ndarray | None = None) -> np.ndarray:
    """The sample order of an epoch, a pure function of (seed, epoch): identical on every rank and
    after a resume, so it needs no saved state. With mixture probabilities, n draws with replacement."""
    rng = np.random.default_rng([seed, epoch])
    if probabilities is None:
        return rng.permutation(n)
    return rng.choice(n, size=n, p=probabilities)


def _tensorboard_writer(run_dir: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


@dataclass
class StepParts:
    """What one optimisation step needs (the generator possibly wrapped for data parallelism)."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gan_loss: GANLoss
    perceptual: nn.Module | None = None
    teacher: nn.Module | None = None
    """A frozen trained generator whose outputs the generator also learns to match (distillation)."""
    discriminator_sees_sketch: bool = True
    augment: DiffAugment | None = None
    identity: nn.Module | None = None

    def judged(self, sketch: torch.Tensor, photo: torch.Tensor, augmentation: dict | None) -> torch.Tensor:
        """What the discriminator looks at: the (sketch, photo) pair or the photo alone, augmented."""
        image = torch.cat([sketch, photo], 1) if self.discriminator_sees_sketch else photo
        return image if augmentation is None else self.augment(image, augmentation)


@dataclass
class SampleLossWeights:
    """Per-sample settings of the regression terms, from each sample's train folder (``data.*``)."""

    l1: torch.Tensor | None = None
    """(N,) weights on the L1 term."""
    l1_pool: torch.Tensor | None = None
    """(N,) average-pooling factors before L1 (1 = every pixel)."""
    perceptual: torch.Tensor | None = None
    """(N,) weights on the perceptual term."""

    @classmethod
    def for_batch(cls, data_config, sources: np.ndarray) -> "SampleLossWeights":
        def pick(values, dtype):
            return None if values is None else torch.tensor(values, dtype=dtype)[torch.as_tensor(sources)]

        return cls(pick(data_config.pixel_loss_weights, torch.float32),
                   pick(data_config.pixel_loss_pool, torch.int64),
                   pick(data_config.perceptual_loss_weights, torch.float32))


def gan_step(parts: StepParts, sketch: torch.Tensor, photo: torch.Tensor, tc: TrainConfig, autocast,
             dist: "_Distributed | None" = None, sample_weights: SampleLossWeights | None = None,
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One discriminator update then one generator update (pix2pix order); returns the generator
    loss and every term. Seed 003's recipe has no adversarial term: then D is never run.
    ``sample_weights`` scale (and coarsen) each sample's L1 and perceptual terms."""
    sample_weights = sample_weights or SampleLossWeights()
    with autocast:
        fake = parts.generator(sketch)
    terms = {"loss_l1": l1_loss(fake, photo, sample_weights.l1, sample_weights.l1_pool)}
    loss_g = tc.lambda_l1 * terms["loss_l1"]
    if parts.teacher is not None:
        with torch.no_grad(), autocast:
            taught = parts.teacher(sketch)
        terms["loss_distill"] = l1_loss(fake, taught)
        loss_g = loss_g + tc.lambda_distill * terms["loss_distill"]
    discriminator = parts.discriminator
    if tc.lambda_gan > 0 or tc.lambda_feature_matching > 0:
        # one transform per sample for this step, shared by the real and generated images
        augmentation = None if parts.augment is None else parts.augment.sample(photo.shape[0], *photo.shape[2:])
        with autocast:
            real_features = discriminator.features(parts.judged(sketch, photo, augmentation))
            fake_features = discriminator.features(parts.judged(sketch, fake.detach(), augmentation))
        loss_d = parts.gan_loss.discriminator(real_features, fake_features)
        parts.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if dist is not None:
            dist.average_gradients(discriminator)
        parts.opt_d.step()
        terms["loss_d"] = loss_d.detach()
        with autocast:
            fake_features = discriminator.features(parts.judged(sketch, fake, augmentation))
        terms["loss_gan"] = parts.gan_loss.generator(fake_features)
        loss_g = loss_g + tc.lambda_gan * terms["loss_gan"]
        if tc.lambda_feature_matching > 0:
            # the real pair's features from the discriminator pass above (pix2pixHD does the same):
            # one forward pass fewer per step; they predate D's update by one step
            real_features = [[f.detach() for f in scale] for scale in real_features]
            terms["loss_fm"] = feature_matching(real_features, fake_features)
            loss_g = loss_g + tc.lambda_feature_matching * terms["loss_fm"]
    taps = None
    if parts.perceptual is not None:
        with autocast:
            taps = parts.perceptual.taps(fake, photo)
            terms["loss_perceptual"] = parts.perceptual(fake, photo, sample_weights.perceptual, taps=taps)
        loss_g = loss_g + tc.lambda_perceptual * terms["loss_perceptual"]
    if parts.identity is not None:
        with autocast:
            # the identity head reads the perceptual loss's last tap: one EfficientNet pass serves both
            stride32 = None if taps is None else (taps[0][-1], taps[1][-1])
            terms["loss_identity"] = parts.identity(fake, photo, stride32=stride32)
        loss_g = loss_g + tc.lambda_identity * terms["loss_identity"]
    if tc.lambda_tv > 0:
        terms["loss_tv"] = total_variation(fake)
        loss_g = loss_g + tc.lambda_tv * terms["loss_tv"]
    parts.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    parts.opt_g.step()
    return loss_g.detach(), {k: v.detach() for k, v in terms.items()}


@dataclass
class TrainState:
    """Everything a run needs to go on exactly where it stopped. ``state_dict`` is the checkpoint and
    ``load_state_dict`` reads it back: the two mirror each other, key for key."""

    generator: nn.Module
    discriminator: nn.Module
    ema: EMA | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    np_rng: np.random.Generator
    config: RunConfig
    step: int = 0
    elapsed: float = 0.0
    """Seconds of training (wall clock; a step that took 10x the usual counts as a usual one)."""
    cpu_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"val_ssim": -1.0, "step": -1})
    parts: list[dict[str, Any]] = field(default_factory=list)
    """Earlier parts of a long run (``--continue-from``): steps, minutes, CPU minutes of each."""
    warmup_steps: int = 0
    """Learning-rate warm-up of a part that started with fresh Adam moments."""
    realism: RealismReference | None = None
    """The validation photos' features for ``train.validate_realism`` (recomputed, not checkpointed)."""

    @property
    def inference_model(self) -> nn.Module:
        return self.ema.model if self.ema is not None else self.generator

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.model.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "step": self.step, "elapsed_seconds": self.elapsed, "cpu_seconds": self.cpu_seconds,
            "history": self.history, "best": self.best, "rng": _rng_state(self.np_rng),
            "config": asdict(self.config), "parts": self.parts, "warmup_steps": self.warmup_steps,
        }

    def load_state_dict(self, checkpoint: dict[str, Any], restore_rng: bool = True) -> None:
        self.generator.load_state_dict(checkpoint["generator"])
        self.discriminator.load_state_dict(checkpoint["discriminator"])
        if self.ema is not None:
            self.ema.model.load_state_dict(checkpoint["ema"])
        self.opt_g.load_state_dict(checkpoint["opt_g"])
        self.opt_d.load_state_dict(checkpoint["opt_d"])
        self.step, self.elapsed = checkpoint["step"], checkpoint["elapsed_seconds"]
        self.cpu_seconds = checkpoint.get("cpu_seconds", 0.0)
        self.history, self.best = checkpoint["history"], checkpoint["best"]
        self.parts, self.warmup_steps = checkpoint.get("parts", []), checkpoint.get("warmup_steps", 0)
        if restore_rng:
            _set_rng_state(checkpoint["rng"], self.np_rng)

    def save(self, path: Path) -> None:
        atomic_torch_save(self.state_dict(), path)

    def set_learning_rate(self, progress: float) -> None:
        """The pix2pix schedule (``lr_factor``) times the warm-up of a part with fresh moments."""
        tc = self.config.train
        warmup = min(1.0, (self.step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        for optimizer in (self.opt_g, self.opt_d):
            for group in optimizer.param_groups:
                group["lr"] = tc.lr * lr_factor(progress, tc.lr_decay_start) * warmup


#: A step that took this many times the usual or longer was suspended (the process stopped, the machine asleep).
SUSPENDED_STEP = 3.0


class StepClock:
    """The seconds a step counts against the time budget: its wall time, except that a suspended step
    (SUSPENDED_STEP times the usual or longer) counts as a usual one, so pauses do not eat the budget.
    Work beside the run that only slows its steps counts in full. (Until E35 a suspended step counted up
    to ten usual ones and pulled the usual time up with it: a part paused often got fewer steps.)"""

    def __init__(self) -> None:
        self.typical: float | None = None

    def count(self, seconds: float) -> float:
        if self.typical is not None and seconds >= SUSPENDED_STEP * self.typical:
            seconds = self.typical
        self.typical = seconds if self.typical is None else 0.9 * self.typical + 0.1 * seconds
        return seconds


def resumed_run(resume: str | Path) -> tuple[Path, Path]:
    """The run folder and the checkpoint file that ``--resume`` names (a run folder or a checkpoint in it)."""
    resume = Path(resume)
    checkpoint_path = resume / "checkpoints" / "last.pt" if resume.is_dir() else resume
    return checkpoint_path.parent.parent, checkpoint_path


def _open_run(config: RunConfig, resume: str | Path | None, continue_from: str | Path | None,
              dist: "_Distributed") -> tuple[Path, dict[str, Any] | None, Continuation | None]:
    """The run folder (resumed, or new with its config.json), the checkpoint to resume, the continuation."""
    if resume is not None and continue_from is not None:
        raise ConfigError("give --resume (the same run, exactly) or --continue-from (a new part), not both")
    continuation = load_continuation(continue_from) if continue_from is not None else None
    if resume is not None:
        run_dir, checkpoint_path = resumed_run(resume)
        return run_dir, torch.load(checkpoint_path, map_location="cpu", weights_only=True), continuation
    run_dir = None
    if dist.main:
        run_dir = new_run_dir(config.output_dir, config.name)
        save_config(config, run_dir / "config.json")
    return Path(dist.broadcast(str(run_dir) if run_dir else None)), None, continuation


@contextmanager
def _logging_to(run_dir: Path, enabled: bool):
    """The module's log also goes to RUN/log.txt while the run lasts (rank 0 only)."""
    if not enabled:
        yield
        return
    handler = logging.FileHandler(run_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def _build_state(config: RunConfig, checkpoint: dict[str, Any] | None, continuation: Continuation | None,
                 dist: "_Distributed") -> TrainState:
    """Models, optimisers and EMA, started from scratch, ``model.init_from``, a continuation or a checkpoint."""
    tc = config.train
    torch.manual_seed(tc.seed)
    random.seed(tc.seed + dist.rank)
    np_rng = np.random.default_rng([tc.seed, dist.rank])
    generator = create_model(config.model.generator, **config.model.generator_config)
    n_styles = len(config.data.styles or [])
    expected = (1 + n_styles, 3) if config.data.direction == "sketch_to_photo" else (3 + n_styles, 1)
    channels = (generator.config.in_channels, generator.config.out_channels)
    if channels != expected:
        raise ConfigError(f"data.direction {config.data.direction} needs a generator with in_channels, out_channels = "
                          f"{expected} (image channels + one plane per data.styles label); "
                          f"model.generator_config gives {channels}")
    if continuation is not None:
        generator.load_state_dict(continuation.generator)
        log.info("continuing from %s (earlier parts: %s)", continuation.source, continuation.parts)
    elif config.model.init_from and checkpoint is None:
        from .io import load_pretrained

        adapted = load_initial_weights(generator, load_pretrained(config.model.init_from).state_dict())
        log.info("generator initialised from %s%s", config.model.init_from,
                 f" (input channels cut in {adapted})" if adapted else "")
    judged_channels = generator.config.out_channels + (
        generator.config.in_channels if config.model.discriminator_sees_sketch else 0)
    discriminator = create_model(config.model.discriminator, **{
        "in_channels": judged_channels,
        **config.model.discriminator_config})
    memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
    generator.to(memory_format=memory_format)
    discriminator.to(memory_format=memory_format)
    state = TrainState(generator, discriminator, None,
                       torch.optim.Adam(generator.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2)),
                       torch.optim.Adam(discriminator.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2)),
                       np_rng, config)
    if continuation is not None:
        own_shapes = {k: v.shape for k, v in discriminator.state_dict().items()}
        if continuation.discriminator is None:
            log.warning("%s has no discriminator weights: the discriminator starts afresh", continuation.source)
        elif own_shapes != {k: v.shape for k, v in continuation.discriminator.items()}:
            log.warning("%s has a discriminator of another shape (model.discriminator*): this one starts afresh",
                        continuation.source)
        else:
            discriminator.load_state_dict(continuation.discriminator)
        if continuation.optimizers is not None:
            state.opt_g.load_state_dict(continuation.optimizers[0])
            state.opt_d.load_state_dict(continuation.optimizers[1])
        state.parts = continuation.parts
        # only a part that starts with fresh Adam moments warms up; a resumed part keeps its own
        state.warmup_steps = tc.warmup_steps if continuation.optimizers is None else 0
    state.ema = EMA(generator, tc.ema_decay) if tc.ema_decay > 0 and dist.main else None
    if state.ema is not None and continuation is not None and continuation.ema is not None:
        state.ema.model.load_state_dict(continuation.ema)
    if checkpoint is not None:
        state.load_state_dict(checkpoint, restore_rng=dist.main)
        if not dist.main:
            state.np_rng = np.random.default_rng([tc.seed, dist.rank, state.step])
    return state


def _step_parts(config: RunConfig, state: TrainState, dist: "_Distributed") -> StepParts:
    """What ``gan_step`` needs: the (data-parallel) models, optimisers, losses and the teacher."""
    tc = config.train
    memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
    perceptual = PerceptualLoss().to(memory_format=memory_format) if tc.lambda_perceptual > 0 else None
    identity = IdentityLoss().to(memory_format=memory_format) if tc.lambda_identity > 0 else None
    # The generator runs through DistributedDataParallel (one forward, one backward per step). The
    # discriminator is used several times per step (real, fake, fake again for G), which DDP's
    # reducer does not allow, so its gradients are averaged by hand after its backward.
    dist.broadcast_parameters(state.discriminator)
    teacher = None
    if tc.teacher:
        from .io import load_pretrained

        teacher = load_pretrained(tc.teacher).to(memory_format=memory_format).requires_grad_(False)
        log.info("distilling from %s (lambda %.1f)", tc.teacher, tc.lambda_distill)
    augment = DiffAugment(tc.discriminator_augment, state.generator.config.out_channels) \
        if tc.discriminator_augment else None
    return StepParts(dist.wrap(state.generator), state.discriminator, state.opt_g, state.opt_d, GANLoss(tc.gan_mode),
                     perceptual, teacher, config.model.discriminator_sees_sketch, augment, identity)


class _Batches:
    """The training batch of a step: the epoch's weighted order, freehand pairs redrawn, both images
    augmented, in the model's range and memory format, with each sample's loss weights."""

    def __init__(self, config: RunConfig, data: PairedArrays, dist: "_Distributed"):
        self.config, self.data, self.dist = config, data, dist
        self.probabilities = sample_probabilities(data, config.data.weights)
        self.global_batch = config.train.batch_size * dist.world
        self.steps_per_epoch = math.ceil(len(data) / self.global_batch)
        self.augment = PairedAugment() if config.data.augment else None
        self.sketch_augment = SketchStyleAugment(**config.data.sketch_augment) if config.data.sketch_augment else None
        self.memory_format = torch.channels_last if config.train.channels_last else torch.contiguous_format

    def __call__(self, step: int, np_rng: np.random.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor, SampleLossWeights]:
        config, data = self.config, self.data
        epoch, index = divmod(step, self.steps_per_epoch)
        order = epoch_order(len(data), config.train.seed, epoch, self.probabilities)
        # the last batch of an epoch wraps around to its start, so every batch is full on every rank
        positions = (index * self.global_batch + np.arange(self.global_batch)) % len(order)
        batch_idx = order[positions][self.dist.rank::self.dist.world]
        sketches, photos = data.sketches[batch_idx], data.photos[batch_idx]
        if config.data.freehand_procedures:
            sketches = redraw_freehand(data, batch_idx, sketches, config.data.freehand_procedures,
                                       config.data.freehand_strength, np_rng)
        if self.augment is not None:
            pairs = [self.augment(s, p, np_rng) for s, p in zip(sketches, photos)]
            sketches, photos = np.stack([s for s, _ in pairs]), np.stack([p for _, p in pairs])
        if self.sketch_augment is not None:
            sketches = np.stack([self.sketch_augment(s, np_rng) for s in sketches])
        source, target = oriented(*batch_to_tensors(sketches, photos), config.data.direction)
        source = with_style(source, batch_styles(data, batch_idx), config.data.styles)
        return (source.contiguous(memory_format=self.memory_format),
                target.contiguous(memory_format=self.memory_format),
                SampleLossWeights.for_batch(config.data, data.sources[batch_idx]))


def _validate(state: TrainState, val_data: PairedArrays, run_dir: Path, n_train: int, writer) -> None:
    """Score the EMA generator on the validation pairs, save a sample grid, keep the best (or the last,
    ``train.keep``) as the release."""
    config, model = state.config, state.inference_model
    if not len(val_data):
        return
    if config.train.validate_realism and state.realism is None:
        state.realism = RealismReference.of(val_data.photos)
    scores = evaluate_generator(model, val_data, direction=config.data.direction, styles=config.data.styles,
                                realism=state.realism)
    state.history.append({"step": state.step, **scores})
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": state.step, "minutes": round(state.elapsed / 60, 2), **scores}) + "\n")
    log.info("step %d val %s", state.step, {k: round(v, 4) for k, v in scores.items()})
    sample_path = run_dir / "samples" / f"step{state.step:07d}.png"
    save_sample_grid(model, val_data, sample_path, direction=config.data.direction, styles=config.data.styles)
    if writer is not None:
        for key, value in scores.items():
            writer.add_scalar(f"val/{key}", value, state.step)
        from PIL import Image
        writer.add_image("val/samples", np.asarray(Image.open(sample_path)), state.step, dataformats="HWC")
    if config.train.keep == "last" or _better(scores, state.best, config.train.keep):
        state.best = {"step": state.step, **scores}
        atomic_torch_save({"ema": model.state_dict(), "step": state.step, "scores": scores, "config": asdict(config)},
                          run_dir / "checkpoints" / "best.pt")
        save_release(model, run_dir / "release", config, state.step, state.elapsed, scores, n_train,
                     state.cpu_seconds, state.discriminator, state.parts)
    plot_history(state.history, run_dir / "loss_curve.png")
    state.generator.train()


KID_WEIGHT_IN_RANK1 = 7.5
"""``best_kid_rank1`` scores rank-1 minus 7.5 x KID: a KID 0.01 lower (15 % of v1's 0.067 on CUFS
test) counts as much as a rank-1 7.5 points higher (14 % of v1's 53.3 %), equal relative steps on
the two. A judgment, not fitted to any result."""


def selection_score(scores: dict[str, float], keep: str) -> float | None:
    """How good a validation is under ``train.keep`` (higher is better); None for "last", or when the
    scores lack what the criterion reads (realism not validated)."""
    try:
        if keep == "best_ssim":
            return scores["val_ssim"]
        if keep == "best_kid":
            return -scores["val_kid"]
        if keep == "best_kid_rank1":
            return scores["val_rank1"] - KID_WEIGHT_IN_RANK1 * scores["val_kid"]
    except KeyError:
        return None
    return None


def _better(scores: dict[str, float], best: dict[str, Any], keep: str) -> bool:
    """Whether these validation scores beat the kept ones under ``train.keep`` (none kept yet: they do)."""
    if best["step"] < 0:
        return True
    return selection_score(scores, keep) > selection_score(best, keep)


class _TrainingLog:
    """Means of every loss term over 50 steps into the history and TensorBoard; the progress bar."""

    EVERY = 50

    def __init__(self, state: TrainState, total_steps: int, writer, show: bool):
        self.state, self.total_steps, self.writer = state, total_steps, writer
        self.running: dict[str, float] = {}
        self.bar = tqdm(total=total_steps, initial=state.step, disable=not show, unit="step", dynamic_ncols=True)

    def record(self, loss_g: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        state = self.state
        values = {"loss_g": loss_g.item(), **{k: v.item() for k, v in terms.items()}}
        if not all(math.isfinite(v) for v in values.values()):
            raise FloatingPointError(f"loss became non-finite at step {state.step} ({values}); lower train.lr")
        for key, value in values.items():
            self.running[key] = self.running.get(key, 0.0) + value
        self.running["n"] = self.running.get("n", 0) + 1
        self.bar.update(1)
        self.bar.set_postfix(l1=f"{values['loss_l1']:.3f}", d=f"{values.get('loss_d', 0.0):.3f}",
                             min=f"{state.elapsed / 60:.1f}")
        if state.step % self.EVERY == 0 or state.step == self.total_steps:
            n = self.running.pop("n")
            record = {"step": state.step, **{k: v / n for k, v in self.running.items()}}
            state.history.append(record)
            if self.writer is not None:
                for key, value in record.items():
                    if key != "step":
                        self.writer.add_scalar(f"train/{key}", value, state.step)
                self.writer.add_scalar("train/lr", state.opt_g.param_groups[0]["lr"], state.step)
            self.running = {}


def train(config: RunConfig, resume: str | Path | None = None, progress: bool = True,
          continue_from: str | Path | None = None) -> Path:
    """Train a generator + discriminator; returns the run folder.

    The run folder holds ``config.json``, ``log.txt``, ``metrics.jsonl``, ``checkpoints/last.pt`` (full
    state, resumable), ``checkpoints/best.pt``, ``samples/``, ``loss_curve.png``, ``tensorboard/`` and
    ``release/`` (the best EMA generator as fp16 safetensors, loadable with ``load_pretrained``).

    ``continue_from`` starts a new part of a long run in a new run folder with its own budget: from the
    full checkpoint of a run folder when it still exists (weights, EMA, both optimisers), else from a
    release (the EMA generator and ``discriminator.safetensors``; fresh optimiser moments, warmed up
    over ``train.warmup_steps``). The release records every part's steps and minutes.

    Under ``torchrun --nproc-per-node N`` each process trains on its share of every batch
    (``train.batch_size`` per process); rank 0 writes everything. Exact resume is guaranteed for a
    single process; with several, the augmentation streams of ranks other than 0 are re-seeded.
    """
    tc = config.train
    dist = _Distributed()
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    run_dir, checkpoint, continuation = _open_run(config, resume, continue_from, dist)
    with _logging_to(run_dir, dist.main):
        train_data, val_data = load_training_data(config)
        log.info("run %s: %d training pairs, %d validation pairs, %d process(es)", run_dir, len(train_data),
                 len(val_data), dist.world)
        state = _build_state(config, checkpoint, continuation, dist)
        if checkpoint is not None:
            log.info("resumed from %s at step %d", resume, state.step)
        parts = _step_parts(config, state, dist)
        batches = _Batches(config, train_data, dist)
        total_steps = batches.steps_per_epoch * tc.epochs
        if tc.max_steps is not None:
            total_steps = min(total_steps, tc.max_steps)
        budget = tc.max_minutes * 60 if tc.max_minutes else math.inf
        writer = _tensorboard_writer(run_dir, tc.tensorboard and dist.main)
        training_log = _TrainingLog(state, total_steps, writer, progress and dist.main)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=tc.precision == "bf16")
        state.generator.train()
        state.discriminator.train()
        clock = StepClock()
        with _StopFlag() as stop:
            while not dist.any(state.step >= total_steps or state.elapsed >= budget or stop.requested):
                started, cpu_started = time.perf_counter(), time.process_time()
                state.set_learning_rate(max(state.step / total_steps, state.elapsed / budget))
                source, target, sample_weights = batches(state.step, state.np_rng)
                loss_g, terms = gan_step(parts, source, target, tc, autocast, dist, sample_weights)
                if state.ema is not None:
                    state.ema.update(state.generator, state.step)
                state.step += 1
                state.elapsed += clock.count(time.perf_counter() - started)
                state.cpu_seconds += time.process_time() - cpu_started
                training_log.record(loss_g, terms)
                if dist.main and state.step % tc.eval_every == 0:
                    _validate(state, val_data, run_dir, len(train_data), writer)
                if dist.main and state.step % tc.checkpoint_every == 0:
                    state.save(run_dir / "checkpoints" / "last.pt")
        training_log.bar.close()
        if dist.main:
            if stop.requested:
                log.info("stop requested at step %d", state.step)
            if state.step % tc.eval_every != 0 or state.best["step"] < 0:
                _validate(state, val_data, run_dir, len(train_data), writer)
            state.save(run_dir / "checkpoints" / "last.pt")
            if not len(val_data):
                save_release(state.inference_model, run_dir / "release", config, state.step, state.elapsed, {},
                             len(train_data), state.cpu_seconds, state.discriminator, state.parts)
            log.info("finished at step %d after %.1f minutes of training (wall clock), %.1f CPU-minutes; best %s",
                     state.step, state.elapsed / 60, state.cpu_seconds / 60, state.best)
        if writer is not None:
            writer.close()
    dist.close()
    return run_dir


def save_release(model: nn.Module, directory: Path, config: RunConfig, step: int, elapsed: float,
                 scores: dict[str, float], n_train: int, cpu_seconds: float = 0.0,
                 discriminator: nn.Module | None = None, earlier_parts: list[dict[str, Any]] | None = None) -> None:
    """The EMA generator (and the discriminator, for ``--continue-from``) as a release; ``step``,
    ``minutes`` and ``cpu_minutes`` count every part of the run, ``parts`` lists them."""
    release = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    critic = None if discriminator is None else copy.deepcopy(discriminator).to(memory_format=torch.contiguous_format)
    parts = [*(earlier_parts or []), {"run": directory.parent.name, "steps": step, "minutes": round(elapsed / 60, 1),
                                      "cpu_minutes": round(cpu_seconds / 60, 1)}]
    save_pretrained(release, directory, discriminator=critic, metadata={
        "training": {"image_size": config.data.image_size, "step": sum(p["steps"] for p in parts),
                     "minutes": round(sum(p["minutes"] for p in parts), 1),
                     "cpu_minutes": round(sum(p["cpu_minutes"] for p in parts), 1), "parts": parts,
                     "train_pairs": n_train,
                     "discriminator": {"arch": config.model.discriminator, "config": config.model.discriminator_config,
                                       "sees_sketch": config.model.discriminator_sees_sketch,
                                       "augment": config.train.discriminator_augment},
                     "data": config.data.train, "precision": config.train.precision,
                     "gan_mode": config.train.gan_mode, "lambda_l1": config.train.lambda_l1,
                     "direction": config.data.direction, "init_from": config.model.init_from,
                     "teacher": config.train.teacher, "styles": config.data.styles},
        "validation": {k: round(v, 4) for k, v in scores.items()},
    })
