"""Inference speed (issue 6): composing one 128x64 person from seeds at batch 1, throughput at
batch 64, and inverting sampled people's three factors to a residual below 1% of the embedding
norm, with the time it took (issue 21: 2 s); ``--compare CKPT`` inverts the same people with
another model in the same run (e.g. one whose mappings are FC ResNets, not flows). With flow
mappings, it also times sampling one person's factors and inverting, with each contractive
layer's scaled weight kept between calls (as shipped) and recomputed at every call (before
session 12), interleaved in the same run.

    python bench/bench_inference.py [--checkpoint assets/dpg-demo.safetensors] [--people 3] [--compare CKPT]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from dpg.inference import PersonGenerator
from dpg.mapping import ContractiveLinear, FlowMapping


def timed(fn, reps: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def invert_people(gen, n: int) -> tuple[list[float], float]:
    """Seconds to invert each of ``n`` sampled people (seeds 7, 8, 9 for the first; people a
    mapping reaches exactly) until safely below 1%, and the largest residual of any factor."""
    took, worst = [], 0.0
    for i in range(n):
        target = gen.sample(fg=7 + 3 * i, bg=8 + 3 * i, pose=9 + 3 * i)
        t = time.perf_counter()
        inv = gen.invert(target, iters=3000, tol=0.008, hops=20)  # L-BFGS rounds, then basin hops (or a flow's inverse)
        took.append(time.perf_counter() - t)
        worst = max([worst] + [float(np.max(r)) for r in inv.residual.values()])
    return took, worst


def kept_against_recomputed(gen, reps: int = 30) -> None:
    """Sampling one person's three factors (batch 1: a slider's mapping work) and inverting one
    person, with ``ContractiveLinear``'s scaled weight kept (as shipped) and recomputed at every
    call (as before), alternating so that a busy machine slows both alike."""
    kept = ContractiveLinear.scaled_weight
    arms = {"kept": kept, "recomputed": ContractiveLinear._scaled_weight}
    sample_ms = {a: [] for a in arms}
    invert_s = {a: [] for a in arms}
    target = gen.sample(fg=7, bg=8, pose=9)
    try:
        for r in range(reps):
            for arm in list(arms)[r % 2 :] + list(arms)[: r % 2]:
                ContractiveLinear.scaled_weight = arms[arm]
                t = time.perf_counter()
                gen.sample(fg=r, bg=r, pose=r)
                sample_ms[arm].append((time.perf_counter() - t) * 1000)
                if r < 6:
                    t = time.perf_counter()
                    gen.invert(target, iters=3000, tol=0.008, hops=20)
                    invert_s[arm].append(time.perf_counter() - t)
    finally:
        ContractiveLinear.scaled_weight = kept
    a, b = np.median(sample_ms["kept"]), np.median(sample_ms["recomputed"])
    print(
        f"FIGURE inference.sample_batch1_ms: {a:.2f}  (three factors from seeds, batch 1; recomputing the flows' scaled weights: {b:.2f}, x{a / b:.2f})"
    )
    a, b = np.median(invert_s["kept"]), np.median(invert_s["recomputed"])
    print(
        f"FIGURE inference.invert_kept_weights_s: {a:.2f}  (one person, three factors; recomputing the flows' scaled weights: {b:.2f}, x{a / b:.2f})"
    )


def encode_times(gen, refine: int) -> None:
    """Encoding one person (batch 1) from a sampled picture: the encoders alone against the
    embeddings refined ``refine`` steps (``encode(..., refine=K)``, ``--refine`` of the
    commands), interleaved in the same run, on this process's torch threads."""
    person = gen.sample(fg=4, bg=5, pose=6)
    image, kp = gen.compose(person), person.keypoints.cpu().numpy()
    gen.encode(image, kp, 2)  # the bf16 probe and first-call costs out of the timing
    plain, refined = [], []
    for _ in range(3):
        plain.append(timed(lambda: gen.encode(image, kp), 5))
        t = time.perf_counter()
        gen.encode(image, kp, refine)
        refined.append(time.perf_counter() - t)
    a, b = np.median(plain), np.median(refined)
    print(f"FIGURE inference.encode_ms: {a * 1000:.1f}  (one person, the encoders' embeddings; {torch.get_num_threads()} threads)")
    print(f"FIGURE inference.encode_refined_s: {b:.2f}  (one person, refined {refine} steps; x{b / a:.0f} the plain encode)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=os.environ.get("DPG_CHECKPOINT"))
    p.add_argument("--device", default=None)
    p.add_argument("--people", type=int, default=3, help="sampled people to invert (default 3)")
    p.add_argument("--compare", default=None, metavar="CKPT", help="also invert the same people with this model, side by side")
    p.add_argument("--refine", type=int, default=25, help="steps of the refined encode timed beside the plain one (default 25)")
    args = p.parse_args()
    gen = PersonGenerator.from_checkpoint(args.checkpoint, args.device)
    dev = f"{gen.device}, {torch.get_num_threads()} threads"
    one = timed(lambda: gen.compose(gen.sample(fg=1, bg=2, pose=3)), 20)
    print(f"FIGURE inference.compose_batch1_ms: {one * 1000:.1f}  (sample 3 factors from seeds + decode, {gen.height}x{gen.width}, {dev})")
    seeds = list(range(64))
    many = timed(lambda: gen.compose(gen.sample(fg=seeds, bg=seeds, pose=seeds)), 3)
    print(f"FIGURE inference.throughput_batch64: {64 / many:.0f} images/s")
    encode_times(gen, args.refine)
    took, worst = invert_people(gen, args.people)
    kind = ", ".join(f"{f} {type(m).__name__}" for f, m in gen.model.stage2.mappings.items())
    print(
        f"FIGURE inference.invert_seconds: {np.median(took):.2f}  (median of {args.people} sampled people, three factors; max {max(took):.2f} s; {kind})"
    )
    print(f"FIGURE inference.invert_max_residual: {worst:.4f}  (bar < 0.01 of the embedding norm)")
    if any(isinstance(m, FlowMapping) for m in gen.model.stage2.mappings.values()):
        kept_against_recomputed(gen)
    if args.compare:
        old = PersonGenerator.from_checkpoint(args.compare, args.device)
        took_old, worst_old = invert_people(old, args.people)
        print(
            f"FIGURE inference.invert_seconds_compare: {np.median(took_old):.2f}  ({args.compare}; max {max(took_old):.2f} s, residual {worst_old:.4f})"
        )
        print(f"FIGURE inference.invert_speedup: {np.median(took_old) / np.median(took):.1f}x  (medians, same people, same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
