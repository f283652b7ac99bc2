"""One optimisation step of each stage, as pure functions the trainers and the tests share.

Section 3.5: stage I alternates D1 and G1 updates (Eq. 1-2), the pose auto-encoder minimises
Eq. 3, stage II alternates ``critic_iters`` critic updates (Eq. 4) with one mapping update
(Eq. 5). The loops, logging and checkpoints live in ``train/``; nothing here knows about files.
"""

from __future__ import annotations

import contextlib
import os
import time

import torch

from dpg import losses


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast (no loss scaling needed) on CUDA, and on a CPU where ``cpu_bf16_pays``;
    elsewhere a no-op. ``enabled`` is the config's ``run.amp``."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if enabled and device.type == "cpu" and cpu_bf16_pays():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


_BF16: dict = {}
# bf16 must be this much faster than fp32 in the probe to be used (noise between reps).
BF16_MARGIN = 1.15


def cpu_bf16_pays() -> bool:
    """Whether bf16 autocast makes a training step faster on this CPU: a short probe (a
    convolution's forward and backward, in both precisions, best of 3),
    run once per process. CPUs vary: Intel Xeons with AMX or avx512_bf16 run bf16
    convolutions natively; an AMD EPYC without them emulates bf16 and ran a ``cpu``-preset
    step many times slower (bench/bench_train_speed.py prints both side by side).
    ``DPG_CPU_BF16=0`` or ``1`` skips the probe."""
    if "pays" not in _BF16:
        forced = os.environ.get("DPG_CPU_BF16")
        _BF16["pays"] = forced == "1" if forced in ("0", "1") else _probe_bf16()
    return _BF16["pays"]


def _probe_bf16() -> bool:
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(4, 64, 32, 16, requires_grad=True)

    def best(ctx) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            with ctx():
                y = conv(x)
            y.float().sum().backward()
            times.append(time.perf_counter() - t)
            if times[-1] > 0.2:  # emulated bf16: no need to wait for more reps
                break
        return min(times)

    with torch.enable_grad():  # callers may be under no_grad (PersonGenerator.encode)
        fp32 = best(contextlib.nullcontext)
        bf16 = best(lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    return bf16 * BF16_MARGIN < fp32


def stage1_step(net, disc, opt_g, opt_d, batch: dict, cfg, step: int, amp: bool = False, sync_disc=None) -> dict:
    """One stage-I step on a batch of ``image, mask, rois, roi_vis, keypoints`` tensors.

    ``net`` is the ``ReconstructionNetwork`` (possibly DDP-wrapped), ``cfg`` a ``Stage1Train``.
    ``disc`` is a plain module: it is frozen during the generator's update, and under
    torchrun its gradients are averaged by ``sync_disc(disc)`` (DDP would need one forward
    per backward, while D1 sees real and reconstructed images in separate passes, as the
    reference, so that batch normalisation never mixes them).
    The discriminator joins after ``cfg.adv_start`` steps of L1 alone (0 = from the start, as
    the reference). Returns float losses.
    """
    image = batch["image"]
    device = image.device
    adversarial = cfg.adv_weight > 0 and step >= cfg.adv_start
    with autocast(device, amp):
        out = net(image, batch["mask"], batch["rois"], batch["roi_vis"], batch["keypoints"])
        l1 = losses.l1_loss(out.float(), image)
        loss_g = cfg.l1_weight * l1
        stats = {"l1": l1.detach()}
        if cfg.colour_weight > 0:
            colour = losses.region_colour_loss(out, image, batch["mask"], batch["rois"], batch["roi_vis"])
            loss_g = loss_g + cfg.colour_weight * colour
            stats["colour"] = colour.detach()
        if cfg.ssim_weight > 0:
            structure = losses.ssim_loss(out, image)
            loss_g = loss_g + cfg.ssim_weight * structure
            stats["ssim"] = structure.detach()
        if adversarial:
            disc.requires_grad_(False)
            g_adv = losses.g_loss_nsgan(disc(out).float())
            disc.requires_grad_(True)
            loss_g = loss_g + cfg.adv_weight * g_adv
            stats["g_adv"] = g_adv.detach()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    if adversarial:
        with autocast(device, amp):
            d = losses.d_loss_nsgan(disc(image).float(), disc(out.detach()).float())
        opt_d.zero_grad(set_to_none=True)
        d.backward()
        if sync_disc is not None:
            sync_disc(disc)
        opt_d.step()
        stats["d"] = d.detach()
    stats["loss"] = loss_g.detach()
    return {k: float(v) for k, v in stats.items()}


def pose_ae_step(ae, opt, vectors: torch.Tensor, weight: float = 20.0) -> dict:
    """One pose auto-encoder step on pose vectors ``[N, 54]`` (Eq. 3)."""
    loss = losses.pose_loss(ae(vectors), vectors, weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": float(loss.detach())}


def critic_step(mapping, critic, opt, real: torch.Tensor, z: torch.Tensor, cfg, generator=None) -> dict:
    """One critic update (Eq. 4) on real embeddings ``[N, K]`` and noise ``[N, K]``.

    ``cfg.objective == "wgan"``: the reference's weights clipped to ``[-clip, clip]`` after
    the step. ``"wgan-gp"``: a gradient penalty of weight ``gp_lambda`` instead.
    """
    with torch.no_grad():
        fake = mapping(z)
    loss = losses.critic_loss_wgan(critic(real), critic(fake))
    stats = {"critic": loss.detach(), "w_dist": -loss.detach()}
    if cfg.objective == "wgan-gp":
        gp = losses.gradient_penalty(critic, real, fake, generator)
        loss = loss + cfg.gp_lambda * gp
        stats["gp"] = gp.detach()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if cfg.objective == "wgan":
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-cfg.clip, cfg.clip)
    return {k: float(v) for k, v in stats.items()}


def mapping_step(mapping, critic, opt, z: torch.Tensor) -> dict:
    """One mapping update (Eq. 5): raise the critic's score of ``Phi(z)``."""
    for p in critic.parameters():
        p.requires_grad_(False)
    loss = losses.mapping_loss_wgan(critic(mapping(z)))
    for p in critic.parameters():
        p.requires_grad_(True)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"mapping": float(loss.detach())}
