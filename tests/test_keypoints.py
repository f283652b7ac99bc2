import numpy as np
import pytest
import torch

from dpg import keypoints as K


def person(height=128, width=64):
    """A plausible standing person in the project's (x, y, v) convention."""
    xy = {
        0: (32, 16),
        1: (32, 28),
        2: (22, 29),
        3: (19, 46),
        4: (18, 62),
        5: (42, 29),
        6: (45, 46),
        7: (46, 62),
        8: (26, 64),
        9: (25, 88),
        10: (25, 112),
        11: (38, 64),
        12: (39, 88),
        13: (39, 112),
        14: (34, 14),
        15: (30, 14),
        16: (37, 15),
        17: (27, 15),
    }
    kp = np.zeros((18, 3), np.float32)
    for j, (x, y) in xy.items():
        kp[j] = (x * width / 64, y * height / 128, 1)
    return kp


def test_layout_tables():
    assert len(K.JOINTS) == 18 and len(K.MASK_LIMBS) == 23
    perm = np.array(K.FLIP_PERM)
    assert (perm[perm] == np.arange(18)).all()
    for j, name in enumerate(K.JOINTS):
        other = K.JOINTS[perm[j]]
        assert other == name.replace("left", "#").replace("right", "left").replace("#", "right")
    for p, joints in enumerate(K.PART_JOINTS):
        mirrored = sorted(K.FLIP_PERM[j] for j in joints)
        assert mirrored == sorted(K.PART_JOINTS[K.PART_FLIP_PERM[p]])


def test_pose_map_disk_values():
    kp = person()
    kp[7] = 0  # left wrist missing
    m = K.pose_map(kp, 128, 64)
    assert m.shape == (18, 128, 64)
    assert set(m.unique().tolist()) == {-1.0, 1.0}
    assert (m[7] == -1).all()
    # a radius-4 disk has 49 lattice points
    assert int((m[0] > 0).sum()) == 49
    assert m[0, 16, 32] == 1 and m[0, 16, 37] == -1
    batched = K.pose_map(np.stack([kp, kp]), 128, 64)
    assert torch.equal(batched[1], m)
    g = K.pose_map(kp, 128, 64, mode="gaussian")
    assert g.max() <= 1 and g[0, 16, 32] == 1 and (g[7] == -1).all()


def test_pose_mask_covers_body_not_background():
    kp = person()
    mask = K.pose_mask(kp, 128, 64)
    assert mask.dtype == bool and mask.shape == (128, 64)
    for j in range(18):
        x, y = kp[j, :2].astype(int)
        assert mask[y, x], K.JOINTS[j]
    assert mask[40, 32]  # the torso between the shoulders and hips is filled
    assert not mask[5, 2] and not mask[120, 60]
    assert not K.pose_mask(np.zeros((18, 3), np.float32), 128, 64).any()
    # the larger radius at 256 gives a larger mask
    big = K.pose_mask(person(256, 256), 256, 256)
    assert big.sum() > mask.sum()


def test_body_rois_groups_margins_and_absent_parts():
    kp = person()
    kp[[5, 6, 7]] = 0  # the left arm is missing
    kp[[11, 12]] = 0  # only the left ankle remains of the left leg
    boxes, vis = K.body_rois(kp, 128, 64)
    assert boxes.shape == (7, 4) and vis.tolist() == [1, 1, 1, 0, 1, 1, 1]
    assert boxes[3].tolist() == [0, 0, 0, 0]
    x0, y0, x1, y1 = boxes[4]  # right arm: joints 2, 3, 4 expanded by 6
    assert (x0, y0, x1, y1) == (18 - 6, 29 - 6, 22 + 6, 62 + 6)
    assert boxes[5].tolist() == [39 - 10, 112 - 10, 39 + 10, 112 + 10]  # single joint: +-10
    # clamped to the image
    assert (boxes[..., 0::2] <= 63).all() and (boxes[..., 1::2] <= 127).all() and (boxes >= 0).all()
    bb, bv = K.body_rois(np.stack([kp, person()]), 128, 64)
    assert np.array_equal(bb[0], boxes) and bv[1].tolist() == [1] * 7


