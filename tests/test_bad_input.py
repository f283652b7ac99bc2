"""Bad input on the command line is one clear line and exit code 1 (or argparse's 2), never a
traceback and never a silent wrong result: counts and seeds, devices, paths that cannot be
written, checkpoints that cannot sample, malformed files, meaningless config values."""

import json

import pytest
import torch

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
    assert "given twice" in run(["eval", "sampling", "--model", f"a={m}", "--model", f"a={m}", "-n", "2",
                                 "--out", str(tmp_path)], capsys)  # fmt: skip


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
    from dpg.data.synthetic import load_poses
    from dpg.errors import UserError

    path = tmp_path / "poses.csv"
    path.write_text("name:keypoints_y:keypoints_x\na.jpg:[10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]"
                    ":[10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]\n")  # fmt: skip
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
    ],
)
def test_meaningless_config_values_are_refused(setting, message):
    with pytest.raises(ValueError, match=message):
        override(tiny(), [setting])


TINY = ["--preset", "tiny", "--no-progress", "--device", "cpu"]


def test_trainers_report_bad_paths_and_unreadable_checkpoints(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert stage1.main(TINY + ["--out", str(afile)]) == 1
    assert "check the paths given" in capsys.readouterr().err
    run_dir = tmp_path / "r"
    assert stage1.main(TINY + ["--set", "stage1.steps=2", "--set", "run.checkpoint_every=2", "--out", str(run_dir)]) == 0
    ckpt = run_dir / "checkpoints" / "ckpt-0000002.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # truncated, as by a full disk
    capsys.readouterr()
    assert stage1.main(TINY + ["--set", "stage1.steps=4", "--out", str(run_dir)]) == 1
    assert "--fresh" in capsys.readouterr().err
    state = run_dir / "checkpoints" / "ckpt-0000002.state.pt"
    ckpt.unlink()
    assert stage1.main(TINY + ["--set", "stage1.steps=2", "--set", "run.checkpoint_every=2", "--fresh", "--out", str(run_dir)]) == 0
    state.write_bytes(b"")  # an empty file (a crash before the data reached the disk): an error without a message
    capsys.readouterr()
    assert stage1.main(TINY + ["--set", "stage1.steps=4", "--out", str(run_dir)]) == 1
    assert "--fresh" in capsys.readouterr().err
    assert stage1.main(TINY + ["--set", "stage1.steps=4", "--fresh", "--out", str(run_dir)]) == 0


def test_demo_refuses_unknown_stages_and_budgets(tmp_path, capsys):
    assert demo.main(["--stages", "stage3", "--out", str(tmp_path)]) == 1
    assert "choose from pose_ae,stage1,stage2,export" in capsys.readouterr().err
    assert demo.main(["--minutes", "5", "--out", str(tmp_path)]) == 1
    assert "three budgets" in capsys.readouterr().err
    assert demo.main(["--stages", "export", "--out", str(tmp_path)]) == 1
    assert "nothing to export" in capsys.readouterr().err


def test_checkpoint_paths_that_are_folders_or_mistyped(tmp_path, monkeypatch):
    from dpg.errors import UserError
    from dpg.inference import resolve_checkpoint

    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "model.safetensors").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="is a folder: pass the .safetensors file inside it, e.g. runs/model.safetensors"):
        resolve_checkpoint("runs")
    with pytest.raises(UserError, match="checkpoint not found: runs/modle .*pass hf://runs/modle"):  # a typo, not the Hub
        resolve_checkpoint("runs/modle")
    with pytest.raises(UserError, match="Hub"):  # asked for explicitly: no network here, a clear error
        resolve_checkpoint("hf://runs/modle")
