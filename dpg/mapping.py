"""Stage-II mapping functions and their critics (section 3.2, Fig. 9; Eq. 4-5).

"For each mapping function in stage-II, we use a fully-connected network consisting of 4
fully-connected residual blocks to map K-dim Gaussian noise z to K-dim embedding features e.
For the discriminator, we adopt a fully-connected network with 4 fully-connected layers."
One pair per factor: foreground (224 dims, 512 wide), background (128, 256 wide) and pose
(the pose auto-encoder's 32-dim code, 512 wide). Noise is ``z ~ N(0, noise_std^2)`` with the
reference's ``noise_std = 0.2``.
"""

from __future__ import annotations

import torch
from torch import nn

from dpg.nn import FCResNet


class MappingNetwork(nn.Module):
    """``Phi: z [N, K] -> e~ [N, K]``: FC, residual FC blocks, linear output."""

    def __init__(self, dim: int, hidden: int, blocks: int = 4, noise_std: float = 0.2):
        super().__init__()
        self.dim = dim
        self.noise_std = noise_std
        self.net = FCResNet(dim, dim, hidden, blocks)

    def noise(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """Draw ``z`` ``[n, K]`` on the CPU from ``generator`` (so a seed means the same z on
        every device), then move it."""
        z = torch.randn(n, self.dim, generator=generator) * self.noise_std
        return z.to(device) if device is not None else z

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class EmbeddingCritic(nn.Module):
    """``D2: e [N, K] -> score [N]``: ``layers`` FC layers with LeakyReLU(0.2), linear output."""

    def __init__(self, dim: int, hidden: int = 512, layers: int = 4):
        super().__init__()
        mods: list[nn.Module] = []
        width = dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        mods.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.net(e).squeeze(1)
