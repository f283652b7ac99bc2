"""Slider-event speed (issue 21): the eager decoder (``PersonGenerator.compose`` before it) against
``dpg.runtime.FastComposer`` at batch 1 (128x64), interleaved in one run, with the PNG the
page gets; plus how far apart their pictures are on a few sampled people.

    python bench/bench_speed.py [--checkpoint assets/dpg-demo.safetensors] [--threads 1 2] [--reps 40]
    python bench/bench_speed.py --picture docs/preview-vs-full.png  # the two decoders' pictures, no timing

Each repetition times every variant once, in a rotated order, so a busy machine slows them
alike; the figures are medians and ratios to today's compose in the same run. Each thread
count runs in a fresh process: NNPACK sizes its thread pool once, from
``torch.get_num_threads()`` at its first convolution in a process.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image

from dpg.eval.bench import machine
from dpg.inference import PersonGenerator
from dpg.pixels import to_uint8
from dpg.runtime import FastComposer, nnpack_available


def png(image: np.ndarray, level: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=level)
    return buf.getvalue()


def eager_composer(gen):
    """Today's (before issue 21) ``PersonGenerator.compose``: the model's eager decoder. (The
    generator's own ``compose`` now runs ``FastComposer`` for one person.)"""

    @torch.no_grad()
    def compose(f):
        return to_uint8(gen.model.decode(f))

    return compose


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of picture ``b`` against ``a`` (0-255 values)."""
    return float(10 * np.log10(255**2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-9)))


def picture(checkpoint, out: str) -> int:
    """Eight sampled people (fg seeds 0-7, bg 20-27, pose 40-47), the full decoder's pictures
    in the top row and the preview decoder's below, each 2x (nearest), as ``out``."""
    gen = PersonGenerator.from_checkpoint(checkpoint, "cpu")
    if gen.preview is None:
        print("no preview decoder beside the weights (python -m train.preview makes one)")
        return 1
    composer = FastComposer(gen, split=False)
    f = gen.sample(fg=list(range(8)), bg=list(range(20, 28)), pose=list(range(40, 48)))
    rows = [composer.compose(f), composer.compose(f, gen.preview)]  # [8, H, W, 3] uint8 each
    psnr = [psnr_db(a, b) for a, b in zip(*rows)]
    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(out)
    print(f"wrote {out}: preview against the full decoder, PSNR per person " + " ".join(f"{x:.1f}" for x in psnr) + " dB")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=os.environ.get("DPG_CHECKPOINT"))
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--picture", metavar="PNG", help="write eight sampled people, the full decoder above, the preview below, and stop")
    args = p.parse_args()
    if args.picture:
        return picture(args.checkpoint, args.picture)
    if not args.child:
        print(f"machine: {machine()}; NNPACK {nnpack_available()}")
        for threads in args.threads:
            cmd = [sys.executable, __file__, "--child", "--threads", str(threads), "--reps", str(args.reps)]
            subprocess.run(cmd + (["--checkpoint", args.checkpoint] if args.checkpoint else []), check=True)
        return 0
    torch.set_num_threads(args.threads[0])  # before the first NNPACK call (see the module doc)
    gen = PersonGenerator.from_checkpoint(args.checkpoint, "cpu")
    fast = FastComposer(gen, split=True)  # each 3x3 layer over two threads (DPG_SPLIT_CONV=1)
    single = FastComposer(gen, split=False)  # the default
    eager = eager_composer(gen)
    people = [gen.sample(fg=[i], bg=[i], pose=[i]) for i in range(6)]
    print(f"\nload average before: {' '.join(open('/proc/loadavg').read().split()[:3])}" if os.path.exists("/proc/loadavg") else "")

    # exactness: uint8 pictures of today's composer against the fast one
    worst, differ = 0, []
    for f in people:
        a, b = eager(f), fast.compose(f)
        d = np.abs(a.astype(int) - b.astype(int))
        worst, differ = max(worst, int(d.max())), differ + [float(np.mean(d > 0))]
    print(f"exactness on {len(people)} sampled people: max {worst} grey level(s), {100 * np.mean(differ):.4f}% of values differ")

    variants = {
        "compose (today)": eager,
        "FastComposer.compose": lambda f: single.compose(f),
        "FastComposer.compose, split over 2 threads (DPG_SPLIT_CONV=1)": lambda f: fast.compose(f),
        "compose + PNG level 1 (today's slider picture)": lambda f: png(eager(f)[0], 1),
        "FastComposer + PNG level 1": lambda f: png(single.compose(f)[0], 1),
    }
    if gen.preview is not None:  # the preview decoder beside the weights (dpg.preview): a moving slider
        c = gen.preview.bottom[0]
        variants[f"preview decoder ({c} channels), FastComposer"] = lambda f: single.compose(f, gen.preview)
        variants[f"preview decoder ({c} channels) + PNG level 1"] = lambda f: png(single.compose(f, gen.preview)[0], 1)
        worst, psnr = 0, []
        for f in people:  # how far the preview's picture is from the full decoder's
            a, b = single.compose(f), single.compose(f, gen.preview)
            psnr.append(psnr_db(a, b))
        print(f"preview against the full decoder on {len(people)} sampled people: PSNR {np.mean(psnr):.1f} dB (worst {min(psnr):.1f})")
    else:
        print("no preview decoder beside the weights (python -m train.preview makes one)")
    names = list(variants)
    for threads in args.threads:
        for name in names:  # warm-up: oneDNN primitives, NNPACK's plan
            variants[name](people[0])
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.reps):
            f = people[r % len(people)]
            for name in names[r % len(names) :] + names[: r % len(names)]:
                t = time.perf_counter()
                variants[name](f)
                times[name].append(time.perf_counter() - t)
        print(f"\n{threads} torch thread(s), {args.reps} interleaved repetitions, batch 1, {gen.height}x{gen.width}")
        base = {
            False: statistics.median(times["compose (today)"]),
            True: statistics.median(times["compose + PNG level 1 (today's slider picture)"]),
        }
        for name in names:
            m = statistics.median(times[name])
            q = np.percentile(times[name], 90)
            ref = base["PNG" in name]
            print(f"FIGURE speed.{name}: {m * 1000:.1f} ms median (p90 {q * 1000:.1f}), x{m / ref:.2f} of today's")
    print(f"load average after: {' '.join(open('/proc/loadavg').read().split()[:3])}" if os.path.exists("/proc/loadavg") else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
