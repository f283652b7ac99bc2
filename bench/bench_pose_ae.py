"""Pose auto-encoder accuracy on Market-1501's real test poses (issue 5's bar: mean error at
most 1.5 px at 128x64, visibility accuracy at least 98%).

    python bench/bench_pose_ae.py [--checkpoint assets/dpg-demo.safetensors] [--csv market-annotation-test.csv]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

from dpg.checkpoint import load_model
from dpg.data.annotations import read_annotation_csv
from dpg.hub import DEFAULT_CHECKPOINT

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CSV = os.path.join(HERE, "..", "..", "shared", "data", "market", "market-annotation-test.csv")


@torch.no_grad()
def pose_ae_errors(model, keypoints: np.ndarray) -> tuple[float, float]:
    """Mean pixel error over joints visible in the input, and visibility accuracy."""
    kp = torch.from_numpy(keypoints)
    out = model.decode_pose(model.encode_pose(kp))
    vis = kp[..., 2] > 0.5
    err = (out[..., :2] - kp[..., :2]).norm(dim=-1)[vis]
    acc = ((out[..., 2] > 0.5) == vis).float().mean()
    return float(err.mean()), float(acc)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--csv", default=DEFAULT_CSV)
    args = p.parse_args()
    torch.set_num_threads(1)
    if not os.path.exists(args.csv):
        print(f"SKIP pose_ae: {args.csv} not found (the real Market-1501 test CSV)")
        return 0
    model, _ = load_model(args.checkpoint, stages=["pose_ae"])
    h, w = model.cfg.model.height, model.cfg.model.width
    _, kp = read_annotation_csv(args.csv, (h, w))
    kp = kp[kp[..., 2].sum(-1) > 0]
    err, acc = pose_ae_errors(model, kp)
    print(f"FIGURE pose_ae.mean_error_px: {err:.3f}  (real Market-1501 test poses, {len(kp)} rows, {h}x{w}; bar <= 1.5)")
    print(f"FIGURE pose_ae.visibility_accuracy: {acc:.4f}  (bar >= 0.98)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
