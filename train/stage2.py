"""Stage II: learn a mapping from Gaussian noise to each factor's embeddings (section 3.2,
Eq. 4-5), on a frozen stage I.

    python -m train.stage2 --preset cpu --init runs/stage1-cpu/stage1.safetensors \
        --init runs/pose_ae-cpu/pose_ae.safetensors --keypoints market-annotation-train.csv

    # continue a shipped model's pose mapping only (the others are kept as they are)
    python -m train.stage2 --init assets/dpg-demo.safetensors --init-stage2 assets/dpg-demo.safetensors \
        --factors pose --keypoints market-annotation-train.csv

    # or train a wider pose mapping from scratch beside the shipped foreground and background ones
    python -m train.stage2 --init assets/dpg-demo.safetensors --init-stage2 assets/dpg-demo.safetensors \
        --factors pose --restart pose --set mapping.pose_hidden=512 --keypoints market-annotation-train.csv

The real embeddings are computed once with the frozen encoders (images and their mirrors;
pose codes of real and procedural poses and their mirrors) and cached in the run folder as
``embeddings.safetensors``. The three mapping/critic pairs then train in one loop, each with
``critic_iters`` critic steps per mapping step; ``--factors`` trains a subset (the others keep
the weights they start with, e.g. from ``--init-stage2``, a warm start). The result,
``model.safetensors``, holds the whole model (stage I, pose auto-encoder, stage II): what the
app and ``dpg`` commands load.
"""

from __future__ import annotations

import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from dpg.checkpoint import config_json, read_metadata
from dpg.data.sources import flip_batch, pose_keypoints, stage1_dataset
from dpg.directions import checkpoint_id
from dpg.errors import UserError
from dpg.keypoints import flip_keypoints
from dpg.model import DisentangledPersonModel
from dpg.training import autocast, critic_step, mapping_step
from train.cli import parser, resolve_config, user_errors
from train.dist import Dist
from train.run import Diverged, Run, init_from, kept_init_facts, stage_steps
from train.sampler import StepSampler, loader, lr_at, set_lr, step_generator, to_device


