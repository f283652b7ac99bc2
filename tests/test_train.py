"""Trainer smoke tests on the tiny preset and procedural people: runs, logs, checkpoints,
exact resume, NaN handling, torchrun with gloo, and the stage-II handoff to the API."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import TINY_TRAIN
from safetensors.torch import load_file

from train import stage1, stage2


def test_stage1_writes_logs_samples_and_rotating_checkpoints(tiny_runs):
    run = tiny_runs / "stage1"
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 20 and "l1" in rows[-1]
    assert (run / "losses.png").exists() and (run / "config.json").exists()
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-0000010.png", "step-0000020.png"]
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("*.safetensors"))
    assert ckpts == ["ckpt-0000010.safetensors", "ckpt-0000020.safetensors"]  # keep_checkpoints = 2
    assert (run / "stage1.safetensors").exists()


def test_stage1_warm_start_continues_a_checkpoint_and_counts_its_steps(tiny_runs, tmp_path, capsys):
    from dpg.checkpoint import read_metadata

    start = str(tiny_runs / "stage1" / "stage1.safetensors")  # 20 steps
    still = tmp_path / "still"  # one step at a vanishing learning rate: the start's weights
    assert stage1.main(TINY_TRAIN + ["--init", start, "--set", "stage1.steps=1", "--set", "stage1.lr=1e-30", "--out", str(still)]) == 0
    a, b = load_file(start), load_file(str(still / "stage1.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k].float(), b[k].float(), rtol=1e-5, atol=1e-6)
    more = TINY_TRAIN + ["--init", start, "--set", "stage1.steps=3", "--out", str(tmp_path / "more")]
    for _ in range(2):  # the same command twice: the second resumes a finished run and adds nothing
        assert stage1.main(more) == 0
        meta = read_metadata(str(tmp_path / "more" / "stage1.safetensors"))
        assert (meta["steps"], meta["init_steps"]) == ("23", "20")
    # --init added to a folder whose checkpoints never started from it: they resume, and the
    # header counts no start's steps
    plain = tmp_path / "plain"
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=2", "--out", str(plain)]) == 0
    assert stage1.main(TINY_TRAIN + ["--init", start, "--set", "stage1.steps=3", "--out", str(plain)]) == 0
    meta = read_metadata(str(plain / "stage1.safetensors"))
    assert (meta["steps"], meta["init_steps"]) == ("3", "0")
    capsys.readouterr()
    bad = ["--init", start, "--set", "model.channels=4", "--out", str(tmp_path / "bad")]
    assert stage1.main(TINY_TRAIN + bad) == 1
    assert "different model config" in capsys.readouterr().err
    from train import demo

    assert demo.main(["--preset", "tiny", "--restart", "pose", "--out", str(tmp_path / "d")]) == 1
    assert "--restart goes with --from" in capsys.readouterr().err


def test_decoder_alone_with_the_patch_critic_keeps_every_embedding(tiny_runs, tmp_path):
    """``stage1.freeze_encoders``: the decoder learns, the stem and encoders are bit for bit the
    start's (so the start's stage II still fits its embeddings); the patch critic trains too."""
    start = str(tiny_runs / "stage1" / "stage1.safetensors")
    out = tmp_path / "dec"
    sets = [
        "stage1.steps=3",
        "run.log_every=1",
        "stage1.freeze_encoders=1",
        "stage1.discriminator=patch",
        "stage1.adv_start=0",
        "stage1.lr=1e-2",
    ]
    assert stage1.main(TINY_TRAIN + ["--init", start, "--out", str(out)] + [a for kv in sets for a in ("--set", kv)]) == 0
    a, b = load_file(start), load_file(str(out / "stage1.safetensors"))
    frozen = [k for k in a if k.startswith(("stage1.stem.", "stage1.foreground.", "stage1.background."))]
    learnt = [k for k in a if k.startswith("stage1.decoder.")]
    assert frozen and learnt
    assert all(torch.equal(a[k], b[k]) for k in frozen)
    assert sum(not torch.equal(a[k], b[k]) for k in learnt) > len(learnt) // 2
    rows = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert all(r["d"] > 0 for r in rows if "d" in r) and any("d" in r for r in rows)


def test_encoders_alone_keep_the_decoder(tiny_runs, tmp_path):
    """``stage1.freeze_decoder``: the stem and encoders learn through the frozen decoder, whose
    weights stay bit for bit the start's (so sampled people and the preview stay as they were)."""
    start = str(tiny_runs / "stage1" / "stage1.safetensors")
    out = tmp_path / "enc"
    sets = ["stage1.steps=3", "stage1.freeze_decoder=1", "stage1.lr=1e-2"]
    assert stage1.main(TINY_TRAIN + ["--init", start, "--out", str(out)] + [a for kv in sets for a in ("--set", kv)]) == 0
    a, b = load_file(start), load_file(str(out / "stage1.safetensors"))
    frozen = [k for k in a if k.startswith("stage1.decoder.")]
    learnt = [k for k in a if k.startswith(("stage1.stem.", "stage1.foreground.", "stage1.background."))]
    assert frozen and learnt
    assert all(torch.equal(a[k], b[k]) for k in frozen)
    assert sum(not torch.equal(a[k], b[k]) for k in learnt) > len(learnt) // 2


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    full = tmp_path / "full"
    args = TINY_TRAIN + ["--set", "stage1.steps=6", "--set", "run.checkpoint_every=3", "--set", "stage1.adv_start=2"]
    assert stage1.main(args + ["--out", str(full)]) == 0
    part = tmp_path / "part"
    # the first run stops after its step-3 checkpoint, as if killed there; the second resumes
    assert (
        stage1.main(
            TINY_TRAIN + ["--set", "stage1.steps=3", "--set", "run.checkpoint_every=3", "--set", "stage1.adv_start=2", "--out", str(part)]
        )
        == 0
    )
    assert stage1.main(args + ["--out", str(part)]) == 0
    a, b = load_file(str(full / "stage1.safetensors")), load_file(str(part / "stage1.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_nan_loss_stops_with_the_step_named_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    real = stage1.stage1_step

    def poisoned(*args, **kw):
        stats = real(*args, **kw)
        return {**stats, "l1": float("nan")} if args[6] == 7 else stats  # index 7: the 8th step, numbered from 1 as the log does

    monkeypatch.setattr(stage1, "stage1_step", poisoned)
    rc = stage1.main(TINY_TRAIN + ["--set", "run.checkpoint_every=5", "--out", str(tmp_path / "r")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "at step 8" in err and "last good checkpoint is step 5" in err
    assert (tmp_path / "r" / "checkpoints" / "ckpt-0000005.safetensors").exists()


def test_stage2_trains_on_the_frozen_stage1_and_the_result_samples(tiny_runs, tmp_path):
    out = tmp_path / "s2"
    init = ["--init", str(tiny_runs / "stage1" / "stage1.safetensors"), "--init", str(tiny_runs / "pose_ae" / "pose_ae.safetensors")]
    assert stage2.main(TINY_TRAIN + init + ["--procedural", "200", "--out", str(out)]) == 0
    assert (out / "embeddings.safetensors").exists()
    from dpg.inference import PersonGenerator

    gen = PersonGenerator.from_checkpoint(str(out / "model.safetensors"), "cpu")
    images = gen.compose(gen.sample(fg=[1, 2], bg=[3, 3], pose=[4, 5]))
    assert images.shape == (2, 32, 16, 3) and images.dtype.name == "uint8"
    # stage II without a stage I is refused with a message, not a traceback
    assert stage2.main(TINY_TRAIN + ["--out", str(tmp_path / "bad")]) == 1


def test_stage2_warm_start_trains_only_the_named_factors(tiny_runs, tmp_path, capsys):
    first = tmp_path / "first"
    init = ["--init", str(tiny_runs / "stage1" / "stage1.safetensors"), "--init", str(tiny_runs / "pose_ae" / "pose_ae.safetensors")]
    assert stage2.main(TINY_TRAIN + init + ["--procedural", "200", "--set", "stage2.steps=4", "--out", str(first)]) == 0
    model = str(first / "model.safetensors")
    more = tmp_path / "more"
    # continue the shipped model's pose mapping alone: stage I and the pose AE come from the same file
    args = ["--init", model, "--init-stage2", model, "--factors", "pose", "--procedural", "200", "--set", "stage2.steps=3"]
    assert stage2.main(TINY_TRAIN + args + ["--out", str(more)]) == 0
    cached = load_file(str(more / "embeddings.safetensors"))
    assert set(cached) == {"pose"} and len(cached["pose"]) == 400  # no image encoded; 200 poses and mirrors
    other = [a if a != "200" else "100" for a in args]  # other poses in the same folder: re-encoded, not reused
    assert stage2.main(TINY_TRAIN + other + ["--out", str(more)]) == 0
    assert len(load_file(str(more / "embeddings.safetensors"))["pose"]) == 200
    # the same weights in a touched file: the cache is reused (it re-encoded for minutes when
    # it was keyed on the --init files' dates)
    os.utime(model, (1, 1))

    def refuse(*a, **kw):
        raise AssertionError("re-encoded the same encoders")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stage2, "real_embeddings", refuse)
        assert stage2.main(TINY_TRAIN + other + ["--out", str(more)]) == 0
    a, b = load_file(model), load_file(str(more / "model.safetensors"))
    changed = {k.split(".")[2] for k in a if k.startswith("stage2.") and not torch.equal(a[k], b[k])}
    assert changed == {"pose"}  # the pose mapping and critic moved; foreground and background did not
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("stage2."))
    from dpg.checkpoint import read_metadata

    meta = read_metadata(str(more / "model.safetensors"))
    assert meta["stage2_factors"] == "pose" and meta["stage2_init"] == model
    assert meta["stage2_steps"] == "4" and meta["stage2_pose_extra_steps"] == "3"  # the start's, plus this run's
    capsys.readouterr()
    assert stage2.main(TINY_TRAIN + args[:4] + ["--factors", "hair", "--out", str(tmp_path / "bad")]) == 1
    assert "--factors 'hair'" in capsys.readouterr().err
    # a wider pose mapping from scratch beside the shipped foreground and background mappings
    wide = args + ["--restart", "pose", "--set", "mapping.pose_hidden=48"]
    assert stage2.main(TINY_TRAIN + wide + ["--out", str(tmp_path / "wide")]) == 0
    c = load_file(str(tmp_path / "wide" / "model.safetensors"))
    assert c["stage2.mappings.pose.net.inp.weight"].shape[0] == 48 != a["stage2.mappings.pose.net.inp.weight"].shape[0]
    assert all(torch.equal(a[k], c[k]) for k in a if ".pose." not in k)  # fg and bg loaded, untouched
    meta = read_metadata(str(tmp_path / "wide" / "model.safetensors"))
    assert meta["stage2_pose_steps"] == "3" and "stage2_pose_extra_steps" not in meta  # no inherited count
    # stage I from another file than the mappings: the header counts that file's stage-I steps
    from safetensors.torch import save_file as save

    s1 = {k: v for k, v in a.items() if k.startswith("stage1.")}
    save(
        s1,
        str(tmp_path / "s1.safetensors"),
        metadata={**{k: v for k, v in read_metadata(model).items() if k in ("format", "config")}, "stages": "stage1", "steps": "77"},
    )
    other = ["--init", str(tmp_path / "s1.safetensors")] + args
    assert stage2.main(TINY_TRAIN + other + ["--out", str(tmp_path / "s1run")]) == 0
    assert read_metadata(str(tmp_path / "s1run" / "model.safetensors"))["stage1_steps"] == "77"
    capsys.readouterr()
    assert stage2.main(TINY_TRAIN + args + ["--set", "mapping.pose_hidden=48", "--out", str(tmp_path / "bad")]) == 1
    assert "--restart" in capsys.readouterr().err  # a changed width without --restart is refused, naming the way out
    assert stage2.main(TINY_TRAIN + args[:4] + ["--factors", "pose", "--restart", "fg", "--out", str(tmp_path / "bad")]) == 1
    assert "must be trained" in capsys.readouterr().err


def test_torchrun_two_cpu_processes_with_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29531",
        "-m",
        "train.stage1",
        *TINY_TRAIN,
        "--set",
        "stage1.steps=4",
        "--set",
        "run.checkpoint_every=2",
        "--out",
        str(tmp_path / "ddp"),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "ddp" / "stage1.safetensors").exists()


def test_demo_exports_the_steps_really_run_and_continues_from_its_own_export(tmp_path):
    from dpg.checkpoint import read_metadata
    from train import demo

    steps = ["--set", "pose_ae_train.steps=5", "--set", "stage1.steps=4", "--set", "stage2.steps=3"]
    first = tmp_path / "demo.safetensors"
    common = ["--preset", "tiny", "--device", "cpu", "--procedural", "200"] + steps
    assert demo.main(common + ["--out", str(tmp_path / "a"), "--export", str(first)]) == 0
    meta = read_metadata(str(first))
    assert (meta["pose_ae_steps"], meta["stage1_steps"], meta["stage2_steps"]) == ("5", "4", "3")
    second = tmp_path / "more.safetensors"
    second.write_bytes(first.read_bytes())
    # continue in place, the way the README shows for the bundled file: --from and --export the same
    more = common + ["--from", str(second), "--export", str(second), "--stages", "stage2,export", "--factors", "pose"]
    for _ in range(2):  # the same command twice: the second resumes a finished run and adds no steps
        assert demo.main(more + ["--out", str(tmp_path / "b")]) == 0
        assert read_metadata(str(second))["stage2_pose_extra_steps"] == "3"
    assert demo.main(more + ["--out", str(tmp_path / "c")]) == 0  # a new continuation adds its own
    meta = read_metadata(str(second))
    assert meta["stage2_pose_extra_steps"] == "6" and meta["stage2_steps"] == "3" and meta["stage1_steps"] == "4"
    a, b = load_file(str(first)), load_file(str(second))
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("stage2.pose") and ".pose." not in k)


