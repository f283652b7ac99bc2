"""The sampling baselines (``dpg.baselines``, ``train.baselines``) and ``dpg eval sampling``
on the tiny preset and procedural people."""

import json

import pytest
import torch
from conftest import TINY_TRAIN
from safetensors.torch import load_file

from dpg.baselines import build, load_baseline, read_baseline_metadata, sample_images
from dpg.baselines.config import preset
from dpg.baselines.dcgan import DCGAN, dcgan_step
from dpg.baselines.vae import ConvVAE, vae_loss
from dpg.checkpoint import save_weights
from dpg.cli import main as dpg
from dpg.config import tiny
from dpg.errors import UserError
from dpg.model import DisentangledPersonModel
from train import baselines


@pytest.mark.parametrize("size", [(32, 16), (128, 64)])
def test_vae_shapes_and_loss(size):
    torch.manual_seed(0)
    vae = ConvVAE(*size, channels=4, blocks=4 if size[0] == 128 else 2, latent_dim=8)
    x = torch.rand(3, 3, *size) * 2 - 1
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (3, 8)
    recon, mu, logvar = vae(x, torch.zeros(3, 8))
    assert recon.shape == x.shape and recon.abs().max() <= 1
    loss, rec, kl = vae_loss(x, recon, mu, logvar)
    assert torch.isfinite(loss) and kl >= 0 and rec > 0
    # KL of q = N(0, I) is exactly zero
    assert vae_loss(x, x, torch.zeros(3, 8), torch.zeros(3, 8))[2].item() == 0
    with pytest.raises(ValueError):
        vae.encode(torch.zeros(1, 3, size[0], size[1] + 1))


@pytest.mark.parametrize("size", [(32, 16), (128, 64)])
def test_dcgan_shapes_and_one_step(size):
    torch.manual_seed(0)
    gan = DCGAN(*size, channels=4, blocks=4 if size[0] == 128 else 2, latent_dim=8)
    z = gan.noise(5)
    assert gan.sample(z).shape == (5, 3, *size)
    assert gan.critic(gan.sample(z)).shape == (5,)
    opt_g = torch.optim.Adam(gan.generator.parameters(), 1e-3)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), 1e-3)
    before = [p.clone() for p in gan.generator.parameters()]
    stats = dcgan_step(gan, opt_g, opt_d, torch.rand(4, 3, *size) * 2 - 1, torch.Generator().manual_seed(0))
    assert set(stats) == {"d", "g", "d_real", "d_fake"}
    assert any(not torch.equal(a, b) for a, b in zip(before, gan.generator.parameters()))


def test_samples_depend_on_their_own_seed_only():
    torch.manual_seed(0)
    net = build("dcgan", preset("tiny")).eval()
    a, b = sample_images(net, [3, 4]), sample_images(net, [7, 4])
    assert a.shape == (2, 3, 32, 16)
    assert torch.equal(a[1], b[1]) and not torch.equal(a[0], b[0])


@pytest.mark.parametrize("model", ["vae", "dcgan"])
def test_train_writes_the_run_and_resumes_exactly(tmp_path, model):
    full, part = tmp_path / "full", tmp_path / "part"
    assert baselines.main(TINY_TRAIN + ["--model", model, "--out", str(full)]) == 0
    rows = [json.loads(line) for line in (full / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 6
    assert (full / "losses.png").exists() and (full / "samples" / "step-0000006.png").exists()
    assert json.loads((full / "config.json").read_text())["name"] == "tiny"
    meta = read_baseline_metadata(full / f"{model}.safetensors")
    assert meta["model"] == model and json.loads(meta["config"])["height"] == 32
    # killed after the step-3 checkpoint, then resumed: bit-identical to the uninterrupted run
    assert baselines.main(TINY_TRAIN + ["--model", model, "--set", f"{model}_train.steps=3", "--out", str(part)]) == 0
    assert baselines.main(TINY_TRAIN + ["--model", model, "--out", str(part)]) == 0
    assert "step 4 " in (part / "log.txt").read_text()
    a, b = load_file(str(full / f"{model}.safetensors")), load_file(str(part / f"{model}.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    net, cfg = load_baseline(full / f"{model}.safetensors")
    assert cfg == preset("tiny") and not net.training


def test_train_refuses_unknown_keys_and_dry_runs(capsys):
    with pytest.raises(SystemExit):
        baselines.main(TINY_TRAIN + ["--model", "vae", "--set", "vae.nope=1"])
    assert baselines.main(TINY_TRAIN + ["--model", "vae", "--set", "vae.latent_dim=16", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["vae"]["latent_dim"] == 16


def test_load_refuses_a_main_model_checkpoint(tmp_path):
    path = tmp_path / "ours.safetensors"
    save_weights(path, DisentangledPersonModel(tiny()), tiny())
    with pytest.raises(UserError, match="not a baseline checkpoint"):
        load_baseline(path)


def test_eval_sampling_writes_table_json_and_figure(tmp_path):
    runs = tmp_path / "runs"
    for model in ("vae", "dcgan"):
        assert baselines.main(TINY_TRAIN + ["--model", model, "--set", f"{model}_train.steps=2", "--out", str(runs / model)]) == 0
    torch.manual_seed(0)
    ours = tmp_path / "ours.safetensors"
    save_weights(ours, DisentangledPersonModel(tiny()), tiny())
    poses = tmp_path / "poses.csv"  # one real pose at 128x64 (the community CSV layout)
    ys = [10, 24, 24, 40, 56, 24, 40, 56, 64, 90, 116, 64, 90, 116, 8, 8, 9, 9]
    xs = [32, 32, 24, 22, 20, 40, 42, 44, 28, 28, 28, 36, 36, 36, 30, 34, 27, 37]
    poses.write_text(f"name:keypoints_y:keypoints_x\na.jpg: {ys}: {xs}\n")
    out = tmp_path / "eval"
    rc = dpg(
        [
            "eval",
            "sampling",
            "--model",
            f"VAE={runs / 'vae' / 'vae.safetensors'}",
            "--model",
            f"DCGAN={runs / 'dcgan' / 'dcgan.safetensors'}",
            "--model",
            f"WholeBody={tmp_path / 'missing.safetensors'}",
            "--model",
            f"BodyROI7={ours}",
            "--real-poses",
            str(poses),
            "-n",
            "4",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    result = json.loads((out / "sampling.json").read_text())
    assert [r["name"] for r in result["models"]] == ["VAE", "DCGAN", "BodyROI7", "BodyROI7 + real poses"]
    assert any("WholeBody left out" in n for n in result["notes"])
    table = (out / "sampling.md").read_text()
    assert "| BodyROI7 + real poses |" in table and (out / "sampling.png").stat().st_size > 1000
    fid_missing = [n for n in result["notes"] if n.startswith("FID not computed")]
    if fid_missing:  # the offline extractor is an optional dependency: the table says why
        assert all(r.get("fid") is None for r in result["models"])
    else:
        assert all(r["fid"] >= 0 for r in result["models"])


def test_eval_sampling_names_a_file_that_is_no_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_text("not weights")
    assert dpg(["eval", "sampling", "--model", f"x={bad}", "-n", "2", "--device", "cpu", "--out", str(tmp_path)]) == 1
    assert "is not a safetensors checkpoint" in capsys.readouterr().err
