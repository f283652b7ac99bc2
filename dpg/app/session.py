"""One browser session's edits, and the person they describe.

``gr.State`` deep-copies its value for every visitor, so a ``Session`` holds only small,
plain things: per-factor seeds and slider values, the person's current factors as lists
(foreground 224 floats, background 128, keypoints 18 x 3) and the encodings of the uploaded
photos. The model is never in it. Handlers never mutate a session: they return a new one
(``dataclasses.replace``), so a test can compare before and after.

The person shown is always ``render(gen, session)``: composing cached factors costs one
decoder pass, and a handler only recomputes the factor its control changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from dpg.errors import UserError
from dpg.model import Factors

SLIDERS = 3  # latent sliders per factor, along its main directions of variation
SLIDER_RANGE = 3.0  # in standard deviations of the noise
MAX_SEED = 2**31 - 1
DEFAULT_SEEDS = {"fg": 0, "bg": 1, "pose": 2}
FACTOR_LABELS = {"fg": "foreground", "bg": "background", "pose": "pose"}


@dataclass
class Session:
    """Seeds, slider values and the person's factors for one visitor.

    ``fg``/``bg`` are embeddings, ``keypoints`` the pose ``[18][3]`` in the model's pixels;
    ``None`` means "not computed yet" (``materialize`` samples it from the seed). Unlike the
    package convention, a hidden joint keeps its ``(x, y)`` here with ``v = 0``, so showing it
    again puts it back where it was; ``factors`` zeroes them before the model sees them.
    ``sources`` says where each factor came from (``seed``, ``photo``, ``second photo``,
    ``edited``, ``mixed``); ``pose_origin`` is what "reset pose" restores. ``photo`` and
    ``other`` are the encodings of the photo being edited and of the second photo
    (``{"name", "fg", "bg", "keypoints", "key", "fitted"}``; ``key`` finds the photo itself in
    the app's ``PhotoStore``, ``fitted`` the refine steps that fitted the embeddings to it),
    ``inverted`` their noise codes once computed.
    """

    seeds: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SEEDS))
    offsets: dict[str, list[float]] = field(default_factory=lambda: {f: [0.0] * SLIDERS for f in DEFAULT_SEEDS})
    sources: dict[str, str] = field(default_factory=lambda: {f: "seed" for f in DEFAULT_SEEDS})
    fg: list[float] | None = None
    bg: list[float] | None = None
    keypoints: list[list[float]] | None = None
    pose_origin: dict | None = None
    photo: dict | None = None
    other: dict | None = None
    inverted: dict = field(default_factory=dict)
    # per factor not from a seed: its value before the sliders moved it ({"value", "offsets",
    # "result"}; ``dpg.app.handlers.slide``)
    anchors: dict = field(default_factory=dict)
    # show the model's own 128x64 output (the paper's view) instead of the edit on the photo
    model_only: bool = False
    # the named sliders' values per factor (``dpg.directions``; ``dpg.app.handlers.set_named``)
    named: dict[str, list[float]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# Checking what the page sends


def check_seed(value) -> int:
    """A seed from a number box: a whole number in ``[0, MAX_SEED]`` (a number, or text of
    one); an empty box, True/False, 3.5 or text are refused with a message saying so."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise UserError(f"the seed box is empty: type a whole number from 0 to {MAX_SEED}, or press the dice")
    if isinstance(value, bool):
        raise UserError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {value!r}")
    try:
        seed = float(value)
    except (TypeError, ValueError):
        raise UserError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {value!r}") from None
    if not np.isfinite(seed) or seed != int(seed) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {value!r}")
    return int(seed)


def check_amounts(values, n: int = SLIDERS) -> list[float]:
    """Slider values: ``n`` finite numbers, clipped to ``+-SLIDER_RANGE``."""
    try:
        a = np.asarray([0.0 if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"slider values must be numbers, got {values!r}") from None
    if a.shape != (n,) or not np.isfinite(a).all():
        raise UserError(f"expected {n} finite slider values, got {values!r}")
    return [round(float(v), 4) for v in np.clip(a, -SLIDER_RANGE, SLIDER_RANGE)]


def check_factor(gen, factor: str) -> str:
    if factor not in gen.factors:
        raise UserError(f"this model has no {factor!r} factor; it models {', '.join(gen.factors)}")
    return factor


def check_factor_list(gen, factors, what: str = "factor") -> list[str]:
    """A checkbox group's choice of factors (keys or labels); at least one."""
    by_label = {FACTOR_LABELS[f]: f for f in gen.factors}
    chosen = [by_label.get(str(f).lower(), f) for f in (factors or [])]
    unknown = [f for f in chosen if f not in gen.factors]
    if unknown:
        raise UserError(f"unknown {what} {unknown}; choose from {', '.join(FACTOR_LABELS[f] for f in gen.factors)}")
    if not chosen:
        raise UserError(f"choose at least one {what}")
    return [f for f in gen.factors if f in chosen]


# ------------------------------------------------------------------------------------------
# Factors <-> session


def sample_factor(gen, factor: str, seed: int, amounts) -> list:
    """One factor from its seed and slider values, as a list: the embedding for ``fg``/``bg``,
    keypoints ``[18][3]`` for ``pose``. The seed alone decides the noise (its own generator)."""
    z = gen.noise(factor, [seed])  # [1, K]
    if any(amounts):
        z = z + gen.shift(factor, amounts)
    return gen.factor_from_z(factor, z)[0].cpu().tolist()


def materialize(gen, s: Session) -> Session:
    """Fill in the factors a session has not computed yet (a fresh session, or one from
    ``gradio_client``, which starts with the default state) from its seeds and sliders."""
    updates = {}
    for f in gen.factors:
        current = s.keypoints if f == "pose" else getattr(s, f)
        if current is None:
            updates["keypoints" if f == "pose" else f] = sample_factor(gen, f, s.seeds[f], s.offsets[f])
    if "keypoints" in updates:
        updates["pose_origin"] = {"keypoints": updates["keypoints"], "source": s.sources["pose"]}
    return replace(s, **updates) if updates else s


def model_keypoints(keypoints) -> np.ndarray:
    """Session keypoints -> the package convention: ``[18, 3]`` with hidden joints ``(0, 0, 0)``."""
    kp = np.asarray(keypoints, dtype=np.float32).reshape(18, 3).copy()
    kp[:, 2] = kp[:, 2] > 0.5
    kp[kp[:, 2] == 0] = 0
    return kp


def factors(gen, s: Session) -> Factors:
    """The person of a (materialized) session as a batch of one ``Factors`` on the model's device."""
    if s.fg is None or s.keypoints is None or ("bg" in gen.factors and s.bg is None):
        raise ValueError("session has factors missing; call materialize() first")

    def row(values):
        return torch.tensor([values], dtype=torch.float32, device=gen.device)

    bg = row(s.bg) if "bg" in gen.factors else None
    return Factors(row(s.fg), bg, torch.from_numpy(model_keypoints(s.keypoints))[None].to(gen.device))


def render(gen, s: Session, preview: bool = False) -> np.ndarray:
    """The person a session describes: uint8 ``[H, W, 3]`` at the model's size (``preview``:
    by the model's preview decoder, where it has one; ``dpg.preview``)."""
    return gen.compose(factors(gen, s), preview=preview)[0]


def is_photos(s: Session, factor: str, photo: dict) -> bool:
    """Whether the person shown has ``photo``'s own ``factor`` (an encoding: ``s.photo``,
    ``s.other``): hidden joints compared as the model sees them."""
    if factor == "pose":
        return np.array_equal(model_keypoints(s.keypoints), model_keypoints(photo["keypoints"]))
    return getattr(s, factor) == photo[factor]


def changed_factors(gen, s: Session) -> set[str]:
    """The factors of the person shown that are not the photo's own (all without a photo)."""
    if s.photo is None:
        return set(gen.factors)
    return {f for f in gen.factors if not is_photos(s, f, s.photo)}


def encoding(name: str, fac: Factors, key: str | None = None, fitted: int = 0) -> dict:
    """A photo's factors (batch of one) as the small dict a session keeps; ``fitted``: the
    refine steps that fitted them to the photo (0: the encoders' own)."""
    return {
        "name": name,
        "key": key,
        "fitted": int(fitted),
        "fg": fac.fg[0].cpu().tolist(),
        "bg": None if fac.bg is None else fac.bg[0].cpu().tolist(),
        "keypoints": fac.keypoints[0].cpu().tolist(),
    }


def describe(gen, s: Session) -> str:
    """One line of Markdown: where each factor of the person shown comes from."""
    parts = []
    for f in gen.factors:
        src = s.sources.get(f, "seed")
        moved = any(s.offsets[f]) or any(s.named.get(f, []))
        if src == "seed":
            text = f"seed {s.seeds[f]}"
        elif src in ("photo", "second photo") and (s.photo if src == "photo" else s.other):
            p = s.photo if src == "photo" else s.other
            text = f"from {p['name']}"
            moved = not is_photos(s, f, p)  # the sliders may sit off zero from before
        else:
            text = src
        text += " (moved)" if moved else ""
        parts.append(f"**{FACTOR_LABELS[f]}** {text}")
    return " · ".join(parts)
