"""Stage-I training speed: steps/s of the ``cpu`` and ``market`` presets and the achieved
FLOP/s of a training step as a fraction of this machine's matrix-multiply peak, all measured
in one run (issue 5). Synthetic tensors stand in for data so only the model is timed.

    python bench/bench_train_speed.py [--device cuda] [--market-steps 2]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from dpg.config import cpu, market
from dpg.discriminator import ImageDiscriminator
from dpg.model import DisentangledPersonModel
from dpg.training import stage1_step


def fake_batch(cfg, n, device):
    h, w = cfg.model.height, cfg.model.width
    g = torch.Generator().manual_seed(0)
    kp = torch.rand(n, 18, 3, generator=g) * torch.tensor([w - 1.0, h - 1.0, 1.0])
    kp[..., 2] = 1
    return {
        "image": (torch.rand(n, 3, h, w, generator=g) * 2 - 1).to(device),
        "mask": (torch.rand(n, 1, h, w, generator=g) > 0.6).float().to(device),
        "rois": torch.tensor([[4.0, 4.0, w - 8.0, h - 8.0]]).repeat(n, 7, 1).to(device),
        "roi_vis": torch.ones(n, 7, device=device),
        "keypoints": kp.to(device),
    }


def matmul_peak(device, size=2048, reps=10) -> tuple[float, str]:
    """FLOP/s of a square fp32 matrix product, and its precision. On CUDA the product runs in
    TF32 when cuDNN's convolutions do (PyTorch's default: ``cudnn.allow_tf32``), the bulk of
    the step's FLOPs (its few ``nn.Linear`` products stay fp32); a plain fp32 peak there sat
    below what the step's TF32 convolutions achieved (a "fraction" of 2.1 on an H100)."""
    tf32 = device.type == "cuda" and torch.backends.cudnn.allow_tf32
    if device.type == "cuda":
        size = 8192  # large enough to reach the tensor cores' rate
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
        a @ b
        sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        return 2 * size**3 * reps / (time.perf_counter() - t), "tf32" if tf32 else "fp32"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_speed(cfg, device, steps: int, batch: int) -> tuple[float, float]:
    """(steps/s, FLOP per step) with the discriminator on, as in the adversarial phase."""
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg).to(device)
    disc = ImageDiscriminator(cfg.model.disc_channels, (cfg.model.height, cfg.model.width)).to(device)
    og = torch.optim.Adam(model.stage1.parameters(), 1e-5)
    od = torch.optim.Adam(disc.parameters(), 1e-5)
    b = fake_batch(cfg, batch, device)
    with FlopCounterMode(display=False) as fc:
        stage1_step(model.stage1, disc, og, od, b, cfg.stage1, 10**9, amp=False)
    flops = fc.get_total_flops()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        stage1_step(model.stage1, disc, og, od, b, cfg.stage1, 10**9, amp=False)
    sync(device)
    return steps / (time.perf_counter() - t), flops


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--cpu-steps", type=int, default=5)
    p.add_argument("--market-steps", type=int, default=1)
    args = p.parse_args()
    device = torch.device(args.device)
    peak, precision = matmul_peak(device)
    print(f"FIGURE train.matmul_peak_gflops: {peak / 1e9:.1f}  ({device}, {precision}, {torch.get_num_threads()} threads)")
    for name, cfg, steps in (("cpu", cpu(), args.cpu_steps), ("market", market(), args.market_steps)):
        bs = cfg.stage1.batch_size
        sps, flops = step_speed(cfg, device, steps, bs)
        achieved = sps * flops
        print(f"FIGURE train.{name}.steps_per_s: {sps:.3f}  (batch {bs}, {flops / 1e9:.1f} GFLOP per step)")
        print(f"FIGURE train.{name}.fraction_of_peak: {achieved / peak:.3f}  ({achieved / 1e9:.1f} GFLOP/s achieved)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
