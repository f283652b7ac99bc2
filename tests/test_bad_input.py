"""Bad input on the command line is one clear line and exit code 1 (or argparse's 2), never a
traceback and never a silent wrong result: counts and seeds, devices, paths that cannot be
written, checkpoints that cannot sample, malformed files, meaningless config values."""

import json

import pytest
import torch
from conftest import TINY_TRAIN

from dpg.checkpoint import save_weights
from dpg.cli import main as dpg
from dpg.config import override, tiny
from dpg.model import DisentangledPersonModel
from train import demo, stage1


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("m")
    model = DisentangledPersonModel(tiny())
    save_weights(root / "whole.safetensors", model, tiny())
    save_weights(root / "stage1.safetensors", model, tiny(), ["stage1"])
    return root


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "-n", "0"], "at least 1"),
        (["sample", "--fg-seed", "99999999999999999999"], "outside 0"),
        (["interpolate", "--steps", "1"], "at least 2"),
        (["virtual-market", "--identities", "0"], "at least 1"),
        (["eval", "sampling", "--model", "a=x", "-n", "1"], "at least 2"),
        (["eval", "transfer", "--limit", "-1"], "at least 1"),
        (["sample", "-n", "1000000"], "at most 100000"),
        (["sample", "--scale", "1000"], "at most 16"),
        (["swap", "a.png", "b.png", "--refine", "-3"], "at least 0"),
        (["transfer", "a.png", "--pose-json", "k.json", "--refine", "100000"], "at most 2000"),
    ],
)
def test_counts_and_seeds_are_checked_by_the_parser(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        dpg(args)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def run(args, capsys) -> str:
    assert dpg(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_sampling_from_a_stage1_only_checkpoint_is_refused(models, tmp_path, capsys):
    c = ["--checkpoint", str(models / "stage1.safetensors"), "--device", "cpu", "--out", str(tmp_path / "o")]
    assert "no trained stage2" in run(["sample", "-n", "1", *c], capsys)
    assert "no trained stage2" in run(["interpolate", *c], capsys)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_devices_and_unwritable_outputs(models, tmp_path, capsys):
    c = ["--checkpoint", str(models / "whole.safetensors")]
    assert "unknown device 'tpu'" in run(["sample", "-n", "1", "--device", "tpu", *c], capsys)
    if not torch.cuda.is_available():
        assert "no usable CUDA GPU; use --device cpu" in run(["sample", "-n", "1", "--device", "cuda", *c], capsys)
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert "check the paths given" in run(["sample", "-n", "1", "--device", "cpu", "--out", str(afile), *c], capsys)


def test_interpolate_needs_both_people_and_duplicate_model_names_are_refused(models, tmp_path, capsys):
    assert "--a and --b go together" in run(["interpolate", "--a", "x.png", "--out", str(tmp_path)], capsys)
    m = str(models / "whole.safetensors")
    assert "given twice" in run(["eval", "sampling", "--model", f"a={m}", "--model", f"a={m}", "-n", "2", "--out", str(tmp_path)], capsys)


@pytest.mark.parametrize(
    "content, message",
    [
        ({"keypoints": "abc"}, "18 rows of 3 numbers"),
        ({"keypoints": [[1, 2], [1, 2, 3]]}, "18 rows of 3 numbers"),
        ({"keypoints": [[float("nan"), 0, 1]] * 18}, "NaN"),
        ({"people": []}, "lists no person"),
    ],
)
def test_malformed_keypoint_files(content, message, tmp_path):
    from dpg.errors import UserError
    from dpg.generate_cli import read_keypoints

    path = tmp_path / "kp.json"
    path.write_text(json.dumps(content))
    with pytest.raises(UserError, match=message):
        read_keypoints(str(path))


def test_a_pose_csv_without_a_usable_row_is_a_user_error(tmp_path):
    from dpg.errors import UserError
    from dpg.synthetic.people import load_poses

    path = tmp_path / "poses.csv"
    path.write_text(
        "name:keypoints_y:keypoints_x\na.jpg:[10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]"
        ":[10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]\n"
    )
    with pytest.raises(UserError, match="no row has 6 or more body joints"):
        load_poses(path)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("model.foreground=xyz", "choose one of body_roi7, whole_body"),
        ("stage1.flip_prob=2", "between 0 and 1"),
        ("stage1.steps=-1", "at least 1"),
        ("stage1.batch_size=0", "at least 1"),
        ("stage1.lr=-1", "above 0"),
        ("model.height=13", "multiples of 2"),
        ("stage1.lr=inf", "finite"),
        ("stage2.lr=-inf", "finite"),
    ],
)
def test_meaningless_config_values_are_refused(setting, message):
    with pytest.raises(ValueError, match=message):
        override(tiny(), [setting])


