"""A preview decoder for slider drags (issue 21): the stage-I U-Net at fewer channels,
distilled from a model's own decoder (``python -m train.preview``).

A slider event composes one person through the stage-I decoder (section 3.1, Fig. 10c):
2.6 GMAC at the bundled 32 channels, about 44 ms of one AVX2 core through NNPACK
(``dpg.runtime``). The same architecture at 12 channels costs (12/32)^2 of the
multiply-adds and runs in about a quarter of the time, but it must learn the full decoder's
pictures: it is trained on the full decoder's outputs for embeddings and poses of real and
sampled people (knowledge distillation). The editor draws a slider's ``input`` events with
it while the slider moves and the full decoder's picture on ``release``.

The file lives beside its checkpoint (``<stem>-preview.safetensors``), fp16 tensors of one
``UNetDecoder`` with its shape and the ``decoder_id`` of the decoder it learnt from in the
header: a preview of another decoder would draw another person, so it is refused (a
``UserError``), and a model without a preview file simply has none (the full decoder
draws every event). It is the decoder's id, not the whole model's: a model whose encoders
alone were trained further (``stage1.freeze_decoder``) draws as before, and keeps its preview.
Files written before session 14 hold the whole model's ``checkpoint_id`` (``checkpoint``) and
are checked against it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from dpg.checkpoint import atomic_write, read_tagged
from dpg.decoder import UNetDecoder
from dpg.directions import checkpoint_id
from dpg.errors import UserError

FORMAT = "dpg-preview/1"
SHAPE_KEYS = ("emb_dim", "channels", "blocks", "height", "width", "bottleneck_dim")


def preview_path(checkpoint: str | os.PathLike) -> Path:
    """Where a checkpoint's preview decoder lives: beside it, ``<stem>-preview.safetensors``."""
    p = Path(checkpoint)
    return p.with_name(f"{p.stem}-preview.safetensors")


def decoder_shape(decoder: UNetDecoder) -> dict[str, int]:
    """The constructor arguments of a ``UNetDecoder``, read back from its modules."""
    c, h, w = decoder.bottom
    blocks = len(decoder.down)
    scale = 2 ** (blocks - 1)
    return {
        "emb_dim": decoder.inp.emb_dim,
        "channels": c,
        "blocks": blocks,
        "height": h * scale,
        "width": w * scale,
        "bottleneck_dim": decoder.to_z.out_features,
    }


def narrow_decoder(teacher: UNetDecoder, channels: int) -> UNetDecoder:
    """A ``UNetDecoder`` like ``teacher`` at ``channels`` channels (fewer), started from the
    teacher's weights: each layer keeps the teacher's first channels of every level (at the
    skip concatenations, the first of each part), the bottleneck's rows and columns likewise.
    At the teacher's own width this is the teacher exactly (a test checks it); narrower, its
    pictures start far from the teacher's (13 dB at 12 of 32 channels on the bundled model)
    but nearer than random weights, and distillation starts from there."""
    shape = decoder_shape(teacher)
    c, n = shape["channels"], shape["blocks"]
    if not 0 < channels <= c:
        raise ValueError(f"a narrower decoder needs 1 to {c} channels, not {channels}")
    student = UNetDecoder(shape["emb_dim"], channels, n, (shape["height"], shape["width"]), shape["bottleneck_dim"])

    def level(i: int, width: int) -> torch.Tensor:  # the first channels of level i (width*(i+1))
        return torch.arange(width * (i + 1))

    def copy(dst, src, rows, cols) -> None:
        w = src.weight.detach()
        w = w if rows is None else w[rows]
        dst.weight.data.copy_(w if cols is None else w[:, cols])
        if src.bias is not None:
            dst.bias.data.copy_(src.bias.detach() if rows is None else src.bias.detach()[rows])

    # the first convolution sees the embedding and the pose map whole: only its outputs shrink
    copy(student.inp.conv, teacher.inp.conv, level(0, channels), None)
    for i in range(n):
        keep = level(i, channels)
        copy(student.down[i].conv1, teacher.down[i].conv1, keep, keep)
        copy(student.down[i].conv2, teacher.down[i].conv2, keep, keep)
        if i < n - 1:
            copy(student.downsample[i], teacher.downsample[i], level(i + 1, channels), keep)
    _, h, w = teacher.bottom
    # to_z reads the bottom feature [C*n, h, w] flattened channel-major: keep whole channels
    cols = (torch.arange(channels * n)[:, None] * h * w + torch.arange(h * w)[None]).flatten()
    copy(student.to_z, teacher.to_z, None, cols)
    rows = (torch.arange(channels)[:, None] * h * w + torch.arange(h * w)[None]).flatten()
    copy(student.from_z, teacher.from_z, rows, None)
    x_full, x_small = c, channels
    for idx in range(n):
        # concat([x, skip]): the first x_small of x, then the first of the skip's part
        keep = torch.cat([torch.arange(x_small), x_full + torch.arange(channels * (n - idx))])
        copy(student.up[idx].conv1, teacher.up[idx].conv1, keep, keep)
        copy(student.up[idx].conv2, teacher.up[idx].conv2, keep, keep)
        if idx < n - 1:
            x_full, x_small = c * (n - idx - 1), channels * (n - idx - 1)
            copy(student.upsample[idx], teacher.upsample[idx], torch.arange(x_small), keep)
        else:
            copy(student.out, teacher.out, None, keep)
    return student


