"""Measures of a model on real people (``bench/bench_real.py``): colour fidelity per body
region, background swaps, KID, and linear attribute probes of the embeddings.

Images are uint8 ``[N, H, W, 3]``; person masks uint8 or float ``[N, H, W]`` (``> 0.5`` of
their range is the person); ROIs ``[N, 7, 4]`` ``(x0, y0, x1, y1)`` with visibilities ``[N, 7]``
as ``dpg.keypoints.body_rois`` gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.color import rgb2lab


def _person(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask, np.float32)
    return m > (127.5 if m.max() > 1 else 0.5)


def region_colour_error(
    photo: np.ndarray, output: np.ndarray, mask: np.ndarray, rois: np.ndarray, vis: np.ndarray, min_pixels: int = 8
) -> float:
    """Mean CIELAB distance between the mean colour of each visible body region (its ROI box
    within the person mask) in ``photo`` and in ``output``, one person ``[H, W, 3]``; NaN when
    no region has ``min_pixels`` person pixels."""
    person = _person(mask)
    h, w = person.shape
    dists = []
    for (x0, y0, x1, y1), v in zip(np.asarray(rois), np.asarray(vis)):
        if v <= 0:
            continue
        box = np.zeros_like(person)
        box[max(int(y0), 0) : min(int(np.ceil(y1)), h), max(int(x0), 0) : min(int(np.ceil(x1)), w)] = True
        region = box & person
        if region.sum() < min_pixels:
            continue
        a = photo[region].astype(np.float64).mean(0) / 255  # mean sRGB of the region
        b = output[region].astype(np.float64).mean(0) / 255
        lab = rgb2lab(np.stack([a, b])[None])[0]  # [2, 3]
        dists.append(float(np.linalg.norm(lab[0] - lab[1])))
    return float(np.mean(dists)) if dists else float("nan")


def background_swap(
    output: np.ndarray, original: np.ndarray, donor: np.ndarray, mask_original: np.ndarray, mask_donor: np.ndarray
) -> tuple[float, float]:
    """``(distance to the original's background, distance to the donor's)``: mean absolute
    difference in grey levels (0-255) over the pixels that are background in both photos.
    A swap moved the background toward the donor when the second is smaller."""
    bg = ~_person(mask_original) & ~_person(mask_donor)
    if bg.sum() == 0:
        return float("nan"), float("nan")
    o = output.astype(np.float32)[bg]
    return float(np.abs(o - original.astype(np.float32)[bg]).mean()), float(np.abs(o - donor.astype(np.float32)[bg]).mean())


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 50, subset_size: int = 100, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018) of features ``[N, D]`` and ``[M, D]``:
    the unbiased MMD^2 with the cubic polynomial kernel ``(x.y / D + 1)^3``, averaged over
    ``subsets`` random subsets of ``subset_size`` (at most the smaller set). ``(mean, std)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 features on each side")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        mmd = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


@dataclass(frozen=True)
class LinearProbe:
    """A logistic regression on standardised features: ``p(x) = sigmoid(((x - mu) / sd) @ w + c)``."""

    mu: np.ndarray
    sd: np.ndarray
    w: np.ndarray
    c: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float64) - self.mu) / self.sd) @ self.w + self.c

    def prob(self, x: np.ndarray) -> np.ndarray:
        """Predicted probability of the positive class, ``[N]`` for features ``[N, D]``."""
        return 1 / (1 + np.exp(-self.logit(x)))


def fit_probe(train_x: np.ndarray, train_y: np.ndarray, l2: float = 1e-2) -> LinearProbe:
    """A class-balanced logistic regression on standardised features (L-BFGS, L2 penalty ``l2``);
    ``train_y`` must hold both classes."""
    train_y = np.asarray(train_y, bool)
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    x = torch.tensor((train_x - mu) / sd, dtype=torch.float64)
    y = torch.tensor(train_y, dtype=torch.float64)
    weight = torch.where(y > 0, 0.5 / y.mean(), 0.5 / (1 - y.mean()))  # each class counts half
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    c = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, c], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (weight * torch.nn.functional.binary_cross_entropy_with_logits(x @ w + c, y, reduction="none")).mean()
        loss = loss + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LinearProbe(np.asarray(mu, np.float64), np.asarray(sd, np.float64), w.detach().numpy(), float(c.detach()))


def probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, l2: float = 1e-2) -> float:
    """Balanced accuracy on the test set of ``fit_probe`` trained on the training set. NaN when
    either set lacks a class."""
    train_y, test_y = np.asarray(train_y, bool), np.asarray(test_y, bool)
    if train_y.all() or not train_y.any() or test_y.all() or not test_y.any():
        return float("nan")
    pred = fit_probe(train_x, train_y, l2).logit(test_x) > 0
    return float((pred[test_y].mean() + (~pred[~test_y]).mean()) / 2)
