"""Invertible stage-II mappings (``dpg.mapping.FlowMapping``, issue 21): the Lipschitz bound,
the exact inverse, the Gaussian start, inversion through the API without L-BFGS, checkpoints,
``train.flow`` (distilling a model's mappings) and ``train.stage2`` training a flow."""

import pytest
import torch
from conftest import TINY_TRAIN
from safetensors.torch import load_file

from dpg import checkpoint, inversion
from dpg.config import override, tiny
from dpg.inference import PersonGenerator
from dpg.mapping import ContractiveLinear, FlowMapping, MappingNetwork
from dpg.model import DisentangledPersonModel
from train import flow as flow_cli
from train import stage2

FLOWS = ["mapping.flow=fg,bg,pose"]


def strong_flow(dim=12, hidden=16, blocks=3, lipschitz=0.9, seed=0) -> FlowMapping:
    """A flow whose branches are as strong as the bound allows (fresh ones are near 0)."""
    torch.manual_seed(seed)
    m = FlowMapping(dim, hidden, blocks, 0.2, lipschitz)
    with torch.no_grad():
        for g in m.branches:
            g[2].weight.mul_(50)
        m.out.weight.copy_(torch.randn(dim, dim))
    m.train()
    for _ in range(30):  # power iterations settle
        m(torch.randn(4, dim))
    return m.eval()


def test_contractive_linear_holds_its_bound_and_leaves_smaller_weights_alone():
    torch.manual_seed(0)
    big, small = ContractiveLinear(10, 20, 0.7), ContractiveLinear(10, 20, 0.7)
    with torch.no_grad():
        big.weight.mul_(10)
        small.weight.mul_(0.01)
    for _ in range(30):
        big(torch.randn(3, 10)), small(torch.randn(3, 10))
    big.eval(), small.eval()
    assert float(torch.linalg.matrix_norm(big.scaled_weight().detach(), 2)) == pytest.approx(0.7, rel=1e-3)
    assert torch.equal(small.scaled_weight().detach(), small.weight.detach())
    u = big.u.clone()
    big(torch.randn(3, 10))
    assert torch.equal(big.u, u)  # no power-iteration step outside training


def test_a_frozen_scaled_weight_follows_every_change_of_the_weights():
    # out of training and without gradients the scaled weight is computed once per state of
    # the weight; an in-place step, a load, a cast or a training step must each be seen
    layer = ContractiveLinear(6, 8, 0.5)
    with torch.no_grad():
        layer.weight.mul_(10)
    layer.eval()
    x = torch.randn(3, 6)

    def fresh():  # the same layer, nothing kept
        return torch.nn.functional.linear(x.to(layer.weight.dtype), layer._scaled_weight(), layer.bias)

    with torch.no_grad():
        first = layer(x)
        assert layer.scaled_weight() is layer.scaled_weight()  # kept
        layer.weight.add_(1.0)  # an optimiser's in-place step
        assert not torch.equal(layer(x), first)
        torch.testing.assert_close(layer(x), fresh(), rtol=0, atol=0)
        layer.load_state_dict({k: v * 2 for k, v in layer.state_dict().items()})
        torch.testing.assert_close(layer(x), fresh(), rtol=0, atol=0)
    layer.double()
    with torch.no_grad():
        assert layer(x.double()).dtype == torch.float64
        torch.testing.assert_close(layer(x.double()), fresh(), rtol=0, atol=0)
    layer.train()
    layer(x.double()).sum().backward()  # training: a power-iteration step and gradients
    assert layer.weight.grad is not None
    layer.eval()
    with torch.no_grad():
        torch.testing.assert_close(layer(x.double()), fresh(), rtol=0, atol=0)  # u moved: recomputed
    y = layer(x.double())  # eval with gradients (inversion by gradient): not frozen, differentiable
    assert y.requires_grad


def test_flow_inverse_is_exact_for_drawn_and_arbitrary_embeddings():
    m = strong_flow()
    z = m.noise(5, torch.Generator().manual_seed(1))
    with torch.no_grad():
        e = m(z)
        assert (e - m.out(z / m.noise_std)).abs().max() > 0.1  # the blocks bend: a real test of the fixed point
    torch.testing.assert_close(m.inverse(e), z, atol=1e-4, rtol=1e-4)
    anywhere = torch.randn(3, 12) * 5  # a bijection: every embedding has its z
    with torch.no_grad():
        torch.testing.assert_close(m(m.inverse(anywhere)), anywhere, atol=1e-3, rtol=1e-4)
    m.train()
    m.inverse(e)
    assert m.training  # the mode is restored


