"""Distil a model's stage-II mappings into invertible flows (``dpg.mapping.FlowMapping``), so
that inversion takes milliseconds instead of seconds of L-BFGS (issue 21, docs/inversion.md).

    python -m train.flow --from assets/dpg-demo.safetensors --factors fg,bg,pose \
        --minutes 10 --out runs/flow/model.safetensors

Each named factor's flow ``Psi`` learns the model's mapping ``Phi`` by regression on the same
noise: ``z ~ N(0, noise_std^2)`` (fresh every step), loss ``||Psi(z) - Phi(z)||^2`` over the
mean ``||Phi(z)||^2`` (relative), Adam at ``--lr`` falling to 1/50 of it on a cosine over
``--steps`` or ``--minutes`` per factor, whichever ends first. ``Psi`` starts at the Gaussian
fit of ``Phi``'s draws. A regression keeps what the WGAN of stage II learnt (the pose
mapping's plausibility took 160,000 steps) and converges in minutes; where ``Phi`` folds noise
onto a thinner set than a bijection can, the error printed says how far ``Psi`` stays from it,
and the regression pulls ``Psi`` between the folds' modes: ``--swd W`` adds a sliced
Wasserstein distance between ``Psi``'s batch and another batch of ``Phi``'s draws, which asks
only for the same distribution (``--regress`` weighs the per-``z`` term; a continued run with
``--regress 0.1 --swd 1`` trades per-``z`` error for a closer distribution).
Stage II can go on from the result by its own WGAN (``train.stage2 --init-stage2 OUT --set
mapping.flow=...``).

The output is the whole model (stage I, pose auto-encoder, the other mappings and every critic
copied), fp16 unless ``--full``, its header the input's facts plus per factor the held-out
relative error (2,048 fixed draws) and the steps.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace

import torch

from dpg import checkpoint
from dpg.config import check, flow_factors
from dpg.errors import UserError
from dpg.mapping import FlowMapping
from dpg.model import FACTORS, DisentangledPersonModel
from train.cli import user_errors

HELD_OUT = 2048
PROJECTIONS = 128  # random directions per sliced-Wasserstein estimate


def relative_error(psi, phi, z: torch.Tensor) -> float:
    """Mean ``||Psi(z) - Phi(z)|| / ||Phi(z)||`` over the rows of ``z`` ``[N, K]``."""
    with torch.no_grad():
        target = phi(z)
        return float(((psi(z) - target).norm(dim=1) / target.norm(dim=1).clamp_min(1e-8)).mean())


def teacher_pairs(phi, n: int, g: torch.Generator, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` draws ``z`` ``[n, K]`` and ``Phi(z)`` ``[n, K]``, computed once: the teacher's
    forward costs more than the student's step, so a bank of pairs makes each step cheaper."""
    z = phi.noise(n, g)
    with torch.no_grad():
        return z, torch.cat([phi(z[i : i + chunk]) for i in range(0, n, chunk)])


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int, g: torch.Generator) -> torch.Tensor:
    """Squared sliced Wasserstein-2 distance between the rows of ``a`` and ``b`` (both ``[B, K]``):
    both projected on ``projections`` random unit directions ``[K, P]``, each column sorted, the
    mean squared gap between the sorted columns. Needs no critic, so it cannot swing as a WGAN's."""
    d = torch.randn(a.shape[1], projections, generator=g)
    d = d / d.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a @ d, dim=0)
    pb, _ = torch.sort(b @ d, dim=0)
    return (pa - pb).pow(2).mean()


