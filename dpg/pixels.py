"""The model's images and the page's: float ``[N, 3, H, W]`` in [-1, 1] <-> uint8 ``[N, H, W, 3]``."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[N, 3, H, W]`` about [-1, 1] -> uint8 ``[N, H, W, 3]`` (the decoder is linear: clamp)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return x.permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` or ``[H, W, 3]`` -> float ``[N, 3, H, W]`` in [-1, 1]."""
    a = np.ascontiguousarray(images)
    x = torch.from_numpy(a if a.flags.writeable else a.copy())  # torch warns on read-only arrays
    if x.ndim == 3:
        x = x[None]
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1
