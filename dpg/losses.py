"""Losses of both stages (section 3.5).

Stage I (Eq. 1-2): the reference trains D1 with the non-saturating GAN loss (sigmoid cross
entropy; ``WGAN_GP(MODE='dcgan')``) and G1 with it plus ``lambda * L1`` (lambda = 20).
Pose auto-encoder (Eq. 3): squared error on the 54-dim pose vector, scaled by 20 as the
reference. Stage II (Eq. 4-5): the Wasserstein critic loss, with weight clipping as the
reference ran it or with a gradient penalty (WGAN-GP) as an option.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss_nsgan(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 1 as a loss to minimise: ``-log D(x) - log(1 - D(G(x)))``."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_nsgan(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-log D(G(x))`` (the adversarial half of Eq. 2)."""
    return F.softplus(-fake_logits).mean()


def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over pixels and channels (``tf.reduce_mean(tf.abs(...))``)."""
    return (output - target).abs().mean()


def pose_loss(output: torch.Tensor, target: torch.Tensor, weight: float = 20.0) -> torch.Tensor:
    """Eq. 3: mean squared error on the pose vector, times the reference's 20."""
    return weight * F.mse_loss(output, target)


def critic_loss_wgan(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Eq. 4 negated for minimisation: ``E[D(Phi(z))] - E[D(e)]``."""
    return fake_scores.mean() - real_scores.mean()


def mapping_loss_wgan(fake_scores: torch.Tensor) -> torch.Tensor:
    """Eq. 5 with the sign that makes the mapping raise the critic's score: ``-E[D(Phi(z))]``."""
    return -fake_scores.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, generator=None) -> torch.Tensor:
    """WGAN-GP: ``E[(||grad D(x^)||_2 - 1)^2]`` at random points ``x^`` between real and fake."""
    alpha = torch.rand(real.shape[0], 1, generator=generator).to(real)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()
