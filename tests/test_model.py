import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from dpg import checkpoint
from dpg.config import Config, override, tiny
from dpg.decoder import TiledInputConv
from dpg.discriminator import ImageDiscriminator
from dpg.errors import UserError
from dpg.eval.metrics import ssim_gray
from dpg.eval.real import region_colour_error
from dpg.keypoints import pose_vector
from dpg.losses import gradient_penalty, region_colour_loss, region_masks, srgb_to_lab, ssim_loss
from dpg.model import DisentangledPersonModel, Factors
from dpg.pixels import to_uint8
from dpg.training import critic_step, mapping_step, pose_ae_step, stage1_step


def batch(cfg, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.model.height, cfg.model.width
    kp = torch.rand(n, 18, 3, generator=g) * torch.tensor([w - 1, h - 1, 1.0])
    kp[..., 2] = 1
    rois = torch.tensor([[1.0, 1.0, w - 3.0, h - 3.0]]).repeat(n, 7, 1)
    return {
        "image": torch.rand(n, 3, h, w, generator=g) * 2 - 1,
        "mask": (torch.rand(n, 1, h, w, generator=g) > 0.5).float(),
        "rois": rois,
        "roi_vis": torch.ones(n, 7),
        "keypoints": kp,
    }


def stage1_setup(cfg):
    """A seeded tiny model, a discriminator and their Adam optimisers (rate 2e-3) for stage-I steps."""
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg)
    disc = ImageDiscriminator(cfg.model.disc_channels, (cfg.model.height, cfg.model.width))
    return model, disc, torch.optim.Adam(model.stage1.parameters(), 2e-3), torch.optim.Adam(disc.parameters(), 2e-3)


def test_tiled_input_conv_equals_literal_tiling():
    torch.manual_seed(0)
    conv = TiledInputConv(10, 18, 6, (9, 5))
    emb, pose = torch.randn(3, 10), torch.randn(3, 18, 9, 5)
    literal = conv.conv(torch.cat([emb[:, :, None, None].expand(3, 10, 9, 5), pose], 1))
    torch.testing.assert_close(conv(emb, pose), literal, rtol=1e-5, atol=1e-5)


def test_shapes_and_absent_parts_give_zero_embeddings():
    cfg = tiny()
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg)
    b = batch(cfg)
    b["roi_vis"][0, 3] = 0
    fg, bg = model.stage1.encode(b["image"], b["mask"], b["rois"], b["roi_vis"])
    assert fg.shape == (4, 7 * cfg.model.part_dim) and bg.shape == (4, cfg.model.bg_dim)
    assert (fg.view(4, 7, -1)[0, 3] == 0).all() and (fg.view(4, 7, -1)[1, 3] != 0).any()
    out = model.stage1.decode(fg, bg, b["keypoints"])
    assert out.shape == (4, 3, cfg.model.height, cfg.model.width)
    with pytest.raises(ValueError):
        model.stage1.encode(b["image"][:, :2], b["mask"], b["rois"], b["roi_vis"])


def test_background_pixels_do_not_reach_the_foreground_embedding_through_the_mask():
    cfg = tiny()
    torch.manual_seed(0)
    net = DisentangledPersonModel(cfg).stage1
    b = batch(cfg)
    b["mask"][:] = 0
    b["mask"][:, :, 8:24, 4:12] = 1
    b2 = {**b, "image": b["image"].clone()}
    b2["image"][:, :, :2] = -b2["image"][:, :, :2]  # change pixels far (>5 px) from the mask
    fg1, bg1 = net.encode(b["image"], b["mask"], b["rois"], b["roi_vis"])
    fg2, bg2 = net.encode(b2["image"], b2["mask"], b2["rois"], b2["roi_vis"])
    assert torch.equal(fg1, fg2) and not torch.equal(bg1, bg2)


def test_whole_body_variant_is_a_config_choice():
    cfg = override(tiny(), ["model.foreground=whole_body"])
    model = DisentangledPersonModel(cfg)
    b = batch(cfg)
    fg, _ = model.stage1.encode(b["image"], b["mask"], b["rois"], b["roi_vis"])
    assert fg.shape == (4, 7 * cfg.model.part_dim)


