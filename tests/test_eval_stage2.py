"""Stage-II checks (``dpg.eval.stage2``): pose features of hand-made poses, the plausibility
ranges, and the Fréchet table's baselines on the tiny model."""

import numpy as np
import pytest
from conftest import seeded_tiny_model

from dpg.eval.stage2 import PoseRanges, frechet_table, pose_features, pose_plausibility, split_real, stage2_samples


def standing(jitter=0.0, rng=None):
    """A front-facing person at 128x64, (x, y, v) per joint; the right arm bent 90 degrees."""
    kp = np.zeros((18, 3))
    pts = {
        0: (32, 12),
        1: (32, 24),
        2: (24, 24),
        3: (24, 40),
        4: (36, 40),
        5: (40, 24),
        6: (40, 40),
        7: (40, 56),
        8: (28, 64),
        9: (28, 88),
        10: (28, 112),
        11: (36, 64),
        12: (36, 88),
        13: (36, 112),
    }
    for j, (x, y) in pts.items():
        kp[j] = (x, y, 1)
    if rng is not None:
        kp[:14, :2] += rng.normal(0, jitter, (14, 2))
    return kp


def test_pose_features_of_a_hand_made_pose():
    lengths, angles, pattern = pose_features(standing()[None])
    torso = 40.0  # neck (32, 24) to mid-hip (32, 64)
    assert lengths[0, 0] == pytest.approx(8 / torso)  # neck - right shoulder
    assert lengths[0, 3] == pytest.approx(12 / torso)  # right forearm
    assert angles[0, 1] == pytest.approx(np.pi / 2)  # the right elbow
    assert angles[0, 3] == pytest.approx(np.pi)  # the left elbow, straight
    assert angles[0, -1] == pytest.approx(0.0)  # the torso upright
    assert pattern[0] == (1 << 14) - 1
    kp = standing()
    kp[4] = 0  # no right wrist: the forearm and the elbow angle are undefined, not wrong
    lengths, angles, pattern = pose_features(kp[None])
    assert np.isnan(lengths[0, 3]) and np.isnan(angles[0, 1]) and pattern[0] == (1 << 14) - 1 - (1 << 4)


def test_plausibility_ranges_catch_long_limbs_upside_down_bodies_and_odd_visibility():
    rng = np.random.default_rng(0)
    real = np.stack([standing(1.0, rng) for _ in range(2000)])
    ranges = PoseRanges(real)
    fresh = ranges.check(np.stack([standing(1.0, rng) for _ in range(100)]))
    assert fresh["plausible"].mean() > 0.95  # calibrated for all 20 features at once (1% false rejects)
    per_feature = PoseRanges(real, false_reject=0.2)  # 0.5-99.5 percentiles per feature: too strict
    assert per_feature.check(np.stack([standing(1.0, rng) for _ in range(100)]))["plausible"].mean() < 0.95
    long_arm = standing()
    long_arm[7, 1] = 120  # left wrist far below the hips
    upside_down = standing()
    upside_down[:, 1] = 128 - upside_down[:, 1]
    odd = standing()
    odd[[8, 9, 10, 11, 12, 13], :] = 0  # no legs: never seen among the real poses
    checks = ranges.check(np.stack([long_arm, upside_down, odd]))
    assert not checks["lengths"][0] and not checks["angles"][1] and not checks["visibility"][2]
    assert not checks["plausible"].any()
    fit, held = split_real(real)
    assert len(fit) == 1600 and len(held) == 400
    rates = pose_plausibility(fit, {"held": held, "odd": odd[None]})
    assert rates["held"]["plausible"] > 0.9 and rates["odd"]["plausible"] == 0.0


def test_frechet_table_with_baselines_on_the_tiny_model():
    from dpg.inference import PersonGenerator

    gen = PersonGenerator(seeded_tiny_model(), "cpu")
    dims = {"fg": gen.cfg.model.fg_dim, "bg": gen.cfg.model.bg_dim, "pose": gen.cfg.pose_ae.code_dim}
    real = {f: np.random.default_rng(1).normal(size=(64, d)) for f, d in dims.items()}
    a = stage2_samples(gen, real, 64, seed=3)
    b = stage2_samples(gen, real, 64, seed=3)
    for f, dim in dims.items():
        assert a[f]["sampled"].shape == a[f]["noise"].shape == a[f]["untrained"].shape == (64, dim)
        np.testing.assert_array_equal(a[f]["untrained"], b[f]["untrained"])  # same seed, same baseline
    table = frechet_table(a)
    assert set(table) == set(dims) and all(v >= 0 for row in table.values() for v in row.values())