def test_fit_gaussian_starts_at_the_embeddings_mean_and_covariance():
    torch.manual_seed(0)
    mix = torch.randn(6, 6)
    e = torch.randn(20000, 6) @ mix.t() + torch.arange(6.0)
    m = FlowMapping(6, 8, 2, 0.2)
    m.fit_gaussian(e)
    with torch.no_grad():
        s = m(m.noise(20000, torch.Generator().manual_seed(0)))
    torch.testing.assert_close(s.mean(0), e.mean(0), atol=0.15, rtol=0)
    torch.testing.assert_close(torch.cov(s.t()), torch.cov(e.t()), atol=0.25 * float(torch.cov(e.t()).abs().max()), rtol=0)


def test_flow_config_is_checked():
    with pytest.raises(ValueError, match="fg, bg, pose"):
        override(tiny(), ["mapping.flow=fg,hair"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        override(tiny(), ["mapping.flow_lipschitz=1.0"])
    cfg = override(tiny(), ["mapping.flow=bg"])
    model = DisentangledPersonModel(cfg)
    assert isinstance(model.stage2.mappings["bg"], FlowMapping) and isinstance(model.stage2.mappings["fg"], MappingNetwork)


@pytest.fixture(scope="module")
def flow_gen(tmp_path_factory):
    """A seeded tiny model whose three mappings are strong flows, saved and loaded back."""
    cfg = override(tiny(), FLOWS)
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg)
    for f, m in model.stage2.mappings.items():
        strong = strong_flow(
            m.dim, cfg.mapping.pose_hidden if f == "pose" else getattr(cfg.mapping, f"{f}_hidden"), cfg.mapping.flow_blocks, seed=3
        )
        m.load_state_dict(strong.state_dict())
    path = tmp_path_factory.mktemp("flow") / "flow.safetensors"
    checkpoint.save_weights(path, model.eval(), cfg)
    return PersonGenerator.from_checkpoint(str(path), "cpu"), model, path


def test_a_flow_model_round_trips_through_its_checkpoint(flow_gen):
    gen, model, path = flow_gen
    assert gen.cfg.mapping.flow == "fg,bg,pose"
    z = torch.randn(3, model.cfg.model.fg_dim) * 0.2
    with torch.no_grad():
        torch.testing.assert_close(gen.model.stage2.mappings["fg"](z), model.stage2.mappings["fg"](z))


def test_inverting_flows_needs_no_lbfgs_for_foreground_and_background(flow_gen, monkeypatch):
    gen = flow_gen[0]
    target = gen.sample(fg=[4, 7], bg=[5, 8], pose=[6, 9])
    calls = []
    real_fit = inversion.fit

    def counting_fit(fn, z, t, iters, tol):
        calls.append(fn)
        return real_fit(fn, z, t, iters, tol)

    monkeypatch.setattr(inversion, "fit", counting_fit)
    inv = gen.invert(target, only=("fg", "bg"))
    assert calls == []
    for f in ("fg", "bg"):
        assert inv.residual[f].max() < 1e-4
        torch.testing.assert_close(inv.z[f], gen.noise(f, [4, 7] if f == "fg" else [5, 8]), atol=1e-3, rtol=1e-3)
    pose = gen.invert(target, only=("pose",), iters=300, tol=0.01)
    assert calls and calls[0] == gen.model.drawn_pose_code  # the code fit in the pose code's own space first
    assert pose.z["pose"].shape == (2, gen.model.stage2.mappings["pose"].dim) and (pose.residual["pose"] >= 0).all()


def test_inversion_without_flows_is_unchanged(gen, monkeypatch):
    """The FC ResNet mappings still go through L-BFGS (the tiny model of conftest)."""
    calls = []
    real_fit = inversion.fit
    monkeypatch.setattr(inversion, "fit", lambda *a: calls.append(1) or real_fit(*a))
    gen.invert(gen.sample(fg=1, bg=2, pose=3), iters=100, only=("bg",))
    assert calls


@pytest.fixture(scope="module")
def tiny_model(tiny_runs, tmp_path_factory):
    """A whole tiny model: conftest's pose AE and stage I, and 4 stage-II steps."""
    root = tiny_runs
    out = tmp_path_factory.mktemp("s2")
    init = ["--init", str(root / "stage1" / "stage1.safetensors"), "--init", str(root / "pose_ae" / "pose_ae.safetensors")]
    assert stage2.main(TINY_TRAIN + init + ["--procedural", "200", "--set", "stage2.steps=4", "--out", str(out)]) == 0
    return out / "model.safetensors"


def gaussian_start(old, hidden: int, blocks: int) -> FlowMapping:
    """The flow ``train.flow`` starts from for mapping ``old``: fitted to 8,192 of its draws."""
    start = FlowMapping(old.dim, hidden, blocks, old.noise_std)
    with torch.no_grad():
        start.fit_gaussian(old(old.noise(8192, torch.Generator().manual_seed(0))))
    return start.eval()


def test_train_flow_distils_the_named_mappings_and_copies_the_rest(tiny_model, tmp_path, capsys):
    out = tmp_path / "flow.safetensors"
    assert flow_cli.main(["--from", str(tiny_model), "--factors", "bg", "--steps", "60", "--out", str(out), "--full"]) == 0
    a, b = load_file(str(tiny_model)), load_file(str(out))
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("stage2.mappings.bg."))
    meta = checkpoint.read_metadata(out)
    assert meta["flow_bg_steps"] == "60" and 0 <= float(meta["flow_bg_error"]) < 1
    assert meta["stage2_steps"] == checkpoint.read_metadata(tiny_model)["stage2_steps"] == "4"  # the input's facts kept
    gen = PersonGenerator.from_checkpoint(str(out), "cpu")
    assert isinstance(gen.model.stage2.mappings["bg"], FlowMapping)
    assert isinstance(gen.model.stage2.mappings["fg"], MappingNetwork)
    # regression pulled the flow towards the mapping: closer than its Gaussian start
    old = PersonGenerator.from_checkpoint(str(tiny_model), "cpu").model.stage2.mappings["bg"]
    start = gaussian_start(old, gen.cfg.mapping.bg_hidden, gen.cfg.mapping.flow_blocks)
    z = old.noise(512, torch.Generator().manual_seed(9))
    assert flow_cli.relative_error(gen.model.stage2.mappings["bg"], old, z) < flow_cli.relative_error(start, old, z)
    # continued from its own flow, the teacher named: the steps add up, the error does not grow much
    again = tmp_path / "again.safetensors"
    cont = ["--from", str(out), "--teacher", str(tiny_model), "--factors", "bg", "--steps", "40", "--pairs", "2000", "--full"]
    assert flow_cli.main(cont + ["--out", str(again)]) == 0
    meta2 = checkpoint.read_metadata(again)
    assert meta2["flow_bg_steps"] == "100" and float(meta2["flow_bg_error"]) < 1.5 * float(meta["flow_bg_error"]) + 0.01
    capsys.readouterr()
    assert flow_cli.main(cont[:2] + ["--factors", "bg", "--out", str(tmp_path / "bad.safetensors")]) == 1
    assert "--teacher" in capsys.readouterr().err  # a flow is no teacher
    assert flow_cli.main(cont + ["--blocks", "5", "--out", str(tmp_path / "bad.safetensors")]) == 1
    assert "--blocks" in capsys.readouterr().err
    assert flow_cli.main(["--from", str(tiny_model), "--factors", "hair", "--out", str(tmp_path / "bad.safetensors")]) == 1
    assert "--factors 'hair'" in capsys.readouterr().err
    assert flow_cli.main(["--from", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "bad.safetensors")]) == 1
    assert "not found" in capsys.readouterr().err


