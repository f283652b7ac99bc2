"""Frozen, nested configuration dataclasses and the presets.

Every number the networks and trainers use lives here, with the reference value of the
authors' code as the default where one exists (``original-implementation.md`` sections
1.7-1.9). Presets are functions of nothing: ``market`` (the paper's scale), ``deepfashion``
(256x256, appearance and pose only, N = 7), ``cpu`` (the bundled demo model: 128x64, small
enough to train on a 2-core laptop) and ``tiny`` (tests).

The command line changes fields with ``--set section.field=value``: values are parsed by the
field's type, unknown keys are refused (``override``).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class ModelConfig:
    """Stage-I networks (section 3.4, Fig. 10)."""

    height: int = 128
    width: int = 64
    channels: int = 128  # conv_hidden_num: width of block i is channels * (i + 1)
    encoder_blocks: int = 5  # N for the foreground/background towers
    decoder_blocks: int = 5  # N for the U-Net
    foreground: str = "body_roi7"  # or "whole_body" (one crop of the whole masked map)
    roi_size: int = 48  # ROI crops are resized to roi_size x roi_size
    part_dim: int = 32  # embedding per body ROI (7 x 32 = 224)
    bg_dim: int = 128  # 0 disables the background branch (DeepFashion)
    bottleneck_dim: int = 64  # z_num of the U-Net's fully connected bottleneck
    pose_map_radius: float = 4.0
    pose_map_mode: str = "disk"  # or "gaussian"
    mask_radius: int = 7  # coarse pose mask radius: 7 at 128x64, 8 at 256x256
    disc_channels: int = 64  # DCGAN discriminator: 64 -> 128 -> 256 -> 512
    # Whose people and body-ROI rule: "market" (pedestrians, also any folder of `dpg prepare`,
    # whose people are whole and upright at any size) or "deepfashion" (its own ROI rule, studio
    # scenes for procedural people). Chosen here once and read everywhere, never guessed from the
    # image size; "" (checkpoints written before the field) is resolved by the size, as they were.
    dataset: str = ""

    def __post_init__(self):
        if not self.dataset:  # frozen: set once, here
            object.__setattr__(self, "dataset", "deepfashion" if (self.height, self.width) == (256, 256) else "market")

    @property
    def fg_dim(self) -> int:
        return 7 * self.part_dim

    @property
    def style(self) -> str:
        """The procedural renderer's style of this dataset (``dpg.synthetic``)."""
        return "studio" if self.dataset == "deepfashion" else "market"


@dataclass(frozen=True)
class PoseAEConfig:
    """Pose auto-encoder (54 -> 32 -> 54), section 3.4."""

    hidden: int = 512
    blocks: int = 4
    code_dim: int = 32


@dataclass(frozen=True)
class MappingConfig:
    """Stage-II mapping functions and critics, section 3.4 / reference 1.9."""

    fg_hidden: int = 512
    bg_hidden: int = 256
    pose_hidden: int = 512
    blocks: int = 4
    critic_hidden: int = 512
    critic_layers: int = 4
    noise_std: float = 0.2  # z ~ N(0, 0.2^2), the reference's default
    # Factors whose mapping is an invertible residual flow (``dpg.mapping.FlowMapping``, e.g.
    # "fg,bg,pose") instead of the paper's FC ResNet: inverted in milliseconds (issue 21).
    flow: str = ""
    flow_blocks: int = 8  # residual blocks of a flow (each bends less than a free FC block)
    flow_lipschitz: float = 0.9  # each residual branch's Lipschitz bound (below 1: invertible)


