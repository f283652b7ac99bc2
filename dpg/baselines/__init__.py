"""Sampling baselines of section 4.5 (Fig. 7): a convolutional VAE and a DCGAN that sample
whole person images from one noise vector, with no factors to disentangle.

They share the main model's data pipeline (``dpg.data.sources.stage1_dataset``), presets (``tiny``,
``cpu``, ``paper`` in ``dpg.baselines.config``) and trainer conventions (``train.baselines``).
Checkpoints follow ``dpg.checkpoint``: one ``.safetensors`` file whose header holds ``format``
(``dpg-baseline/1``), ``model`` (``vae`` or ``dcgan``) and ``config`` (the full
``BaselineConfig`` as JSON); loading is strict and nothing is pickled.

    from dpg.baselines import load_baseline
    net, cfg = load_baseline("runs/baseline-vae-cpu/vae.safetensors")
    images = sample_images(net, seeds=range(16))          # [16, 3, 128, 64] in [-1, 1]
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from dpg.baselines.config import MODELS, BaselineConfig
from dpg.baselines.dcgan import DCGAN
from dpg.baselines.vae import ConvVAE
from dpg.checkpoint import atomic_write, read_metadata
from dpg.errors import UserError

FORMAT = "dpg-baseline/1"


def build(model: str, cfg: BaselineConfig) -> torch.nn.Module:
    """A fresh ``ConvVAE`` or ``DCGAN`` of the config's size."""

    if model not in MODELS:
        raise UserError(f"unknown baseline {model!r}; choose one of {', '.join(MODELS)}")
    t = cfg.tower(model)
    cls = ConvVAE if model == "vae" else DCGAN
    return cls(cfg.height, cfg.width, t.channels, t.blocks, t.latent_dim)


def save_baseline(path, model: str, net: torch.nn.Module, cfg: BaselineConfig, extra: dict | None = None) -> None:
    """Write ``net`` (all of it: a DCGAN keeps its discriminator, for resuming) to ``path``."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "model": model, "config": cfg.to_json()}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    atomic_write(Path(path), lambda tmp: save_file(state, tmp, metadata=meta))


def read_baseline_metadata(path) -> dict:
    """The header of a baseline checkpoint, or a ``UserError`` saying what the file is."""
    return read_metadata(path, FORMAT, "baseline")


def load_weights(net: torch.nn.Module, path) -> None:
    """Load ``path`` into ``net`` strictly: same keys, same shapes, nothing else."""
    state, expected = load_file(str(path)), net.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise UserError(
            f"{path} does not match this baseline (missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shape {wrong[:3]}): was it written with another preset?"
        )
    net.load_state_dict(state)


def load_baseline(path, device="cpu") -> tuple[torch.nn.Module, BaselineConfig]:
    """``(net in eval mode, config)`` from a checkpoint written by ``save_baseline``."""
    meta = read_baseline_metadata(path)
    cfg = BaselineConfig.from_json(meta["config"])
    net = build(meta["model"], cfg)
    load_weights(net, path)
    net.model_name = meta["model"]
    return net.to(device).eval(), cfg


def seed_noise(net, seeds) -> torch.Tensor:
    """Noise ``[len(seeds), latent_dim]`` where row ``i`` depends on ``seeds[i]`` alone."""
    return torch.cat([net.noise(1, torch.Generator().manual_seed(int(s))) for s in seeds])


@torch.no_grad()
def sample_images(net, seeds, batch_size: int = 64) -> torch.Tensor:
    """Images ``[len(seeds), 3, H, W]`` in [-1, 1] sampled from the prior of a VAE or DCGAN."""
    device = next(net.parameters()).device
    z = seed_noise(net, list(seeds))
    return torch.cat([net.sample(z[i : i + batch_size].to(device)).cpu() for i in range(0, len(z), batch_size)])
