"""The preview decoder for slider drags (``dpg.preview``, ``train.preview``) on tiny models."""

import json
import logging

import numpy as np
import pytest
import torch
from conftest import seeded_tiny_model

from dpg.checkpoint import save_weights
from dpg.config import tiny
from dpg.directions import checkpoint_id
from dpg.errors import UserError
from dpg.inference import PersonGenerator
from dpg.preview import decoder_id, decoder_shape, load_preview, narrow_decoder, preview_path, read_facts, save_preview
from dpg.runtime import TOLERANCE_LEVELS
from train import preview as trainer


def inputs(gen, n=3, seed=0):
    fac = gen.sample(fg=list(range(seed, seed + n)), bg=list(range(seed, seed + n)), pose=list(range(seed, seed + n)))
    emb = torch.cat([fac.fg, fac.bg], 1)
    return fac, emb, gen.model.stage1.pose_map(fac.keypoints)


def test_a_slice_at_full_width_is_the_teacher_and_narrower_keeps_its_first_channels(gen):
    teacher = gen.model.stage1.decoder
    c = teacher.bottom[0]
    _, emb, pm = inputs(gen)
    with torch.no_grad():
        same = narrow_decoder(teacher, c)(emb, pm)
        torch.testing.assert_close(same, teacher(emb, pm), rtol=1e-5, atol=1e-5)
        small = narrow_decoder(teacher, c // 2)
        assert small(emb, pm).shape == teacher(emb, pm).shape
    assert decoder_shape(small) == {**decoder_shape(teacher), "channels": c // 2}
    k = c // 2
    torch.testing.assert_close(small.down[0].conv1.weight, teacher.down[0].conv1.weight[:k, :k])
    torch.testing.assert_close(small.out.weight[:, :k], teacher.out.weight[:, :k])  # the x part of the last concat
    with pytest.raises(ValueError, match="channels"):
        narrow_decoder(teacher, c + 1)


def test_saved_preview_loads_for_its_model_and_draws_the_preview_pictures(gen, tmp_path):
    teacher = gen.model.stage1.decoder
    student = narrow_decoder(teacher, teacher.bottom[0] // 2)
    path = tmp_path / "tiny-preview.safetensors"
    save_preview(path, student, decoder_id(gen.model), {"steps": 7})
    assert read_facts(path) == {"steps": 7}
    loaded = load_preview(path, gen.model)
    fac, emb, pm = inputs(gen, n=1)
    with torch.no_grad():
        # fp16 in the file: the loaded one draws within fp16 rounding of the saved one
        torch.testing.assert_close(loaded(emb, pm), student(emb, pm), rtol=0, atol=0.05)
        want = ((loaded(emb, pm).clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    try:
        gen.load_preview(path)
        shown = gen.compose(fac, preview=True)  # one person: the fast path, within its tolerance
        assert np.abs(shown.astype(int) - want.astype(int)).max() <= TOLERANCE_LEVELS + 1
        assert not np.array_equal(shown, gen.compose(fac))  # another network than the full one
        batch, _, _ = inputs(gen, n=3)
        assert gen.compose(batch, preview=True).shape == gen.compose(batch).shape  # a batch: eagerly
    finally:
        gen.preview = None
    assert np.array_equal(gen.compose(fac, preview=True), gen.compose(fac))  # none loaded: the full decoder


def test_a_preview_of_other_weights_or_no_preview_is_refused(gen, tmp_path, ckpt):
    other = seeded_tiny_model(1)
    student = narrow_decoder(other.stage1.decoder, 2)
    path = tmp_path / "other-preview.safetensors"
    save_preview(path, student, decoder_id(other))
    with pytest.raises(UserError, match="another model"):
        load_preview(path, gen.model)
    with pytest.raises(UserError, match="not a preview decoder"):
        load_preview(ckpt, gen.model)  # the checkpoint itself
    junk = tmp_path / "junk-preview.safetensors"
    junk.write_bytes(b"not a file of tensors")
    with pytest.raises(UserError, match="not a safetensors file"):
        load_preview(junk, gen.model)
    with pytest.raises(UserError, match="not found"):
        load_preview(tmp_path / "missing.safetensors", gen.model)


def test_the_file_beside_a_checkpoint_is_picked_up_and_a_wrong_one_only_logged(tmp_path, caplog):
    model = seeded_tiny_model(0)
    path = tmp_path / "m.safetensors"
    save_weights(path, model, tiny())
    assert PersonGenerator.from_checkpoint(str(path), "cpu").preview is None  # no file, no preview
    save_preview(preview_path(path), narrow_decoder(model.stage1.decoder, 2), decoder_id(model))
    assert PersonGenerator.from_checkpoint(str(path), "cpu").preview.bottom[0] == 2
    other = seeded_tiny_model(3)
    save_preview(preview_path(path), narrow_decoder(other.stage1.decoder, 2), decoder_id(other))
    with caplog.at_level(logging.WARNING):
        assert PersonGenerator.from_checkpoint(str(path), "cpu").preview is None
    assert "another model" in caplog.text


def test_distillation_writes_a_preview_that_learnt_its_teacher(ckpt, tmp_path, capsys):
    out = tmp_path / "p.safetensors"
    cache = tmp_path / "cache"
    args = ["--checkpoint", str(ckpt), "--out", str(out), "--cache", str(cache), "--channels", "2", "--samples", "600"]
    assert trainer.main([*args, "--steps", "60", "--log-every", "30", "--lr", "3e-3"]) == 0
    facts = read_facts(out)
    assert facts["steps"] == 60 and facts["samples"] == 600 - trainer.HELD_OUT
    assert facts["psnr_db"] > facts["start_psnr_db"] + 1  # it learnt the teacher's pictures
    gen = PersonGenerator.from_checkpoint(str(ckpt), "cpu")
    assert load_preview(out, gen.model).bottom[0] == 2
    assert len(list(cache.iterdir())) == 1
    # a rerun reads the cached teacher pictures, and continues from the file with --init
    assert trainer.main([*args, "--steps", "2", "--log-every", "1", "--init", str(out)]) == 0
    assert "teacher pictures from" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--channels", "0"], "--channels must be at least 1"),
        (["--channels", "64"], "must be below the model's"),
        (["--samples", "100"], "above the 512 held out"),
        (["--data", "/nonexistent"], "not a prepared folder"),
        (["--minutes", "0"], "must be positive"),
    ],
)
def test_bad_arguments_are_one_error_line(ckpt, tmp_path, capsys, extra, message):
    args = ["--checkpoint", str(ckpt), "--out", str(tmp_path / "p.safetensors"), "--cache", str(tmp_path / "c")]
    assert trainer.main([*args, *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_init_of_another_shape_is_one_error_line(ckpt, gen, tmp_path, capsys):
    wrong = tmp_path / "wrong.safetensors"
    save_preview(wrong, narrow_decoder(gen.model.stage1.decoder, 3), decoder_id(gen.model))
    args = ["--checkpoint", str(ckpt), "--out", str(tmp_path / "p.safetensors"), "--cache", str(tmp_path / "c")]
    assert trainer.main([*args, "--channels", "2", "--samples", "520", "--steps", "1", "--init", str(wrong)]) == 1
    assert "is not a 2-channel preview" in capsys.readouterr().err


def test_a_preview_follows_its_decoder_not_the_encoders(gen, tmp_path):
    # encoders trained further (stage1.freeze_decoder): the same decoder, the same preview;
    # a file written before session 14 names the whole model and is held to it
    import copy

    from safetensors.torch import save_file

    student = narrow_decoder(gen.model.stage1.decoder, 2)
    path = tmp_path / "p-preview.safetensors"
    save_preview(path, student, decoder_id(gen.model))
    moved = copy.deepcopy(gen.model)
    with torch.no_grad():
        next(moved.stage1.foreground.parameters()).add_(0.1)
    assert checkpoint_id(moved) != checkpoint_id(gen.model) and decoder_id(moved) == decoder_id(gen.model)
    assert load_preview(path, moved).bottom[0] == 2
    old = tmp_path / "old-preview.safetensors"
    state = {k: v.half() for k, v in student.state_dict().items()}
    meta = {"format": "dpg-preview/1", "checkpoint": checkpoint_id(gen.model), "shape": json.dumps(decoder_shape(student))}
    save_file(state, str(old), metadata=meta)
    assert load_preview(old, gen.model).bottom[0] == 2
    with pytest.raises(UserError, match="another model"):
        load_preview(old, moved)