def distil(
    psi,
    phi,
    steps: int,
    minutes: float,
    lr: float,
    batch: int,
    seed: int,
    log_every: int = 500,
    pairs: int = 0,
    fresh: bool = True,
    regress: float = 1.0,
    swd: float = 0.0,
) -> dict:
    """Train ``psi`` to match ``phi`` (module doc). Returns ``{steps, error, swd}`` (held out).
    ``pairs``: draw batches from a bank of that many teacher pairs instead of fresh noise;
    ``fresh``: start ``psi`` at the Gaussian fit (else go on from its weights); ``regress`` and
    ``swd``: the weights of the per-``z`` regression and of the sliced Wasserstein distance
    between ``Psi``'s batch and another batch of ``Phi``'s draws (both relative to the mean
    ``||Phi(z)||^2 / K``): where ``Phi`` folds, the regression pulls ``Psi`` to the folds'
    average, between the modes, while the distance asks only for the same distribution."""
    g = torch.Generator().manual_seed(seed)
    held = phi.noise(HELD_OUT, torch.Generator().manual_seed(seed + 1))
    phi.eval().requires_grad_(False)
    if fresh:
        with torch.no_grad():
            psi.fit_gaussian(phi(phi.noise(8192, g)))
    bank = teacher_pairs(phi, pairs, g) if pairs else None
    psi.train()
    opt = torch.optim.Adam(psi.parameters(), lr=lr)
    start, done = time.monotonic(), 0
    for step in range(steps):
        frac = max(step / steps, (time.monotonic() - start) / (60 * minutes))
        if frac >= 1:
            break
        for group in opt.param_groups:
            group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        if bank is None:
            z = phi.noise(batch, g)
            with torch.no_grad():
                target = phi(z)
        else:
            idx = torch.randint(len(bank[0]), (batch,), generator=g)
            z, target = bank[0][idx], bank[1][idx]
        out, scale = psi(z), target.pow(2).sum(1).mean()
        loss = regress * (out - target).pow(2).sum(1).mean() / scale
        if swd:
            if bank is None:
                with torch.no_grad():
                    other = phi(phi.noise(batch, g))
            else:
                other = bank[1][torch.randint(len(bank[0]), (batch,), generator=g)]
            loss = loss + swd * sliced_wasserstein(out, other, PROJECTIONS, g) * out.shape[1] / scale
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if not math.isfinite(float(loss.detach())):
            raise UserError(f"the distillation diverged at step {done} (loss {float(loss)}); lower --lr")
        if done % log_every == 0:
            err, dist = relative_error(psi.eval(), phi, held), held_out_swd(psi, phi, held, seed)
            print(f"  step {done} loss {float(loss.detach()):.5f} held-out error {err:.4f} sliced distance {dist:.5f}", flush=True)
            psi.train()
    psi.eval()
    return {"steps": done, "error": relative_error(psi, phi, held), "swd": held_out_swd(psi, phi, held, seed)}


def held_out_swd(psi, phi, z: torch.Tensor, seed: int) -> float:
    """The sliced distance between ``Psi`` and ``Phi`` on the held-out draws (``Phi`` on a
    shifted half, so a perfect copy still scores the sampling noise), relative as in ``distil``."""
    with torch.no_grad():
        half = len(z) // 2
        a, b = psi(z[:half]), phi(z[half:])
        g = torch.Generator().manual_seed(seed + 2)
        return float(sliced_wasserstein(a, b, 4 * PROJECTIONS, g) * a.shape[1] / b.pow(2).sum(1).mean())