def test_stage1_step_overfits_one_batch():
    # L1 alone here: at this scale the adversarial term dominates the first hundred steps.
    cfg = override(tiny(), ["stage1.adv_weight=0"])
    model, disc, opt_g, opt_d = stage1_setup(cfg)
    b = batch(cfg)
    # a smooth, learnable target: per-image colour ramps
    h, w = cfg.model.height, cfg.model.width
    ramp = torch.linspace(-1, 1, h)[:, None].expand(h, w)
    b["image"] = torch.stack([torch.stack([ramp * c for c in (0.8, -0.5, 0.3)]) * s for s in (1, -1, 0.5, -0.5)])
    first = stage1_step(model.stage1, disc, opt_g, opt_d, b, cfg.stage1, 0)
    for step in range(80):
        last = stage1_step(model.stage1, disc, opt_g, opt_d, b, cfg.stage1, step)
    assert last["l1"] < 0.5 * first["l1"]
    adv = override(tiny(), ["stage1.adv_start=1"])
    assert "d" not in stage1_step(model.stage1, disc, opt_g, opt_d, b, adv.stage1, 0)
    stats = stage1_step(model.stage1, disc, opt_g, opt_d, b, adv.stage1, 1)
    assert {"l1", "g_adv", "d", "loss"} <= set(stats)


def test_pose_ae_step_overfits():
    cfg = tiny()
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg)
    opt = torch.optim.Adam(model.pose_ae.parameters(), 3e-3)
    v = pose_vector(batch(cfg, 16)["keypoints"], cfg.model.height, cfg.model.width)
    first = pose_ae_step(model.pose_ae, opt, v)["loss"]
    for _ in range(150):
        last = pose_ae_step(model.pose_ae, opt, v)["loss"]
    assert last < 0.2 * first
    out = model.pose_ae(v)
    assert set(out[:, 36:].unique().tolist()) <= {0.0, 1.0}


def test_gradient_penalty_matches_analytic_value():
    # A linear critic D(e) = w.e has gradient w everywhere: GP = (||w|| - 1)^2.
    critic = torch.nn.Linear(5, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0, 0.0]]))
    gp = gradient_penalty(lambda e: critic(e).squeeze(1), torch.randn(7, 5), torch.randn(7, 5))
    assert abs(float(gp) - 16.0) < 1e-5