@dataclass(frozen=True)
class Stage1Train:
    batch_size: int = 16
    steps: int = 120_000
    lr: float = 2e-5
    betas: tuple[float, float] = (0.5, 0.999)
    lr_halve_every: int = 50_000
    l1_weight: float = 20.0  # Eq. 2's lambda; the reference hard-codes 20
    adv_weight: float = 1.0  # 0 trains with L1 alone
    adv_start: int = 0  # steps of L1 alone before the discriminator joins
    flip_prob: float = 0.5
    # Share of stage-I items (with --data) that are procedural people raising an arm.
    # Photographed pedestrians almost never raise one, so a model trained on them alone
    # draws short arms where the pose editor lifts a wrist above the head (issue 20).
    raised_arm_mix: float = 0.0
    # Weight of the person's colour loss (``losses.region_colour_loss``, CIELAB units; the
    # L1 term is about 3 at lambda 20): 0 trains as the paper, L1 and adversarial alone.
    colour_weight: float = 0.0
    # Weight of the structure loss (``losses.ssim_loss``: 1 - grayscale SSIM, about 0.6 on
    # real people at the start): 0 trains as the paper.
    ssim_weight: float = 0.0
    # D1's architecture: "dcgan" is the reference's (one logit per image, batch norm);
    # "patch" scores overlapping patches with spectrally normalised layers (pix2pix's
    # PatchGAN with Miyato et al.'s normalisation), a critic that stays informative
    # against blurred reconstructions where the global one wins at once on 2 cores.
    discriminator: str = "dcgan"
    # Train the decoder alone (the stem and both encoders frozen): every embedding stays
    # as it was, so a continued model keeps its stage-II mappings and named directions.
    freeze_encoders: bool = False
    # Train the stem and encoders alone (the decoder frozen): the decoder, so every sampled
    # person and the preview decoder's pictures, stay as they were, while the encoders learn
    # embeddings the decoder draws closer to the photo (what ``dpg.inversion.refine_embeddings``
    # does per photo, learnt once: truer colours at no cost per upload).
    freeze_decoder: bool = False


@dataclass(frozen=True)
class PoseAETrain:
    batch_size: int = 64
    steps: int = 60_000
    lr: float = 2e-5
    betas: tuple[float, float] = (0.5, 0.999)
    lr_halve_every: int = 50_000
    loss_weight: float = 20.0


@dataclass(frozen=True)
class Stage2Train:
    objective: str = "wgan"  # "wgan" (weight clipping, RMSProp) or "wgan-gp" (Adam, lambda 10)
    batch_size: int = 32
    steps: int = 120_000
    lr: float = 2e-5
    lr_halve_every: int = 50_000
    critic_iters: int = 5
    clip: float = 0.01
    gp_lambda: float = 10.0
    gp_betas: tuple[float, float] = (0.5, 0.9)
    embedding_samples: int = 20_000  # real embeddings cached from the frozen stage I


@dataclass(frozen=True)
class RunConfig:
    """Bookkeeping shared by every trainer."""

    seed: int = 0
    log_every: int = 50
    sample_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    workers: int = 2
    amp: bool = True  # bf16 autocast on CUDA, and on a CPU where a probe finds it faster (dpg.training.cpu_bf16_pays)
    max_minutes: float = 0.0  # wall-clock budget of one trainer run (0 = none): stop, save, export
    # stage I's convolutions in NHWC memory: 6% more steps/s on a 2-core AMD EPYC (bench_train_speed)
    channels_last: bool = True