def test_sliced_wasserstein_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4096, 8, generator=g), torch.randn(4096, 8, generator=g)
    same = float(flow_cli.sliced_wasserstein(a, b, 64, g))
    shifted = float(flow_cli.sliced_wasserstein(a, b + 1.0, 64, g))
    assert same < 0.01 and shifted > 0.5  # a unit shift on each of 8 axes: ~1 per unit direction


def test_the_sliced_distance_pulls_a_flow_towards_the_mappings_draws(tiny_model, tmp_path, capsys):
    out = tmp_path / "swd.safetensors"
    base = ["--from", str(tiny_model), "--factors", "bg", "--steps", "80", "--pairs", "4000", "--full"]
    assert flow_cli.main(base + ["--regress", "0", "--swd", "1", "--out", str(out)]) == 0
    meta = checkpoint.read_metadata(out)
    old = PersonGenerator.from_checkpoint(str(tiny_model), "cpu").model.stage2.mappings["bg"]
    cfg = PersonGenerator.from_checkpoint(str(out), "cpu").cfg
    start = gaussian_start(old, cfg.mapping.bg_hidden, cfg.mapping.flow_blocks)
    z = old.noise(2048, torch.Generator().manual_seed(0))
    # the distance alone brought the flow's draws at least as close as its Gaussian start
    assert float(meta["flow_bg_swd"]) <= 1.2 * flow_cli.held_out_swd(start, old, z, 0) + 1e-3
    capsys.readouterr()
    assert flow_cli.main(base + ["--regress", "0", "--swd", "0", "--out", str(tmp_path / "bad.safetensors")]) == 1
    assert "--swd" in capsys.readouterr().err


