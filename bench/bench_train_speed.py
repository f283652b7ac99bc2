"""Stage-I training speed: steps/s of the ``cpu`` and ``market`` presets and the achieved
FLOP/s of a training step as a fraction of this machine's matrix-multiply peak, all measured
in one run (issue 5); and stage II's embedding cache (``train.stage2.real_embeddings``: the
frozen encoders over every training person and its mirror), images a second in fp32 and under
bf16 autocast side by side. Synthetic tensors stand in for data so only the model is timed.

    python bench/bench_train_speed.py [--device cuda] [--market-steps 2] [--embeddings-only]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from dpg.config import cpu, market
from dpg.discriminator import ImageDiscriminator
from dpg.model import DisentangledPersonModel
from dpg.training import cpu_bf16_pays, stage1_step


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


def matmul_peak(device, size=2048, reps=10, dtype=torch.float32) -> tuple[float, str]:
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
        if dtype != torch.float32:
            size, reps = (size, reps) if device.type == "cuda" else (1024, 3)  # emulated bf16 is slow
        a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
        a @ b
        sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        name = "tf32" if tf32 and dtype == torch.float32 else str(dtype).removeprefix("torch.").replace("float32", "fp32")
        return 2 * size**3 * reps / (time.perf_counter() - t), name
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_speed(cfg, device, steps: int, batch: int, bf16: bool = False, channels_last: bool = False) -> tuple[float, float]:
    """(steps/s, FLOP per step) with the discriminator on, as in the adversarial phase;
    ``bf16`` under autocast, ``channels_last`` with NHWC weights and images."""
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg).to(device)
    disc = ImageDiscriminator(cfg.model.disc_channels, (cfg.model.height, cfg.model.width)).to(device)
    b = fake_batch(cfg, batch, device)
    if channels_last:
        model, disc = model.to(memory_format=torch.channels_last), disc.to(memory_format=torch.channels_last)
        b = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in b.items()}
    og = torch.optim.Adam(model.stage1.parameters(), 1e-5)
    od = torch.optim.Adam(disc.parameters(), 1e-5)
    ctx = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def step():
        with ctx():  # stage1_step's own autocast stays off (amp=False): this one decides
            stage1_step(model.stage1, disc, og, od, b, cfg.stage1, 10**9, amp=False)

    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps / (time.perf_counter() - t), flops


def embed_speed(cfg, device, batches: int, bf16: bool) -> float:
    """Images a second through the ``cfg`` model's encoders at batch 64, as stage II caches
    its real embeddings (no gradients; ``bf16``: under autocast)."""
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg).to(device).eval()
    b = fake_batch(cfg, 64, device)
    ctx = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    with torch.no_grad(), ctx():
        model.stage1.encode(b["image"], b["mask"], b["rois"], b["roi_vis"])  # warm-up
        sync(device)
        t = time.perf_counter()
        for _ in range(batches):
            model.stage1.encode(b["image"], b["mask"], b["rois"], b["roi_vis"])
        sync(device)
    return batches * 64 / (time.perf_counter() - t)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--cpu-steps", type=int, default=5)
    p.add_argument("--market-steps", type=int, default=1)
    p.add_argument("--no-bf16", action="store_true", help="skip the bf16 column (slow where the CPU emulates bf16)")
    p.add_argument("--embeddings-only", action="store_true", help="time stage II's embedding cache alone")
    args = p.parse_args()
    device = torch.device(args.device)
    fp32 = embed_speed(cpu(), device, 4, bf16=False)
    print(
        f"FIGURE train.embed.fp32.images_per_s: {fp32:.1f}  (stage II's embedding cache, cpu preset, batch 64, {torch.get_num_threads()} threads)"
    )
    if not args.no_bf16:
        bf16 = embed_speed(cpu(), device, 4, bf16=True)
        print(f"FIGURE train.embed.bf16.images_per_s: {bf16:.1f}  (x{bf16 / fp32:.2f} of fp32, same run)")
    if args.embeddings_only:
        return 0
    peak, precision = matmul_peak(device)
    print(f"FIGURE train.matmul_peak_gflops: {peak / 1e9:.1f}  ({device}, {precision}, {torch.get_num_threads()} threads)")
    bf16_peak, _ = matmul_peak(device, dtype=torch.bfloat16)
    print(f"FIGURE train.matmul_peak_bf16_gflops: {bf16_peak / 1e9:.1f}  ({device}, bf16)")
    print(
        f"# bf16 autocast on this {device.type}: the trainers' probe says "
        f"{'use it' if device.type == 'cuda' or cpu_bf16_pays() else 'stay in fp32'}"
    )
    for name, cfg, steps in (("cpu", cpu(), args.cpu_steps), ("market", market(), args.market_steps)):
        bs = cfg.stage1.batch_size
        variants = [("fp32", False, False), ("fp32_channels_last", False, True)]
        if not args.no_bf16:
            variants.append(("bf16", True, False))
        base = None
        for label, bf16, cl in variants:
            if name == "market" and label != "fp32":
                continue  # one variant of the big preset is enough on a CPU
            # one timed bf16 step on a CPU that emulates bf16 (it can take minutes)
            n = 1 if bf16 and device.type == "cpu" and not cpu_bf16_pays() else steps
            sps, flops = step_speed(cfg, device, n, bs, bf16, cl)
            achieved = sps * flops
            top = bf16_peak if bf16 else peak
            base = base or sps
            print(
                f"FIGURE train.{name}.{label}.steps_per_s: {sps:.3f}  (batch {bs}, {flops / 1e9:.1f} GFLOP per step, "
                f"x{sps / base:.2f} of fp32)"
            )
            print(
                f"FIGURE train.{name}.{label}.fraction_of_peak: {achieved / top:.3f}  ({achieved / 1e9:.1f} GFLOP/s achieved, "
                f"of the {'bf16' if bf16 else precision} peak)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
