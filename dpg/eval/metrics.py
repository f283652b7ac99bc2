"""Image metrics of the person-generation literature (paper section 4.1 and Table 1), and the
evaluation protocols that combine them.

Two families of numbers exist and they are not comparable (``original-implementation.md``,
"Evaluation protocols of the later literature"); every table dpg prints names its protocol:

``dpig``  the authors' ``score.py`` / ``score_mask.py`` (also PG2's): SSIM on **grayscale**
          images (skimage ``rgb2gray``, 7x7 uniform window, ``data_range`` = the target's
          max - min), PSNR and L1 on the same grayscale images; mask-SSIM on the colour images
          multiplied by a binary mask (uint8, 7x7 window, data range 255); IS and mask-IS
          from the TF Inception of 2015-12-05 (10 splits).
``patn``  PATN's ``getMetrics_market.py``: colour SSIM with a Gaussian window (sigma 1.5),
          population covariances and ``data_range`` = the generated image's max - min; the
          same for mask-SSIM.
``gfla``  GFLA's ``metrics.py`` (PISE, DPTN, NTED, PIDM, CFLD copy it): FID against real
          images, LPIPS (AlexNet), colour SSIM with a 51x51 window on [0, 1] images, PSNR.

Masks: mask-SSIM and mask-IS use ``target_mask`` by default (PATN's ``produce_ma_mask`` from
the *target* keypoints: limb polygons of half-width 4 px, disks of radius 4 on the joints,
5x5 closing). The authors' own ``score_mask.py`` read the ``mask/`` folder, which their tester
fills with the *conditioning* image's pose mask (``mask_r6``: PG2's morphology, radius 7 at
128x64); ``conditioning_mask`` reproduces that choice.

Images here are uint8 ``[H, W, 3]`` (the API edge); keypoints ``[18, 3]`` ``(x, y, v)``.
The networks behind FID, IS and LPIPS are in ``dpg.eval.networks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from skimage.color import rgb2gray
from skimage.draw import disk, polygon
from skimage.metrics import structural_similarity
from skimage.morphology import dilation, erosion

from dpg.keypoints import MASK_LIMBS, mask_radius, pose_mask

_CLOSING = np.ones((5, 5), dtype=bool)  # skimage square(5), as PG2 and PATN


def _check_pair(generated: np.ndarray, target: np.ndarray) -> None:
    if generated.shape != target.shape or generated.ndim != 3 or generated.shape[-1] != 3:
        raise ValueError(f"expected two uint8 [H, W, 3] images of one size, got {generated.shape} and {target.shape}")


def gray(image: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, 3]`` -> float64 ``[H, W]`` in [0, 1] (skimage's ``rgb2gray``, as ``score.py``)."""
    return rgb2gray(np.asarray(image))


# ----------------------------------------------------------------------------------------
# SSIM variants, one per protocol


def ssim_gray(generated: np.ndarray, target: np.ndarray) -> float:
    """The authors' SSIM (``score.py``): grayscale, default 7x7 uniform window, sample
    covariances, ``data_range`` = target max - min (1 for a flat target, which the original
    left undefined)."""
    return float(_ssim_gray_map(generated, target)[0])


