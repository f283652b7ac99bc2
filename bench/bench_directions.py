"""Do the named sliders change what they name, and nothing else? (issue 20, ``dpg.directions``)

    python bench/bench_directions.py --data /work/prepared/pedestrians [--checkpoint CKPT]
        [--directions CKPT-directions.safetensors] [--n 48] [--cache /tmp/dpg-directions-cache]

On ``--n`` held-out test crops, every named direction moves its factor by +2 and -2 (slider
amounts, in standard deviations of the data), and a random direction of the same size by +2
and -2; each result is composed (``gen.compose``) and encoded again with the keypoints it was
drawn in (``gen.encode``). Per direction:

* ``named``: what the direction names, measured on the output, at +2 / -2 and for the random
  move at +2 / -2. Foreground: the mean probability of the PETA attribute from a logistic
  probe (``dpg.eval.real.fit_probe``) trained on training crops' embeddings (the cache of
  ``train/directions.py``), applied to the re-encoded foreground. Background: the measure of
  the output's pixels outside the pose mask (``background_measures``). Pose: the measure of
  the moved keypoints (``pose_measures``, fractions of the height).
* ``d fg``, ``d bg``: how far the re-encoded foreground and background moved from those of
  the unmoved output, as a fraction of the spread of the test people's embeddings (the RMS
  distance from their mean); the named factor's own change next to the others'. (A pose move
  redraws the person, so both are changes a pose slider should keep small.)
* ``other attrs``: the mean |p(+2) - p(-2)| of the probes of the *other* named foreground
  attributes (does "red top" also give long hair?).

About 4 minutes on two shared CPU cores with the cache of ``train/directions.py`` in place.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from dpg.data.market import read_split
from dpg.data.peta import crop_attributes, read_labels
from dpg.directions import apply, background_measures, checkpoint_id, directions_path, load_directions, move_pose, pose_measures
from dpg.eval.bench import machine
from dpg.eval.real import fit_probe
from dpg.inference import PersonGenerator
from dpg.keypoints import pose_mask
from dpg.model import Factors
from train.directions import SHARED, encode_cached

AMOUNT = 2.0


def measure_key(source: str) -> str:
    """``"PETA upperBodyRed"`` -> ``upperBodyRed``; ``"background brightness, ..."`` -> ``brightness``."""
    return source.split()[1].rstrip(",")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="the model (default: the bundled one)")
    p.add_argument("--directions", default=None, help="its directions (default: beside the checkpoint)")
    p.add_argument("--data", required=True, help="a prepared folder of real people (dpg prepare)")
    p.add_argument("--peta", default=os.path.join(SHARED, "real", "peta"))
    p.add_argument("--n", type=int, default=48, help="held-out test crops")
    p.add_argument("--train-n", type=int, default=6000, help="training crops for the probes (train/directions.py's --n)")
    p.add_argument("--cache", default="/tmp/dpg-directions-cache", help="train/directions.py's --cache")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    print(f"# machine: {machine()}, {torch.get_num_threads()} thread(s)")
    gen = PersonGenerator.from_checkpoint(args.checkpoint, "cpu")
    ckid = checkpoint_id(gen.model)
    dirs = load_directions(args.directions or directions_path(gen.checkpoint), ckid)
    print(f"# model {gen.checkpoint} (id {ckid}), {len(dirs)} named directions", flush=True)

    # probes of every named foreground attribute, trained on training crops
    names, _, fg_tr, _, _ = encode_cached(gen, args.data, args.train_n, args.seed, args.cache, ckid)
    attrs = [measure_key(d.source) for d in dirs if d.factor == "fg"]
    y = crop_attributes(args.data, names, read_labels(args.peta), attrs)
    probes = {a: fit_probe(fg_tr[y[:, j] >= 0], y[y[:, j] >= 0, j] == 1) for j, a in enumerate(attrs)}
    print(f"# {len(probes)} probes trained on {int((y[:, 0] >= 0).sum())} crops ({time.time() - t0:.0f} s)", flush=True)

    _, images, kps, _ = read_split(args.data, "test", args.n, args.seed)
    h, w = gen.height, gen.width
    real = gen.encode(images, kps)
    spread = {f: float((getattr(real, f) - getattr(real, f).mean(0)).pow(2).sum(1).mean().sqrt()) for f in ("fg", "bg")}

    def run(fac: Factors):
        """Compose, re-encode with the drawn keypoints: ``(images, Factors)``."""
        out = gen.compose(fac)
        return out, gen.encode(out, fac.keypoints.cpu().numpy())

    base_out, base = run(real)
    rng = torch.Generator().manual_seed(args.seed)

    def random_like(d):
        u = torch.randn(d.vector.shape, generator=rng)
        return type(d)("random", d.factor, u / u.norm(), d.scale)

    def moved(d, amount):
        """The test people with ``d`` moved ``amount``: (drawn keypoints, images, re-encoded)."""
        if d.factor == "pose":
            k = move_pose(gen, kps, [d], [amount])
            fac = Factors(real.fg, real.bg, torch.from_numpy(k))
        else:
            fac = Factors(
                apply(real.fg, d, amount) if d.factor == "fg" else real.fg,
                apply(real.bg, d, amount) if d.factor == "bg" else real.bg,
                real.keypoints,
            )
        out, enc = run(fac)
        return fac.keypoints.cpu().numpy(), out, enc

    def named(d, k, out, enc) -> float:
        key = measure_key(d.source)
        if d.factor == "fg":
            return float(probes[key].prob(enc.fg.numpy()).mean())
        if d.factor == "bg":
            masks = np.stack([pose_mask(x, h, w) for x in k])
            return float(np.nanmean(background_measures(out, masks)[key]))
        return float(np.nanmean(pose_measures(k, h)[key]))

    def change(enc, f) -> float:
        return float((getattr(enc, f) - getattr(base, f)).norm(dim=1).mean()) / spread[f]

    def others(d, plus, minus) -> float:
        keys = [a for a in probes if a != measure_key(d.source)]
        if not keys:
            return float("nan")
        return float(np.mean([abs(probes[a].prob(plus.fg.numpy()).mean() - probes[a].prob(minus.fg.numpy()).mean()) for a in keys]))

    print(
        f"# {len(images)} test people; embedding spread fg {spread['fg']:.2f}, bg {spread['bg']:.2f} ({time.time() - t0:.0f} s)\n",
        flush=True,
    )
    head = (
        f"{'factor':6s} {'direction':20s} {'named +2':>9s} {'-2':>7s} {'rand +2':>8s} {'-2':>7s} | "
        f"{'d fg':>5s} {'d bg':>5s} {'rand d fg':>9s} {'d bg':>5s} | {'other attrs':>11s}"
    )
    print(head + "\n" + "-" * len(head))
    for d in dirs:
        r = random_like(d)
        res = {(who, a): moved(x, a) for who, x in (("named", d), ("random", r)) for a in (AMOUNT, -AMOUNT)}
        vals = [named(d, *res[who, a]) for who in ("named", "random") for a in (AMOUNT, -AMOUNT)]
        plus, rplus = res["named", AMOUNT][2], res["random", AMOUNT][2]
        dfg, dbg, rfg, rbg = change(plus, "fg"), change(plus, "bg"), change(rplus, "fg"), change(rplus, "bg")
        print(
            f"{d.factor:6s} {d.name:20s} {vals[0]:9.3f} {vals[1]:7.3f} {vals[2]:8.3f} {vals[3]:7.3f} | "
            f"{dfg:5.2f} {dbg:5.2f} {rfg:9.2f} {rbg:5.2f} | "
            f"{others(d, plus, res['named', -AMOUNT][2]):11.3f}",
            flush=True,
        )
    print(
        f"\n# named: fg = mean probe probability of the attribute, bg = the background measure (0-255 scale), pose = the "
        f"keypoint measure (fraction of height); d fg / d bg at +{AMOUNT:g}, in units of the test spread"
    )
    print(f"# total {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
