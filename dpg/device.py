"""Which torch device to run on: CUDA when present, else the CPU; ``--device`` checked with a
message naming what this machine has."""

from __future__ import annotations

import torch

from dpg.errors import UserError


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(spec: torch.device | str | None) -> torch.device:
    """``--device`` -> a device that exists here (CUDA when present for ``None``), or a
    ``UserError`` naming what is available."""
    if spec is None:
        return default_device()
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {spec!r}: use cpu or cuda (cuda:N for the N-th GPU)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {spec}: this machine has no usable CUDA GPU; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {spec}: there are {torch.cuda.device_count()} GPUs (cuda:0 ..)")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {spec}: dpg runs on cpu or cuda")
    return device
