"""The procedural person renderer (``dpg.synthetic.people``): exact factor swaps, keypoints on
the body, flips, splits, the dataset and the ``render-synthetic`` folder."""

import dataclasses
import os
import re

import numpy as np
import pytest
import torch

from dpg import keypoints as K
from dpg.synthetic import people as S
from dpg.synthetic.pose import LSHO, RANK, RSHO

SEEDS = range(12)


def _factors(i: int, split: str = "val"):
    return (
        S.sample_appearance(S.factor_seed(split, "appearance", i)),
        S.sample_background(S.factor_seed(split, "background", i)),
        S.sample_pose(S.factor_seed(split, "pose", i)),
    )


def test_render_outputs_and_determinism():
    for i in SEEDS:
        a, b, p = _factors(i)
        out = S.render(a, b, p)
        assert out.image.shape == (128, 64, 3) and out.image.dtype == np.uint8
        assert out.mask.shape == (128, 64) and out.mask.dtype == bool
        assert out.keypoints.shape == (18, 3) and out.keypoints.dtype == np.float32
        assert 0.08 < out.mask.mean() < 0.7  # a person, not an empty frame or a wall
        assert out.identity == a.identity and 1 <= out.camera <= 6
        again = S.render(*_factors(i))  # fresh factor objects from the same seeds
        np.testing.assert_array_equal(out.image, again.image)
        np.testing.assert_array_equal(out.mask, again.mask)
        np.testing.assert_array_equal(out.keypoints, again.keypoints)
        # Missing joints are (0, 0, 0), present ones v = 1.
        kp = out.keypoints
        assert set(np.unique(kp[:, 2])) <= {0.0, 1.0}
        assert not kp[kp[:, 2] == 0].any()


def test_background_swap_leaves_the_person_unchanged():
    for i in SEEDS:
        a, b, p = _factors(i)
        b2 = S.sample_background(S.factor_seed("val", "background", 1000 + i))
        one, two = S.render(a, b, p), S.render(a, b2, p)
        np.testing.assert_array_equal(one.mask, two.mask)
        np.testing.assert_array_equal(one.image[one.mask], two.image[two.mask])
        np.testing.assert_array_equal(one.keypoints, two.keypoints)
        assert (one.image[~one.mask] != two.image[~two.mask]).any()  # the scene did change


def test_appearance_swap_leaves_the_scene_unchanged():
    for i in SEEDS:
        a, b, p = _factors(i)
        a2 = S.sample_appearance(S.factor_seed("val", "appearance", 1000 + i))
        one, two = S.render(a, b, p), S.render(a2, b, p)
        outside = ~(one.mask | two.mask)
        np.testing.assert_array_equal(one.image[outside], two.image[outside])
        np.testing.assert_array_equal(one.keypoints, two.keypoints)  # keypoints are the pose's alone
        assert (one.image[one.mask] != two.image[one.mask]).any()


def _on_body(out) -> np.ndarray:
    """Per visible joint: is its nearest pixel a person pixel?"""
    kp = out.keypoints[out.keypoints[:, 2] > 0]
    cols, rows = np.rint(kp[:, 0]).astype(int), np.rint(kp[:, 1]).astype(int)
    return out.mask[rows, cols]


@pytest.mark.parametrize("style", ["market", "studio"])
def test_keypoints_lie_on_the_rendered_body(style):
    size = S.STYLE_SIZES[style]
    for i in range(40 if style == "market" else 8):
        a = S.sample_appearance(S.factor_seed("val", "appearance", i))
        p = S.sample_pose(S.factor_seed("val", "pose", i), size, style)
        out = S.render(a, S.sample_background(i, style), p)
        assert out.keypoints[:, 2].sum() >= 6
        assert _on_body(out).all(), f"seed {i}: a visible joint off the body"


