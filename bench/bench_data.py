"""Time reading and preparing Market-1501 batches on one CPU core.

One batch = 16 items of ``MarketDataset`` (JPEG decode, [-1, 1] tensor, pose mask, body ROIs,
flip augmentation at p = 0.5) collated by the default DataLoader collate, plus the 18-channel
pose maps of the batch (``dpg.keypoints.pose_map``), i.e. everything the issue's 20 ms budget
names. Images are smooth random 128x64 JPEGs written to a temporary folder under the names and
with the keypoints of the real train CSV (``../shared/data``; synthetic ones where it is
absent). The folder is read in the loop, so the OS file cache is warm as in a training epoch.

    python bench/bench_data.py [--images 512] [--batches 100] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from dpg.data.annotations import read_annotation_csv, write_annotation_csv
from dpg.data.market import MarketDataset
from dpg.keypoints import pose_map, pose_mask

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "market", "market-annotation-train.csv")


def source_annotations(count: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``count`` real (name, keypoints) rows of the train CSV, or synthetic ones."""
    path = os.environ.get("DPG_MARKET_CSV", SHARED)
    rng = np.random.default_rng(seed)
    if os.path.isfile(path):
        names, kp = read_annotation_csv(path, (128, 64))
        rows = rng.choice(len(names), size=min(count, len(names)), replace=False)
        return [names[i] for i in rows], kp[rows]
    print(f"(no {path}: synthetic keypoints)")
    kp = np.ones((count, 18, 3), np.float32)
    kp[..., 0] = rng.integers(10, 54, (count, 18))
    kp[..., 1] = rng.integers(5, 123, (count, 18))
    return [f"{i % 700 + 1:04d}_c{i % 6 + 1}s1_{i:06d}_01.jpg" for i in range(count)], kp


def write_fixture(root: str, names: list[str], kp: np.ndarray, seed: int) -> None:
    folder = os.path.join(root, "bounding_box_train")
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    for name in names:
        # Low-frequency colour plus mild noise: JPEGs of about a real crop's size (3-6 KB).
        low = rng.integers(0, 256, (16, 8, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(low).resize((64, 128), Image.BICUBIC), dtype=np.int16)
        img = (img + rng.integers(-8, 9, img.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(folder, name), quality=90)
    write_annotation_csv(os.path.join(root, "market-annotation-train.csv"), names, kp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    with tempfile.TemporaryDirectory(prefix="dpg-bench-data-") as root:
        names, kp = source_annotations(args.images, args.seed)
        write_fixture(root, names, kp, args.seed)
        dataset = MarketDataset(root, "train", flip_prob=0.5)
        loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True)

        totals, maps = [], []
        while len(totals) < args.batches + 1:  # the first batch warms caches and is dropped
            it = iter(loader)
            while len(totals) < args.batches + 1:
                t0 = time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                pm = pose_map(batch["keypoints"], 128, 64)  # [B, 18, 128, 64]
                t2 = time.perf_counter()
                totals.append((t2 - t0) * 1e3)
                maps.append((t2 - t1) * 1e3)
        totals, maps = totals[1:], maps[1:]
        assert pm.shape == (args.batch_size, 18, 128, 64) and batch["mask"].shape == (args.batch_size, 1, 128, 64)
        # The pose masks alone, on the same keypoints, to show where the time goes.
        masks = []
        for start in range(0, len(dataset) - args.batch_size + 1, args.batch_size):
            t0 = time.perf_counter()
            for kp_one in dataset.keypoints[start : start + args.batch_size]:
                pose_mask(kp_one, 128, 64, dataset.mask_radius)
            masks.append((time.perf_counter() - t0) * 1e3)

    med, p90 = statistics.median(totals), float(np.percentile(totals, 90))
    print(f"Market batch of {args.batch_size} (read, decode, mask, ROIs, flip, collate, pose maps), 1 thread:")
    print(f"  {med:.1f} ms median, {p90:.1f} ms p90, {statistics.mean(totals):.1f} ms mean over {len(totals)} batches")
    mm, mk = statistics.median(maps), statistics.median(masks)
    rest = med - mm - mk
    print(f"  of which pose maps {mm:.1f} ms, pose masks {mk:.1f} ms, the rest {rest:.1f} ms")
    print("  (the rest: open, decode, [-1, 1] tensor, ROIs, flip, collate)")
    print(f"  budget 20 ms: {'met' if med < 20 else 'NOT met'}")
    print(f"FIGURE data.market_batch16_ms: {med:.1f}  (median, one core; pose maps, masks and ROIs included; budget 20)")


if __name__ == "__main__":
    main()