@pytest.mark.parametrize("objective", ["wgan", "wgan-gp"])
def test_stage2_steps_move_the_mapping_towards_the_data(objective):
    cfg = override(tiny(), [f"stage2.objective={objective}"])
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg)
    mapping, critic = model.stage2.mappings["bg"], model.stage2.critics["bg"]
    real = torch.randn(256, cfg.model.bg_dim) * 0.3 + 2.0
    if objective == "wgan":
        oc, om = torch.optim.RMSprop(critic.parameters(), 5e-3), torch.optim.RMSprop(mapping.parameters(), 5e-3)
    else:
        oc, om = (
            torch.optim.Adam(critic.parameters(), 2e-3, betas=(0.5, 0.9)),
            torch.optim.Adam(mapping.parameters(), 2e-3, betas=(0.5, 0.9)),
        )
    g = torch.Generator().manual_seed(0)
    before = (mapping(mapping.noise(256, g)).mean() - 2.0).abs()
    for _ in range(150):
        for _ in range(3):
            critic_step(mapping, critic, oc, real[torch.randint(256, (32,), generator=g)], mapping.noise(32, g), cfg.stage2, g)
        mapping_step(mapping, critic, om, mapping.noise(32, g))
    after = (mapping(mapping.noise(256, g)).mean() - 2.0).abs()
    assert after < 0.5 * before
    if objective == "wgan":
        assert max(p.abs().max() for p in critic.parameters()) <= cfg.stage2.clip + 1e-7


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    cfg = tiny()
    torch.manual_seed(0)
    model = DisentangledPersonModel(cfg)
    path = tmp_path / "m.safetensors"
    checkpoint.save_weights(path, model, cfg)
    loaded, meta = checkpoint.load_model(path)
    assert loaded.cfg == cfg and meta["stages"] == "stage1,pose_ae,stage2"
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    half = tmp_path / "h.safetensors"
    checkpoint.save_weights(half, model, cfg, half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a safetensors"):
        checkpoint.load_model(tmp_path / "junk.safetensors")
    with pytest.raises(UserError, match="not found"):
        checkpoint.load_model(tmp_path / "missing.safetensors")
    other = override(cfg, ["model.channels=4"])
    wrong = tmp_path / "wrong.safetensors"
    checkpoint.save_weights(wrong, DisentangledPersonModel(other), cfg)  # header lies about the config
    with pytest.raises(UserError, match="does not match|do not fit the config in its header"):
        checkpoint.load_model(wrong)
    partial = tmp_path / "s1.safetensors"
    checkpoint.save_weights(partial, model, cfg, stages=["stage1"])
    with pytest.raises(UserError, match="pose_ae"):
        checkpoint.load_model(partial, stages=["stage1", "pose_ae"])


def test_config_overrides_are_typed_and_checked():
    cfg = override(tiny(), ["stage1.lr=0.5", "model.foreground=whole_body", "stage1.betas=0.1,0.2", "run.amp=false"])
    assert cfg.stage1.lr == 0.5 and cfg.stage1.betas == (0.1, 0.2) and cfg.run.amp is False
    assert Config.from_json(cfg.to_json()) == cfg
    for bad in ["stage1.nope=1", "model=3", "stage1.lr=abc", "noequals"]:
        with pytest.raises(ValueError):
            override(tiny(), [bad])


def test_srgb_to_lab_matches_skimage():
    rgb = torch.rand(500, 3, generator=torch.Generator().manual_seed(0))
    rgb[:4] = torch.tensor([[0.0, 0, 0], [1, 1, 1], [0.01, 0.02, 0.0], [1, 0, 0]])  # ends and the linear toe
    want = torch.tensor(rgb2lab(rgb.numpy()[None])[0], dtype=torch.float32)
    assert torch.allclose(srgb_to_lab(rgb), want, atol=1e-2)


def test_region_masks_cut_the_benchmark_s_boxes():
    # random fractional ROIs: the loss's regions are exactly the pixels region_colour_error averages
    g = torch.Generator().manual_seed(3)
    h, w = 32, 16
    lo = torch.rand(5, 7, 2, generator=g) * torch.tensor([w - 4.0, h - 4.0])
    rois = torch.cat([lo, lo + 0.5 + torch.rand(5, 7, 2, generator=g) * torch.tensor([w / 2, h / 2])], -1)
    mask = (torch.rand(5, 1, h, w, generator=g) > 0.3).float()
    vis = (torch.rand(5, 7, generator=g) > 0.2).float()
    got = region_masks(mask, rois, vis)
    for n in range(5):
        for k in range(7):
            x0, y0, x1, y1 = rois[n, k].tolist()
            box = np.zeros((h, w), bool)
            box[int(y0) : min(int(np.ceil(y1)), h), int(x0) : min(int(np.ceil(x1)), w)] = True
            want = box & (mask[n, 0].numpy() > 0.5) & bool(vis[n, k] > 0.5)
            assert np.array_equal(got[n, k].numpy().astype(bool), want), (n, k)


def _people(n=3, h=32, w=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(n, 3, h, w, generator=g) * 2 - 1
    mask = torch.zeros(n, 1, h, w)
    mask[:, :, 4:28, 3:13] = 1
    rois = torch.tensor([[0.5, 0.2, 16, 15.5], [0, 16, 15.2, 32], [2, 2, 9, 9]]).repeat(n, 1, 1)
    vis = torch.tensor([[1.0, 1, 0]]).repeat(n, 1)
    return target, mask, rois, vis


def _bench(output, target, mask, rois, vis):
    """region_colour_error on the pictures as shown (to_uint8 clamps each pixel), per person."""
    return np.mean(
        [
            region_colour_error(to_uint8(t[None])[0], to_uint8(o[None])[0], m[0].numpy(), r.numpy(), v.numpy())
            for t, o, m, r, v in zip(target, output, mask, rois, vis)
        ]
    )


def test_region_colour_loss_is_the_bench_measure_and_pulls_the_mean_colour():
    target, mask, rois, vis = _people()
    assert float(region_colour_loss(target, target, mask, rois, vis)) < 1e-2
    # a tint, and an output overshooting [-1, 1]: each pixel is clamped before the mean, as shown
    tinted = (target + torch.tensor([0.3, -0.2, 0.1])[:, None, None]).clamp(-1, 1)
    overshoot = target * 1.6 + 0.2
    for out in (tinted, overshoot):
        loss = float(region_colour_loss(out, target, mask, rois, vis))
        # people with equal region counts: the loss's mean over regions is the bench's over people
        assert loss == pytest.approx(_bench(out, target, mask, rois, vis), rel=0.02) and loss > 2
    # pixels outside the mask do not count, nor those of a hidden region
    assert float(region_colour_loss(target.where(mask.bool(), torch.ones_like(target)), target, mask, rois, vis)) < 1e-2
    lower = target.clone()
    lower[:, :, 16:] = 1
    assert float(region_colour_loss(lower, target, mask, rois, vis)) > 5
    assert float(region_colour_loss(lower, target, mask, rois, vis * torch.tensor([1.0, 0, 0]))) < 1e-2
    # the box edges: the last row inside the first box (y1 = 15.5 -> rows up to 15) counts, row 16 not
    for row, inside in ((15, True), (16, False)):
        edge = target.clone()
        edge[:, :, row] = 1
        only_first = vis * torch.tensor([1.0, 0, 0])
        assert (float(region_colour_loss(edge, target, mask, rois, only_first)) > 0.5) == inside, row
    # its gradient moves the output's mean colour toward the target's
    out = tinted.clone().requires_grad_(True)
    loss = region_colour_loss(out, target, mask, rois, vis)
    loss.backward()
    stepped = (out - 0.05 * out.grad / out.grad.abs().max()).detach()
    assert float(region_colour_loss(stepped, target, mask, rois, vis)) < float(loss)
    # no region large enough: zero, still on the graph
    none = region_colour_loss(out, target, torch.zeros_like(mask), rois, vis)
    assert float(none.detach()) == 0 and none.requires_grad


def test_region_colour_loss_is_fp32_under_bf16_autocast():
    target, mask, rois, vis = _people()
    out = target + 0.02 * torch.randn(target.shape, generator=torch.Generator().manual_seed(2))
    fp32 = float(region_colour_loss(out, target, mask, rois, vis))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = region_colour_loss(out, target, mask, rois, vis)
    assert bf16.dtype == torch.float32 and float(bf16) == pytest.approx(fp32, rel=1e-4)


def _stage1_with_weight(field: str, weight: float, measure):
    """A tiny stage I after 31 L1 steps on one batch with ``stage1.<field>=weight``: its config,
    the first step's losses, and ``measure(out, batch)`` of the output after."""
    cfg = override(tiny(), ["stage1.adv_weight=0", f"stage1.{field}={weight}"])
    model, disc, opt_g, opt_d = stage1_setup(cfg)
    b = batch(cfg)
    first = stage1_step(model.stage1, disc, opt_g, opt_d, b, cfg.stage1, 0)
    for step in range(30):
        stage1_step(model.stage1, disc, opt_g, opt_d, b, cfg.stage1, step)
    with torch.no_grad():
        out = model.stage1(b["image"], b["mask"], b["rois"], b["roi_vis"], b["keypoints"])
    return cfg, first, measure(out, b)


def test_stage1_step_adds_the_colour_loss_when_weighted():
    def run(weight):
        colour = lambda out, b: float(region_colour_loss(out, b["image"], b["mask"], b["rois"], b["roi_vis"]))
        return _stage1_with_weight("colour_weight", weight, colour)

    cfg, first, weighted = run(2.0)
    assert first["loss"] == pytest.approx(cfg.stage1.l1_weight * first["l1"] + 2.0 * first["colour"], rel=1e-4)
    _, plain, unweighted = run(0.0)
    assert "colour" not in plain
    assert weighted < 0.7 * unweighted  # the term, not the L1 alone, brought the colours in


def test_ssim_loss_is_the_bench_measure_and_is_fp32_under_bf16():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 3, 32, 16, generator=g) * 2 - 1
    out = (target + 0.3 * torch.randn(target.shape, generator=g)).clamp(-1, 1)
    u8 = lambda t: ((t + 1) / 2 * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    bench = np.mean([ssim_gray(o, t) for o, t in zip(u8(out), u8(target))])
    assert 1 - float(ssim_loss(out, target)) == pytest.approx(bench, abs=0.005)  # uint8 rounding apart
    assert float(ssim_loss(target, target)) < 1e-4
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = ssim_loss(out, target)
    assert bf16.dtype == torch.float32 and float(bf16) == pytest.approx(float(ssim_loss(out, target)), rel=1e-4)


def test_stage1_step_adds_the_structure_loss_when_weighted():
    def run(weight):
        return _stage1_with_weight("ssim_weight", weight, lambda out, b: float(ssim_loss(out, b["image"])))

    cfg, first, weighted = run(20.0)
    assert first["loss"] == pytest.approx(cfg.stage1.l1_weight * first["l1"] + 20.0 * first["ssim"], rel=1e-4)
    _, plain, unweighted = run(0.0)
    assert "ssim" not in plain
    assert weighted < unweighted  # the term, not the L1 alone, brought the structure in


@pytest.mark.parametrize("with_bg", [True, False])
def test_factors_put_back_together_and_indexed_are_the_same_people(with_bg):
    g = torch.Generator().manual_seed(0)
    whole = Factors(torch.randn(5, 4, generator=g), torch.randn(5, 3, generator=g) if with_bg else None, torch.randn(5, 18, 3, generator=g))
    again = Factors.cat([whole[:2], whole[2:3], whole[3:]])
    assert torch.equal(again.fg, whole.fg) and torch.equal(again.keypoints, whole.keypoints)
    assert (again.bg is None) == (not with_bg) and (not with_bg or torch.equal(again.bg, whole.bg))
    picked = whole[np.array([4, 0])]
    assert len(picked) == 2 and torch.equal(picked.fg[0], whole.fg[4]) and torch.equal(picked.keypoints[1], whole.keypoints[0])