def _ssim_gray_map(generated: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """``ssim_gray``'s mean and its SSIM map ``[H, W]`` (skimage's ``full=True``), one computation."""
    _check_pair(generated, target)
    g, t = gray(generated), gray(target)
    return structural_similarity(g, t, data_range=float(t.max() - t.min()) or 1.0, full=True)


def ssim_gray_split(generated: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """``(ssim_gray, inside, outside)``: the SSIM and its map averaged inside ``mask`` (``[H, W]``,
    nonzero = the person) and outside it, where a reconstruction loses its structure, on the
    person or on the background; one SSIM computation for the three. Over the same positions
    as ``ssim_gray`` (skimage leaves out a 3-pixel border), so the two means weighted by the
    mask's share there give the first back; NaN for an empty side."""
    whole, full = _ssim_gray_map(generated, target)
    pad = 3  # (7 - 1) // 2: the 7x7 window's half-width
    s, m = full[pad:-pad, pad:-pad], np.asarray(mask)[pad:-pad, pad:-pad] > 0
    inside = float(s[m].mean()) if m.any() else float("nan")
    outside = float(s[~m].mean()) if (~m).any() else float("nan")
    return float(whole), inside, outside


def ssim_color(generated: np.ndarray, target: np.ndarray) -> float:
    """The authors' mask-SSIM kernel (``score_mask.py``): colour uint8, 7x7 uniform window,
    data range 255, the mean of the three channels' SSIM."""
    _check_pair(generated, target)
    return float(structural_similarity(generated, target, channel_axis=-1, data_range=255))


def ssim_patn(generated: np.ndarray, target: np.ndarray) -> float:
    """PATN's SSIM: colour, Gaussian window (sigma 1.5, 11x11), population covariances,
    ``data_range`` = the generated image's max - min (at least 1)."""
    _check_pair(generated, target)
    rng = max(int(generated.max()) - int(generated.min()), 1)
    return float(
        structural_similarity(
            target,
            generated,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=-1,
            data_range=rng,
        )
    )


def ssim_gfla(generated: np.ndarray, target: np.ndarray) -> float:
    """GFLA's SSIM: colour on [0, 1] images, a 51x51 uniform window (shrunk to the largest odd
    size that fits images smaller than 51 px), data range 1."""
    _check_pair(generated, target)
    win = min(51, *(s if s % 2 else s - 1 for s in generated.shape[:2]))
    g, t = generated / 255.0, target / 255.0
    return float(structural_similarity(t, g, win_size=win, channel_axis=-1, data_range=1.0))


def psnr(generated: np.ndarray, target: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images (see ``mean_finite``)."""
    mse = float(np.mean((np.asarray(generated, np.float64) - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def psnr_gray(generated: np.ndarray, target: np.ndarray) -> float:
    """The authors' PSNR (``score.py``): on grayscale [0, 1] images, data range = target max - min."""
    _check_pair(generated, target)
    g, t = gray(generated), gray(target)
    return psnr(g, t, float(t.max() - t.min()) or 1.0)


def l1_gray(generated: np.ndarray, target: np.ndarray) -> float:
    """The authors' L1 (``score.py``): mean absolute difference of grayscale [0, 1] images."""
    return float(np.abs(gray(generated) - gray(target)).mean())


def mean_finite(values) -> tuple[float, int]:
    """Mean of the finite values and how many were left out (PSNR is ``inf`` for a perfect
    reconstruction; averaging it in would make the mean ``inf``)."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    return (float(v[finite].mean()) if finite.any() else float("nan")), int((~finite).sum())


# ----------------------------------------------------------------------------------------
# Masks for mask-SSIM and mask-IS


def target_mask(keypoints: np.ndarray, height: int, width: int, half_width: float = 4.0) -> np.ndarray:
    """PATN's ``produce_ma_mask``: bool ``[H, W]`` from keypoints ``[18, 3]`` (x, y, v).

    For each of PG2's 23 limbs with both joints visible, the quadrilateral around the segment
    at ``half_width`` px on either side; a disk of radius ``half_width`` on every visible joint
    (skimage's ``disk``: distance strictly below the radius); then a 5x5 dilation and a 5x5
    erosion. A zero-length limb adds no quadrilateral (its joint disks cover it).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[:, 2] > 0.5
    yx = kp[:, [1, 0]]  # PATN works in (row, col)
    mask = np.zeros((height, width), dtype=bool)
    for a, b in MASK_LIMBS:
        if not (vis[a] and vis[b]):
            continue
        d = yx[a] - yx[b]
        length = np.hypot(*d)
        if length == 0:
            continue
        n = half_width * np.array([-d[1], d[0]]) / length  # the normal, in (row, col)
        quad = np.stack([yx[a] + n, yx[a] - n, yx[b] - n, yx[b] + n])
        rr, cc = polygon(quad[:, 0], quad[:, 1], shape=(height, width))
        mask[rr, cc] = True
    for j in np.flatnonzero(vis):
        rr, cc = disk((yx[j, 0], yx[j, 1]), half_width, shape=(height, width))
        mask[rr, cc] = True
    return erosion(dilation(mask, _CLOSING), _CLOSING)


def conditioning_mask(keypoints: np.ndarray, height: int, width: int) -> np.ndarray:
    """The mask the authors' ``score_mask.py`` actually used: the *conditioning* image's
    ``mask_r6`` (PG2's pose mask, radius 7 at 128x64, 8 at 256x256; ``dpg.keypoints.pose_mask``)."""
    return pose_mask(keypoints, height, width, mask_radius(height))


def apply_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 image with the pixels outside the bool mask set to 0 (``score_mask.py``'s
    ``uint8(mask / 255 * image)`` for a binary mask)."""
    return (np.asarray(image) * np.asarray(mask, bool)[..., None]).astype(np.uint8)


# ----------------------------------------------------------------------------------------
# Distribution metrics: Frechet distance and Inception score


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` (unbiased, as ``np.cov``) of features ``[N, D]``."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need features [N >= 2, D], got {list(f.shape)}")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance of two Gaussians, ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``
    (Heusel et al. 2017; FID when the statistics are of Inception pool features).

    ``tr (S1 S2)^(1/2)`` is computed as ``tr (S1^(1/2) S2 S1^(1/2))^(1/2)``, a symmetric
    positive semi-definite matrix with the same eigenvalues, by two symmetric eigen-
    decompositions: exact for singular covariances, where ``scipy.linalg.sqrtm`` needs the
    diagonal offset pytorch-fid adds.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # S1^(1/2)
    inner = half @ s2 @ half
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    return float(max(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean, 0.0))


def frechet_distance_of(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between two sets of vectors ``[N, D]`` and ``[M, D]``."""
    return frechet_distance(*feature_stats(a), *feature_stats(b))


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))) over ``splits`` equal parts (Salimans et al. 2016, the
    improved-GAN code the authors ran): returns the mean and standard deviation over parts.
    ``probs`` are class probabilities ``[N, C]`` (rows sum to 1)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) < splits:
        raise ValueError(f"need probabilities [N >= {splits}, C], got {list(p.shape)}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------------------
# Protocols


@dataclass(frozen=True)
class Protocol:
    """One paper family's choice of SSIM, PSNR and default metrics (module docstring)."""

    name: str
    description: str
    ssim: object  # (generated, target) -> float
    mask_ssim: object  # (generated masked, target masked) -> float
    psnr: object
    metrics: tuple[str, ...]  # what ``dpg eval transfer`` computes unless told otherwise
    extra: dict = field(default_factory=dict)


PROTOCOLS = {
    "dpig": Protocol(
        "dpig",
        "the authors' score.py / score_mask.py (as PG2): SSIM, PSNR and L1 on grayscale images "
        "(7x7 window, data range = target max - min); mask-SSIM on masked colour uint8 images "
        "(7x7 window, range 255); IS and mask-IS from the TF Inception 2015-12-05, 10 splits",
        ssim_gray,
        ssim_color,
        psnr_gray,
        ("ssim", "mask_ssim", "is", "mask_is", "psnr", "l1"),
    ),
    "patn": Protocol(
        "patn",
        "PATN's getMetrics_market.py: colour SSIM and mask-SSIM with a Gaussian window "
        "(sigma 1.5), population covariances, data range = generated max - min; IS and mask-IS",
        ssim_patn,
        ssim_patn,
        psnr,
        ("ssim", "mask_ssim", "is", "mask_is"),
    ),
    "gfla": Protocol(
        "gfla",
        "GFLA's metrics.py (PISE, DPTN, NTED, PIDM, CFLD): FID (Inception pool3) against real "
        "images, LPIPS (AlexNet), colour SSIM with a 51x51 window on [0, 1], PSNR",
        ssim_gfla,
        ssim_gfla,
        psnr,
        ("fid", "lpips", "ssim", "psnr"),
    ),
}
