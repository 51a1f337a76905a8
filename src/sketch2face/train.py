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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .config import ConfigError, RunConfig, save_config
from .data.datasets import PairedArrays, PairedAugment, load_paired_folder, split_train_val
from .data.transforms import from_model_range
from .io import atomic_torch_save, save_pretrained
from .losses import GANLoss, l1_loss
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


class EMA:
    """Exponential moving average of a model's parameters; buffers (batch-norm statistics) are copied."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - self.decay)
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


@torch.no_grad()
def evaluate_generator(generator: nn.Module, data: PairedArrays, batch_size: int = 8) -> dict[str, float]:
    """Mean L1 (model range), PSNR and SSIM (on [0, 1]) of a generator over paired arrays, in fp32."""
    generator.eval()
    l1s, psnrs, ssims = [], [], []
    for start in range(0, len(data), batch_size):
        sketch, photo = batch_to_tensors(data.sketches[start:start + batch_size], data.photos[start:start + batch_size])
        fake = generator(sketch).float().clamp(-1, 1)
        l1s.append((fake - photo).abs().flatten(1).mean(1))
        fake01, real01 = (fake + 1) / 2, (photo + 1) / 2
        psnrs.append(psnr(fake01, real01))
        ssims.append(ssim(fake01, real01))
    return {
        "val_l1": float(torch.cat(l1s).mean()),
        "val_psnr": float(torch.cat(psnrs).mean()),
        "val_ssim": float(torch.cat(ssims).mean()),
    }


@torch.no_grad()
def save_sample_grid(generator: nn.Module, data: PairedArrays, path: Path, count: int = 4) -> None:
    """Rows of sketch | generated | photo for the first ``count`` pairs."""
    from PIL import Image

    generator.eval()
    count = min(count, len(data))
    sketch, _ = batch_to_tensors(data.sketches[:count], data.photos[:count])
    fake = from_model_range(generator(sketch).float().permute(0, 2, 3, 1).numpy())
    rows = [np.concatenate([np.repeat(data.sketches[i][:, :, None], 3, 2), fake[i], data.photos[i]], axis=1)
            for i in range(count)]
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
    for key in ("loss_d", "loss_gan"):
        axes[0].plot(steps, [h[key] for h in train], label=key)
    axes[0].set_title("adversarial")
    axes[1].plot(steps, [h["loss_l1"] for h in train], label="L1 (train)")
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
    parts = [load_paired_folder(folder, config.data.image_size) for folder in config.data.train]
    data = PairedArrays(
        [n for p in parts for n in p.names],
        np.concatenate([p.sketches for p in parts]),
        np.concatenate([p.photos for p in parts]),
    )
    train_idx, val_idx = split_train_val(data.names, config.data.val_fraction, config.data.split_seed)
    if not train_idx:
        raise ConfigError("no training pairs left after the validation split")
    return data.subset(train_idx), data.subset(val_idx)


def train(config: RunConfig, resume: str | Path | None = None, progress: bool = True) -> Path:
    """Train a generator + discriminator; returns the run folder.

    The run folder holds ``config.json``, ``log.txt``, ``metrics.jsonl``, ``checkpoints/last.pt`` (full
    state, resumable), ``checkpoints/best.pt``, ``samples/``, ``loss_curve.png`` and ``release/`` (the
    best EMA generator as fp16 safetensors, loadable with ``load_pretrained``).
    """
    tc = config.train
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    checkpoint = None
    if resume is not None:
        resume = Path(resume)
        ckpt_path = resume / "checkpoints" / "last.pt" if resume.is_dir() else resume
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        run_dir = ckpt_path.parent.parent
    else:
        run_dir = new_run_dir(config.output_dir, config.name)
        save_config(config, run_dir / "config.json")

    handler = logging.FileHandler(run_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    torch.manual_seed(tc.seed)
    random.seed(tc.seed)
    np_rng = np.random.default_rng(tc.seed)

    train_data, val_data = load_training_data(config)
    log.info("run %s: %d training pairs, %d validation pairs", run_dir, len(train_data), len(val_data))

    size = config.data.image_size
    generator = create_model(config.model.generator, **config.model.generator_config)
    disc_config = {"in_channels": generator.config.in_channels + generator.config.out_channels,
                   **config.model.discriminator_config}
    discriminator = create_model(config.model.discriminator, **disc_config)
    memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
    generator.to(memory_format=memory_format)
    discriminator.to(memory_format=memory_format)
    opt_g = torch.optim.Adam(generator.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2))
    ema = EMA(generator, tc.ema_decay) if tc.ema_decay > 0 else None
    gan_loss = GANLoss(tc.gan_mode)
    augment = PairedAugment() if config.data.augment else None

    steps_per_epoch = math.ceil(len(train_data) / tc.batch_size)
    total_steps = steps_per_epoch * tc.epochs
    if tc.max_steps is not None:
        total_steps = min(total_steps, tc.max_steps)

    step, elapsed, history = 0, 0.0, []
    best = {"val_ssim": -1.0, "step": -1}
    order, position = np_rng.permutation(len(train_data)), 0
    if checkpoint is not None:
        generator.load_state_dict(checkpoint["generator"])
        discriminator.load_state_dict(checkpoint["discriminator"])
        opt_g.load_state_dict(checkpoint["opt_g"])
        opt_d.load_state_dict(checkpoint["opt_d"])
        if ema is not None:
            ema.model.load_state_dict(checkpoint["ema"])
        step, elapsed = checkpoint["step"], checkpoint["elapsed_seconds"]
        history, best = checkpoint["history"], checkpoint["best"]
        order, position = checkpoint["order"].numpy(), checkpoint["position"]
        _set_rng_state(checkpoint["rng"], np_rng)
        log.info("resumed from %s at step %d", ckpt_path, step)

    def make_checkpoint() -> dict[str, Any]:
        return {
            "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "ema": ema.model.state_dict() if ema is not None else None,
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "step": step, "elapsed_seconds": elapsed, "history": history, "best": best,
            "order": torch.from_numpy(order), "position": position, "rng": _rng_state(np_rng),
            "config": asdict(config),
        }

    def validate_and_keep_best() -> None:
        nonlocal best
        inference_model = ema.model if ema is not None else generator
        if not len(val_data):
            return
        scores = evaluate_generator(inference_model, val_data)
        history.append({"step": step, **scores})
        with (run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"step": step, "minutes": round(elapsed / 60, 2), **scores}) + "\n")
        log.info("step %d val %s", step, {k: round(v, 4) for k, v in scores.items()})
        save_sample_grid(inference_model, val_data, run_dir / "samples" / f"step{step:07d}.png")
        if scores["val_ssim"] > best["val_ssim"]:
            best = {"step": step, **scores}
            atomic_torch_save({"ema": inference_model.state_dict(), "step": step, "scores": scores,
                               "config": asdict(config)}, run_dir / "checkpoints" / "best.pt")
            save_release(inference_model, run_dir / "release", config, step, elapsed, scores, len(train_data))
        plot_history(history, run_dir / "loss_curve.png")
        generator.train()

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=tc.precision == "bf16")
    generator.train()
    discriminator.train()
    bar = tqdm(total=total_steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True)
    budget = tc.max_minutes * 60 if tc.max_minutes else math.inf
    running: dict[str, float] = {}
    with _StopFlag() as stop:
        while step < total_steps and elapsed < budget and not stop.requested:
            started = time.perf_counter()
            progress_fraction = max(step / total_steps, elapsed / budget)
            for optimizer in (opt_g, opt_d):
                for group in optimizer.param_groups:
                    group["lr"] = tc.lr * lr_factor(progress_fraction, tc.lr_decay_start)
            if position >= len(order):
                order, position = np_rng.permutation(len(train_data)), 0
            batch_idx = order[position:position + tc.batch_size]
            position += tc.batch_size
            sketches, photos = train_data.sketches[batch_idx], train_data.photos[batch_idx]
            if augment is not None:
                pairs = [augment(s, p, np_rng) for s, p in zip(sketches, photos)]
                sketches, photos = np.stack([s for s, _ in pairs]), np.stack([p for _, p in pairs])
            sketch, photo = batch_to_tensors(sketches, photos)
            sketch = sketch.contiguous(memory_format=memory_format)
            photo = photo.contiguous(memory_format=memory_format)

            with autocast:
                fake = generator(sketch)
                real_logits = discriminator(torch.cat([sketch, photo], 1))
                fake_logits = discriminator(torch.cat([sketch, fake.detach()], 1))
            loss_d = gan_loss.discriminator(real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

            with autocast:
                fake_logits = discriminator(torch.cat([sketch, fake], 1))
            loss_gan = gan_loss.generator(fake_logits)
            loss_l1 = l1_loss(fake, photo)
            loss_g = tc.lambda_gan * loss_gan + tc.lambda_l1 * loss_l1
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            if ema is not None:
                ema.update(generator)

            step += 1
            elapsed += time.perf_counter() - started
            for key, value in (("loss_d", loss_d), ("loss_gan", loss_gan), ("loss_l1", loss_l1), ("loss_g", loss_g)):
                running[key] = running.get(key, 0.0) + float(value.detach())
            running["n"] = running.get("n", 0) + 1
            if not math.isfinite(float(loss_g.detach())) or not math.isfinite(float(loss_d.detach())):
                raise FloatingPointError(f"loss became non-finite at step {step}; lower train.lr")
            bar.update(1)
            bar.set_postfix(l1=f"{loss_l1.item():.3f}", d=f"{loss_d.item():.3f}", min=f"{elapsed / 60:.1f}")
            if step % 50 == 0 or step == total_steps:
                n = running.pop("n")
                history.append({"step": step, **{k: v / n for k, v in running.items()}})
                running = {}
            if step % tc.eval_every == 0:
                validate_and_keep_best()
            if step % tc.checkpoint_every == 0:
                atomic_torch_save(make_checkpoint(), run_dir / "checkpoints" / "last.pt")
    bar.close()
    if stop.requested:
        log.info("stop requested at step %d", step)
    if step % tc.eval_every != 0 or best["step"] < 0:
        validate_and_keep_best()
    atomic_torch_save(make_checkpoint(), run_dir / "checkpoints" / "last.pt")
    if not len(val_data):
        inference_model = ema.model if ema is not None else generator
        save_release(inference_model, run_dir / "release", config, step, elapsed, {}, len(train_data))
    log.info("finished at step %d after %.1f CPU-minutes; best %s", step, elapsed / 60, best)
    log.removeHandler(handler)
    handler.close()
    return run_dir


def save_release(model: nn.Module, directory: Path, config: RunConfig, step: int, elapsed: float,
                 scores: dict[str, float], n_train: int) -> None:
    release = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    save_pretrained(release, directory, metadata={
        "training": {"image_size": config.data.image_size, "step": step, "minutes": round(elapsed / 60, 1), "train_pairs": n_train,
                     "data": config.data.train, "precision": config.train.precision,
                     "gan_mode": config.train.gan_mode, "lambda_l1": config.train.lambda_l1},
        "validation": {k: round(v, 4) for k, v in scores.items()},
    })
