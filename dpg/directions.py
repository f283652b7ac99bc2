"""Named slider directions: "red top", "brighter background", "wider stride" (issue 20).

The editor's default sliders follow each factor's principal directions of variation
(``PersonGenerator.directions``), which have no names. A *named* direction is found from
labelled data: the difference of the class means of real people's embeddings
(``e_1 - e_0`` over people with and without an attribute), as a unit vector, with the
standard deviation of all the data's projections on it as its ``scale``, so that a slider
at 1.0 moves a person by one standard deviation of what the data shows along it.

Space: the embedding space, not the noise space (section 3.2's ``e``, not ``z``). The
labels belong to real photos, and a photo reaches the model as its encoder's embedding
``e``; the noise ``z`` of a photo is only an estimate (``PersonGenerator.invert``: 17 s a
person, 5-13% off for the foreground of a photo), so class means in ``z`` would cost hours
and carry that error. The decoder is what consumes ``e``, and moving between the class means
of real embeddings stays among the embeddings it was trained to decode. It also makes a
named slider the same operation for every person on the page, whether its factor came from
a seed (``Phi(z)``) or from a photo: ``apply`` adds ``amount * scale * vector`` to the value.

Factors and their spaces: ``fg`` the foreground embedding ``[224]`` (7 body ROIs x 32),
``bg`` the background embedding ``[128]``, ``pose`` the pose auto-encoder's code ``[32]``
(``DisentangledPersonModel.encode_pose``); a pose is moved as keypoints by ``move_pose``.

What the labels are: PETA's attributes for the foreground (``dpg.data.peta``); for the
background, which PETA does not describe, measures of the photo's pixels outside the person
(``background_measures``); for the pose, measures of the keypoints (``pose_measures``).
``train/directions.py`` computes them; ``bench/bench_directions.py`` measures that a slider
changes what it names and not the other factors.

A directions file is made for one model: it records ``checkpoint_id`` (a hash of the model's
tensors) and ``load_directions`` refuses a file made for another one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from dpg.checkpoint import read_tagged
from dpg.errors import UserError

FORMAT = "dpg-directions/1"
FACTORS = ("fg", "bg", "pose")


@dataclass(frozen=True, eq=False)
class NamedDirection:
    """One named slider: ``vector`` a unit ``[K]`` float32 tensor in ``factor``'s space (module
    doc), ``scale`` the std of the data's projections on it (amount 1.0 moves that far),
    ``source`` what it was found from (e.g. ``PETA upperBodyRed``), for people reading a file."""

    name: str
    factor: str
    vector: torch.Tensor
    scale: float
    source: str = ""


# ------------------------------------------------------------------------------------------
# Finding directions


def find_direction(x, labels, groups=None) -> tuple[torch.Tensor, float]:
    """Class-mean difference of rows ``x [N, K]`` with ``labels [N]`` in {1, 0, -1 unknown}.

    Returns the unit vector ``[K]`` from class 0's mean to class 1's, and the standard
    deviation of the projections of *all* rows on it (the unknown ones included: they are
    people too). With ``groups [N]`` (e.g. the camera set a photo came from), the difference
    is taken within each group that holds both classes and averaged, weighted by
    ``n1 * n0 / (n1 + n0)``: a set where backpacks are common and the light is grey would
    otherwise put its grey light into "backpack". A ``ValueError`` when a class has no row
    (in any one group) or the means coincide."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels)).reshape(-1)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"expected rows [N, K] and labels [N], got {tuple(x.shape)} and {tuple(y.shape)}")
    g = torch.zeros(len(y), dtype=torch.long) if groups is None else torch.as_tensor(np.unique(groups, return_inverse=True)[1])
    d, total = torch.zeros(x.shape[1], dtype=torch.float64), 0.0
    for k in torch.unique(g):
        one, zero = (g == k) & (y == 1), (g == k) & (y == 0)
        n1, n0 = int(one.sum()), int(zero.sum())
        if n1 and n0:
            weight = n1 * n0 / (n1 + n0)
            d += weight * (x[one].mean(0) - x[zero].mean(0))  # [K]
            total += weight
    if not total:
        raise ValueError(
            f"both classes are needed ({int((y == 1).sum())} rows of class 1, {int((y == 0).sum())} of class 0"
            + (", in one group" if groups is not None else "")
            + ")"
        )
    norm = d.norm()
    if not norm > 0:
        raise ValueError("the two classes have the same mean: no direction between them")
    v = d / norm
    return v.float(), float((x @ v).std())


