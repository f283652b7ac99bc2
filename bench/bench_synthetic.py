"""Throughput of the procedural person renderer (``dpg.synthetic.people``) on one core.

Prints images per second for ``render`` (uint8 images at the API edge) and for
``SyntheticPeople.__getitem__`` (tensors, what a DataLoader worker does), at 128x64 and
256x256, timed both by the wall clock and by this process's CPU time: on a shared machine
the CPU time is the honest measure of what one core delivers. The target is 500 images/s at
128x64, so that rendering never starves training.

    python bench/bench_synthetic.py [--count 2000] [--size 128x64]
"""

from __future__ import annotations

import argparse
import time

import cv2
import torch


def _measure(step, count: int) -> tuple[float, float]:
    step(0)  # warm the per-process caches (textures, tables) outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(1, count + 1):
        step(i)
    return count / (time.perf_counter() - wall), count / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="images per measurement")
    parser.add_argument("--size", action="append", help="HxW (repeatable); default 128x64 and 256x256")
    args = parser.parse_args()
    # One core: no intra-op threads in torch or OpenCV.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from dpg.synthetic.people import STYLE_SIZES, SyntheticPeople

    for text in args.size or ["128x64", "256x256"]:
        h, w = (int(v) for v in text.lower().split("x"))
        style = next((k for k, v in STYLE_SIZES.items() if v == (h, w)), "market")  # the renderer's style of that size
        ds = SyntheticPeople(style=style, size=(h, w))
        count = args.count if h * w <= 128 * 64 else max(1, args.count // 8)
        for name, step in (("render", ds.render), ("dataset item", ds.__getitem__)):
            wall, cpu = _measure(step, count)
            print(f"{h}x{w} {style:6s} {name:12s}: {cpu:7.0f} images/s (CPU time), {wall:7.0f} images/s (wall clock), {count} images")
            tag = name.replace(" ", "_")
            print(f"FIGURE synthetic.{h}x{w}.{tag}_per_s: {cpu:.0f}  (one core, CPU time; bar 500 at 128x64)")


if __name__ == "__main__":
    main()