def test_out_of_frame_and_hidden_joints_are_invisible():
    poses = [S.sample_pose(S.factor_seed("val", "pose", i)) for i in range(300)]
    for p in poses:
        h, w = p.size
        outside = (p.joints[:, 0] < 0) | (p.joints[:, 0] > w - 1) | (p.joints[:, 1] < 0) | (p.joints[:, 1] > h - 1)
        assert not p.visible[outside].any()
    # Feet below the frame happen, and are labelled missing.
    assert any(p.joints[RANK, 1] > p.size[0] - 1 and not p.visible[RANK] for p in poses)
    # In a side view the far shoulder sits behind the torso.
    side = [p for p in poses if abs(np.sin(p.yaw)) > 0.97]
    assert side
    for p in side:
        far = LSHO if np.sin(p.yaw) > 0 else RSHO  # facing right: the left side is away
        assert not p.visible[far]
    # Back views hide the face but keep the ears.
    back = [p for p in poses if np.cos(p.head_yaw) < -0.6]
    assert back and not any(p.visible[0] or p.visible[14] or p.visible[15] for p in back)


def test_left_and_right_follow_the_joint_names():
    """In a front view the person's right is on the image's left, for every joint pair."""
    pairs = [(K.JOINTS.index("right_" + n), K.JOINTS.index("left_" + n)) for n in ("shoulder", "elbow", "hip", "knee", "eye", "ear")]
    poses = [S.sample_pose(S.factor_seed("val", "pose", i)) for i in range(200)]
    front = [p for p in poses if np.cos(p.yaw) > 0.9 and np.cos(p.head_yaw) > 0.9]
    assert len(front) > 10
    for p in front:
        for right, left in pairs:
            assert p.joints[right, 0] < p.joints[left, 0], K.JOINTS[right]


def test_flip_agrees_with_the_flipped_geometry():
    for i in SEEDS:
        a, b, p = _factors(i)
        flipped = p.flip()
        np.testing.assert_allclose(flipped.keypoints(), K.flip_keypoints(p.keypoints(), p.size[1]), atol=1e-4)
        np.testing.assert_allclose(flipped.flip().joints, p.joints, atol=1e-4)
        # A left-right symmetric look renders to the mirror image (up to rasterisation ties).
        plain = dataclasses.replace(
            a,
            bag="none",
            logo="none",
            hair_style="short",
            upper=dataclasses.replace(a.upper, pattern="plain"),
            lower=dataclasses.replace(a.lower, pattern="plain"),
        )
        one, two = S.render(plain, b, p), S.render(plain, b, flipped)
        mirrored = K.flip_image(one.mask)
        iou = (mirrored & two.mask).sum() / (mirrored | two.mask).sum()
        assert iou > 0.99, f"seed {i}: mask IoU {iou:.3f}"
        both = mirrored & two.mask
        diff = np.abs(K.flip_image(one.image).astype(int) - two.image.astype(int))[both]
        assert diff.mean() < 5, f"seed {i}: mean colour difference {diff.mean():.1f}"


def test_splits_never_share_a_seed():
    for factor in S.FACTORS:
        ranges = []
        for split in S.SPLITS:
            seeds = [S.factor_seed(split, factor, i, seed) for i in range(200) for seed in (0, 7)]
            ranges.append((min(seeds), max(seeds)))
            assert len(set(seeds)) == len(seeds)
        for (_, hi), (lo, _) in zip(ranges, ranges[1:]):
            assert hi < lo
    train = S.SyntheticPeople(split="train", identities=5)
    test = S.SyntheticPeople(split="test", identities=5)
    seeds = {
        split: {k: {ds[i][k] for i in range(6)} for k in ("appearance_seed", "background_seed", "pose_seed")}
        for split, ds in (("train", train), ("test", test))
    }
    for k in seeds["train"]:
        assert not seeds["train"][k] & seeds["test"][k]


def test_dataset_items_and_workers():
    ds = S.SyntheticPeople(length=6, identities=3)
    item = ds[4]
    assert item["image"].shape == (3, 128, 64) and item["image"].dtype == torch.float32
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["keypoints"].shape == (18, 3) and item["mask"].shape == (128, 64)
    assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
    assert item["identity"] == 4 % 3
    assert ds[10**12]["image"].shape == (3, 128, 64)  # any index: the dataset is unbounded
    direct = torch.stack([ds[i]["image"] for i in range(6)])
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    batched = torch.cat([batch["image"] for batch in loader])
    torch.testing.assert_close(batched, direct, rtol=0, atol=0)  # workers hold no random state
    stream = iter(S.CountingSampler(5))
    assert [next(stream) for _ in range(3)] == [5, 6, 7]


