"""Ground-truth disentanglement on procedural people (a check the paper could not make).

The paper shows disentanglement by example (Fig. 1, 3, 6): swap or sample one factor and see
the others stay. Real photos have no image of "this person in that background", but the
procedural renderer (``dpg.synthetic.people``) draws any combination of appearance, background
and pose exactly. So for held-out people ``A`` and ``B`` and each factor ``f``:

1. encode ``A`` and ``B`` with stage I; take ``f`` from ``B`` and the rest from ``A``; decode;
2. compare the result with the renderer's image of that very combination (SSIM, PSNR);
3. **swap accuracy**: the rate at which the result is closer (SSIM) to the swapped truth than
   to ``A``'s own image, i.e. the swap visibly happened;
4. **leakage**: the pixels a factor owns are those where the swapped truth differs from ``A``;
   ``leak`` is the mean absolute change (0-1 scale) the swap causes in the model's output
   over the pixels it does *not* own, measured against the model's reconstruction of ``A``
   (so reconstruction error does not count), and ``effect`` the same over the owned pixels.
   An ideal model has leak 0 and effect equal to the truth's change.

Factor correspondence: the model's ``fg`` is the renderer's appearance, ``bg`` its background,
``pose`` its pose (keypoints). Images are uint8 at the model's size; SSIM is
``dpg.eval.metrics.ssim_color`` (7x7 window, colour, range 255).
"""

from __future__ import annotations

import numpy as np

from dpg.eval.metrics import psnr, ssim_color, ssim_gray
from dpg.model import Factors
from dpg.synthetic.people import SyntheticPeople, render

# The renderer's factor that each model factor swaps.
RENDER_FACTOR = {"fg": 0, "bg": 1, "pose": 2}  # index into (appearance, background, pose)


def procedural_people(n: int, size: tuple[int, int], split: str = "test", seed: int = 0, poses=None, style: str = "market"):
    """The factors of ``n`` held-out procedural people: list of (appearance, background, pose);
    ``style`` the renderer's (``ModelConfig.style``)."""

    ds = SyntheticPeople(n, split=split, style=style, size=tuple(size), poses=poses, seed=seed)
    return [ds.factors(i) for i in range(n)]


def _encode(gen, renders, batch_size: int):
    """Factors of rendered people, batched; returns (Factors, images uint8 [N, H, W, 3])."""

    images = np.stack([r.image for r in renders])
    kps = np.stack([r.keypoints for r in renders])
    parts = [gen.encode(images[s : s + batch_size], kps[s : s + batch_size]) for s in range(0, len(renders), batch_size)]
    return Factors.cat(parts), images


def _compose(gen, factors, batch_size: int) -> np.ndarray:

    out = []
    for s in range(0, len(factors), batch_size):
        out.append(gen.compose(factors[s : s + batch_size]))
    return np.concatenate(out)


def _region_mean(diff: np.ndarray, region: np.ndarray) -> float:
    return float(diff[region].mean()) if region.any() else float("nan")


def reconstruction_quality(gen, n: int = 256, split: str = "test", seed: int = 0, batch_size: int = 32, poses=None) -> dict:
    """Stage-I reconstruction of ``n`` held-out procedural people: mean SSIM (grayscale, as
    the paper's ``score.py``, and colour), PSNR (colour, dB) and L1 (0-1 scale)."""

    renders = [render(*f) for f in procedural_people(n, (gen.height, gen.width), split, seed, poses, gen.cfg.model.style)]
    factors, images = _encode(gen, renders, batch_size)
    recon = _compose(gen, factors, batch_size)
    return {
        "people": n,
        "ssim_gray": float(np.mean([ssim_gray(r, x) for r, x in zip(recon, images)])),
        "ssim_color": float(np.mean([ssim_color(r, x) for r, x in zip(recon, images)])),
        "psnr": float(np.mean([min(psnr(r, x), 100.0) for r, x in zip(recon, images)])),
        "l1": float(np.abs(recon.astype(np.float64) - images).mean() / 255),
    }


