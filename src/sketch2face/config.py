"""Run configuration: typed dataclasses, loaded from YAML, overridden by ``section.key=value`` flags."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml


DIFF_AUGMENTATIONS = ("color", "translation", "cutout")
"""The discriminator input augmentations ``losses.DiffAugment`` knows (``train.discriminator_augment``)."""
KEEP_CRITERIA = ("best_ssim", "best_kid", "best_kid_rank1", "last")
"""What ``train.keep`` may name (``train.selection_score`` scores each)."""


class ConfigError(ValueError):
    """A configuration value or file that cannot be used; the message names the key."""


@dataclass
class ModelConfig:
    generator: str = "unet"
    """Registered generator name (see ``sketch2face models``)."""
    generator_config: dict[str, Any] = field(default_factory=dict)
    discriminator: str = "patchgan"
    discriminator_config: dict[str, Any] = field(default_factory=dict)
    discriminator_sees_sketch: bool = True
    """Condition the discriminator on the sketch (pix2pix). False judges the photo alone: realism without
    the strokes to compare against, which in E9 taught the generator to trace them (docs/experiments.md)."""
    init_from: str | None = None
    """Release folder or bundled model name whose generator weights start the run (fine-tuning)."""


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=lambda: ["../shared/data/cufs/train"])
    """Paired folders (photos/ + sketches/ with matching names), relative to the working directory."""
    weights: list[float] | None = None
    """Mixture: share of each epoch drawn from each train folder (default: proportional to size)."""
    image_size: int = 256
    val_fraction: float = 0.08
    """Share of the training pairs held out (by a hash of the name) for validation and keep-best."""
    split_seed: int = 0
    augment: bool = True
    """Flip and small rotation/scale/shift for both images, contrast for the sketch."""
    direction: str = "sketch_to_photo"
    """"sketch_to_photo" or "photo_to_sketch" (the reverse model: generator in_channels 3, out_channels 1)."""
    sketch_augment: dict[str, float] = field(default_factory=dict)
    """Probabilities of sketch-only changes: stroke_width, darkness, paper, erase_regions
    (see ``SketchStyleAugment``)."""
    styles: list[str] | None = None
    """Condition the generator on the sketch style: the style labels, in input-plane order (one
    one-hot plane each, after the image channels). A pair's label is its prepared folder's manifest
    ``style``, else its folder's entry in ``folder_styles``. The first label is the default at inference."""
    folder_styles: list[str | None] | None = None
    """One style label (or null) per train folder, for pairs whose folder has no manifest style."""
    freehand_procedures: list[str] | None = None
    """Redraw every freehand pair (folders prepared with a freehand style keep its landmarks) at
    every step with one of these procedures (``data/freehand.py``), so no drawing is seen twice."""
    freehand_strength: float = 1.0
    """How far redrawn drawings stray from their photos (part-wise and elastic deformation, tremor)."""
    pixel_loss_weights: list[float] | None = None
    """One weight per train folder on the L1 term: low for sparse drawings, where L1 to one photo
    pulls the face towards the average (docs/experiments.md E8)."""
    pixel_loss_pool: list[int] | None = None
    """One factor per train folder: L1 compares the images average-pooled by it (1 = every pixel).
    For sparse drawings a coarse match (8: 32x32 colour layout at 256) ties skin, hair and background
    to the photo and leaves the detail, which the drawing does not determine, to the discriminator."""
    perceptual_loss_weights: list[float] | None = None
    """One weight per train folder on the perceptual term (like ``pixel_loss_weights``); it pulled
    sparse drawings to the average face in E8, where it made two thirds of the generator's loss."""

    def __post_init__(self):
        if isinstance(self.train, str):
            self.train = [self.train]
        if self.image_size < 16 or self.image_size % 16:
            raise ConfigError(f"data.image_size must be a multiple of 16 and >= 16, got {self.image_size}")
        if self.direction not in ("sketch_to_photo", "photo_to_sketch"):
            raise ConfigError(f"data.direction must be sketch_to_photo or photo_to_sketch, got {self.direction!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.weights is not None:
            if len(self.weights) != len(self.train) or any(w < 0 for w in self.weights) or not sum(self.weights):
                raise ConfigError(f"data.weights needs one non-negative weight per train folder ({len(self.train)}), "
                                  f"not all zero; got {self.weights}")
        if self.styles is not None:
            if not self.styles or len(set(self.styles)) != len(self.styles):
                raise ConfigError(f"data.styles must be a non-empty list of distinct labels, got {self.styles}")
        if self.folder_styles is not None:
            if self.styles is None:
                raise ConfigError("data.folder_styles needs data.styles (the labels the model is conditioned on)")
            if len(self.folder_styles) != len(self.train):
                raise ConfigError(f"data.folder_styles needs one label (or null) per train folder "
                                  f"({len(self.train)}), got {self.folder_styles}")
            unknown_styles = [s for s in self.folder_styles if s is not None and s not in self.styles]
            if unknown_styles:
                raise ConfigError(f"data.folder_styles {unknown_styles} are not in data.styles {self.styles}")
        if self.freehand_procedures is not None:
            from .data.freehand import TEST_PROCEDURES, TRAINING_PROCEDURES, VALIDATION_PROCEDURES

            held_out = [p for p in self.freehand_procedures if p in TEST_PROCEDURES + VALIDATION_PROCEDURES]
            if held_out:
                raise ConfigError(f"data.freehand_procedures {held_out} are held out for validation or testing; "
                                  f"train with {list(TRAINING_PROCEDURES)}")
            unknown_procedures = [p for p in self.freehand_procedures if p not in TRAINING_PROCEDURES]
            if unknown_procedures or not self.freehand_procedures:
                raise ConfigError(f"data.freehand_procedures must list some of {list(TRAINING_PROCEDURES)}, "
                                  f"got {self.freehand_procedures}")
        if not 0.0 <= self.freehand_strength <= 2.0:
            raise ConfigError(f"data.freehand_strength must be in [0, 2], got {self.freehand_strength}")
        for key in ("pixel_loss_weights", "perceptual_loss_weights"):
            values = getattr(self, key)
            if values is not None and (len(values) != len(self.train) or any(w < 0 for w in values)):
                raise ConfigError(f"data.{key} needs one non-negative weight per train folder "
                                  f"({len(self.train)}); got {values}")
        if self.pixel_loss_pool is not None and (
                len(self.pixel_loss_pool) != len(self.train)
                or any(not isinstance(k, int) or k < 1 or self.image_size % k for k in self.pixel_loss_pool)):
            raise ConfigError(f"data.pixel_loss_pool needs one whole factor >= 1 dividing data.image_size per "
                              f"train folder ({len(self.train)}); got {self.pixel_loss_pool}")
        known = {"stroke_width", "darkness", "paper", "erase_regions"}
        for key, value in (self.sketch_augment or {}).items():
            if key not in known:
                raise ConfigError(f"data.sketch_augment.{key} is unknown; known: {sorted(known)}")
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"data.sketch_augment.{key} must be a probability in [0, 1], got {value!r}")


