"""Train the bundled demo model end to end and export it to ``assets/``.

    python -m train.demo --preset cpu --out runs/demo [--keypoints market-annotation-train.csv]

Runs the pose auto-encoder, stage I and stage II one after the other in ``--out`` (each
resumable, so the command can be re-run after an interruption and continues), then writes
``assets/dpg-demo.safetensors``: the whole model in fp16 with the config and the training
facts in its header (the steps each stage really ran, read from its output). ``--set``
overrides apply to every stage.

``--from`` continues a whole-model checkpoint instead (the bundled weights, say): stage II
starts from its mappings and critics, stage I and the pose auto-encoder come from it unless
their stages run too, and ``--factors`` picks the mappings to train further::

    python -m train.demo --from assets/dpg-demo.safetensors --stages stage2,export \
        --factors pose --keypoints market-annotation-train.csv --out runs/demo-more
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from dpg import checkpoint
from dpg.errors import UserError
from train import pose_ae, stage1, stage2
from train.cli import user_errors
from train.stage2 import training_facts


def data_fact(root: str, base: str | None) -> str:
    """What a model trained on ``--data`` saw, for its header: a prepared folder's sources
    and training crops (``dpg prepare``'s ``prepare.json``), else the folder's name."""
    from dpg.data.prepare import read_info

    info = read_info(root)
    what = root
    if info and info.get("counts"):
        what = ", ".join(
            f"{os.path.basename(os.path.normpath(src))} ({c.get('train', 0):,} training crops)" for src, c in info["counts"].items()
        )
    return f"real people: {what}" + (f"; warm start from {os.path.basename(base)}" if base else "")


def export_facts(out: Path, stages: list[str], base: str | None, stage2_meta: dict, real_poses: bool, data: str | None = None) -> dict:
    """The training facts of the exported model: the steps each stage really ran, read from
    each stage's output header. With ``base`` (``--from``), stage II's header already holds
    ``base``'s facts plus its own steps per factor (``stage2_<factor>_extra_steps``, see
    ``train.stage2.warm_start_facts``); stages run here replace theirs."""
    if base:
        facts = training_facts(stage2_meta)
    else:
        facts = {"data": "procedural people (dpg.synthetic.people)" + (", real Market-1501 poses" if real_poses else "")}
        facts["stage2_steps"] = stage2_meta.get("stage2_steps", "?")
    if data:
        facts["data"] = data_fact(data, base)
    for stage, name in (("pose_ae", "pose_ae.safetensors"), ("stage1", "stage1.safetensors")):
        if stage in stages:
            facts[f"{stage}_steps"] = checkpoint.read_metadata(out / stage / name).get("steps", "?")
    return facts


@user_errors
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--keypoints", action="append", default=[], help="real pose CSV(s) for the pose factor")
    p.add_argument("--procedural", type=int, default=20000)
    p.add_argument("--device", default=None)
    p.add_argument(
        "--data",
        default=None,
        metavar="ROOT",
        help="real people for stage I and the stage-II embeddings: a prepared folder (dpg prepare) or a "
        "Market-1501 root (default: procedural people)",
    )
    p.add_argument("--stages", default="pose_ae,stage1,stage2,export")
    p.add_argument("--export", default="assets/dpg-demo.safetensors")
    p.add_argument("--minutes", default="0,0,0", help="wall-clock budgets of pose_ae,stage1,stage2 (0 = none)")
    p.add_argument("--from", dest="base", default=None, metavar="PATH", help="continue this whole-model checkpoint")
    p.add_argument("--factors", default=None, help="stage-II factors to train (default: all)")
    p.add_argument("--restart", default=None, metavar="FACTORS", help="with --from: these mappings start from scratch")
    args = p.parse_args(argv)
    out = Path(args.out)
    common = ["--preset", args.preset, "--no-progress"] + [x for s in args.set for x in ("--set", s)]
    if args.device:
        common += ["--device", args.device]
    kp = [x for k in args.keypoints for x in ("--keypoints", k)]
    data = ["--data", args.data] if args.data else []
    stages = [x.strip() for x in args.stages.split(",") if x.strip()]
    unknown = set(stages) - {"pose_ae", "stage1", "stage2", "export"}
    if unknown or not stages:
        raise UserError(f"--stages {args.stages!r}: choose from pose_ae,stage1,stage2,export")
    if args.restart and not (args.base and "stage2" in stages):
        raise UserError("--restart goes with --from PATH and the stage2 stage: it restarts some of PATH's mappings")
    minutes = args.minutes.split(",")
    if len(minutes) != 3:
        raise UserError(f"--minutes {args.minutes!r}: give three budgets, for pose_ae,stage1,stage2 (0 = none), e.g. 5,40,10")
    budget = dict(zip(("pose_ae", "stage1", "stage2"), (["--set", f"run.max_minutes={m}"] for m in minutes)))
    t0 = time.time()
    if "pose_ae" in stages:
        rc = pose_ae.main(common + budget["pose_ae"] + kp + ["--procedural", str(args.procedural), "--out", str(out / "pose_ae")])
        if rc:
            return rc
        print(f"[demo] pose auto-encoder done after {time.time() - t0:.0f}s", flush=True)
    if "stage1" in stages:
        poses = ["--poses", args.keypoints[0]] if args.keypoints and not args.data else []
        warm = ["--init", args.base] if args.base else []  # continue --from's stage I
        rc = stage1.main(common + data + budget["stage1"] + poses + warm + ["--out", str(out / "stage1")])
        if rc:
            return rc
        print(f"[demo] stage I done after {time.time() - t0:.0f}s", flush=True)
    if "stage2" in stages:
        init = []
        for stage, name in (("stage1", "stage1.safetensors"), ("pose_ae", "pose_ae.safetensors")):
            own = out / stage / name  # this run's stage, else the one in --from
            init += ["--init", str(own) if stage in stages or not args.base else args.base]
        if args.base:
            init += ["--init-stage2", args.base]
        if args.factors:
            init += ["--factors", args.factors]
        if args.restart:
            init += ["--restart", args.restart]
        rc = stage2.main(
            common + data + budget["stage2"] + init + kp + ["--procedural", str(args.procedural), "--out", str(out / "stage2")]
        )
        if rc:
            return rc
        print(f"[demo] stage II done after {time.time() - t0:.0f}s", flush=True)
    if "export" in stages:
        trained = out / "stage2" / "model.safetensors"
        if not trained.is_file():
            raise UserError(f"nothing to export: {trained} does not exist; run the stage2 stage first (--stages stage2,export)")
        model, meta = checkpoint.load_model(trained)
        facts = export_facts(out, stages, args.base, meta, bool(args.keypoints), args.data)
        checkpoint.save_weights(args.export, model, model.cfg, half=True, extra=facts)
        size = Path(args.export).stat().st_size / 2**20
        print(f"[demo] exported {args.export} ({size:.1f} MiB) after {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
