"""Inversion (section 4.4, after Lipton & Tripathi): the noise ``z`` whose mapping ``Phi(z)``
is closest to a factor's embedding, for inverse interpolation between two real people.

L-BFGS on ``||Phi(z) - e||^2`` from a few noise draws per person, in rounds of 100 iterations
until the residual ``||Phi(z) - e|| / ||e||`` is below ``tol``; then, where it is not, basin
hops: kick the best ``z`` by Gaussian noise of ``HOP_KICK`` times the noise's std, refit
``HOP_ITERS`` iterations, keep the result only if it is better. The pose is compared like with
like: the code of the keypoints ``z`` draws, ``E(D(Phi(z)))``, after three rounds on ``Phi(z)``
from the pool's draws nearest the target. An invertible mapping (``FlowMapping``) is inverted
exactly instead (``invert_flow``), with L-BFGS only where that misses ``tol``. Why each choice (Adam against L-BFGS, nearest starts,
one person at a time, the kick's size): docs/inversion.md, with the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dpg import losses
from dpg.training import autocast

# Basin hops: the kick's std as a fraction of the mapping's noise std, and the L-BFGS
# iterations of each refit (docs/inversion.md).
HOP_KICK = 0.5
HOP_ITERS = 300


@dataclass(frozen=True)
class Inversion:
    """Noise codes found for embeddings, with the residual ``||Phi(z) - e|| / ||e||`` per row."""

    z: dict[str, torch.Tensor]
    residual: dict[str, np.ndarray]


def fit(fn, z: torch.Tensor, target: torch.Tensor, iters: int, tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """L-BFGS on ``||fn(z) - target||^2`` from the starts ``z`` ``[S, K]`` of one person (one
    problem: the starts share the line search), in rounds of 100 iterations until the best
    start is within ``tol`` of the target's norm or ``iters`` are spent. Returns ``z`` and each
    start's relative residual ``[S]``."""
    z = z.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=1, max_iter=100, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (fn(z) - target).pow(2).sum()
        loss.backward()
        return loss

    for _ in range(max(1, iters // 100)):
        opt.step(closure)
        with torch.no_grad():
            rel = (fn(z) - target).norm(dim=1) / target.norm(dim=1).clamp_min(1e-8)  # [S]
        if float(rel.min()) < tol:
            break
    return z.detach(), rel


def invert(model, mappings: dict, factors, iters: int, tol: float, starts: int, pool: int, hops: int, device) -> Inversion:
    """``z`` for each factor in ``mappings`` (``{factor: MappingNetwork}`` of ``model``) of every
    person in ``factors`` (``dpg.model.Factors``), fitted one person at a time (``invert_one``).
    The model's weights are frozen meanwhile (gradients for ``z`` alone) and restored after."""
    zs, res = {}, {}
    params = list(model.parameters())
    flags = [q.requires_grad for q in params]
    model.requires_grad_(False)
    try:
        for f, mapping in mappings.items():
            near = None  # the pose's pool: draws [P, K] and their codes [P, K], shared by every person
            if f == "pose" and pool > starts and not hasattr(mapping, "inverse"):
                with torch.no_grad():
                    draws = mapping.noise(pool, torch.Generator().manual_seed(0)).to(device)
                    near = draws, mapping(draws)
            target = model.encode_pose(factors.keypoints) if f == "pose" else getattr(factors, f)
            found = [invert_one(model, f, mapping, e[None], iters, tol, starts, near, hops, device) for e in target.detach()]
            zs[f] = torch.cat([z for z, _ in found])
            res[f] = np.array([r for _, r in found])
    finally:
        for q, flag in zip(params, flags):
            q.requires_grad_(flag)
    return Inversion(zs, res)


def invert_one(model, f: str, mapping, e: torch.Tensor, iters: int, tol: float, starts: int, near=None, hops: int = 0, device="cpu"):
    """One person's ``z`` ``[1, K]`` and relative residual for factor ``f``; ``near`` (the
    pose's pool of draws and codes) gives starts nearest to ``e`` instead of random draws.
    People are fitted one at a time: L-BFGS shares its line search and curvature history across
    the rows it is given, so a batch of people would couple their results."""
    flow = hasattr(mapping, "inverse")
    if flow:  # an invertible mapping (dpg.mapping.FlowMapping): exact in milliseconds
        z, r = invert_flow(model, f, mapping, e, iters, tol)
        if r < tol:
            return z, r
        # not reached (a pose whose round trip the code fit missed): L-BFGS from there
    elif near is None:
        z = mapping.noise(starts, torch.Generator().manual_seed(0)).to(device)
    else:
        draws, codes = near
        z = draws[torch.cdist(codes, e)[:, 0].topk(starts, largest=False).indices]
    target = e.repeat(len(z), 1)  # [starts, K]
    fn = mapping
    if f == "pose":
        if not flow:
            z, _ = fit(mapping, z, target, min(300, iters), tol)

        def fn(z):  # the code of the keypoints z draws
            return model.drawn_pose_code(mapping(z))

    z, rel = fit(fn, z, target, iters, tol)
    best = int(rel.argmin())
    z, r = z[best : best + 1], float(rel[best])
    kicks = torch.Generator().manual_seed(1)  # drawn on the CPU: the same hops on every device
    for _ in range(hops):
        if r < tol:
            break
        kick = torch.randn(z.shape, generator=kicks).to(device) * (HOP_KICK * mapping.noise_std)
        zh, rh = fit(fn, z + kick, e, HOP_ITERS, tol)
        if float(rh[0]) < r:
            z, r = zh, float(rh[0])
    return z, r


def invert_flow(model, f: str, mapping, e: torch.Tensor, iters: int, tol: float) -> tuple[torch.Tensor, float]:
    """``z`` ``[1, K]`` and relative residual for an invertible mapping: ``Psi^-1(e)`` for the
    foreground and background. The pose's target ``e = E(k)`` is a code of keypoints; the code
    whose drawn keypoints encode to it, ``c`` with ``E(D(c)) = e``, is found first by L-BFGS
    from ``c = e`` (1-4% away for a sampled person; about 0.1 s), then ``z = Psi^-1(c)``."""
    c = e
    if f == "pose":
        c, _ = fit(model.drawn_pose_code, e.clone(), e, min(300, iters), tol / 4)
    try:
        z = mapping.inverse(c)
    except torch.linalg.LinAlgError:  # a singular affine layer (a damaged or degenerate flow): L-BFGS instead
        return mapping.noise(1, torch.Generator().manual_seed(0)).to(e.device), float("inf")
    with torch.no_grad():
        out = model.drawn_pose_code(mapping(z)) if f == "pose" else mapping(z)
        r = float((out - e).norm() / e.norm().clamp_min(1e-8))
    return z, r


# Refining encoded embeddings (``PersonGenerator.encode(..., refine=K)``): Adam's step as a
# fraction of each embedding's spread, and the most steps a call may ask for.
REFINE_LR = 0.05
MAX_REFINE = 2000


def refine_embeddings(net, image, geometry: dict, keypoints, fg, bg, steps: int, lr: float = REFINE_LR, train=("fg", "bg"), amp=False):
    """The encoders' embeddings fitted to the photo they came from, the decoder frozen: the
    decoder's own inversion (not the paper's). ``net`` is the ``ReconstructionNetwork``,
    ``image [N,3,H,W]`` in [-1,1], ``geometry`` its ``mask``/``rois``/``roi_vis``, ``fg [N,224]``,
    ``bg [N,128]`` (or None) the start. Adam on stage I's losses (L1 x20, the structure loss x5,
    the colour loss x2) for ``steps`` steps, each coordinate moving about ``lr`` times its
    embedding's spread a step; ``amp``: the decoder under bf16 autocast where it pays
    (``dpg.training.autocast``). Returns detached ``(fg, bg)``.

    Why: the encoders draw each person's colours 3 CIELAB units off on average, and the
    decoder can do better: embeddings fitted this way bring held-out people's colour error
    from 3.15 to 2.13 (``bench/bench_capacity.py``, 24 people, 150 steps), while the SSIM
    barely moves (0.389 -> 0.397: the detail is not in reach of any code of this size)."""
    # the fit moves each row in units of its own spread: delta [N, K] from zero, Adam's step
    # ``lr`` per coordinate, so one person's result does not depend on the batch around it
    starts = {"fg": fg.detach(), "bg": None if bg is None else bg.detach()}
    deltas = {f: torch.zeros_like(e, requires_grad=True) for f, e in starts.items() if e is not None and f in train}
    if not deltas or steps <= 0:
        return starts["fg"], starts["bg"]
    scale = {f: starts[f].std(1, keepdim=True).clamp_min(1e-6) for f in deltas}  # [N, 1]

    def current(f):
        return starts[f] + scale[f] * deltas[f] if f in deltas else starts[f]

    opt = torch.optim.Adam(list(deltas.values()), lr)
    n = image.shape[0]
    # the colour loss averages over the batch's regions: per person here, so that a person's
    # weight in it does not depend on how much of the others is visible
    regions = [geometry[k].split(1) for k in ("mask", "rois", "roi_vis")]
    with torch.enable_grad():
        for _ in range(steps):
            with autocast(image.device, amp):
                out = net.decode(current("fg"), current("bg"), keypoints).float()  # [N,3,H,W]; losses in fp32
            loss = 20 * losses.l1_loss(out, image) + 5 * losses.ssim_loss(out, image)
            colour = sum(losses.region_colour_loss(o, x, *g) for o, x, *g in zip(out.split(1), image.split(1), *regions))
            loss = loss + 2 * colour / n
            # gradients for the embeddings alone (torch.autograd.grad): the decoder's weights
            # get none, and their requires_grad flags are never touched, so uploads refined
            # at once on one shared model (the app's photo workers) do not disturb each other
            grads = torch.autograd.grad(loss, list(deltas.values()))
            for d, g in zip(deltas.values(), grads):
                d.grad = g
            opt.step()
    with torch.no_grad():
        return current("fg"), None if starts["bg"] is None else current("bg")
