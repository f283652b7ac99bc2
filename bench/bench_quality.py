"""Stage-I quality on held-out procedural people: reconstruction, and ground-truth factor swaps
(``dpg.eval.disentangle``; issues 5 and 9).

    python bench/bench_quality.py [--checkpoint assets/dpg-procedural.safetensors] [--people 256] [--pairs 128]

Held-out people come from the renderer's ``test`` split (seeds disjoint from training), with
procedural poses; when the real Market-1501 test CSV is found, the same figures are repeated
with real test poses (the demo model trains on real *train* poses). Figures:

* ``quality.recon_ssim``: mean grayscale SSIM of the reconstruction (the paper's ``score.py``),
  ``quality.recon_ssim_color`` (7x7 colour SSIM), ``quality.recon_psnr`` (dB);
* per factor ``fg``, ``bg``, ``pose``: ``swap.<f>.accuracy`` (swapped output closer to the
  exact swapped image than to the unswapped original), ``swap.<f>.ssim_to_truth``,
  ``swap.<f>.leak`` (mean absolute change, 0-1, outside the pixels the factor owns).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from dpg.eval.disentangle import evaluate_disentanglement, reconstruction_quality
from dpg.hub import BUNDLED
from dpg.inference import PersonGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("DPG_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data"))
TEST_CSV = os.path.join(SHARED, "market", "market-annotation-test.csv")


def report(gen, people: int, pairs: int, seed: int, poses, tag: str, note: str) -> dict:
    recon = reconstruction_quality(gen, people, "test", seed, poses=poses)
    swaps = evaluate_disentanglement(gen, pairs, "test", seed, poses=poses)
    print(f"FIGURE quality.recon_ssim{tag}: {recon['ssim_gray']:.4f}  ({people} held-out people, {note}; grayscale, as score.py)")
    print(f"FIGURE quality.recon_ssim_color{tag}: {recon['ssim_color']:.4f}")
    print(f"FIGURE quality.recon_psnr{tag}: {recon['psnr']:.2f} dB")
    for f in gen.factors:
        r = swaps[f]
        print(f"FIGURE swap.{f}.accuracy{tag}: {r['accuracy']:.3f}  ({pairs} held-out pairs, {note})")
        print(f"FIGURE swap.{f}.ssim_to_truth{tag}: {r['ssim_to_truth']:.4f}  (vs {r['ssim_to_original']:.4f} to the original)")
        print(f"FIGURE swap.{f}.leak{tag}: {r['leak']:.4f}  (effect {r['effect']:.4f}, truth's {r['truth_effect']:.4f})")
    return {"reconstruction": recon, "swaps": swaps}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the procedural model: these figures need the renderer's ground truth
    p.add_argument("--checkpoint", default=os.environ.get("DPG_CHECKPOINT", str(BUNDLED["procedural"])))
    p.add_argument("--people", type=int, default=256, help="people for the reconstruction score")
    p.add_argument("--pairs", type=int, default=128, help="pairs per factor swap")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--real-poses", default=TEST_CSV, help="real test poses for the second pass (skipped if absent)")
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None, help="also write every number here")
    args = p.parse_args()
    gen = PersonGenerator.from_checkpoint(args.checkpoint, args.device)
    size = f"{gen.height}x{gen.width}"
    out = {"procedural": report(gen, args.people, args.pairs, args.seed, None, "", f"procedural poses, {size}")}
    if args.real_poses and os.path.exists(args.real_poses):
        from dpg.synthetic.people import load_poses

        poses = load_poses(args.real_poses)
        if (gen.height, gen.width) == (128, 64):
            out["real_poses"] = report(gen, args.people, args.pairs, args.seed, poses, "_real_poses", "real Market test poses")
        else:
            print(f"SKIP quality.real_poses: the real poses are 128x64, the model {size}")
    else:
        print(f"SKIP quality.real_poses: {args.real_poses} not found")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
