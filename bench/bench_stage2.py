"""Stage II against its baselines: per-factor Fréchet distance of sampled embeddings, and the
plausibility of sampled poses (``dpg.eval.stage2``; issue 6).

    python bench/bench_stage2.py [--checkpoint assets/dpg-procedural.safetensors] [--samples 2000]

Real embeddings: stage-I foreground and background embeddings of ``--samples`` held-out
procedural people (the renderer's ``test`` split), and pose-code embeddings of real poses
(``market-annotation-train.csv`` when found, the distribution the pose mapping was trained to
match; procedural poses otherwise). Each factor's distance is printed for the trained mapping
``Phi(z)``, the raw noise ``z`` and an untrained mapping (fresh initialisation, same seed), all
from the same ``z``. Pose plausibility: the share of poses whose limb-length ratios, joint
angles and body-joint visibility pattern fall inside the real poses' range, for sampled
poses, the baselines, real poses passed through the pose auto-encoder (what the decoder alone
loses) and held-out real poses (the ceiling).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from dpg.eval.stage2 import decode_poses, frechet_table, pose_plausibility, real_embeddings, split_real, stage2_samples
from dpg.hub import BUNDLED
from dpg.inference import PersonGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("DPG_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data"))
TRAIN_CSV = os.path.join(SHARED, "market", "market-annotation-train.csv")


def real_poses(path: str, gen, n: int, seed: int) -> tuple[np.ndarray, str]:
    """Real keypoints at the model's size: the CSV's rows with a body, or procedural poses."""
    if path and os.path.exists(path):
        from dpg.synthetic.people import load_poses

        kp = load_poses(path).copy()
        kp[..., 0] *= gen.width / 64  # the community CSV is annotated at 128x64
        kp[..., 1] *= gen.height / 128
        return kp, f"{len(kp)} real Market-1501 train poses"
    from dpg.eval.disentangle import procedural_people

    people = procedural_people(n, (gen.height, gen.width), "test", seed, style=gen.cfg.model.style)
    return np.stack([p.keypoints() for _, _, p in people]), f"{n} procedural poses (no {path})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the procedural model: these figures need the renderer's ground truth
    p.add_argument("--checkpoint", default=os.environ.get("DPG_CHECKPOINT", str(BUNDLED["procedural"])))
    p.add_argument("--samples", type=int, default=2000, help="samples per set (default 2000)")
    p.add_argument("--poses", default=TRAIN_CSV, help="annotation CSV of real poses")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None, help="also write every number here")
    args = p.parse_args()
    gen = PersonGenerator.from_checkpoint(args.checkpoint, args.device)
    n = args.samples

    from dpg.eval.disentangle import procedural_people
    from dpg.synthetic.people import render

    people = [render(*f) for f in procedural_people(n, (gen.height, gen.width), "test", args.seed, style=gen.cfg.model.style)]
    poses, pose_note = real_poses(args.poses, gen, n, args.seed)
    fit, held = split_real(poses, args.seed)
    held = held[:n]  # real pose codes come from poses the plausibility ranges never saw
    samples = stage2_samples(gen, real_embeddings(gen, people, held), n, args.seed)
    fd = frechet_table(samples)
    for f, row in fd.items():
        real = f"{n} held-out procedural people" if f != "pose" else f"{len(held)} held-out of {pose_note}"
        print(f"FIGURE stage2.{f}.fd_sampled: {row['sampled']:.4g}  (real: {real}; {n} samples)")
        print(f"FIGURE stage2.{f}.fd_noise: {row['noise']:.4g}")
        print(f"FIGURE stage2.{f}.fd_untrained: {row['untrained']:.4g}")

    out = {"frechet": fd}
    if "pose" in samples:
        s = samples["pose"]
        # "autoencoded": real poses through the pose auto-encoder, separating its error from the mapping's.
        candidates = {name: decode_poses(gen, s[name]) for name in ("sampled", "noise", "untrained")}
        candidates["autoencoded"] = decode_poses(gen, s["real"])
        candidates["real (held-out)"] = held
        plaus = pose_plausibility(fit, candidates)
        keys = {
            "sampled": "sampled",
            "noise": "noise",
            "untrained": "untrained",
            "autoencoded": "autoencoded_real",
            "real (held-out)": "real_heldout",
        }
        for name, key in keys.items():
            r = plaus[name]
            print(
                f"FIGURE stage2.pose.plausible_{key}: {r['plausible']:.1%}  (lengths {r['lengths']:.1%}, angles "
                f"{r['angles']:.1%}, visibility {r['visibility']:.1%})"
            )
        out["pose_plausibility"] = plaus
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
