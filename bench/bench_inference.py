"""Inference speed (issue 6): composing one 128x64 person from seeds at batch 1, throughput at
batch 64, and inverting one person's three factors to a residual below 1% of the embedding
norm, with the time it took.

    python bench/bench_inference.py [--checkpoint assets/dpg-demo.safetensors] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from dpg.inference import PersonGenerator


def timed(fn, reps: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=os.environ.get("DPG_CHECKPOINT"))
    p.add_argument("--device", default=None)
    args = p.parse_args()
    gen = PersonGenerator.from_checkpoint(args.checkpoint, args.device)
    dev = f"{gen.device}, {torch.get_num_threads()} threads"
    one = timed(lambda: gen.compose(gen.sample(fg=1, bg=2, pose=3)), 20)
    print(f"FIGURE inference.compose_batch1_ms: {one * 1000:.1f}  (sample 3 factors from seeds + decode, {gen.height}x{gen.width}, {dev})")
    seeds = list(range(64))
    many = timed(lambda: gen.compose(gen.sample(fg=seeds, bg=seeds, pose=seeds)), 3)
    print(f"FIGURE inference.throughput_batch64: {64 / many:.0f} images/s")
    target = gen.sample(fg=7, bg=8, pose=9)  # a person the mapping can reach exactly
    t = time.perf_counter()
    inv = gen.invert(target, iters=3000, tol=0.008, hops=20)  # L-BFGS rounds, then basin hops, until safely below 1%
    took = time.perf_counter() - t
    worst = max(float(np.max(r)) for r in inv.residual.values())
    per = ", ".join(f"{f} {float(r[0]):.4f}" for f, r in inv.residual.items())
    print(f"FIGURE inference.invert_seconds: {took:.2f}  (three factors, up to 20 basin hops each; residuals {per})")
    print(f"FIGURE inference.invert_max_residual: {worst:.4f}  (bar < 0.01 of the embedding norm)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
