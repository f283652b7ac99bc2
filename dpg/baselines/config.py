"""Configuration of the sampling baselines of section 4.5 (Fig. 7, Table 4): frozen
dataclasses and presets in code, as ``dpg.config``.

``tiny`` (tests, 32x16), ``cpu`` (128x64 at a quarter of the usual width: a few minutes on a
laptop CPU) and ``paper`` (128x64 with DCGAN's 64-channel towers and the usual DCGAN
optimiser). The ``run`` section is ``dpg.config.RunConfig`` itself, so the baselines share the
main trainers' bookkeeping (``train.run.Run``); ``data`` names the ``dpg`` preset whose data
pipeline (procedural people or a real root) the baselines read.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace

from dpg.config import Config, RunConfig, from_dict
from dpg.config import preset as dpg_preset

MODELS = ("vae", "dcgan")


@dataclass(frozen=True)
class TowerConfig:
    """The convolutional towers both baselines use: ``blocks`` stride-2 stages of
    ``channels * 2**i`` (capped at ``8 * channels``), from ``H x W`` to ``H/2**blocks x W/2**blocks``."""

    channels: int = 64
    blocks: int = 4
    latent_dim: int = 128  # the VAE's z, the DCGAN's noise


@dataclass(frozen=True)
class BaselineTrain:
    batch_size: int = 64
    steps: int = 60_000
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    lr_halve_every: int = 0  # 0: a constant learning rate (DCGAN's recipe)
    kl_weight: float = 1.0  # VAE only: beta of the ELBO (1 = the plain VAE)


@dataclass(frozen=True)
class BaselineConfig:
    name: str = "paper"
    data: str = "market"  # the dpg preset whose data pipeline (and image size) is shared
    height: int = 128
    width: int = 64
    vae: TowerConfig = field(default_factory=TowerConfig)
    dcgan: TowerConfig = field(default_factory=lambda: TowerConfig(latent_dim=100))
    vae_train: BaselineTrain = field(default_factory=lambda: BaselineTrain(lr=1e-3, betas=(0.9, 0.999)))
    dcgan_train: BaselineTrain = field(default_factory=BaselineTrain)
    run: RunConfig = field(default_factory=RunConfig)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> BaselineConfig:
        return from_dict(BaselineConfig, json.loads(text))

    def tower(self, model: str) -> TowerConfig:
        return {"vae": self.vae, "dcgan": self.dcgan}[model]

    def train(self, model: str) -> BaselineTrain:
        return {"vae": self.vae_train, "dcgan": self.dcgan_train}[model]

    def data_config(self) -> Config:
        """The ``dpg`` config handed to ``dpg.data.sources.stage1_dataset``: the ``data`` preset at
        this image size and seed."""
        cfg = dpg_preset(self.data)
        return replace(cfg, model=replace(cfg.model, height=self.height, width=self.width), run=self.run)


# ----------------------------------------------------------------------------------------
# Presets


def paper() -> BaselineConfig:
    """128x64 with DCGAN's towers (64 -> 512 channels) and Adam(2e-4, 0.5); the VAE with
    Adam(1e-3). The paper does not list its baselines' settings; these are the usual ones."""
    return BaselineConfig(name="paper")


def cpu() -> BaselineConfig:
    """128x64 at a quarter of the width (32 -> 256 channels): ~0.1 s a step on one CPU thread,
    the scale of the bundled ``cpu`` demo model."""
    return BaselineConfig(
        name="cpu",
        data="cpu",
        vae=TowerConfig(channels=32, blocks=4, latent_dim=128),
        dcgan=TowerConfig(channels=32, blocks=4, latent_dim=100),
        vae_train=BaselineTrain(batch_size=32, steps=6000, lr=1e-3, betas=(0.9, 0.999), lr_halve_every=2500),
        dcgan_train=BaselineTrain(batch_size=32, steps=6000, lr=2e-4),
        run=RunConfig(sample_every=500, checkpoint_every=500, log_every=25, workers=0),
    )


def tiny() -> BaselineConfig:
    """Seconds-fast models for tests: 32x16 images, 4 channels, 2 blocks."""
    return BaselineConfig(
        name="tiny",
        data="tiny",
        height=32,
        width=16,
        vae=TowerConfig(channels=4, blocks=2, latent_dim=8),
        dcgan=TowerConfig(channels=4, blocks=2, latent_dim=8),
        vae_train=BaselineTrain(batch_size=4, steps=6, lr=1e-3),
        dcgan_train=BaselineTrain(batch_size=4, steps=6, lr=1e-3),
        run=RunConfig(log_every=1, sample_every=3, checkpoint_every=3, keep_checkpoints=2, workers=0, amp=False),
    )


PRESETS = {"paper": paper, "cpu": cpu, "tiny": tiny}


def preset(name: str) -> BaselineConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown baseline preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]()