@dataclass(frozen=True)
class Config:
    name: str = "market"
    model: ModelConfig = field(default_factory=ModelConfig)
    pose_ae: PoseAEConfig = field(default_factory=PoseAEConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    stage1: Stage1Train = field(default_factory=Stage1Train)
    pose_ae_train: PoseAETrain = field(default_factory=PoseAETrain)
    stage2: Stage2Train = field(default_factory=Stage2Train)
    run: RunConfig = field(default_factory=RunConfig)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "Config":
        return from_dict(Config, json.loads(text))


# ----------------------------------------------------------------------------------------
# Presets


def market() -> Config:
    """The paper's Market-1501 scale (reference values throughout)."""
    return Config(name="market")


def deepfashion() -> Config:
    """DeepFashion 256x256: appearance and pose only, N = 7 encoder blocks, 64x64 ROIs."""
    return Config(
        name="deepfashion",
        model=ModelConfig(
            height=256, width=256, encoder_blocks=7, decoder_blocks=5, roi_size=64, bg_dim=0, mask_radius=8, dataset="deepfashion"
        ),
        stage1=Stage1Train(batch_size=6),
        pose_ae_train=PoseAETrain(batch_size=16, steps=120_000),
        stage2=Stage2Train(batch_size=16),
    )


def cpu() -> Config:
    """The bundled demo model: 128x64 at a quarter of the paper's width.

    Architecture as the paper (7 body ROIs, N = 5 blocks, 224 + 128 dims) but 32 channels
    and 24x24 ROI crops, so a training step fits a laptop CPU and one image composes in a few
    milliseconds. Learning rates are raised from the reference's 2e-5 because the run is
    ~100x shorter than the paper's 120k steps.
    """
    return Config(
        name="cpu",
        model=ModelConfig(channels=32, roi_size=24, encoder_blocks=4, disc_channels=32),
        pose_ae=PoseAEConfig(hidden=256),
        mapping=MappingConfig(fg_hidden=512, bg_hidden=256, pose_hidden=256, critic_hidden=256),
        stage1=Stage1Train(batch_size=16, steps=6000, lr=2e-4, lr_halve_every=2500, adv_weight=0.1, adv_start=2000),
        pose_ae_train=PoseAETrain(batch_size=256, steps=6000, lr=1e-3, lr_halve_every=2000),
        stage2=Stage2Train(batch_size=64, steps=4000, lr=1e-4, objective="wgan-gp", critic_iters=5),
        run=RunConfig(sample_every=500, checkpoint_every=500, log_every=25),
    )


def tiny() -> Config:
    """A seconds-fast model for tests: 32x16 images, 8 channels, 2 blocks."""
    return Config(
        name="tiny",
        model=ModelConfig(
            height=32,
            width=16,
            channels=8,
            encoder_blocks=2,
            decoder_blocks=2,
            roi_size=8,
            part_dim=4,
            bg_dim=8,
            bottleneck_dim=8,
            mask_radius=2,
            pose_map_radius=1.5,
            disc_channels=8,
        ),
        pose_ae=PoseAEConfig(hidden=32, blocks=2, code_dim=8),
        mapping=MappingConfig(fg_hidden=32, bg_hidden=16, pose_hidden=32, blocks=2, critic_hidden=32),
        stage1=Stage1Train(batch_size=4, steps=20, lr=1e-3),
        pose_ae_train=PoseAETrain(batch_size=16, steps=20, lr=1e-3),
        stage2=Stage2Train(batch_size=16, steps=20, lr=1e-3, critic_iters=2, embedding_samples=64),
        run=RunConfig(log_every=5, sample_every=10, checkpoint_every=10, keep_checkpoints=2, workers=0, amp=False, channels_last=False),
    )


PRESETS = {"market": market, "deepfashion": deepfashion, "cpu": cpu, "tiny": tiny}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]()


# ----------------------------------------------------------------------------------------
# Overrides and (de)serialisation


def _parse_value(text: str, tp):
    origin = typing.get_origin(tp)
    if tp is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    if origin is tuple:
        parts = [p for p in text.strip("()[] ").split(",") if p.strip()]
        args = typing.get_args(tp)
        if len(parts) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values, got {text!r}")
        return tuple(_parse_value(p.strip(), a) for a, p in zip(args, parts))
    return tp(text)


def override(cfg, assignments: list[str]):
    """Apply ``["stage1.lr=1e-4", "model.channels=64"]`` to a frozen config.

    Each key must name an existing field; each value is parsed by that field's type.
    """
    for item in assignments:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        cfg = _set(cfg, key.strip().split("."), value.strip(), key)
    check(cfg)
    return cfg


# Field names -> what their values must be, wherever they occur (any config section, the
# baselines' configs too): a typed value can still mean nothing (a batch of 0, a flip
# probability of 2), and such a run would fail late or, worse, silently do nothing.
AT_LEAST_ONE = {
    "batch_size",
    "steps",
    "blocks",
    "flow_blocks",
    "encoder_blocks",
    "decoder_blocks",
    "channels",
    "hidden",
    "fg_hidden",
    "bg_hidden",
    "pose_hidden",
    "critic_hidden",
    "critic_layers",
    "code_dim",
    "part_dim",
    "roi_size",
    "critic_iters",
    "height",
    "width",
    "disc_channels",
    "bottleneck_dim",
    "latent_dim",
    "mask_radius",
    "embedding_samples",
    "keep_checkpoints",
    "log_every",
    "sample_every",
    "checkpoint_every",
}
AT_LEAST_ZERO = {
    "bg_dim",
    "workers",
    "lr_halve_every",
    "adv_start",
    "seed",
    "max_minutes",
    "l1_weight",
    "adv_weight",
    "gp_lambda",
    "kl_weight",
}
ABOVE_ZERO = {"lr", "noise_std", "clip", "pose_map_radius"}
CHOICES = {
    "foreground": ("body_roi7", "whole_body"),
    "pose_map_mode": ("disk", "gaussian"),
    "objective": ("wgan", "wgan-gp"),
    "dataset": ("market", "deepfashion"),
    "discriminator": ("dcgan", "patch"),
}


