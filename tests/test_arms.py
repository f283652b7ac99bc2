"""Raised arms (issue 20, item 4a): the procedural poses mixed into stage I raise an arm, and
the probe's geometry and measure behave (``dpg.eval.arms``, ``bench/bench_arms.py``)."""

import numpy as np
import pytest
import torch

from dpg.data.sources import Mix, raised_arm_poses
from dpg.eval import arms as A
from dpg.keypoints import JOINTS

ID = {name: i for i, name in enumerate(JOINTS)}


def test_raised_arm_poses_lift_a_visible_wrist_above_its_shoulder():
    kp = raised_arm_poses(6, (128, 64), seed=0)
    assert kp.shape == (6, 18, 3)
    for pose in kp:
        lifted = [pose[w, 2] > 0 and pose[w, 1] < pose[s, 1] for s, _, w in A.SIDES.values()]
        assert any(lifted)
    assert np.array_equal(kp, raised_arm_poses(6, (128, 64), seed=0))  # a fixed pool, seed by seed
    assert not np.array_equal(kp, raised_arm_poses(6, (128, 64), seed=1))


def test_mix_appends_the_extra_people_and_keeps_the_stage1_keys():
    photos = [{"image": torch.zeros(1), "keypoints": 0, "mask": 0, "rois": 0, "roi_vis": 0, "identity": 1, "camera": 1, "name": "a"}] * 3
    people = [{"image": torch.ones(1), "keypoints": 0, "mask": 0, "rois": 0, "roi_vis": 0, "identity": 2, "camera": 0, "pose_seed": 5}] * 9
    mix = Mix(photos, people, 2)
    assert len(mix) == 5
    assert mix[2]["image"].item() == 0 and mix[3]["image"].item() == 1 and mix[4]["identity"] == 2
    assert "name" not in mix[0] and "pose_seed" not in mix[4]


def _person():
    kp = np.zeros((18, 3), np.float32)
    names = {"nose": (32, 14), "neck": (32, 26), "right_shoulder": (24, 27), "left_shoulder": (40, 27)}
    names |= {"right_hip": (27, 62), "left_hip": (37, 62), "right_elbow": (22, 45), "right_wrist": (21, 61)}
    for name, (x, y) in names.items():
        kp[ID[name]] = (x, y, 1)
    return kp


@pytest.mark.parametrize("side", ["right", "left"])
def test_raise_arm_puts_the_wrist_above_the_head_inside_the_frame_and_away_from_the_neck(side):
    kp = _person()
    up = A.raise_arm(kp, side, 128)
    sh, el, wr = A.SIDES[side]
    assert up[wr, 1] < kp[ID["nose"], 1] and up[el, 1] < kp[sh, 1]
    assert up[wr, 1] >= 2 - 1e-4 and up[el, 2] == up[wr, 2] == 1
    outward = np.sign(kp[sh, 0] - kp[A.NECK, 0])
    assert np.sign(up[wr, 0] - kp[sh, 0]) == outward
    others = [j for j in range(18) if j not in (el, wr)]
    assert np.array_equal(up[others], kp[others])
    assert A.without_arm(kp, side)[[el, wr], 2].sum() == 0
    kp[A.NECK, 2] = 0
    assert A.raise_arm(kp, side, 128) is None


def test_along_segment_sees_a_drawn_line_and_nothing_else():
    blank = np.full((128, 64, 3), 100, np.uint8)
    a, b = np.array([20.0, 10.0]), np.array([24.0, 40.0])
    assert A.along_segment(blank, blank, a, b) == 0.0
    drawn = blank.copy()
    drawn[A.segment_mask(a, b, (128, 64), 1.0)] = 255
    elsewhere = blank.copy()
    elsewhere[100:110, 40:50] = 255
    assert A.along_segment(drawn, blank, a, b) > 0.2
    assert A.along_segment(elsewhere, blank, a, b) == 0.0
