"""The shipped weights: the default model (real people) and the procedural one kept by name for
the ground-truth benchmarks. They load, they are small, and golden pixel slices pin them; the
inversion tests run on the procedural model, whose figures the README's inversion rows give."""

import numpy as np
import pytest
import torch

from dpg.checkpoint import read_metadata
from dpg.hub import BUNDLED, DEFAULT_CHECKPOINT
from dpg.inference import PersonGenerator

PROCEDURAL = BUNDLED["procedural"]
pytestmark = pytest.mark.skipif(not (DEFAULT_CHECKPOINT.exists() and PROCEDURAL.exists()), reason="bundled weights not present")


@pytest.fixture(scope="module")
def gen():
    return PersonGenerator.from_checkpoint("procedural", "cpu")


def test_bundled_weights_are_complete_and_small():
    for path in BUNDLED.values():
        meta = read_metadata(path)
        assert meta["stages"] == "stage1,pose_ae,stage2"
        assert path.stat().st_size < 30 * 2**20
    shipped = list(DEFAULT_CHECKPOINT.parent.glob("*.safetensors"))  # models, directions, preview
    # the repository's weights in all, under issue 18's 60 MB: session 9's foreground flow
    # (16 residual blocks 512 wide, 7.5 MB) took the total to 60.3 MB; since session 10 its
    # branches are 384 wide (5.6 MB; distillation error 12.4%, was 14.0%)
    assert sum(p.stat().st_size for p in shipped) < 60e6
    assert "real people" in read_metadata(DEFAULT_CHECKPOINT)["data"]
    assert "procedural" in read_metadata(PROCEDURAL)["data"]


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "procedural",
            [
                [[114, 55, 39], [113, 55, 39], [112, 56, 38]],
                [[113, 54, 37], [112, 54, 38], [112, 55, 37]],
                [[115, 55, 39], [114, 55, 39], [112, 56, 37]],
            ],
        ),
        (
            "real",
            [
                [[115, 105, 101], [110, 103, 98], [104, 98, 94]],  # the default model
                [[113, 104, 100], [109, 101, 96], [105, 99, 92]],
                [[110, 102, 97], [107, 98, 95], [105, 98, 93]],
            ],
        ),
    ],
)
def test_golden_slice(name, expected):
    # a sampled person's pixels, to a couple of grey levels
    gen = PersonGenerator.from_checkpoint(name, "cpu")
    img = gen.compose(gen.sample(fg=1, bg=2, pose=3))[0]
    assert np.abs(img[60:63, 30:33].astype(int) - np.array(expected)).max() <= 2


def test_a_factor_seed_decides_that_factor_alone(gen):
    # the noise is bit-identical whatever the batch; the mapped embedding equal up to the
    # float rounding of a different matrix-multiply batch size
    assert torch.equal(gen.noise("fg", [5, 6])[0], gen.noise("fg", [5])[0])
    a = gen.sample(fg=[5, 5], bg=[1, 2], pose=[7, 8])
    b = gen.sample(fg=[5], bg=[3], pose=[9])
    assert torch.equal(a.fg[0], a.fg[1])
    torch.testing.assert_close(a.fg[0], b.fg[0], rtol=1e-5, atol=1e-5)
    assert not torch.equal(a.bg[0], a.bg[1])


def test_pose_inversion_finds_the_bench_persons_pose(gen):
    # the bench person (pose seed 9): fitting Phi(z) alone to the code of its keypoints stalled
    # at 2.3%; fitting the code of the keypoints z draws, E(D(Phi(z))), then basin hops, gets
    # below 1%, and the keypoints drawn from the found z are the target's to a pixel
    target = gen.sample(fg=7, bg=8, pose=9)
    inv = gen.invert(target, iters=300, tol=0.008, hops=20, only="pose")
    assert inv.residual["pose"][0] < 0.01
    drawn = gen.factor_from_z("pose", inv.z["pose"])  # [1, 18, 3]
    assert torch.equal(drawn[..., 2], target.keypoints[..., 2])  # the same joints visible
    assert float((drawn[..., :2] - target.keypoints[..., :2]).norm(dim=-1).max()) < 1.0  # pixels


def test_basin_hops_take_a_stalled_foreground_below_one_percent(gen):
    # L-BFGS stops at the foot of a fold of the foreground mapping, above 1% for this sampled
    # person although its embedding is exactly reachable; kicking the best z by half the noise's
    # std and refitting (keeping only what is better) gets it below 1%
    target = gen.sample(fg=101, bg=101, pose=101)
    plain = gen.invert(target, iters=300, tol=0.008, hops=0, only="fg")
    hopped = gen.invert(target, iters=300, tol=0.008, hops=40, only="fg")  # 11-15 hops here; room for other CPUs
    assert set(hopped.residual) == {"fg"}
    assert plain.residual["fg"][0] > 0.01 > hopped.residual["fg"][0]


# The mean change (0..1) along a forearm lifted above the head against the person drawn without
# that arm, over 16 sampled people: 0.036 for the model trained on photos alone (a stub; issue
# 20, 4a), 0.065 for the one with raised-arm procedural people mixed in. bench/bench_arms.py
# measures the same on held-out real people.
ARM_DRAWN = 0.05


def test_the_default_model_draws_an_arm_lifted_above_the_head():
    from dpg.eval import arms as A

    gen = PersonGenerator.from_checkpoint(None, "cpu")
    people = gen.sample(fg=list(range(16)), bg=list(range(16)), pose=list(range(16)))
    kps = people.keypoints.numpy()
    sides = [next((s for s in ("right", "left") if kp[A.SIDES[s][0], 2]), None) for kp in kps]
    # one batch each: the arm lifted, and removed (a person with no shoulder shown keeps its pose)
    up = np.stack([A.raise_arm(kp, s, gen.height) if s else kp for kp, s in zip(kps, sides)])
    none = np.stack([A.without_arm(kp, s) if s else kp for kp, s in zip(kps, sides)])
    lifted, armless = gen.compose(gen.with_pose(people, up)), gen.compose(gen.with_pose(people, none))
    changes = []
    for i, side in enumerate(sides):
        if side is None:
            continue
        _, el, wr = A.SIDES[side]
        changes.append(A.along_segment(lifted[i], armless[i], up[i, el, :2], up[i, wr, :2]))
    assert len(changes) >= 12
    assert np.mean(changes) > ARM_DRAWN, changes


# The preview decoder's pictures against the full decoder's, over 12 sampled people (PSNR, dB):
# a 12-channel decoder sliced from the full one and not trained measured 13; the shipped one
# is given in its file's facts (train.preview's held-out pictures) and in the README.
PREVIEW_PSNR = 20.0


def test_the_bundled_preview_was_distilled_from_the_bundled_model():
    # fails when the bundled model is replaced and its preview not distilled again: the app
    # would then log the mismatch and draw every slider move with the full decoder
    from dpg.preview import preview_path, read_facts

    assert preview_path(DEFAULT_CHECKPOINT).is_file()
    gen = PersonGenerator.from_checkpoint(None, "cpu")
    assert gen.preview is not None and gen.preview.bottom[0] < gen.model.stage1.decoder.bottom[0]
    people = gen.sample(fg=list(range(12)), bg=list(range(12)), pose=list(range(12)))
    full, preview = gen.compose(people).astype(float), gen.compose(people, preview=True).astype(float)
    mse = ((full - preview) ** 2).reshape(len(full), -1).mean(1)
    psnr = 10 * np.log10(255**2 / mse)
    assert psnr.mean() > PREVIEW_PSNR, psnr
    assert read_facts(preview_path(DEFAULT_CHECKPOINT))["steps"] > 1000