def flow_factors(text: str) -> tuple[str, ...]:
    """``MappingConfig.flow`` ("fg, bg") as a tuple of factor names."""
    return tuple(f.strip() for f in text.split(",") if f.strip())


def check(cfg, prefix: str = "") -> None:
    """Refuse values that type-check but mean nothing (``ValueError`` naming the key)."""
    for f in dataclasses.fields(cfg):
        key, value = prefix + f.name, getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check(value, key + ".")
        elif isinstance(value, float) and value in (float("inf"), float("-inf")) and f.name != "max_minutes":
            raise ValueError(f"{key}={value}: give a finite number")
        elif f.name in AT_LEAST_ONE and value < 1:
            raise ValueError(f"{key}={value}: must be at least 1")
        elif f.name in AT_LEAST_ZERO and value < 0:
            raise ValueError(f"{key}={value}: must not be negative")
        elif f.name in ABOVE_ZERO and not value > 0:
            raise ValueError(f"{key}={value}: must be above 0")
        elif f.name in CHOICES and value not in CHOICES[f.name]:
            raise ValueError(f"{key}={value!r}: choose one of {', '.join(CHOICES[f.name])}")
        elif f.name == "flow" and not set(flow_factors(value)) <= {"fg", "bg", "pose"}:
            raise ValueError(f"{key}={value!r}: a comma-separated list of fg, bg, pose (or empty)")
        elif f.name == "flow_lipschitz" and not 0 < value < 1:
            raise ValueError(f"{key}={value}: must lie strictly between 0 and 1 (a residual block is invertible below 1)")
        elif f.name == "flip_prob" and not 0 <= value <= 1:
            raise ValueError(f"{key}={value}: a probability, between 0 and 1")
        elif isinstance(value, float) and value != value:
            raise ValueError(f"{key}=nan: give a number")
        elif f.name in ("betas", "gp_betas") and not all(0 <= b < 1 for b in value):
            raise ValueError(f"{key}={value}: Adam's betas lie in [0, 1)")
    if getattr(cfg, "freeze_encoders", False) and getattr(cfg, "freeze_decoder", False):
        raise ValueError(f"{prefix}freeze_encoders and {prefix}freeze_decoder are both set: nothing would learn; set one")
    model = getattr(cfg, "model", None)
    if isinstance(model, ModelConfig):
        # the U-Net halves the image decoder_blocks - 1 times and its skips must line up again
        k = 2 ** (model.decoder_blocks - 1)
        if model.height % k or model.width % k:
            raise ValueError(
                f"model.height x model.width = {model.height}x{model.width} must be multiples of {k} "
                f"(2 ** (model.decoder_blocks - 1), with decoder_blocks={model.decoder_blocks})"
            )


def _set(obj, path: list[str], value: str, full: str):
    hints = typing.get_type_hints(type(obj))
    name = path[0]
    if name not in hints or name not in {f.name for f in dataclasses.fields(obj)}:
        valid = ", ".join(f.name for f in dataclasses.fields(obj))
        raise ValueError(f"unknown config key {full!r}: {name!r} is not one of {valid}")
    if len(path) == 1:
        if dataclasses.is_dataclass(hints[name]):
            raise ValueError(f"{full!r} is a section; set one of its fields")
        try:
            parsed = _parse_value(value, hints[name])
        except ValueError as err:
            raise ValueError(f"bad value for {full!r}: {err}") from None
        return replace(obj, **{name: parsed})
    return replace(obj, **{name: _set(getattr(obj, name), path[1:], value, full)})


def from_dict(cls, data: dict):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue  # a field added after the file was written keeps its default
        tp, value = hints[f.name], data[f.name]
        if dataclasses.is_dataclass(tp):
            value = from_dict(tp, value)
        elif typing.get_origin(tp) is tuple:
            value = tuple(value)
        kwargs[f.name] = value
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys in saved config: {sorted(unknown)}")
    return cls(**kwargs)