def test_a_run_resumed_with_another_discriminator_says_how_to_go_on(tmp_path, capsys):
    run_dir = tmp_path / "r"
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=2", "--set", "run.checkpoint_every=2", "--out", str(run_dir)]) == 0
    capsys.readouterr()
    patch = ["--set", "stage1.discriminator=patch", "--set", "stage1.steps=4"]
    assert stage1.main(TINY_TRAIN + patch + ["--out", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert "cannot resume" in err and "--fresh" in err and "Traceback" not in err


def test_freezing_both_halves_of_stage_one_is_refused():
    with pytest.raises(ValueError, match="nothing would learn"):
        override(tiny(), ["stage1.freeze_encoders=1", "stage1.freeze_decoder=1"])


def test_trainers_report_bad_paths_and_unreadable_checkpoints(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert stage1.main(TINY_TRAIN + ["--out", str(afile)]) == 1
    assert "check the paths given" in capsys.readouterr().err
    run_dir = tmp_path / "r"
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=2", "--set", "run.checkpoint_every=2", "--out", str(run_dir)]) == 0
    ckpt = run_dir / "checkpoints" / "ckpt-0000002.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # truncated, as by a full disk
    capsys.readouterr()
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=4", "--out", str(run_dir)]) == 1
    assert "--fresh" in capsys.readouterr().err
    state = run_dir / "checkpoints" / "ckpt-0000002.state.pt"
    ckpt.unlink()
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=2", "--set", "run.checkpoint_every=2", "--fresh", "--out", str(run_dir)]) == 0
    state.write_bytes(b"")  # an empty file (a crash before the data reached the disk): an error without a message
    capsys.readouterr()
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=4", "--out", str(run_dir)]) == 1
    assert "--fresh" in capsys.readouterr().err
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=4", "--fresh", "--out", str(run_dir)]) == 0


def test_demo_refuses_unknown_stages_and_budgets(tmp_path, capsys):
    assert demo.main(["--stages", "stage3", "--out", str(tmp_path)]) == 1
    assert "choose from pose_ae,stage1,stage2,export" in capsys.readouterr().err
    assert demo.main(["--minutes", "5", "--out", str(tmp_path)]) == 1
    assert "three budgets" in capsys.readouterr().err
    assert demo.main(["--stages", "export", "--out", str(tmp_path)]) == 1
    assert "nothing to export" in capsys.readouterr().err


def test_checkpoint_paths_that_are_folders_or_mistyped(tmp_path, monkeypatch):
    from dpg.errors import UserError
    from dpg.hub import resolve_checkpoint

    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "model.safetensors").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="is a folder: pass the .safetensors file inside it, e.g. runs/model.safetensors"):
        resolve_checkpoint("runs")
    with pytest.raises(UserError, match="checkpoint not found: runs/modle .*pass hf://runs/modle"):  # a typo, not the Hub
        resolve_checkpoint("runs/modle")
    with pytest.raises(UserError, match="Hub"):  # asked for explicitly: no network here, a clear error
        resolve_checkpoint("hf://runs/modle")


# ----------------------------------------------------------------------------------------
# What a hostile-but-fair probe found (issue 16): each of these failed before its fix.


@pytest.mark.parametrize("size", [(64, 32768), (40000, 100), (60000, 1)])
def test_strips_are_refused_before_any_native_code(size, tmp_path, models, capsys):
    # a 6 KB 32768x64 PNG ended the process in OpenCV (SHRT_MAX) inside mediapipe's face counter
    from PIL import Image

    from dpg.errors import UserError
    from dpg.pose.images import load_image

    h, w = size
    path = tmp_path / "strip.png"
    Image.new("RGB", (w, h), (120, 120, 120)).save(path)
    with pytest.raises(UserError, match="strip"):
        load_image(path)
    c = ["--checkpoint", str(models / "whole.safetensors"), "--device", "cpu", "--out", str(tmp_path / "o")]
    assert "strip" in run(["swap", str(path), str(path), *c], capsys)


def test_large_photos_are_bounded_before_native_code():
    import numpy as np

    from dpg.pose.images import MAX_SIDE, load_image

    wide = load_image(np.zeros((3000, 20000, 3), np.uint8))  # 4:1 panorama, 60 MP
    assert max(wide.shape[:2]) == MAX_SIDE and wide.shape[0] == round(3000 * MAX_SIDE / 20000)


@pytest.mark.parametrize(
    "keypoints",
    [
        [[0, 0, 0]] * 18,  # nothing visible
        [[-500, -500, 1]] * 18,  # all outside the picture
        [[10, 10, -3]] * 18,
        [[10, 10, 0.4]] * 18,  # visibility below one half
        [[10, 10, 1]] * 18,  # every joint on one point
        [[True, True, True]] * 18,  # booleans where numbers belong
    ],
)
def test_a_pose_without_a_usable_joint_is_refused_by_transfer(keypoints, models, tmp_path, capsys):
    # such poses made the person vanish with exit code 0; the app refused them already
    import numpy as np
    from PIL import Image

    image = tmp_path / "a.png"
    Image.fromarray(np.full((32, 16, 3), 128, np.uint8)).save(image)
    kp = tmp_path / "a.json"
    kp.write_text(json.dumps({"keypoints": [[8, 4 + i, 1] for i in range(18)]}))
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps({"keypoints": keypoints}))
    c = ["--checkpoint", str(models / "whole.safetensors"), "--device", "cpu", "--out", str(tmp_path / "o")]
    err = run(["transfer", f"{image}@{kp}", "--pose-json", str(pose), *c], capsys)
    assert "joint" in err or "true/false" in err
    assert not (tmp_path / "o" / "transfer.png").exists()


