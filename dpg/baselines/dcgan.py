"""The DCGAN baseline of section 4.5 (Radford et al. 2016) for ``height x width`` people.

The generator is ``UpTower`` (noise -> linear -> 4x4 stride-2 transposed convolutions with batch
norm and ReLU -> ``tanh``), the discriminator ``DownTower`` (4x4 stride-2 convolutions with
LeakyReLU 0.2, batch norm after the first) and a linear logit. Trained with the
non-saturating GAN loss and Adam(2e-4, beta1 = 0.5), DCGAN's recipe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dpg.baselines.vae import DownTower, UpTower, init_weights, tower_widths
from dpg.nn import assert_shape


class DCGAN(nn.Module):
    """Generator and discriminator of one DCGAN, saved and loaded together.

    Args:
        height, width: image size, divisible by ``2**blocks``.
        channels, blocks: the towers' base width and number of stride-2 stages.
        latent_dim: size of the noise ``z`` (N(0, I)).
    """

    def __init__(self, height: int, width: int, channels: int, blocks: int, latent_dim: int):
        super().__init__()
        self.height, self.width, self.latent_dim = height, width, latent_dim
        self.generator = UpTower(latent_dim, channels, blocks, height, width)
        feat = tower_widths(channels, blocks)[-1] * (height // 2**blocks) * (width // 2**blocks)
        self.discriminator = nn.Sequential(DownTower(channels, blocks), nn.Linear(feat, 1))
        init_weights(self)

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``[N, 3, H, W]`` -> real/fake logits ``[N]``."""
        assert_shape(x, [None, 3, self.height, self.width])
        return self.discriminator(x).squeeze(1)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    @torch.no_grad()
    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Noise ``[N, latent_dim]`` -> images ``[N, 3, H, W]`` in [-1, 1]."""
        return self.generator(z)


def dcgan_step(gan: DCGAN, opt_g, opt_d, images: torch.Tensor, generator: torch.Generator) -> dict:
    """One discriminator then one generator update on real ``images`` ``[N, 3, H, W]``.

    Non-saturating loss: D minimises ``softplus(-D(x)) + softplus(D(G(z)))`` (binary cross
    entropy), G minimises ``softplus(-D(G(z)))``. The noise comes from ``generator`` (one per
    step, so a resumed run repeats it). Returns the step's statistics.
    """
    z = gan.noise(len(images), generator).to(images.device)
    fake = gan.generator(z)
    d_real, d_fake = gan.critic(images), gan.critic(fake.detach())
    loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    loss_g = F.softplus(-gan.critic(fake)).mean()
    opt_g.zero_grad(set_to_none=True)  # also drops the D gradients this backward leaves
    loss_g.backward()
    opt_g.step()
    return {
        "d": loss_d.item(),
        "g": loss_g.item(),
        "d_real": torch.sigmoid(d_real).mean().item(),
        "d_fake": torch.sigmoid(d_fake).mean().item(),
    }