def find_directions(embeddings, labels, names: Sequence[str], factor: str, sources: Sequence[str] | None = None, groups=None):
    """One ``NamedDirection`` per column of ``labels [N, A]`` (``find_direction``, within
    ``groups`` if given), named by ``names``; ``embeddings [N, K]`` are the factor's values."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != len(names):
        raise ValueError(f"labels must be [N, {len(names)}] for {len(names)} names, got {labels.shape}")
    out = []
    for j, name in enumerate(names):
        v, s = find_direction(embeddings, labels[:, j], groups)
        out.append(NamedDirection(name, factor, v, s, sources[j] if sources else ""))
    return out


def tercile_labels(values) -> np.ndarray:
    """A measure ``[N]`` (NaN where it does not apply) -> int8 labels: 1 for the top third of
    the defined values, 0 for the bottom third, -1 between and where undefined. (The middle
    third is left out so that the two class means describe clear cases.)"""
    v = np.asarray(values, np.float64)
    out = np.full(v.shape, -1, np.int8)
    ok = np.isfinite(v)
    if ok.sum() >= 3:
        lo, hi = np.quantile(v[ok], [1 / 3, 2 / 3])
        out[ok & (v <= lo)] = 0
        out[ok & (v >= hi)] = 1
    return out


def background_measures(images, person_masks) -> dict[str, np.ndarray]:
    """Measures of the background of uint8 images ``[N, H, W, 3]`` over the pixels outside
    ``person_masks [N, H, W]`` (uint8 0/255, or bool or float 0/1), each ``[N]`` (NaN where no
    background pixel is left): ``brightness`` the mean luma (0-255), ``greenness`` the mean of
    ``G - (R + B) / 2`` (foliage, lawns), ``warmth`` the mean of ``R - B`` (warm or cool light)."""
    x = np.asarray(images, np.float64)
    m = np.asarray(person_masks)
    bg = (m <= (127 if m.dtype == np.uint8 else 0.5)).astype(np.float64)  # [N, H, W] 1 = background
    count = bg.sum((1, 2))  # [N]

    def mean(channel):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, (channel * bg).sum((1, 2)) / count, np.nan)

    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return {
        "brightness": mean(0.299 * r + 0.587 * g + 0.114 * b),
        "greenness": mean(g - (r + b) / 2),
        "warmth": mean(r - b),
    }


# COCO-18 joint ids (dpg.keypoints.JOINTS)
NECK, R_SHOULDER, R_WRIST, L_SHOULDER, L_WRIST, R_ANKLE, L_ANKLE = 1, 2, 4, 5, 7, 10, 13


def pose_measures(keypoints, height: int) -> dict[str, np.ndarray]:
    """Measures of poses ``[N, 18, 3]`` (x, y, v), each ``[N]``, NaN where the joints they need
    are hidden; distances in fractions of the image height (a crop's person spans it):

    * ``stride``: horizontal distance between the ankles;
    * ``facing_away``: 1 when the right shoulder is on the image's right of the left one by
      more than 2% of the height (a back view), 0 when on its left (a front view), NaN for the
      side views between (the nose is no cue: the pose detector marks it in 99.98% of the crops);
    * ``arms_out``: mean horizontal distance of the visible wrists from the neck.
    """
    k = np.asarray(keypoints, np.float64).reshape(-1, 18, 3)
    vis = k[..., 2] > 0.5
    x = k[..., 0] / height

    def where(ok, value):
        return np.where(ok, value, np.nan)

    stride = where(vis[:, R_ANKLE] & vis[:, L_ANKLE], np.abs(x[:, R_ANKLE] - x[:, L_ANKLE]))
    order = x[:, R_SHOULDER] - x[:, L_SHOULDER]
    shoulders = vis[:, R_SHOULDER] & vis[:, L_SHOULDER] & (np.abs(order) > 0.02)
    away = where(shoulders, (order > 0).astype(np.float64))
    wrists = vis[:, [R_WRIST, L_WRIST]] & vis[:, [NECK]]  # [N, 2]
    spread = np.abs(x[:, [R_WRIST, L_WRIST]] - x[:, [NECK]])  # [N, 2]
    with np.errstate(invalid="ignore"):
        arms = where(wrists.any(1), (spread * wrists).sum(1) / wrists.sum(1))
    return {"stride": stride, "facing_away": away, "arms_out": arms}


# ------------------------------------------------------------------------------------------
# Files


def checkpoint_id(model: torch.nn.Module) -> str:
    """16 hex digits of a SHA-256 over a model's tensors (names, shapes and fp32 values): the
    same weights give the same id whatever file, header or device they came from."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        a = t.detach().to("cpu", torch.float32).contiguous().numpy()
        h.update(f"{name}:{tuple(a.shape)};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def directions_path(checkpoint: str | os.PathLike) -> Path:
    """Where a checkpoint's directions live: beside it, ``<stem>-directions.safetensors``."""
    p = Path(checkpoint)
    return p.with_name(f"{p.stem}-directions.safetensors")


def save_directions(path: str | os.PathLike, directions: Sequence[NamedDirection], checkpoint: str) -> None:
    """Write ``directions`` for the model ``checkpoint`` (its ``checkpoint_id``) to a
    safetensors file: tensor ``"<i>"`` is the i-th vector, the names, factors, scales and
    sources are JSON in the header. Written to a temporary file, then moved into place."""
    tensors = {str(i): d.vector.detach().to("cpu", torch.float32).contiguous() for i, d in enumerate(directions)}
    table = [{"name": d.name, "factor": d.factor, "scale": float(d.scale), "source": d.source} for d in directions]
    meta = {"format": FORMAT, "checkpoint": checkpoint, "directions": json.dumps(table)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide shipped directions from other users
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_directions(path: str | os.PathLike, expect_checkpoint: str | None = None) -> list[NamedDirection]:
    """The directions in ``path``; with ``expect_checkpoint`` (a ``checkpoint_id``), a
    ``UserError`` for a file made for another model, and for a file that is not one."""
    path = Path(path)
    redo = f"recompute them: python -m train.directions --checkpoint CHECKPOINT --out {path}"
    meta, vectors = read_tagged(path, FORMAT, "a file of slider directions", redo, redo)
    found = meta.get("checkpoint", "")
    if expect_checkpoint is not None and found != expect_checkpoint:
        raise UserError(
            f"{path} holds slider directions for another model (checkpoint {found or 'unknown'}, this model "
            f"is {expect_checkpoint}); {redo}, or remove the file to keep the unnamed sliders"
        )
    try:
        table = json.loads(meta["directions"])
        out = [
            NamedDirection(str(t["name"]), str(t["factor"]), vectors[str(i)].float(), float(t["scale"]), str(t.get("source", "")))
            for i, t in enumerate(table)
        ]
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path} has a damaged header ({type(err).__name__}: {err}); {redo}") from None
    for d in out:
        if d.factor not in FACTORS or d.vector.ndim != 1 or not torch.isfinite(d.vector).all() or not d.scale > 0:
            raise UserError(f"{path}: the direction {d.name!r} is damaged (factor {d.factor}, scale {d.scale}); {redo}")
    return out


def directions_for(gen, path: str | os.PathLike | None = None) -> dict[str, list[NamedDirection]]:
    """The named directions of a ``PersonGenerator``'s model by factor (``{"fg": [...], ...}``):
    from ``path``, by default the file beside its checkpoint (``directions_path``); ``{}``
    when there is none. A file for another model, or with vectors of the wrong size, is a
    ``UserError``."""
    if path is None:
        ckpt = getattr(gen, "checkpoint", None)
        if ckpt is None or not directions_path(ckpt).is_file():
            return {}
        path = directions_path(ckpt)
    found = load_directions(path, checkpoint_id(gen.model))
    dims = {f: gen.model.stage2.mappings[f].dim for f in gen.factors}
    out: dict[str, list[NamedDirection]] = {}
    for d in found:
        if d.factor not in dims or d.vector.shape[0] != dims[d.factor]:
            raise UserError(
                f"{path}: {d.name!r} is a {d.factor} direction of size {d.vector.shape[0]}, which this model "
                "does not have; recompute the directions for it (python -m train.directions)"
            )
        out.setdefault(d.factor, []).append(d)
    return out


# ------------------------------------------------------------------------------------------
# Moving a person


def apply(value, direction: NamedDirection, amount: float):
    """``value + amount * scale * vector``: a factor's value ``[..., K]`` (tensor, array or
    list) moved ``amount`` standard deviations along ``direction``; same type as given. Linear,
    so moving a slider from ``a0`` to ``a1`` adds ``apply(0, d, a1 - a0)``, whatever the value."""
    step = direction.vector * (float(amount) * direction.scale)  # [K]
    if isinstance(value, torch.Tensor):
        return value + step.to(value.device, value.dtype)
    if isinstance(value, list):
        return (np.asarray(value, np.float32) + step.numpy()).tolist()
    a = np.asarray(value)
    return a + step.numpy().astype(a.dtype if a.dtype.kind == "f" else np.float32)


def apply_all(value, directions: Sequence[NamedDirection], amounts: Sequence[float]):
    """``value`` moved along several directions at once (a slider each)."""
    if len(directions) != len(amounts):
        raise UserError(f"{len(directions)} named directions but {len(amounts)} slider values")
    for d, a in zip(directions, amounts):
        value = apply(value, d, a)
    return value


@torch.no_grad()
def move_pose(gen, keypoints, directions: Sequence[NamedDirection], amounts: Sequence[float]) -> np.ndarray:
    """Keypoints ``[18, 3]`` or ``[N, 18, 3]`` in ``gen``'s pixels moved along pose directions.

    The pose code ``c = E(k)`` moves to ``c' = c + sum(a_i s_i v_i)``; the decoder's difference
    ``D(c') - D(c)`` is added to the joints visible in ``k`` and in both decodings, and a joint
    that ``D(c')`` shows or hides where ``D(c)`` does not takes ``D(c')``'s place and visibility
    (so a slider can turn a person round). Amounts of zero return ``k`` exactly (not the auto-
    encoder's reconstruction of it)."""
    if any(d.factor != "pose" for d in directions):
        raise UserError("move_pose takes pose directions only; apply() moves the foreground and background")
    k = np.asarray(keypoints, np.float32)
    if len(directions) != len(amounts):
        raise UserError(f"{len(directions)} named directions but {len(amounts)} slider values")
    if not any(amounts):
        return k.copy()
    base = k.reshape(-1, 18, 3).copy()
    kt = torch.as_tensor(base, device=gen.device)
    code = gen.model.encode_pose(kt)  # [N, 32]
    old = gen.model.decode_pose(code).cpu().numpy()  # [N, 18, 3]
    new = gen.model.decode_pose(apply_all(code, directions, amounts)).cpu().numpy()
    vis_b, vis_o, vis_n = base[..., 2] > 0.5, old[..., 2] > 0.5, new[..., 2] > 0.5
    out = base.copy()
    both = vis_b & vis_o & vis_n
    out[both, :2] += new[both, :2] - old[both, :2]
    flip = vis_o != vis_n  # the move shows or hides this joint
    out[flip] = new[flip]
    out[..., 0] = np.clip(out[..., 0], 0, gen.width - 1)
    out[..., 1] = np.clip(out[..., 1], 0, gen.height - 1)
    out[out[..., 2] < 0.5] = 0  # the package convention: a hidden joint is (0, 0, 0)
    return out.reshape(k.shape)