def test_studio_setting():
    a, _, _ = _factors(0)
    out = S.render(a, S.sample_background(3, "studio"), S.sample_pose(3, (256, 256), "studio"))
    assert out.image.shape == (256, 256, 3)
    corners = out.image[[0, 0, -1, -1], [0, -1, 0, -1]].astype(float)
    assert corners.mean() > 150  # a light studio wall
    assert _on_body(out).all()


def test_pose_from_keypoints_edge_cases():
    p = S.sample_pose(3)
    real = S.pose_from_keypoints(p.keypoints(), p.size)
    np.testing.assert_array_equal(real.keypoints(), p.keypoints())
    a, b, _ = _factors(1)
    assert _on_body(S.render(a, b, real)).all()
    # Few joints: limbs are inferred for drawing, the keypoints stay as given.
    sparse = p.keypoints().copy()
    sparse[[3, 4, 9, 10, 0, 14, 15, 16, 17]] = 0
    out = S.render(a, b, S.pose_from_keypoints(sparse, p.size))
    np.testing.assert_array_equal(out.keypoints, sparse)
    assert out.mask.sum() > 0.08 * out.mask.size
    # No joint at all: a default person, no labelled keypoint.
    out = S.render(a, b, S.pose_from_keypoints(np.zeros((18, 3), np.float32), p.size))
    assert out.mask.any() and not out.keypoints.any()


def test_real_market_poses(shared_data):
    csv_path = os.path.join(shared_data, "market", "market-annotation-train.csv")
    poses = S.load_poses(csv_path, (128, 64))
    assert 11_000 < len(poses) <= 12_936
    a, b, _ = _factors(2)
    hits = []
    for k in range(0, len(poses), len(poses) // 60):
        out = S.render(a, b, S.pose_from_keypoints(poses[k], (128, 64), seed=k))
        np.testing.assert_array_equal(out.keypoints, poses[k])
        hits.extend(_on_body(out))
    # Real labels are noisy (an eye or ear beside the head): nearly all land on the body.
    assert np.mean(hits) > 0.98


def test_render_synthetic_folder(tmp_path):
    from dpg.cli import main
    from dpg.data.annotations import read_annotation_csv, read_pairs_csv

    out = tmp_path / "synth"
    code = main(
        [
            "render-synthetic",
            "--out",
            str(out),
            "--identities",
            "3",
            "--per-identity",
            "2",
            "--test-identities",
            "2",
            "--test-per-identity",
            "2",
            "--query-per-identity",
            "1",
        ]
    )
    assert code == 0
    name = re.compile(r"^(\d{4})_c([1-6])s([1-6])_(\d{6})_01\.jpg$")
    train = sorted(os.listdir(out / "bounding_box_train"))
    assert len(train) == 6 and all(name.match(n) for n in train)
    assert {name.match(n).group(1) for n in train} == {"0001", "0002", "0003"}
    test = sorted(os.listdir(out / "bounding_box_test"))
    assert len(test) == 4 and {name.match(n).group(1) for n in test} == {"0004", "0005"}
    assert len(os.listdir(out / "query")) == 2
    names, kp = read_annotation_csv(out / "market-annotation-train.csv", image_size=(128, 64))
    assert sorted(names) == train
    # The folder is the dataset: image k of the CSV is item k of SyntheticPeople.
    ds = S.SyntheticPeople(split="train", identities=3)
    expected = ds.render(4).keypoints
    np.testing.assert_array_equal(kp[4], np.where(expected[:, 2:] > 0, np.rint(expected), 0))
    assert read_pairs_csv(out / "market-pairs-train.csv")
    assert (out / "synthetic-factors.csv").read_text().count("\n") == 6 + 4 + 2 + 1
    # A second run into the same folder is refused rather than mixed in.
    assert main(["render-synthetic", "--out", str(out), "--identities", "1", "--per-identity", "1"]) == 1


def test_preview_grid():
    grid = S.preview_grid(columns=4)
    assert grid.dtype == np.uint8 and grid.shape == (128 * 4, 84 + 64 * 4, 3)
