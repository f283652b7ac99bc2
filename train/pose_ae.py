"""Stage I, pose branch: train the pose auto-encoder (section 3.1 "Pose branch", Eq. 3).

    python -m train.pose_ae --preset cpu --keypoints ../shared/data/market/market-annotation-train.csv

Poses come from annotation CSVs (``--keypoints``, repeatable; real Market-1501 or DeepFashion
poses) and from the procedural renderer's pose sampler (``--procedural N``), each with its
left-right mirror (the paper's flip augmentation). Rows without any joint are dropped.
"""

from __future__ import annotations

import sys

import torch

from dpg.checkpoint import config_json
from dpg.data.sources import pose_keypoints
from dpg.keypoints import flip_keypoints, pose_vector
from dpg.model import DisentangledPersonModel
from dpg.training import pose_ae_step
from train.cli import parser, resolve_config, user_errors
from train.dist import Dist
from train.run import Diverged, Run
from train.sampler import StepSampler, lr_at, set_lr


@user_errors
def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--keypoints", action="append", default=[], help="annotation CSV of real poses (repeatable)")
    p.add_argument("--procedural", type=int, default=20000, help="procedural poses to add (default 20000)")
    args = p.parse_args(argv)
    cfg = resolve_config(args)
    if args.dry_run:
        print(config_json(cfg))
        return 0
    d = Dist(args.device)
    tc, m = cfg.pose_ae_train, cfg.model
    kp = pose_keypoints(cfg, args.keypoints, args.procedural, "train")
    kp = torch.cat([kp, flip_keypoints(kp, m.width)])
    vectors = pose_vector(kp, m.height, m.width).to(d.device)  # [P, 54]
    torch.manual_seed(cfg.run.seed)
    model = DisentangledPersonModel(cfg).to(d.device)
    ae = d.wrap(model.pose_ae)
    opt = torch.optim.Adam(model.pose_ae.parameters(), tc.lr, betas=tc.betas)
    run = Run(args.out or f"runs/pose_ae-{cfg.name}", cfg, d.main, not args.no_progress)
    start = 0 if args.fresh else run.resume(model, ["pose_ae"], {"ae": opt})[0]
    sampler = StepSampler(len(vectors), tc.batch_size, cfg.run.seed, start, tc.steps, d.rank, d.world)
    run.start(start, tc.steps)
    done = start
    try:
        for step, idx in zip(range(start, tc.steps), sampler):
            set_lr(opt, lr_at(tc.lr, step, tc.lr_halve_every))
            stats = pose_ae_step(ae, opt, vectors[idx], tc.loss_weight)
            run.log(step, stats, cfg.run.log_every)
            done = step + 1
            if run.end_of_step(done, tc.steps, lambda done: run.save(done, model, ["pose_ae"], {"ae": opt})):
                break
    except Diverged as err:
        return run.diverged(err)
    run.close()
    path = run.export(model, ["pose_ae"], "pose_ae.safetensors", extra={"steps": done, "poses": len(vectors)})
    if d.main:
        print(f"pose auto-encoder done: {path}", flush=True)
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
