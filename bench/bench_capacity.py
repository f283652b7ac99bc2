"""Where reconstruction detail is lost: the encoders or the decoder (issue 18's SSIM bar).

    python bench/bench_capacity.py --data PREPARED [--models real=assets/dpg-demo.safetensors] [--n 24] [--steps 150] [--split]

For held-out real people (the test split of a prepared folder) each model reconstructs
from its encoders' embeddings (what ``bench_real`` scores), and then from embeddings fitted
to each photo by gradient descent with the decoder frozen (``dpg.inversion.refine_embeddings``:
Adam on the stage-I losses, L1, the structure loss and the colour loss, from the encoders'
embeddings as the start). The
fitted reconstruction is as far as this decoder can go with embeddings of this size: if it
is far above the encoders', better encoders (or training them longer) would raise the
bench's SSIM; if it is close, only a richer code or a wider decoder would.

Figures per model (``FIGURE capacity.<model>.<name>``): ``ssim_encoded``, ``ssim_fitted``
(grayscale SSIM, as ``bench_real``), ``colour_encoded``, ``colour_fitted`` (the person's
CIELAB colour error); with ``--split`` also ``ssim_fitted_fg_only`` (only the foreground
fitted) and ``ssim_fitted_bg_only`` (only the background fitted): which code holds back the
detail. A fit is a decoder's forward and backward per step and person (bf16 where
``dpg.training.autocast``): about 2 minutes for the defaults on 2 cores, 5 with ``--split``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from dpg.data.geometry import person_geometry
from dpg.data.market import read_split
from dpg.eval import metrics as M
from dpg.eval import real as R
from dpg.inference import PersonGenerator
from dpg.inversion import refine_embeddings
from dpg.model import Factors
from dpg.pixels import from_uint8

HERE = os.path.dirname(os.path.abspath(__file__))


def scores(recon, images, masks, rois, vis):
    ssim = float(np.mean([M.ssim_gray(r, x) for r, x in zip(recon, images)]))
    colour = float(np.nanmean([R.region_colour_error(x, r, m, b, v) for x, r, m, b, v in zip(images, recon, masks, rois, vis)]))
    return ssim, colour


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("DPG_REAL_DATA"), help="a prepared folder (dpg prepare)")
    p.add_argument("--models", nargs="+", default=[f"real={HERE}/../assets/dpg-demo.safetensors"], metavar="NAME=PATH")
    p.add_argument("--n", type=int, default=24, help="held-out people")
    p.add_argument("--steps", type=int, default=150, help="Adam steps of the fit")
    p.add_argument("--lr", type=float, default=0.05, help="Adam's step, as a fraction of the embeddings' spread")
    p.add_argument("--split", action="store_true", help="also fit the foreground alone and the background alone")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not args.data:
        print("SKIP capacity: needs prepared real people: --data PREPARED or DPG_REAL_DATA=PREPARED (dpg prepare makes one)")
        return 0
    if args.n < 1 or args.steps < 1 or not 0 < args.lr < 10:
        p.error("--n and --steps must be at least 1, --lr in (0, 10)")
    torch.manual_seed(args.seed)
    names, images, kps, masks = read_split(args.data, "test", args.n, args.seed)
    h, w = images.shape[1:3]
    geo = [person_geometry(k, h, w) for k in kps]
    rois = np.stack([g["rois"].numpy() for g in geo])
    vis = np.stack([g["roi_vis"].numpy() for g in geo])
    print(f"# {len(names)} held-out people, {args.steps} fitting steps, data {args.data}", flush=True)
    for spec in args.models:
        label, path = spec.split("=", 1)
        gen = PersonGenerator.from_checkpoint(path, "cpu")
        gen.model.requires_grad_(False)
        t = time.time()
        f = gen.encode(images, kps)
        g = gen.geometry(kps)
        x = from_uint8(images)
        ssim, colour = scores(gen.compose(f), images, masks, rois, vis)
        print(f"FIGURE capacity.{label}.ssim_encoded: {ssim:.3f}")
        print(f"FIGURE capacity.{label}.colour_encoded: {colour:.2f}", flush=True)
        fits = ((("fg", "bg"), ""), (("fg",), "_fg_only"), (("bg",), "_bg_only"))
        for which, name in fits if args.split else fits[:1]:
            # the fit is a decoder's forward and backward a step: bf16 where it pays
            fg, bg = refine_embeddings(gen.model.stage1, x, g, f.keypoints, f.fg, f.bg, args.steps, args.lr, which, amp=True)
            ssim, colour = scores(gen.compose(Factors(fg, bg, f.keypoints)), images, masks, rois, vis)
            print(f"FIGURE capacity.{label}.ssim_fitted{name}: {ssim:.3f}")
            if not name:
                print(f"FIGURE capacity.{label}.colour_fitted: {colour:.2f}")
            print(f"# {label}: {time.time() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