def evaluate_disentanglement(gen, pairs: int = 64, split: str = "test", seed: int = 0, batch_size: int = 32, poses=None) -> dict:
    """Swap each factor between ``pairs`` pairs of held-out procedural people (module doc).

    Returns ``{factor: {ssim_to_truth, psnr_to_truth, ssim_to_original, accuracy, leak,
    effect, truth_effect}}`` for each factor the model has, plus ``pairs``.
    """

    people = procedural_people(2 * pairs, (gen.height, gen.width), split, seed, poses, gen.cfg.model.style)
    a_factors, b_factors = people[0::2], people[1::2]
    a_renders = [render(*f) for f in a_factors]
    b_renders = [render(*f) for f in b_factors]
    fa, a_images = _encode(gen, a_renders, batch_size)
    fb, _ = _encode(gen, b_renders, batch_size)
    recon = _compose(gen, fa, batch_size).astype(np.float64)
    out: dict = {"pairs": pairs}
    for factor in gen.factors:
        k = RENDER_FACTOR[factor]
        truths = []
        for fa_i, fb_i in zip(a_factors, b_factors):
            combo = list(fa_i)
            combo[k] = fb_i[k]
            truths.append(render(*combo).image)
        truths = np.stack(truths)
        swapped = _compose(gen, gen.swap(fa, fb, (factor,)), batch_size)
        to_truth = np.array([ssim_color(s, t) for s, t in zip(swapped, truths)])
        to_orig = np.array([ssim_color(s, a) for s, a in zip(swapped, a_images)])
        owned = (truths != a_images).any(-1)  # [N, H, W]: pixels this factor changes
        change = np.abs(swapped.astype(np.float64) - recon).mean(-1) / 255  # [N, H, W]
        truth_change = np.abs(truths.astype(np.float64) - a_images).mean(-1) / 255
        out[factor] = {
            "ssim_to_truth": float(to_truth.mean()),
            "psnr_to_truth": float(np.mean([min(psnr(s, t), 100.0) for s, t in zip(swapped, truths)])),
            "ssim_to_original": float(to_orig.mean()),
            "accuracy": float((to_truth > to_orig).mean()),
            "leak": float(np.nanmean([_region_mean(c, ~o) for c, o in zip(change, owned)])),
            "effect": float(np.nanmean([_region_mean(c, o) for c, o in zip(change, owned)])),
            "truth_effect": float(np.nanmean([_region_mean(c, o) for c, o in zip(truth_change, owned)])),
            "owned_fraction": float(owned.mean()),
        }
    return out


def markdown_table(result: dict, recon: dict | None = None) -> str:
    lines = [f"### Disentanglement on procedural people ({result['pairs']} held-out pairs)", ""]
    if recon:
        lines.append(
            f"Stage-I reconstruction of {recon['people']} people: SSIM {recon['ssim_gray']:.3f} (grayscale), "
            f"{recon['ssim_color']:.3f} (colour), PSNR {recon['psnr']:.2f} dB."
        )
        lines.append("")
    lines.append("| factor swapped | SSIM to truth | PSNR to truth | SSIM to original | swap accuracy | leak | effect (truth) |")
    lines.append("|---|---|---|---|---|---|---|")
    for f in ("fg", "bg", "pose"):
        if f in result:
            r = result[f]
            lines.append(
                f"| {f} | {r['ssim_to_truth']:.3f} | {r['psnr_to_truth']:.2f} | {r['ssim_to_original']:.3f} | "
                f"{r['accuracy']:.1%} | {r['leak']:.4f} | {r['effect']:.4f} ({r['truth_effect']:.4f}) |"
            )
    lines.append("")
    lines.append(
        "Leak and effect: mean absolute change (0-1) of the output, outside and inside the pixels the "
        "factor owns, against the model's own reconstruction."
    )
    return "\n".join(lines) + "\n"