@torch.no_grad()
def real_embeddings(model, cfg, data_root, csvs, procedural, device, workers, factors=("fg", "bg", "pose")) -> dict:
    """Encode ``embedding_samples`` training people (and mirrors) and the pose set (and mirrors),
    for ``factors`` only (the images are not encoded at all when only the pose is asked for)."""
    m, n = cfg.model, cfg.stage2.embedding_samples
    out = {}
    if "pose" in factors:
        kp = pose_keypoints(cfg, csvs, procedural, "train")
        kp = torch.cat([kp, flip_keypoints(kp, m.width)]).to(device)
        out["pose"] = torch.cat([model.encode_pose(c).cpu() for c in kp.split(4096)])
    if not {"fg", "bg"} & set(factors):
        return out
    data = stage1_dataset(cfg, data_root, "train", raised_arms=False)  # the photos' people only
    batch = 64
    sampler = StepSampler(len(data), batch, cfg.run.seed + 1, 0, (min(n, len(data)) + batch - 1) // batch)
    fg, bg = [], []
    for b in loader(data, sampler, workers, device):
        b = to_device(b, device)
        for view in (b, flip_batch(b, m.width)):
            # bf16 where it pays (run.amp; on a CPU, the trainers' probe): the encoders are most
            # of this cache's minutes (x0.65 of fp32's time on an AVX-512 bf16 AMD EPYC, the
            # embeddings within 0.5%; bench_train_speed.py prints both); the cache holds fp32
            with autocast(device, cfg.run.amp):
                f, g = model.stage1.encode(view["image"], view["mask"], view["rois"], view["roi_vis"])
            fg.append(f.float().cpu())
            if g is not None:
                bg.append(g.float().cpu())
    out["fg"] = torch.cat(fg)
    if bg:
        out["bg"] = torch.cat(bg)
    return {f: v for f, v in out.items() if f in factors}


FACT_KEYS = ("pose_ae_steps", "stage1_steps", "stage2_steps", "data")


def training_facts(meta: dict) -> dict:
    """The training facts in a checkpoint header (steps per stage, data, continued steps, and
    ``train.flow``'s ``flow_<factor>_*`` of a distilled flow carried through a warm start)."""
    return {k: v for k, v in meta.items() if k in FACT_KEYS or (k.startswith("stage2_") and k.endswith("_steps")) or k.startswith("flow_")}


def warm_start_facts(run_dir, init: str, fresh: bool, resumed: bool = False, write: bool = True) -> dict:
    """The training facts of ``init`` as they were when this run folder first started from it
    (``train.run.kept_init_facts``)."""
    return kept_init_facts(run_dir, init, fresh, training_facts, resumed, write)


def optimizers(model, cfg, factors) -> dict:
    tc = cfg.stage2
    opts = {}
    for f in factors:
        for role, module in (("map", model.stage2.mappings[f]), ("critic", model.stage2.critics[f])):
            if tc.objective == "wgan":
                opts[f"{f}.{role}"] = torch.optim.RMSprop(module.parameters(), tc.lr)
            elif tc.objective == "wgan-gp":
                opts[f"{f}.{role}"] = torch.optim.Adam(module.parameters(), tc.lr, betas=tc.gp_betas)
            else:
                raise UserError(f"unknown stage2.objective {tc.objective!r}: use wgan or wgan-gp")
    return opts


@user_errors
def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--init", action="append", default=[], help="checkpoint(s) holding stage1 and pose_ae")
    p.add_argument("--keypoints", action="append", default=[], help="annotation CSV of real poses (repeatable)")
    p.add_argument("--procedural", type=int, default=20000, help="procedural poses for the pose factor")
    p.add_argument(
        "--init-stage2", default=None, metavar="PATH", help="start the mappings and critics from this checkpoint's stage II (a warm start)"
    )
    p.add_argument("--factors", default=None, help="comma-separated factors to train (default: all of the model's)")
    p.add_argument(
        "--restart",
        default=None,
        metavar="FACTORS",
        help="with --init-stage2: these factors start from scratch (their width may change, e.g. "
        "--set mapping.pose_hidden=512); the others are loaded",
    )
    args = p.parse_args(argv)
    cfg = resolve_config(args)
    if args.dry_run:
        print(config_json(cfg))
        return 0
    d = Dist(args.device)
    tc = cfg.stage2
    torch.manual_seed(cfg.run.seed)
    model = DisentangledPersonModel(cfg)
    need, supplied = {"stage1", "pose_ae"}, {}
    for path in args.init:
        meta = read_metadata(path)
        held = set(meta["stages"].split(",")) & need
        init_from(model, path, sorted(held))
        need -= held
        supplied |= {f"{stage}_steps": stage_steps(meta, stage) for stage in held}
    if need:
        raise UserError(f"stage II needs a frozen {' and '.join(sorted(need))}: pass --init with their checkpoints")
    factors = model.factors if args.factors is None else [f.strip() for f in args.factors.split(",") if f.strip()]
    unknown = [f for f in factors if f not in model.factors]
    if unknown or not factors:
        raise UserError(f"--factors {args.factors!r}: this model's factors are {','.join(model.factors)}")
    restart = [f.strip() for f in (args.restart or "").split(",") if f.strip()]
    if restart and not args.init_stage2:
        raise UserError("--restart goes with --init-stage2 (without it every factor starts from scratch)")
    if set(restart) - set(factors):
        raise UserError(f"--restart {args.restart!r}: a restarted factor must be trained; --factors is {','.join(factors)}")
    if args.init_stage2:
        init_from(model, args.init_stage2, ["stage2"], tuple(restart))
    model.to(d.device).eval()
    model.stage1.requires_grad_(False)
    model.pose_ae.requires_grad_(False)
    run = Run(args.out or f"runs/stage2-{cfg.name}", cfg, d.main, not args.no_progress)
    cache = run.dir / "embeddings.safetensors"
    # the cache is reused only for the same data and encoders: other --keypoints, --procedural,
    # or encoder weights (a retrained stage I or pose auto-encoder) re-encode. The encoders are
    # named by their tensors, not by the --init files' dates: a copied or touched file with the
    # same weights re-encoded for ten minutes
    encoders = [checkpoint_id(model.stage1), checkpoint_id(model.pose_ae)]
    source = json.dumps(
        {
            "data": args.data,
            "keypoints": args.keypoints,
            "procedural": args.procedural,
            "init": encoders,
            "samples": cfg.stage2.embedding_samples,
            "seed": cfg.run.seed,
        }
    )
    emb = {}
    if cache.exists() and not args.fresh:
        with safe_open(str(cache), "pt") as f:
            if (f.metadata() or {}).get("source") == source:
                emb = {k: f.get_tensor(k) for k in f.keys()}
    if not set(factors) <= set(emb):  # cached for other factors or data (or none yet): encode what is asked
        emb = real_embeddings(model, cfg, args.data, args.keypoints, args.procedural, d.device, cfg.run.workers, factors)
        if d.main:
            save_file(emb, str(cache), metadata={"source": source})
    emb = {k: v.to(d.device) for k, v in emb.items()}
    for f in factors:
        # a fresh flow starts at its embeddings' Gaussian fit (resuming loads over it below)
        if hasattr(model.stage2.mappings[f], "fit_gaussian") and (not args.init_stage2 or f in restart):
            model.stage2.mappings[f].fit_gaussian(emb[f])
    opts = optimizers(model, cfg, factors)
    model.stage2.train()
    start = 0 if args.fresh else run.resume(model, ["stage2"], opts)[0]
    init_facts = warm_start_facts(run.dir, args.init_stage2, args.fresh, start > 0, d.main) if args.init_stage2 else {}
    run.start(start, tc.steps)
    done = start
    try:
        for step in range(start, tc.steps):
            g = step_generator(cfg.run.seed, step, d.rank)
            stats = {}
            for f in factors:
                mapping, critic = model.stage2.mappings[f], model.stage2.critics[f]
                for role in ("map", "critic"):
                    set_lr(opts[f"{f}.{role}"], lr_at(tc.lr, step, tc.lr_halve_every))
                real = emb[f]
                for _ in range(tc.critic_iters):
                    idx = torch.randint(len(real), (tc.batch_size,), generator=g).to(d.device)
                    z = mapping.noise(tc.batch_size, g, d.device)
                    s = critic_step(mapping, critic, opts[f"{f}.critic"], real[idx], z, tc, g)
                s.update(mapping_step(mapping, critic, opts[f"{f}.map"], mapping.noise(tc.batch_size, g, d.device)))
                stats.update({f"{f}_{k}": v for k, v in s.items() if k in ("w_dist", "mapping")})
            run.log(step, stats, cfg.run.log_every)
            done = step + 1
            if run.end_of_step(step + 1, tc.steps, lambda done: run.save(done, model, ["stage2"], opts)):
                break
    except Diverged as err:
        return run.diverged(err)
    run.close()
    facts = {"stage2_steps": done, "stage2_factors": ",".join(factors)}
    if args.init_stage2:
        # a continued model: the start's facts, plus this run's steps per factor trained
        # stage I and the pose auto-encoder are those --init loaded, which may not be --init-stage2's
        facts = {**init_facts, **supplied, "stage2_factors": ",".join(factors), "stage2_init": str(args.init_stage2)}
        for f in factors:
            key = f"stage2_{f}_extra_steps"
            if f in restart:  # trained from scratch here: its own count, nothing inherited
                facts.pop(key, None)
                facts[f"stage2_{f}_steps"] = str(done)
            else:
                facts[key] = str(int(init_facts.get(key, 0)) + done)
    path = run.export(model, ["stage1", "pose_ae", "stage2"], "model.safetensors", extra=facts)
    if d.main:
        print(f"stage II done: {path}", flush=True)
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