@dataclass
class TrainConfig:
    batch_size: int = 8
    lr: float = 2e-4
    lr_decay_start: float = 0.5
    """Share of the run (steps or time budget) after which the learning rate decays linearly to 0."""
    beta1: float = 0.5
    beta2: float = 0.999
    epochs: int = 200
    max_steps: int | None = None
    """Stop after this many optimiser steps (overrides epochs when smaller)."""
    max_minutes: float | None = None
    """Wall-clock budget; training ends with a checkpoint when it is spent."""
    gan_mode: str = "lsgan"
    """"vanilla" (BCE, as pix2pix), "lsgan" or "hinge"."""
    lambda_gan: float = 1.0
    lambda_l1: float = 100.0
    lambda_perceptual: float = 0.0
    """EfficientNet-Lite0 feature L1 (not Inception, so FID stays independent)."""
    lambda_tv: float = 0.0
    lambda_feature_matching: float = 0.0
    """pix2pixHD discriminator feature matching."""
    lambda_identity: float = 0.0
    """Weight of ``losses.IdentityLoss`` (1 - cosine of identity embeddings of face and photo; not the
    evaluation's dlib recogniser)."""
    discriminator_augment: list[str] | None = None
    """DiffAugment (Zhao et al. 2020) of every discriminator input, real and generated alike: any of
    "color", "translation", "cutout". Keeps a discriminator on a few thousand faces from memorising them."""
    teacher: str | None = None
    """Release folder or bundled model the generator learns to imitate (knowledge distillation)."""
    lambda_distill: float = 0.0
    """Weight of L1 between the generator's and the teacher's outputs."""
    tensorboard: bool = True
    """Write TensorBoard logs to RUN/tensorboard when the tensorboard package is installed."""
    precision: str = "bf16"
    """"bf16" autocast (fast on CPUs with AMX) or "fp32"."""
    channels_last: bool = True
    ema_decay: float = 0.999
    """Exponential moving average of generator weights; 0 disables."""
    warmup_steps: int = 100
    """Linear learning-rate warm-up when a run continues from a release (fresh Adam moments)."""
    eval_every: int = 250
    keep: str = "best_ssim"
    """Which EMA generator becomes the release: "best_ssim" (highest mean validation SSIM), "best_kid"
    (lowest validation KID; needs ``validate_realism``), "best_kid_rank1" (highest identity rank-1 minus
    7.5 x KID, ``train.selection_score``; needs ``validate_realism``) or "last" (the end of the annealed
    run). SSIM rewards the average face (docs/experiments.md); KID rewards faces that look like photos,
    rank-1 faces that look like the person."""
    validate_realism: bool = False
    """Also score every evaluation on realism and identity: KID of the EMA generator's faces against the
    validation photos (FID's Inception features) and dlib identity rank-1 among the validation photos.
    About a minute per 600 validation pairs. Selection only: no loss uses either network."""
    checkpoint_every: int = 250
    seed: int = 0
    num_threads: int | None = None
    """torch intra-op threads; default: all cores."""

    def __post_init__(self):
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        if self.gan_mode not in ("vanilla", "lsgan", "hinge"):
            raise ConfigError(f"train.gan_mode must be vanilla, lsgan or hinge, got {self.gan_mode!r}")
        if self.keep not in KEEP_CRITERIA:
            raise ConfigError(f"train.keep must be one of {', '.join(KEEP_CRITERIA)}, got {self.keep!r}")
        if self.keep in ("best_kid", "best_kid_rank1") and not self.validate_realism:
            raise ConfigError(f"train.keep: {self.keep} needs train.validate_realism: true")
        if self.precision not in ("bf16", "fp32"):
            raise ConfigError(f"train.precision must be bf16 or fp32, got {self.precision!r}")
        unknown_augmentations = [a for a in self.discriminator_augment or [] if a not in DIFF_AUGMENTATIONS]
        if unknown_augmentations:
            raise ConfigError(f"train.discriminator_augment {unknown_augmentations} are unknown; "
                              f"known: {list(DIFF_AUGMENTATIONS)}")
        if (self.teacher is None) != (self.lambda_distill == 0):
            raise ConfigError("train.teacher and train.lambda_distill > 0 go together (distillation)")
        for name in ("lambda_gan", "lambda_l1", "lambda_perceptual", "lambda_tv", "lambda_feature_matching",
                     "lambda_identity", "lambda_distill"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"train.max_minutes must be positive, got {self.max_minutes}")
        if self.warmup_steps < 0:
            raise ConfigError(f"train.warmup_steps must be >= 0, got {self.warmup_steps}")
        for name in ("epochs", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class RunConfig:
    name: str = "run"
    output_dir: str = "runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _build(cls, values: dict[str, Any], prefix: str = ""):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s) {[prefix + k for k in unknown]}; known: {sorted(known)}")
    hints = get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if is_dataclass(hints[key]):
            kwargs[key] = _build(hints[key], value, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{prefix or 'config'}: {error}") from None


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check and convert a value to its field's type with pydantic: YAML reads ``1e-4`` as a string and
    users type ``--set train.lr=3``; a list of numbers, an optional int, a bool each get their own check."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError as error:
        reason = error.errors()[0]["msg"].lower()
        raise ConfigError(f"{key} must be {_describe_type(annotation)} ({reason}), got {value!r}") from None


def _describe_type(annotation: Any) -> str:
    names = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
    if annotation in names:
        return names[annotation]
    return str(annotation).replace("typing.", "")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults < YAML file < ``section.key=value`` overrides (values parsed as YAML scalars)."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"cannot read config {path}: {error}") from None
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        node = values
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return _build(RunConfig, values)


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    return asdict(config)


def save_config(config: RunConfig, path: str | Path) -> None:
    Path(path).write_text(json.dumps(config_to_dict(config), indent=2) + "\n")