def test_deepfashion_rois_raise_the_nose():
    kp = person(256, 256)
    boxes, vis = K.body_rois_deepfashion(kp)
    assert vis.all()
    assert boxes[0, 1] <= kp[0, 1] - 20  # nose raised by 10, then the 10 px margin
    kp[13] = 0  # a leg is cut: close-up margins (20) and a 25 px raise
    boxes2, _ = K.body_rois_deepfashion(kp)
    assert boxes2[0, 1] <= kp[0, 1] - 45 or boxes2[0, 1] == 0


def test_pose_vector_round_trip():
    kp = person()
    kp[16] = 0
    v = K.pose_vector(kp, 128, 64)
    assert v.shape == (54,) and v[2 * 16] == -1 and v[36 + 16] == 0
    back = K.keypoints_from_vector(v, 128, 64)
    np.testing.assert_allclose(back, kp, atol=1e-4)
    vt = K.pose_vector(torch.from_numpy(np.stack([kp, kp])), 128, 64)
    assert vt.shape == (2, 54) and torch.allclose(vt[0], torch.from_numpy(v))


def test_flip_is_consistent_across_image_keypoints_mask_and_rois():
    kp = person()
    kp[[5, 6, 7]] = 0
    flipped = K.flip_keypoints(kp, 64)
    assert flipped[2, 2] == 0 and flipped[5, 2] == 1  # right arm became the left arm
    assert flipped[5, 0] == 63 - kp[2, 0]
    np.testing.assert_array_equal(K.flip_keypoints(flipped, 64), kp)
    mask = K.pose_mask(kp, 128, 64)
    # The reference truncates interior disk centres to integers, which is not mirror-symmetric:
    # the two masks agree up to a one-pixel fringe.
    assert (K.flip_image(mask) != K.pose_mask(flipped, 128, 64)).mean() < 0.02
    np.testing.assert_array_equal(K.pose_map(flipped, 128, 64), K.pose_map(kp, 128, 64)[list(K.FLIP_PERM)].flip(-1))
    boxes, vis = K.body_rois(kp, 128, 64)
    fb, fv = K.flip_rois(boxes, vis, 64)
    eb, ev = K.body_rois(flipped, 128, 64)
    np.testing.assert_array_equal(fv, ev)
    np.testing.assert_allclose(fb, eb)
    t = K.flip_keypoints(torch.from_numpy(kp), 64)
    assert torch.equal(t, torch.from_numpy(flipped))


def test_draw_skeleton_changes_pixels_on_the_body():
    img = np.zeros((128, 64, 3), np.uint8)
    out = K.draw_skeleton(img, person())
    assert out.shape == img.shape and out[16, 32].any() and not img.any()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        K.pose_map(np.zeros((17, 3)), 128, 64)


def test_visibility_threshold_passes_the_gradient_straight_through():
    # values are thresholded as before; the gradient of a loss on the keypoints reaches the
    # raw visibilities (the reference's binaryRound), which pose inversion relies on
    vec = torch.zeros(2, 54)
    vec[:, 36:] = torch.linspace(0.1, 0.9, 18)
    vec.requires_grad_(True)
    kp = K.keypoints_from_vector(vec, 128, 64)
    assert set(kp[..., 2].unique().tolist()) == {0.0, 1.0}
    kp[..., 2].sum().backward()
    assert torch.equal(vec.grad[:, 36:], torch.ones(2, 18))
    np_kp = K.keypoints_from_vector(vec.detach().numpy(), 128, 64)  # numpy: plain threshold
    assert np.array_equal(np_kp[..., 2], kp[..., 2].detach().numpy())