@user_errors
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="source", required=True, help="a whole model checkpoint (stage II included)")
    p.add_argument(
        "--teacher",
        default=None,
        help="the model whose mappings the flows learn (default: --from's; a flow of --from goes on from its weights)",
    )
    p.add_argument("--factors", default="fg,bg,pose", help="comma-separated factors whose mapping becomes a flow")
    p.add_argument("--out", required=True, help="the new model's .safetensors")
    p.add_argument("--steps", type=int, default=20000, help="at most this many steps per factor")
    p.add_argument("--minutes", type=float, default=5.0, help="at most this many minutes per factor")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lipschitz", type=float, default=None, help="each residual branch's bound (default: the config's)")
    p.add_argument("--pairs", type=int, default=0, help="learn from a bank of this many teacher pairs (0: fresh noise each step)")
    p.add_argument("--blocks", type=int, default=None, help="residual blocks per flow (default: the config's)")
    p.add_argument("--hidden", type=int, default=None, help="the flows' branch width (default: the factor's mapping width)")
    p.add_argument("--regress", type=float, default=1.0, help="weight of the per-z regression on the teacher")
    p.add_argument(
        "--swd", type=float, default=0.0, help="weight of the sliced Wasserstein distance to the teacher's draws (distribution, not per z)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full", action="store_true", help="write fp32 weights (default fp16, as shipped)")
    args = p.parse_args(argv)
    if args.steps < 1 or not args.minutes > 0 or not args.lr > 0 or args.batch < 1 or args.pairs < 0:
        raise UserError("--steps and --batch must be at least 1, --minutes and --lr above 0, --pairs at least 0")
    if not (args.regress >= 0 and args.swd >= 0 and args.regress + args.swd > 0):
        raise UserError("--regress and --swd must be at least 0, and not both 0")
    old, meta = checkpoint.load_model(args.source, "cpu", ["stage2"])
    teacher = checkpoint.load_model(args.teacher, "cpu", ["stage2"])[0] if args.teacher else old
    wanted = flow_factors(args.factors)
    bad = [f for f in wanted if f not in old.factors]
    if bad or not wanted:
        raise UserError(f"--factors {args.factors!r}: this model's factors are {','.join(old.factors)}")
    cfg = old.cfg
    flows = [f for f in FACTORS if f in set(flow_factors(cfg.mapping.flow)) | set(wanted)]
    mapping_cfg = replace(cfg.mapping, flow=",".join(flows))
    if args.lipschitz is not None:
        mapping_cfg = replace(mapping_cfg, flow_lipschitz=args.lipschitz)
    if args.blocks is not None:
        mapping_cfg = replace(mapping_cfg, flow_blocks=args.blocks)
    if args.hidden is not None:  # the distilled factors' width (their FC ResNets' tensors are not loaded)
        mapping_cfg = replace(mapping_cfg, **{f"{f}_hidden": args.hidden for f in wanted})
    try:
        new_cfg = replace(cfg, mapping=mapping_cfg)
        check(new_cfg)
    except ValueError as err:
        raise UserError(str(err)) from None
    torch.manual_seed(args.seed)
    new = DisentangledPersonModel(new_cfg)
    held = [s for s in meta.get("stages", "").split(",") if s]
    # every tensor but the distilled mappings' is the input's
    distilled = tuple(f"stage2.mappings.{f}." for f in wanted)
    state = {k: v for k, v in old.state_dict().items() if not k.startswith(distilled)}
    missing, unexpected = new.load_state_dict(state, strict=False)
    stray = [k for k in missing if not k.startswith(distilled)]
    if stray or unexpected:
        raise UserError(f"{args.source}: its tensors do not fit its own config ({(stray + unexpected)[:3]}); the file is damaged")
    torch.set_grad_enabled(True)
    facts = {k: v for k, v in meta.items() if k not in ("format", "config", "stages")}
    for f in wanted:
        phi, start = teacher.stage2.mappings[f], old.stage2.mappings[f]
        if isinstance(phi, FlowMapping):
            raise UserError(
                f"the {f} mapping of {args.teacher or args.source} is a flow already: pass the model it was distilled from as --teacher"
            )
        fresh = not isinstance(start, FlowMapping)
        if not fresh:  # --from's own flow goes on learning (a continued distillation)
            try:
                new.stage2.mappings[f].load_state_dict(start.state_dict())
            except RuntimeError:
                raise UserError(
                    f"--blocks or --hidden differs from the {f} flow of {args.source}: leave them out to continue that flow"
                ) from None
        print(f"[flow] {f}: distilling {type(phi).__name__} into a flow" + ("" if fresh else " (continued)"), flush=True)
        out = distil(
            new.stage2.mappings[f], phi, args.steps, args.minutes, args.lr, args.batch, args.seed,
            pairs=args.pairs, fresh=fresh, regress=args.regress, swd=args.swd,
        )  # fmt: skip
        print(f"[flow] {f}: {out['steps']} steps, held-out relative error {out['error']:.4f}, sliced distance {out['swd']:.5f}", flush=True)
        facts[f"flow_{f}_steps"] = str(out["steps"] + (0 if fresh else int(facts.get(f"flow_{f}_steps", 0))))
        facts[f"flow_{f}_error"] = f"{out['error']:.5f}"
        facts[f"flow_{f}_swd"] = f"{out['swd']:.5f}"
    checkpoint.save_weights(args.out, new.eval(), new_cfg, held, half=not args.full, extra=facts)
    print(f"[flow] wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
