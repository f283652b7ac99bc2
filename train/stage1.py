"""Stage I: train the disentangled reconstruction network (section 3.1, Eq. 1-2).

    python -m train.stage1 --preset cpu                      # procedural people, this machine
    python -m train.stage1 --preset market --data MARKET     # Market-1501 root
    python -m train.stage1 --preset cpu --init assets/dpg-demo.safetensors --set stage1.lr=7.5e-5   # continue one
    torchrun --nproc_per_node 4 -m train.stage1 --preset market --data MARKET

The run folder resumes where it stopped (``--fresh`` to start over) and ends with
``stage1.safetensors``; sample grids show, per column, a person A, its reconstruction, and A
with the foreground, the background, then the pose of person B, then B.
"""

from __future__ import annotations

import sys

import torch
from torchvision.utils import save_image

from dpg.checkpoint import config_json
from dpg.data.sources import stage1_dataset
from dpg.discriminator import build_discriminator
from dpg.model import DisentangledPersonModel
from dpg.training import stage1_step
from train.cli import parser, resolve_config, user_errors
from train.dist import Dist
from train.run import Diverged, Run, init_from, kept_init_facts, stage_steps
from train.sampler import StepSampler, loader, lr_at, set_lr, to_device


@torch.no_grad()
def swap_grid(net, a: dict, b: dict) -> torch.Tensor:
    """Rows: A, recon(A), A with fg(B), A with bg(B), A in pose(B), B. ``[6N, 3, H, W]`` in [0, 1]."""
    fa, ba = net.encode(a["image"], a["mask"], a["rois"], a["roi_vis"])
    fb, bb = net.encode(b["image"], b["mask"], b["rois"], b["roi_vis"])
    rows = [a["image"], net.decode(fa, ba, a["keypoints"]), net.decode(fb, ba, a["keypoints"])]
    if ba is not None:
        rows.append(net.decode(fa, bb, a["keypoints"]))
    rows += [net.decode(fa, ba, b["keypoints"]), b["image"]]
    return (torch.cat(rows).clamp(-1, 1) + 1) / 2


def _start_steps(meta: dict) -> dict:
    """The stage-I steps a warm start already had (a continuation counts them too); a
    rotating checkpoint's header says ``step``."""
    steps = stage_steps(meta, "stage1", meta.get("step", "0"))
    return {"steps": int(steps) if steps.isdigit() else 0}


@user_errors
def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--poses", default=None, help="annotation CSV of real poses: half the procedural people take them")
    p.add_argument(
        "--init", default=None, metavar="PATH", help="start from this checkpoint's stage I (a warm start; the discriminator starts afresh)"
    )
    args = p.parse_args(argv)
    cfg = resolve_config(args)
    if args.dry_run:
        print(config_json(cfg))
        return 0
    d = Dist(args.device)
    tc, m = cfg.stage1, cfg.model
    torch.manual_seed(cfg.run.seed)  # identical initial weights on every rank
    model = DisentangledPersonModel(cfg)
    if args.init:
        init_from(model, args.init, ["stage1"])
    model.to(d.device)
    disc = build_discriminator(tc.discriminator, m.disc_channels, (m.height, m.width)).to(d.device)
    if cfg.run.channels_last:  # NHWC weights: the convolutions then run NHWC (inputs follow)
        model.stage1.to(memory_format=torch.channels_last)
        disc.to(memory_format=torch.channels_last)
    if tc.freeze_encoders:  # the embeddings stay as they were: no gradient, no update
        for part in (model.stage1.stem, model.stage1.foreground, model.stage1.background):
            if part is not None:
                part.requires_grad_(False)
    if tc.freeze_decoder:  # gradients still flow through it to the encoders; its weights stay
        model.stage1.decoder.requires_grad_(False)
    net = d.wrap(model.stage1)
    opt_g = torch.optim.Adam([q for q in model.stage1.parameters() if q.requires_grad], tc.lr, betas=tc.betas)
    opt_d = torch.optim.Adam(disc.parameters(), tc.lr, betas=tc.betas)
    run = Run(args.out or f"runs/stage1-{cfg.name}", cfg, d.main, not args.no_progress)

    start = 0
    if not args.fresh:
        start, _ = run.resume(model, ["stage1"], {"g": opt_g, "d": opt_d}, {"discriminator": disc})
        if start:
            print(f"resumed from step {start}", flush=True)
    before = kept_init_facts(run.dir, args.init, args.fresh, _start_steps, start > 0, d.main) if args.init else {"steps": 0}

    data = stage1_dataset(cfg, args.data, "train", args.poses)
    held = stage1_dataset(cfg, args.data, "val")
    n = 8
    fixed = [to_device(torch.utils.data.default_collate([held[i + k * n] for i in range(n)]), d.device) for k in (0, 1)]
    sampler = StepSampler(len(data), tc.batch_size, cfg.run.seed, start, tc.steps, d.rank, d.world)

    def save(done: int) -> None:
        run.save(done, model, ["stage1"], {"g": opt_g, "d": opt_d}, {"discriminator": disc.state_dict()})

    run.start(start, tc.steps)
    done = start
    try:
        for step, batch in zip(range(start, tc.steps), loader(data, sampler, cfg.run.workers, d.device)):
            lr = lr_at(tc.lr, step, tc.lr_halve_every)
            set_lr(opt_g, lr)
            set_lr(opt_d, lr)
            stats = stage1_step(net, disc, opt_g, opt_d, to_device(batch, d.device), tc, step, cfg.run.amp, d.average_grads)
            run.log(step, stats, cfg.run.log_every)
            done = step + 1
            stop = run.end_of_step(done, tc.steps, save)
            if d.main and (done % cfg.run.sample_every == 0 or done == tc.steps or stop):
                model.eval()
                save_image(swap_grid(model.stage1, *fixed), run.dir / "samples" / f"step-{done:07d}.png", nrow=n)
                model.train()
            if stop:
                break
    except Diverged as err:
        return run.diverged(err)
    run.close()
    extra = {"steps": before["steps"] + done} | ({"init": str(args.init), "init_steps": before["steps"]} if args.init else {})
    path = run.export(model, ["stage1"], "stage1.safetensors", extra=extra)
    if d.main:
        print(f"stage I done: {path}", flush=True)
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