def test_a_deeply_nested_pose_file_is_one_line(tmp_path):
    from dpg.errors import UserError
    from dpg.generate_cli import read_keypoints

    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)
    with pytest.raises(UserError, match="nests its lists too deeply|cannot read keypoints"):
        read_keypoints(str(path))


def test_damaged_checkpoints_are_refused_on_load(models, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from dpg.checkpoint import load_model
    from dpg.errors import UserError

    src = models / "whole.safetensors"
    with safe_open(str(src), framework="pt") as f:
        meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    bias = next(k for k in state if k.startswith("stage1.decoder") and k.endswith("bias"))
    nan = dict(state)
    nan[bias] = nan[bias].clone()
    nan[bias][0] = float("nan")
    save_file(nan, tmp_path / "nan.safetensors", metadata=meta)
    with pytest.raises(UserError, match="NaN or infinite weights"):
        load_model(tmp_path / "nan.safetensors")
    save_file(state, tmp_path / "text.safetensors", metadata={**meta, "config": "not json {"})
    with pytest.raises(UserError, match="damaged config"):
        load_model(tmp_path / "text.safetensors")
    cfg = json.loads(meta["config"])
    cfg["model"]["channels"] = 4096  # the tensors say 8: refused before a 4096-wide model is built
    save_file(state, tmp_path / "wide.safetensors", metadata={**meta, "config": json.dumps(cfg)})
    with pytest.raises(UserError, match="do not fit the config"):
        load_model(tmp_path / "wide.safetensors")


def test_a_header_config_that_is_not_json_is_one_line_for_the_trainers(models, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(models / "whole.safetensors"), framework="pt") as f:
        meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    save_file(state, tmp_path / "text.safetensors", metadata={**meta, "config": "[[["})
    rc = stage1.main(TINY_TRAIN + ["--init", str(tmp_path / "text.safetensors"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 1 and "damaged config" in err and "Traceback" not in err


def test_blown_up_weights_are_never_checkpointed(tmp_path, capsys):
    # lr=1e30 kept every loss finite for a step while the weights reached 1e30: the "last
    # good checkpoint" was poisoned and a resume NaN-ed at once
    out = tmp_path / "r"
    rc = stage1.main(TINY_TRAIN + ["--set", "stage1.lr=1e30", "--set", "run.checkpoint_every=1", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "training stopped" in err
    for ckpt in (out / "checkpoints").glob("*.safetensors"):
        from safetensors.torch import load_file

        assert all(torch.isfinite(v).all() and v.abs().max() < 1e4 for v in load_file(ckpt).values())


def test_run_folders_stay_clean_across_kills_and_refused_resumes(tmp_path, capsys):
    import os
    import stat

    out = tmp_path / "r"
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=10", "--out", str(out)]) == 0
    rows = [json.loads(x)["step"] for x in (out / "stats.jsonl").read_text().splitlines()]
    assert rows == sorted(set(rows))
    mode = stat.S_IMODE(os.stat(out / "stage1.safetensors").st_mode)
    assert mode & 0o044, oct(mode)  # others can read what was written (was 0600)
    # a resume from step 10 to 20 must not repeat rows; an orphan temp file of a killed write goes
    (out / "checkpoints" / ".ckpt-0000011.safetensors.abc.tmp").write_bytes(b"half")
    ckpts = sorted((out / "checkpoints").glob("ckpt-*.state.pt"))
    last = ckpts[-1]
    for p in ckpts[:-1]:
        p.unlink()
    with open(out / "stats.jsonl", "a") as f:  # rows logged after the checkpoint, before a kill
        f.write(json.dumps({"step": 99, "l1": 0.0}) + "\n")
    assert stage1.main(TINY_TRAIN + ["--set", "stage1.steps=20", "--out", str(out)]) == 0
    rows = [json.loads(x)["step"] for x in (out / "stats.jsonl").read_text().splitlines()]
    assert rows == sorted(set(rows)) and 99 not in rows and max(rows) == 20, (last, rows)
    assert not list((out / "checkpoints").glob(".*.tmp"))
    # a refused resume (another preset) leaves the folder's config.json as it was
    before = (out / "config.json").read_text()
    assert stage1.main(["--preset", "cpu", "--no-progress", "--device", "cpu", "--out", str(out)]) == 1
    capsys.readouterr()
    assert (out / "config.json").read_text() == before
