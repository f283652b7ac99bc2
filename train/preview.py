"""Distil a preview decoder for slider drags from a model's stage-I decoder (``dpg.preview``).

    python -m train.preview --data /work/prepared/pedestrians --minutes 100
    # -> assets/dpg-demo-preview.safetensors, beside the bundled model

1. Teacher pictures: ``--samples`` inputs the editor can show, each drawn on its own: a
   foreground, a background and a pose, each half the time a real person's (``--data``, a
   prepared folder: its training crops encoded) and half the time sampled from noise at
   0.6-1.6 of the prior's scale, half of those moved along the principal sliders (up to
   ``SLIDER_RANGE``), and 40% of the appearances moved along named sliders where the model
   has them. The full decoder draws each (cached under ``--cache`` by the model's
   ``checkpoint_id``: a rerun starts training at once).
2. A decoder of the same architecture at ``--channels`` (``dpg.preview.narrow_decoder``,
   started from the teacher's first channels) learns them: L1 to the teacher's picture,
   Adam, batch ``--batch``, the rate falling from ``--lr`` to 1/50 of it on a cosine over
   ``--steps`` or ``--minutes``, whichever ends first. The last 512 pictures are held out;
   their PSNR against the teacher is printed every ``--log-every`` steps and saved in the
   file's header. The file is written at each log line, so a stopped run keeps its work.

Without ``--data`` only sampled people are used (the procedural model, a quick test).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dpg.app.session import SLIDER_RANGE
from dpg.data.market import read_split
from dpg.directions import checkpoint_id, directions_for
from dpg.errors import UserError
from dpg.inference import PersonGenerator
from dpg.preview import decoder_id, load_state, narrow_decoder, preview_path, save_preview
from train.cli import user_errors

HELD_OUT = 512


@torch.no_grad()
def encode_real(gen: PersonGenerator, data: str, n: int, seed: int) -> dict[str, torch.Tensor]:
    """Up to ``n`` training crops of a prepared folder as factor values ``{fg, bg, pose}``."""
    _, images, keypoints, _ = read_split(data, "train", n, seed)
    if len(images) == 0:
        raise UserError(f"{data} has no training crops: run dpg prepare, or leave out --data")
    parts = [gen.encode(images[i : i + 100], keypoints[i : i + 100]) for i in range(0, len(images), 100)]
    out = {"fg": torch.cat([p.fg for p in parts]), "pose": torch.cat([p.keypoints for p in parts])}
    if parts[0].bg is not None:
        out["bg"] = torch.cat([p.bg for p in parts])
    return out


class InputDrawer:
    """Random decoder inputs like the editor's (module doc, step 1), one person at a time."""

    def __init__(self, gen: PersonGenerator, real: dict | None, seed: int):
        self.gen, self.real = gen, real or {}
        self.named = directions_for(gen)
        self.rng = torch.Generator().manual_seed(seed)

    def _u(self) -> float:
        return float(torch.rand((), generator=self.rng))

    def factor(self, f: str) -> torch.Tensor:
        """One value ``[1, K]`` of factor ``f`` (keypoints ``[1, 18, 3]`` for the pose)."""
        gen = self.gen
        if f in self.real and self._u() < 0.5:
            v = self.real[f][int(torch.randint(len(self.real[f]), (), generator=self.rng))][None]
        else:
            mapping = gen._mapping(f)
            z = mapping.noise(1, self.rng).to(gen.device) * (0.6 + self._u())
            if self._u() < 0.5:
                amounts = (torch.rand(3, generator=self.rng) * 2 - 1) * SLIDER_RANGE
                z = z + gen.shift(f, amounts.numpy())
            v = mapping(z)
            if f == "pose":
                v = gen.model.decode_pose(v)
        if f != "pose" and self.named.get(f) and self._u() < 0.4:
            for d in self.named[f]:
                if self._u() < 0.3:
                    v = v + d.vector.to(v.device) * ((self._u() * 2 - 1) * SLIDER_RANGE * d.scale)
        return v

    @torch.no_grad()
    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embedding [n, E], keypoints [n, 18, 3])``."""
        fg = torch.cat([self.factor("fg") for _ in range(n)])
        kp = torch.cat([self.factor("pose") for _ in range(n)])
        if "bg" in self.gen.factors:
            fg = torch.cat([fg, torch.cat([self.factor("bg") for _ in range(n)])], 1)
        return fg, kp


@torch.no_grad()
def teacher_pictures(gen: PersonGenerator, drawer: InputDrawer, n: int, batch: int = 32) -> dict[str, torch.Tensor]:
    """``n`` inputs and the full decoder's pictures of them (fp16 ``[n, 3, H, W]``)."""
    stage1 = gen.model.stage1
    embs, kps, pictures = [], [], []
    t0 = time.time()
    for start in range(0, n, batch):
        if start and start % (batch * 64) == 0:  # minutes on a CPU: say how far it is
            print(f"# teacher pictures: {start} of {n} in {time.time() - t0:.0f} s", flush=True)
        emb, kp = drawer.batch(min(batch, n - start))
        pictures.append(stage1.decoder(emb, stage1.pose_map(kp).to(emb.dtype)).half().cpu())
        embs.append(emb.cpu())
        kps.append(kp.cpu())
    return {"emb": torch.cat(embs), "kp": torch.cat(kps), "target": torch.cat(pictures)}


@torch.no_grad()
def psnr(student, pose_map, emb, kp, target, batch: int = 64) -> tuple[float, float]:
    """Mean and 5th-percentile PSNR (dB, [-1, 1] images) of ``student`` against ``target``."""
    values = []
    for i in range(0, len(emb), batch):
        out = student(emb[i : i + batch], pose_map(kp[i : i + batch])).clamp(-1, 1)
        mse = ((out - target[i : i + batch].float().clamp(-1, 1)) ** 2).flatten(1).mean(1)
        values.append(10 * torch.log10(4 / mse.clamp_min(1e-10)))
    v = torch.cat(values)
    return float(v.mean()), float(v.quantile(0.05))


