"""Losses of both stages (section 3.5).

Stage I (Eq. 1-2): the reference trains D1 with the non-saturating GAN loss (sigmoid cross
entropy; ``WGAN_GP(MODE='dcgan')``) and G1 with it plus ``lambda * L1`` (lambda = 20).
Pose auto-encoder (Eq. 3): squared error on the 54-dim pose vector, scaled by 20 as the
reference. Stage II (Eq. 4-5): the Wasserstein critic loss, with weight clipping as the
reference ran it or with a gradient penalty (WGAN-GP) as an option.

Not the paper's: the person's colour loss (``region_colour_loss``, issue 18), an optional
stage-I term (``stage1.colour_weight``, 0 by default) that names the mean colour of each body
region, which the L1 leaves near but not exact on real people; and the structure loss
(``ssim_loss``, ``stage1.ssim_weight``, 0 by default): one minus the grayscale SSIM that
``bench_real`` reports, which the L1's blur scores low.
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


# sRGB (D65) -> CIE XYZ, the matrix skimage's ``rgb2lab`` uses; rows give X, Y, Z.
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_WHITE_D65 = (0.95047, 1.0, 1.08883)


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """CIELAB (D65, 2 degrees: skimage's default) of sRGB colours ``[..., 3]`` in [0, 1]
    (clamped there; no gradient flows past the ends). The cube root is taken of values
    clamped above zero, so the gradient is finite for black too."""
    rgb = rgb.clamp(0, 1)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = lin @ rgb.new_tensor(_RGB_TO_XYZ).T / rgb.new_tensor(_WHITE_D65)
    eps = (6 / 29) ** 3
    f = torch.where(xyz > eps, xyz.clamp_min(eps) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(-1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], -1)


def region_masks(mask: torch.Tensor, rois: torch.Tensor, roi_vis: torch.Tensor) -> torch.Tensor:
    """Each visible body region's pixels: its ROI box ``(x0, y0, x1, y1)`` (pixels, from
    ``floor(x0)`` to ``ceil(x1)``, as ``dpg.eval.real.region_colour_error`` cuts it) within
    ``mask [N,1,H,W]``. ``rois [N,7,4]``, ``roi_vis [N,7]`` -> ``[N,7,H,W]`` in {0,1}."""
    h, w = mask.shape[-2:]
    ys = torch.arange(h, device=mask.device, dtype=rois.dtype)[None, None, :, None]
    xs = torch.arange(w, device=mask.device, dtype=rois.dtype)[None, None, None, :]
    x0, y0, x1, y1 = (rois[..., i, None, None] for i in range(4))  # each [N,7,1,1]
    box = (xs >= x0.floor()) & (xs < x1.ceil()) & (ys >= y0.floor()) & (ys < y1.ceil())
    return (box & (mask > 0.5) & (roi_vis[..., None, None] > 0.5)).float()


def region_colour_loss(
    output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, rois: torch.Tensor, roi_vis: torch.Tensor, min_pixels: int = 8
) -> torch.Tensor:
    """The person's colour error as a loss: the CIELAB distance between the mean colour of
    each visible body region in ``output`` and in ``target`` (both ``[N,3,H,W]`` in [-1, 1];
    each pixel clamped to that range first, as the picture shown is), averaged over the
    regions with at least ``min_pixels`` pixels in ``mask`` (0, with a gradient path, when
    none has). Always in fp32: under bf16 autocast the region sums would lose ~0.2 units.

    ``bench_real``'s measure (``dpg.eval.real.region_colour_error``) cuts the regions from
    the photo's segmented person and averages per person; stage I passes its own ``mask``,
    the keypoints' limbs drawn thick (``keypoints.pose_mask``, what the encoder sees), and
    averages over the batch's regions: mostly the same pixels, not all of them.

    Why: the L1 loss's pull on a region's mean colour is weak next to its pull on edges and
    texture (each pixel's error sign is noise around a blurred edge), so a model trained on
    it alone draws colours near but not exact, chroma compressed; this term names the mean."""
    with torch.autocast(output.device.type, enabled=False):
        regions = region_masks(mask.float(), rois.float(), roi_vis.float())  # [N,7,H,W]
        count = regions.sum((-2, -1))  # [N,7]
        valid = (count >= min_pixels).float()

        def means(image):  # [N,3,H,W] in [-1,1] -> mean sRGB per region [N,7,3] in [0,1]
            pixels = ((image.float() + 1) / 2).clamp(0, 1)
            return torch.einsum("nkhw,nchw->nkc", regions, pixels) / count.clamp_min(1)[..., None]

        with torch.no_grad():
            lab_t = srgb_to_lab(means(target))
        lab_o = srgb_to_lab(means(output))
        dist = ((lab_o - lab_t).pow(2).sum(-1) + 1e-6).sqrt()  # [N,7]
        return (dist * valid).sum() / valid.sum().clamp_min(1)  # no host sync on a GPU


def ssim_loss(output: torch.Tensor, target: torch.Tensor, window: int = 7) -> torch.Tensor:
    """``1 - SSIM`` of ``output`` and ``target`` (both ``[N,3,H,W]`` in [-1, 1]), the measure of
    ``dpg.eval.metrics.ssim_gray`` made differentiable: grayscale (ITU-R 601 luma, as skimage's
    ``rgb2gray``), a ``window`` x ``window`` uniform window over the valid positions only,
    sample covariances, each image's ``data_range`` its target's max - min, SSIM averaged over
    positions, then over the batch. In fp32 (the variances are small differences of squares).

    Why: the L1 pulls each pixel towards the median of what the photo could show there, a
    blur whose local contrast (the SSIM's variance and covariance terms) is too low; this
    term names the local structure the measure scores."""
    with torch.autocast(output.device.type, enabled=False):
        luma = torch.tensor([0.2125, 0.7154, 0.0721], device=output.device)[None, :, None, None]

        def gray(image):  # [N,3,H,W] in [-1,1] -> [N,1,H,W] in [0,1]
            return (((image.float() + 1) / 2).clamp(0, 1) * luma).sum(1, keepdim=True)

        x, y = gray(output), gray(target)
        data_range = (y.amax((1, 2, 3)) - y.amin((1, 2, 3))).clamp_min(1e-3)[:, None, None, None]
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        n = window * window
        pool = lambda t: F.avg_pool2d(t, window, stride=1)  # valid positions, [N,1,H-6,W-6]
        mx, my = pool(x), pool(y)
        cov = n / (n - 1)  # sample covariances, as skimage's default
        vx, vy, vxy = cov * (pool(x * x) - mx * mx), cov * (pool(y * y) - my * my), cov * (pool(x * y) - mx * my)
        ssim = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        return 1 - ssim.mean()