def test_stage2_trains_a_flow_from_its_gaussian_start(tiny_model, tmp_path, capsys):
    args = ["--init", str(tiny_model), "--init-stage2", str(tiny_model), "--factors", "bg", "--procedural", "200"]
    # a flow in place of a loaded FC ResNet must be restarted, and the refusal says so
    assert stage2.main(TINY_TRAIN + args + ["--set", "mapping.flow=bg", "--out", str(tmp_path / "bad")]) == 1
    assert "--restart" in capsys.readouterr().err
    more = args + ["--restart", "bg", "--set", "mapping.flow=bg", "--set", "stage2.steps=2"]
    assert stage2.main(TINY_TRAIN + more + ["--out", str(tmp_path / "f")]) == 0
    gen = PersonGenerator.from_checkpoint(str(tmp_path / "f" / "model.safetensors"), "cpu")
    m = gen.model.stage2.mappings["bg"]
    assert isinstance(m, FlowMapping)
    real = load_file(str(tmp_path / "f" / "embeddings.safetensors"))["bg"]
    # two steps from the Gaussian fit: the draws' mean is the embeddings' (an untrained flow's is 0-ish)
    with torch.no_grad():
        drawn = m(m.noise(4096, torch.Generator().manual_seed(0)))
    assert float((drawn.mean(0) - real.mean(0)).norm()) < 0.2 * float(real.std(0).norm()) + 1e-3
    # and it continues as a flow without --restart
    cont = ["--init", str(tmp_path / "f" / "model.safetensors"), "--init-stage2", str(tmp_path / "f" / "model.safetensors")]
    cont += ["--factors", "bg", "--procedural", "200", "--set", "mapping.flow=bg", "--set", "stage2.steps=1"]
    assert stage2.main(TINY_TRAIN + cont + ["--out", str(tmp_path / "g")]) == 0


def test_a_distilled_flow_rides_through_another_factors_stage2_with_its_facts(tiny_model, tmp_path):
    flowed = tmp_path / "bgflow.safetensors"
    assert flow_cli.main(["--from", str(tiny_model), "--factors", "bg", "--steps", "20", "--out", str(flowed), "--full"]) == 0
    # the foreground's FC ResNet trains on; the background's flow is loaded and kept as it was
    args = ["--init", str(flowed), "--init-stage2", str(flowed), "--factors", "fg", "--procedural", "200"]
    assert stage2.main(TINY_TRAIN + args + ["--set", "mapping.flow=bg", "--set", "stage2.steps=2", "--out", str(tmp_path / "s")]) == 0
    out = tmp_path / "s" / "model.safetensors"
    a, b = load_file(str(flowed)), load_file(str(out))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("stage2.mappings.bg."))
    meta = checkpoint.read_metadata(out)
    assert meta["flow_bg_steps"] == "20" and meta["flow_bg_error"] == checkpoint.read_metadata(flowed)["flow_bg_error"]


def test_a_singular_flow_falls_back_to_lbfgs(flow_gen):
    gen, model, path = flow_gen
    g2 = PersonGenerator.from_checkpoint(str(path), "cpu")
    target = g2.sample(fg=4, bg=5, pose=6)
    with torch.no_grad():
        g2.model.stage2.mappings["bg"].out.weight.zero_()  # no inverse exists
    inv = g2.invert(target, only=("bg",), iters=100)
    assert inv.z["bg"].shape == (1, g2.model.stage2.mappings["bg"].dim) and inv.residual["bg"][0] < float("inf")
