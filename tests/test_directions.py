"""Named slider directions (``dpg.directions``) on tiny data and a tiny seeded model."""

import numpy as np
import pytest
import torch

from dpg.checkpoint import save_weights
from dpg.config import tiny
from dpg.directions import (
    NamedDirection,
    apply,
    apply_all,
    background_measures,
    checkpoint_id,
    directions_for,
    directions_path,
    find_direction,
    find_directions,
    load_directions,
    move_pose,
    pose_measures,
    save_directions,
    tercile_labels,
)
from dpg.errors import UserError
from dpg.eval.real import fit_probe
from dpg.hub import DEFAULT_CHECKPOINT
from dpg.inference import PersonGenerator
from dpg.model import DisentangledPersonModel
from train.directions import auc


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    save_weights(path, DisentangledPersonModel(tiny()), tiny())
    return PersonGenerator.from_checkpoint(str(path), "cpu")


def two_classes(n=200, k=6, seed=0):
    """Rows ``[n, k]`` whose class 1 sits 3 units along ``e_2`` from class 0, some unlabelled."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k))
    y = rng.integers(0, 2, n).astype(np.int8)
    x[y == 1, 2] += 3.0
    y[:20] = -1
    return x, y


def test_direction_points_from_class_0_to_class_1_with_the_data_std_as_scale():
    x, y = two_classes()
    v, scale = find_direction(x, y)
    expect = x[y == 1].mean(0) - x[y == 0].mean(0)
    assert v.shape == (6,) and v.dtype == torch.float32
    assert torch.allclose(v.double(), torch.from_numpy(expect / np.linalg.norm(expect)), atol=1e-6)
    assert float(v[2]) > 0.95  # towards class 1, along the axis that separates them
    # one std of *all* rows' projections, the unlabelled ones included
    assert scale == pytest.approx(float(np.std(x @ v.double().numpy(), ddof=1)), rel=1e-6)
    v2, scale2 = find_direction(x, np.where(y >= 0, 1 - y, -1))  # classes swapped: the opposite way
    assert torch.allclose(v2, -v, atol=1e-6) and scale2 == pytest.approx(scale)
    with pytest.raises(ValueError, match="both classes"):
        find_direction(x, np.where(y == 1, 1, -1))
    found = find_directions(x, np.stack([y, y], 1), ["a", "b"], "fg", ["src a", "src b"])
    assert [(d.name, d.factor, d.source) for d in found] == [("a", "fg", "src a"), ("b", "fg", "src b")]


def test_groups_keep_what_tells_the_groups_apart_out_of_the_direction():
    # two camera sets 10 units apart along e_0; set 1 has mostly class 1; within each set the
    # class is 1 unit along e_3: pooled means point mostly along e_0, per-set ones along e_3
    rng = np.random.default_rng(1)
    g = np.repeat([0, 1], 300)
    y = np.where(g == 1, rng.random(600) < 0.9, rng.random(600) < 0.1).astype(np.int8)
    x = rng.normal(scale=0.1, size=(600, 5))
    x[:, 0] += 10 * g
    x[:, 3] += y
    pooled, _ = find_direction(x, y)
    within, _ = find_direction(x, y, g)
    assert abs(float(pooled[0])) > 0.9 and float(within[3]) > 0.99
    with pytest.raises(ValueError, match="one group"):
        find_direction(x, np.where(g == 1, 1, 0), g)  # no set holds both classes


def test_terciles_and_measures():
    assert tercile_labels([0, 1, 2, 3, 4, 5, np.nan]).tolist() == [0, 0, -1, -1, 1, 1, -1]
    images = np.zeros((2, 8, 4, 3), np.uint8)
    images[0, ..., 1] = 200  # a green background
    images[1] = 100  # a grey one
    masks = np.zeros((2, 8, 4), np.uint8)
    masks[:, 2:6, 1:3] = 255
    images[:, 2:6, 1:3] = (255, 0, 0)  # a red person, who must not count
    m = background_measures(images, masks)
    assert m["greenness"].tolist() == [200, 0] and m["warmth"].tolist() == [0, 0]
    assert m["brightness"][1] == pytest.approx(100)
    kp = np.zeros((2, 18, 3), np.float32)
    kp[:, [1, 2, 5, 10, 13], 2] = 1
    kp[:, 1, 0] = 32
    kp[0, [2, 5], 0] = 20, 44  # right shoulder on the image's left: facing the camera
    kp[1, [2, 5], 0] = 44, 20  # a back view
    kp[0, [10, 13], 0] = 30, 34
    kp[1, [10, 13], 0] = 12, 52
    p = pose_measures(kp, 128)
    assert p["facing_away"].tolist() == [0, 1]
    assert p["stride"] * 128 == pytest.approx([4, 40])
    assert np.isnan(p["arms_out"]).all()  # no wrist visible


def test_apply_moves_along_the_vector_by_amount_times_scale():
    d = NamedDirection("red top", "fg", torch.tensor([0.6, 0.8, 0.0]), 2.5)
    base = torch.tensor([[1.0, 1.0, 1.0]])
    moved = apply(base, d, 2.0)
    assert torch.allclose(moved - base, torch.tensor([[3.0, 4.0, 0.0]]))
    assert apply([1.0, 1.0, 1.0], d, -1.0) == pytest.approx([-0.5, -1.0, 1.0])
    assert np.allclose(apply(np.ones(3), d, 0.0), np.ones(3))
    e = NamedDirection("other", "fg", torch.tensor([0.0, 0.0, 1.0]), 1.0)
    assert torch.allclose(apply_all(base, [d, e], [2.0, 1.0]), torch.tensor([[4.0, 5.0, 2.0]]))
    with pytest.raises(UserError):
        apply_all(base, [d, e], [1.0])


def test_save_load_round_trip_and_a_file_for_another_model_is_refused(gen, tmp_path):
    ckid = checkpoint_id(gen.model)
    assert ckid == checkpoint_id(PersonGenerator.from_checkpoint(str(gen.checkpoint), "cpu").model)
    rng = np.random.default_rng(0)
    dims = {"fg": tiny().model.fg_dim, "bg": tiny().model.bg_dim, "pose": tiny().pose_ae.code_dim}
    dirs = []
    for i, f in enumerate(("fg", "fg", "bg", "pose")):
        v, s = find_direction(rng.normal(size=(50, dims[f])), np.arange(50) % 2)
        dirs.append(NamedDirection(f"dir {i}", f, v, s, f"source {i}"))
    path = directions_path(gen.checkpoint)
    assert path.name == "tiny-directions.safetensors"
    save_directions(path, dirs, ckid)
    back = load_directions(path, ckid)
    assert [(d.name, d.factor, d.source) for d in back] == [(d.name, d.factor, d.source) for d in dirs]
    assert all(torch.equal(a.vector, b.vector) and a.scale == pytest.approx(b.scale) for a, b in zip(back, dirs))
    by_factor = directions_for(gen)  # found beside the checkpoint
    assert [d.name for d in by_factor["fg"]] == ["dir 0", "dir 1"] and len(by_factor["pose"]) == 1

    torch.manual_seed(1)
    other = DisentangledPersonModel(tiny())
    assert checkpoint_id(other) != ckid
    with pytest.raises(UserError, match="another model.*train.directions"):
        load_directions(path, checkpoint_id(other))
    with pytest.raises(UserError, match="not found"):
        load_directions(tmp_path / "none.safetensors", ckid)
    save_weights(tmp_path / "weights.safetensors", other, tiny())
    with pytest.raises(UserError, match="not a file of slider directions"):
        load_directions(tmp_path / "weights.safetensors", ckid)
    wrong = [NamedDirection("too long", "bg", torch.ones(dims["bg"] + 1) / (dims["bg"] + 1) ** 0.5, 1.0)]
    save_directions(tmp_path / "wrong.safetensors", wrong, ckid)
    with pytest.raises(UserError, match="does not have"):
        directions_for(gen, tmp_path / "wrong.safetensors")


def test_move_pose_keeps_the_pose_at_zero_and_moves_it_otherwise(gen):
    kp = gen.sample(fg=0, bg=0, pose=3).keypoints[0].cpu().numpy()  # [18, 3]
    v, s = find_direction(np.random.default_rng(0).normal(size=(40, tiny().pose_ae.code_dim)), np.arange(40) % 2)
    d = NamedDirection("wider stride", "pose", v, s)
    assert np.array_equal(move_pose(gen, kp, [d], [0.0]), kp)
    moved = move_pose(gen, kp, [d], [3.0])
    assert moved.shape == (18, 3) and not np.array_equal(moved, kp)
    assert (moved[:, 0] <= gen.width - 1).all() and (moved[:, 1] <= gen.height - 1).all() and (moved >= 0).all()
    assert move_pose(gen, kp[None].repeat(2, 0), [d], [3.0]) == pytest.approx(np.stack([moved, moved]))
    with pytest.raises(UserError):
        move_pose(gen, kp, [NamedDirection("red top", "fg", v, s)], [1.0])


def test_auc_and_probe_probabilities():
    assert auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    assert np.isnan(auc([0.1, 0.2], [1, 1]))
    x, y = two_classes()
    known = y >= 0
    p = fit_probe(x[known], y[known] == 1).prob(x[known])
    assert p[y[known] == 1].mean() > 0.8 > 0.2 > p[y[known] == 0].mean()


def test_the_bundled_directions_were_made_for_the_bundled_model():
    # fails when the bundled model is replaced and its directions not recomputed (the message says how)
    if not directions_path(DEFAULT_CHECKPOINT).is_file():
        pytest.skip("no bundled directions")
    gen = PersonGenerator.from_checkpoint(None, "cpu")
    found = directions_for(gen)
    assert set(found) <= set(gen.factors) and sum(len(v) for v in found.values()) >= 3
    assert all(abs(float(d.vector.norm()) - 1) < 1e-5 and d.scale > 0 for v in found.values() for d in v)
