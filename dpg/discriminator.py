"""Stage-I image discriminator D1 (section 3.5, Eq. 1-2).

The reference runs ``WGAN_GP(MODE='dcgan')`` with ``DCGANDiscriminator``: four 5x5 stride-2
convolutions (64 -> 128 -> 256 -> 512 channels), batch normalisation on layers 2-4, LeakyReLU
0.2, a linear output; weights drawn with std 0.02. It sees real images and reconstructions
separately (unconditional), trained with the non-saturating GAN loss.

Not the paper's: ``PatchDiscriminator`` (``stage1.discriminator=patch``), which scores each
overlapping patch instead of the whole image, without batch normalisation and with every
layer spectrally normalised. On 2 CPU cores the reference's D1 told the blurred
reconstructions from photos at once (its loss 0.004 within a few hundred steps), after
which its gradient told the decoder nothing; a Lipschitz-bounded patch critic cannot
become that confident, so its gradient keeps pointing at the missing texture.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


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


class PatchDiscriminator(nn.Module):
    """``[N, 3, H, W]`` in [-1, 1] -> logits ``[N, P]``, one per overlapping patch.

    Three 4x4 stride-2 convolutions (``channels``, x2, x4) and a 3x3 one to a logit, each
    spectrally normalised, LeakyReLU 0.2 between them: at 128x64 a 16x8 grid of logits whose
    receptive fields are 46 pixels square (a limb, a head, a stretch of background).
    """

    def __init__(self, channels: int = 64):
        super().__init__()
        c = channels
        layers: list[nn.Module] = []
        for c_in, c_out in ((3, c), (c, 2 * c), (2 * c, 4 * c)):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        layers.append(spectral_norm(nn.Conv2d(4 * c, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).flatten(1)


def build_discriminator(kind: str, channels: int, size: tuple[int, int]) -> nn.Module:
    """D1 of ``stage1.discriminator``: ``"dcgan"`` (the reference's) or ``"patch"``."""
    if kind == "patch":
        return PatchDiscriminator(channels)
    return ImageDiscriminator(channels, size)