def test_a_trainer_that_stops_on_bad_input_closes_its_process_group(tmp_path, monkeypatch):
    import torch.distributed as dist

    from dpg.errors import UserError
    from train import dist as train_dist
    from train.cli import user_errors

    @user_errors
    def raises(argv=None):
        raise UserError("bad input")

    @user_errors
    def returns(argv=None):
        return 1  # the trainers' early "print error; return 1" paths

    for i, main in enumerate((raises, returns)):
        dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg{i}", rank=0, world_size=1)
        monkeypatch.setitem(train_dist._GROUP, "ours", True)  # as Dist marks the group it opens under torchrun
        assert main() == 1
        assert not dist.is_initialized()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg-other", rank=0, world_size=1)
    try:  # a group someone else opened is not ours to close
        assert raises() == 1 and dist.is_initialized()
    finally:
        dist.destroy_process_group()


def test_stage2_pose_set_keeps_only_person_poses(tmp_path):
    # the rule load_poses applies everywhere else: 6 or more of the 14 body joints; a row with
    # fewer (an annotation of a cut-off person) would be learnt and sampled by the pose mapping
    from dpg.config import tiny
    from dpg.data.sources import pose_keypoints

    def row(name, joints):
        ys = [4 + 2 * j if j < joints else -1 for j in range(18)]
        xs = [3 if j < joints else -1 for j in range(18)]
        return f"{name}:{ys}:{xs}\n"

    path = tmp_path / "poses.csv"
    path.write_text("name:keypoints_y:keypoints_x\n" + row("a.jpg", 14) + row("b.jpg", 3) + row("c.jpg", 6))
    kp = pose_keypoints(tiny(), [str(path)], 0, "train")
    assert kp.shape == (2, 18, 3) and (kp[:, :14, 2].sum(1) >= 6).all()


def test_the_time_budget_counts_from_the_first_training_step(tmp_path):
    """``run.max_minutes`` is a training budget: minutes spent before ``Run.start`` (encoding a
    stage-II data set took 10 of a 15-minute budget) do not count."""
    from dpg.config import override, tiny
    from train.run import Run

    run = Run(tmp_path / "r", override(tiny(), ["run.max_minutes=1"]), progress=False)
    run.t0 -= 120  # two minutes of encoding before the loop
    assert run.out_of_time()
    run.start(0, 10)
    assert not run.out_of_time()
    run.close()