@user_errors
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="the model (default: the bundled one)")
    p.add_argument("--data", default=None, help="a prepared folder of real people (dpg prepare); sampled people only when omitted")
    p.add_argument("--out", default=None, help="output .safetensors (default: beside the checkpoint, <stem>-preview)")
    p.add_argument("--channels", type=int, default=12, help="the preview's channels (default 12; the model's decoder has 32)")
    p.add_argument("--samples", type=int, default=16000, help="teacher pictures (default 16000, 512 of them held out)")
    p.add_argument("--real", type=int, default=8000, help="training crops of --data to encode (default 8000)")
    p.add_argument("--steps", type=int, default=100000, help="most training steps (default 100000)")
    p.add_argument("--minutes", type=float, default=60.0, help="most training minutes (default 60)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--init", default=None, help="start from this preview file (same channels) instead of the teacher's slice")
    p.add_argument("--cache", default="/tmp/dpg-preview-cache", help="where the teacher pictures are kept")
    p.add_argument("--log-every", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    for name in ("channels", "samples", "steps", "batch", "log_every"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if args.samples <= HELD_OUT:
        raise UserError(f"--samples must be above the {HELD_OUT} held out, not {args.samples}")
    if not (args.lr > 0 and args.minutes > 0):
        raise UserError("--lr and --minutes must be positive")
    if args.data and not Path(args.data, "prepare-index.csv").is_file():
        raise UserError(f"{args.data} is not a prepared folder (no prepare-index.csv): run dpg prepare, or leave out --data")
    t0 = time.time()
    gen = PersonGenerator.from_checkpoint(args.checkpoint, args.device)
    teacher = gen.model.stage1.decoder
    ckid = checkpoint_id(gen.model)
    teacher_id = decoder_id(gen.model)  # what the file is made for (the hash, once)
    out = Path(args.out) if args.out else preview_path(gen.checkpoint)
    if args.channels >= teacher.bottom[0]:
        raise UserError(f"--channels must be below the model's {teacher.bottom[0]} to be any faster, not {args.channels}")
    print(f"# model {gen.checkpoint} (id {ckid}) -> {out}", flush=True)

    cache = Path(args.cache) / f"{ckid}-{args.samples}-{args.real if args.data else 0}-{args.seed}.pt"
    if cache.is_file():
        data = torch.load(cache, weights_only=True)
        print(f"# {len(data['emb'])} teacher pictures from {cache}", flush=True)
    else:
        if args.data:
            print(f"# encoding up to {args.real} training crops of {args.data}", flush=True)
        real = encode_real(gen, args.data, args.real, args.seed) if args.data else None
        data = teacher_pictures(gen, InputDrawer(gen, real, args.seed), args.samples)
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(data, cache)
        print(f"# {args.samples} teacher pictures in {time.time() - t0:.0f} s", flush=True)
    emb, kp, target = (data[k].to(gen.device) for k in ("emb", "kp", "target"))
    held = (emb[-HELD_OUT:], kp[-HELD_OUT:], target[-HELD_OUT:])
    emb, kp, target = emb[:-HELD_OUT], kp[:-HELD_OUT], target[:-HELD_OUT]

    student = narrow_decoder(teacher, args.channels).to(gen.device)
    if args.init:
        try:
            student.load_state_dict(load_state(args.init))
        except RuntimeError:
            raise UserError(
                f"{args.init} is not a {args.channels}-channel preview of a model shaped like this one: "
                "pass its --channels, or leave out --init"
            ) from None
    pose_map = gen.model.stage1.pose_map
    opt = torch.optim.Adam(student.parameters(), lr=args.lr, betas=(0.9, 0.99))
    rng = torch.Generator().manual_seed(args.seed)
    start_psnr = psnr(student, pose_map, *held)
    print(f"# start: held-out PSNR {start_psnr[0]:.2f} dB (5th percentile {start_psnr[1]:.2f})", flush=True)
    start, step = time.time(), 0

    def save(final: bool = False) -> tuple[float, float]:
        student.eval()
        quality = psnr(student, pose_map, *held)
        student.train()
        facts = {
            "steps": step,
            "minutes": round((time.time() - start) / 60, 1),
            "batch": args.batch,
            "samples": args.samples - HELD_OUT,
            "psnr_db": round(quality[0], 2),
            "psnr_p5_db": round(quality[1], 2),
            "start_psnr_db": round(start_psnr[0], 2),
        }
        save_preview(out, student, teacher_id, facts)
        print(
            f"step {step} {facts['minutes']} min: held-out PSNR {quality[0]:.2f} dB (5th percentile {quality[1]:.2f})"
            + (" (final)" if final else ""),
            flush=True,
        )
        return quality

    student.train()
    while step < args.steps:
        done = max(step / args.steps, (time.time() - start) / (args.minutes * 60))
        if done >= 1:
            break
        lr = args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * done)))
        for group in opt.param_groups:
            group["lr"] = lr
        i = torch.randint(len(emb), (args.batch,), generator=rng).to(gen.device)
        with torch.no_grad():
            pm = pose_map(kp[i]).to(emb.dtype)  # [B, 18, H, W]
        loss = F.l1_loss(student(emb[i], pm), target[i].float())
        if not np.isfinite(loss.item()):  # the file keeps the last good weights
            raise UserError(f"the loss is {loss.item()} at step {step}: lower --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % args.log_every == 0:
            save()
    save(final=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
