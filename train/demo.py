"""Train the bundled demo model end to end and export it to ``assets/``.

    python -m train.demo --preset cpu --out runs/demo [--keypoints market-annotation-train.csv]

Runs the pose auto-encoder, stage I and stage II one after the other in ``--out`` (each
resumable, so the command can be re-run after an interruption and continues), then writes
``assets/dpg-demo.safetensors``: the whole model in fp16 with the config and the training
facts in its header. ``--set`` overrides apply to every stage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dpg import checkpoint
from dpg.config import override, preset
from train import pose_ae, stage1, stage2


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--keypoints", action="append", default=[], help="real pose CSV(s) for the pose factor")
    p.add_argument("--procedural", type=int, default=20000)
    p.add_argument("--device", default=None)
    p.add_argument("--stages", default="pose_ae,stage1,stage2,export")
    p.add_argument("--export", default="assets/dpg-demo.safetensors")
    p.add_argument("--minutes", default="0,0,0", help="wall-clock budgets of pose_ae,stage1,stage2 (0 = none)")
    args = p.parse_args(argv)
    out = Path(args.out)
    common = ["--preset", args.preset, "--no-progress"] + [x for s in args.set for x in ("--set", s)]
    if args.device:
        common += ["--device", args.device]
    kp = [x for k in args.keypoints for x in ("--keypoints", k)]
    stages = args.stages.split(",")
    budget = dict(zip(("pose_ae", "stage1", "stage2"), (["--set", f"run.max_minutes={m}"] for m in args.minutes.split(","))))
    t0 = time.time()
    if "pose_ae" in stages:
        rc = pose_ae.main(common + budget["pose_ae"] + kp + ["--procedural", str(args.procedural), "--out", str(out / "pose_ae")])
        if rc:
            return rc
        print(f"[demo] pose auto-encoder done after {time.time() - t0:.0f}s", flush=True)
    if "stage1" in stages:
        poses = ["--poses", args.keypoints[0]] if args.keypoints else []
        rc = stage1.main(common + budget["stage1"] + poses + ["--out", str(out / "stage1")])
        if rc:
            return rc
        print(f"[demo] stage I done after {time.time() - t0:.0f}s", flush=True)
    if "stage2" in stages:
        init = ["--init", str(out / "stage1" / "stage1.safetensors"), "--init", str(out / "pose_ae" / "pose_ae.safetensors")]
        rc = stage2.main(common + budget["stage2"] + init + kp + ["--procedural", str(args.procedural), "--out", str(out / "stage2")])
        if rc:
            return rc
        print(f"[demo] stage II done after {time.time() - t0:.0f}s", flush=True)
    if "export" in stages:
        model, meta = checkpoint.load_model(out / "stage2" / "model.safetensors")
        cfg = override(preset(args.preset), args.set)
        facts = {
            "pose_ae_steps": cfg.pose_ae_train.steps,
            "stage1_steps": cfg.stage1.steps,
            "stage2_steps": cfg.stage2.steps,
            "data": "procedural people (dpg.data.synthetic)" + (", real Market-1501 poses" if args.keypoints else ""),
        }
        checkpoint.save_weights(args.export, model, model.cfg, half=True, extra=facts)
        size = Path(args.export).stat().st_size / 2**20
        print(f"[demo] exported {args.export} ({size:.1f} MiB) after {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