def decoder_id(model) -> str:
    """The ``checkpoint_id`` of a ``DisentangledPersonModel``'s stage-I decoder: what a
    preview imitates, so what it is made for."""
    return checkpoint_id(model.stage1.decoder)


def save_preview(path: str | os.PathLike, decoder: UNetDecoder, teacher: str, facts: dict | None = None) -> None:
    """Write ``decoder`` (fp16 tensors) as the preview of the decoder ``teacher`` (its
    ``decoder_id``); ``facts`` (steps, measured PSNR, ...) go into the header as JSON."""
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in decoder.state_dict().items()}
    meta = {"format": FORMAT, "decoder": teacher, "shape": json.dumps(decoder_shape(decoder)), "facts": json.dumps(facts or {})}
    atomic_write(Path(path), lambda tmp: save_file(state, tmp, metadata=meta))


def read_facts(path: str | os.PathLike) -> dict:
    """The ``facts`` a preview file was saved with (``{}`` for none)."""
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("facts", "{}"))


def _read(path, redo: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(metadata, tensors)`` of a preview file (``checkpoint.read_tagged``)."""
    return read_tagged(path, FORMAT, "a preview decoder", redo, "python -m train.preview distils one")


def load_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A preview file's tensors (fp32), whichever model it was distilled from: a start for
    distilling one for new weights of the same shape (``train.preview --init``)."""
    _, state = _read(path, "python -m train.preview writes them")
    return {k: v.float() for k, v in state.items()}


def load_preview(path: str | os.PathLike, model) -> UNetDecoder:
    """The preview decoder in ``path`` (fp32, eval mode) for ``model`` (a
    ``DisentangledPersonModel``); a ``UserError`` for a file that is not one, is damaged, or
    was distilled from other weights."""
    path = Path(path)
    redo = f"distil one for this model (python -m train.preview --checkpoint CHECKPOINT), or remove {path}"
    meta, state = _read(path, redo)
    # the decoder's id; a file from before session 14 names the whole model's instead
    key, expect = ("decoder", decoder_id(model)) if "decoder" in meta else ("checkpoint", checkpoint_id(model))
    if meta.get(key) != expect:
        raise UserError(f"{path} was distilled from another model ({key} {meta.get(key) or 'unknown'}, this model's is {expect}); {redo}")
    try:
        shape = json.loads(meta["shape"])
        decoder = UNetDecoder(
            shape["emb_dim"], shape["channels"], shape["blocks"], (shape["height"], shape["width"]), shape["bottleneck_dim"]
        )
        decoder.load_state_dict({k: v.float() for k, v in state.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise UserError(f"{path} is damaged ({type(err).__name__}: {err}); {redo}") from None
    full = decoder_shape(model.stage1.decoder)
    if any(shape[k] != full[k] for k in ("emb_dim", "height", "width")):
        raise UserError(
            f"{path} draws {shape['height']}x{shape['width']} people from {shape['emb_dim']} dims; this model "
            f"{full['height']}x{full['width']} from {full['emb_dim']}; {redo}"
        )
    if not all(torch.isfinite(v).all() for v in decoder.state_dict().values()):
        raise UserError(f"{path} holds non-finite weights; {redo}")
    return decoder.eval()
