"""Raised arms on real people (issue 20, item 4a): held-out people of a prepared set with one
arm lifted above the head, as the pose editor lets a user do, every model side by side.

    python bench/bench_arms.py --data PREPARED [--models NAME=PATH ...] [--n 200] [--grid arms.png]

Per model (``FIGURE arms.<model>.<name>``), on the pixels within 2 px of a forearm:

* ``raised``: mean change (0..1 over RGB) between the person drawn with the arm lifted
  (``dpg.eval.arms.raise_arm``) and drawn without that arm, along the lifted forearm;
* ``natural``: the same for the person's own arm, along its own forearm (people with that
  elbow and wrist visible);
* ``ratio``: raised / natural: near 1 when a lifted arm is drawn as clearly as a hanging one,
  near 0 when the model leaves a stub.

``--grid`` writes photo / own pose / arm lifted for the first eight people, a row per model.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from dpg.data.market import read_split
from dpg.eval import arms as A
from dpg.inference import PersonGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODELS = [f"procedural={HERE}/../assets/dpg-procedural.safetensors", f"real={HERE}/../assets/dpg-demo.safetensors"]


def compose(gen, images, own, *poses) -> list[np.ndarray]:
    """Per entry of ``poses``, uint8 ``[N, H, W, 3]``: each person encoded once at its own
    keypoints, drawn at that entry's keypoints."""
    out = [[] for _ in poses]
    for i in range(0, len(images), 64):
        f = gen.encode(images[i : i + 64], own[i : i + 64])
        for drawn, kp in zip(out, poses):
            drawn.append(gen.compose(gen.with_pose(f, kp[i : i + 64])))
    return [np.concatenate(drawn) for drawn in out]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a prepared folder (dpg prepare) at the models' size")
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="NAME=PATH")
    p.add_argument("--n", type=int, default=200, help="held-out people")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", default=None, help="write a picture of the first eight people here")
    args = p.parse_args()
    _, images, kps, _ = read_split(args.data, "test", args.n, args.seed)
    h = images.shape[1]
    keep, raised, armless, sides = [], [], [], []
    for i, kp in enumerate(kps):
        side = ("right", "left")[i % 2]
        up = A.raise_arm(kp, side, h)
        if up is None:
            continue
        keep.append(i)
        raised.append(up)
        armless.append(A.without_arm(kp, side))
        sides.append(side)
    keep = np.array(keep)
    images, kps, raised, armless = images[keep], kps[keep], np.stack(raised), np.stack(armless)
    print(f"# {len(keep)} held-out people with a visible shoulder and neck, one arm lifted each, data {args.data}")
    rows = []
    for spec in args.models:
        name, path = spec.split("=", 1)
        gen = PersonGenerator.from_checkpoint(path, "cpu")
        own, up, none = compose(gen, images, kps, kps, raised, armless)
        lifted, natural = [], []
        for i, side in enumerate(sides):
            _, el, wr = A.SIDES[side]
            lifted.append(A.along_segment(up[i], none[i], raised[i, el, :2], raised[i, wr, :2]))
            if kps[i, el, 2] > 0 and kps[i, wr, 2] > 0:
                natural.append(A.along_segment(own[i], none[i], kps[i, el, :2], kps[i, wr, :2]))
        r, n = float(np.nanmean(lifted)), float(np.nanmean(natural))
        print(f"FIGURE arms.{name}.raised: {r:.4f}  (mean change along the lifted forearm, 0..1)")
        print(f"FIGURE arms.{name}.natural: {n:.4f}  (the same along the own forearm, {len(natural)} people)")
        print(f"FIGURE arms.{name}.ratio: {r / n:.3f}  (raised / natural)", flush=True)
        rows.append(np.concatenate([np.concatenate([images[i], own[i], up[i]], 1) for i in range(min(8, len(keep)))], 1))
    if args.grid:
        from PIL import Image

        grid = np.concatenate(rows, 0)
        Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(args.grid)
        print(f"# grid: {args.grid} (a row per model: photo, own pose, arm lifted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
