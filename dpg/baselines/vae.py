"""The convolutional VAE baseline of section 4.5 (Kingma & Welling 2014), and the two
convolutional towers that it and the DCGAN baseline share.

``DownTower`` halves the image ``blocks`` times (4x4 stride-2 convolutions, batch norm from the
second, LeakyReLU 0.2); ``UpTower`` is its mirror from a vector (a linear layer to the smallest
feature map, 4x4 stride-2 transposed convolutions, batch norm, ReLU, ``tanh`` out), DCGAN's
generator. The VAE is ``DownTower`` + a linear head to ``(mu, log sigma^2)`` and ``UpTower``.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from dpg.nn import assert_shape


def tower_widths(channels: int, blocks: int) -> list[int]:
    """Channels after each stride-2 stage: ``channels * 2**i``, capped at ``8 * channels``."""
    return [channels * min(2**i, 8) for i in range(blocks)]


class DownTower(nn.Module):
    """``[N, 3, H, W]`` -> features ``[N, C_last * H/2**b * W/2**b]`` (flattened)."""

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        widths = tower_widths(channels, blocks)
        layers, c_in = [], 3
        for i, c in enumerate(widths):
            layers.append(nn.Conv2d(c_in, c, 4, 2, 1, bias=i == 0))
            if i > 0:  # DCGAN: no batch norm on the discriminator's input layer
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class UpTower(nn.Module):
    """A vector ``[N, D]`` -> images ``[N, 3, H, W]`` in [-1, 1] (DCGAN's generator)."""

    def __init__(self, in_dim: int, channels: int, blocks: int, height: int, width: int):
        super().__init__()
        if height % 2**blocks or width % 2**blocks:
            raise ValueError(f"{height}x{width} is not divisible by 2**{blocks}")
        widths = tower_widths(channels, blocks)[::-1]
        self.start = (widths[0], height // 2**blocks, width // 2**blocks)
        self.fc = nn.Linear(in_dim, widths[0] * self.start[1] * self.start[2], bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        layers = []
        for c_in, c_out in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(len(z), *self.start)  # [N, C_last, H/2**b, W/2**b]
        return self.net(F.relu(self.bn(x)))


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: N(0, 0.02) weights, N(1, 0.02) batch-norm scales, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class ConvVAE(nn.Module):
    """A convolutional VAE on ``height x width`` images in [-1, 1].

    Args:
        height, width: image size, divisible by ``2**blocks``.
        channels, blocks: the towers' base width and number of stride-2 stages.
        latent_dim: size of ``z`` (prior N(0, I)).
    """

    def __init__(self, height: int, width: int, channels: int, blocks: int, latent_dim: int):
        super().__init__()
        self.height, self.width, self.latent_dim = height, width, latent_dim
        self.encoder = DownTower(channels, blocks)
        feat = tower_widths(channels, blocks)[-1] * (height // 2**blocks) * (width // 2**blocks)
        self.head = nn.Linear(feat, 2 * latent_dim)  # -> (mu, log sigma^2)
        self.decoder = UpTower(latent_dim, channels, blocks, height, width)
        init_weights(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``[N, 3, H, W]`` -> ``mu, logvar`` ``[N, latent_dim]`` of q(z | x)."""
        assert_shape(x, [None, 3, self.height, self.width])
        mu, logvar = self.head(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)  # keeps exp() finite early in training

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``[N, latent_dim]`` -> images ``[N, 3, H, W]`` in [-1, 1]."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct ``x`` with the reparameterisation ``z = mu + sigma * noise``; returns
        ``(reconstruction, mu, logvar)``."""
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * noise
        return self.decode(z), mu, logvar

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    @torch.no_grad()
    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Prior samples ``z`` ``[N, latent_dim]`` -> images ``[N, 3, H, W]`` in [-1, 1]."""
        return self.decode(z)


def vae_loss(x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl_weight: float = 1.0):
    """The negative ELBO per image, ``sum (x - x')^2 + beta * KL(q(z|x) || N(0, I))``.

    The squared error summed over pixels is a Gaussian likelihood with variance 1/2 in the
    [-1, 1] range (constants dropped); returns ``(loss, recon_term, kl_term)``, batch means.
    """
    rec = (recon - x).pow(2).flatten(1).sum(1).mean()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
    return rec + kl_weight * kl, rec, kl


def vae_step(vae, opt, images: torch.Tensor, kl_weight: float, noise: torch.Tensor) -> dict:
    """One ELBO step on ``images`` ``[N, 3, H, W]`` with reparameterisation ``noise``
    ``[N, latent_dim]`` (drawn per step by the caller, so a resumed run repeats it). ``vae`` is
    a ``ConvVAE`` or its DDP wrapper. Returns the step's statistics."""
    recon, mu, logvar = vae(images, noise)
    loss, rec, kl = vae_loss(images, recon, mu, logvar, kl_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": loss.item(), "recon": rec.item(), "kl": kl.item()}
