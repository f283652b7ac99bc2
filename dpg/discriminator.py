"""Stage-I image discriminator D1 (section 3.5, Eq. 1-2).

The reference runs ``WGAN_GP(MODE='dcgan')`` with ``DCGANDiscriminator``: four 5x5 stride-2
convolutions (64 -> 128 -> 256 -> 512 channels), batch normalisation on layers 2-4, LeakyReLU
0.2, a linear output; weights drawn with std 0.02. It sees real images and reconstructions
separately (unconditional), trained with the non-saturating GAN loss.
"""

from __future__ import annotations

import torch
from torch import nn


class ImageDiscriminator(nn.Module):
    """``[N, 3, H, W]`` in [-1, 1] -> logits ``[N]``."""

    def __init__(self, channels: int = 64, size: tuple[int, int] = (128, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, h, w = 3, *size
        for i in range(4):
            c_out = channels * 2**i
            layers.append(nn.Conv2d(c_in, c_out, 5, stride=2, padding=2))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in, h, w = c_out, (h + 1) // 2, (w + 1) // 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in * h * w, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(image).flatten(1)).squeeze(1)
