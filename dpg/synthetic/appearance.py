"""The appearance factor of the procedural renderer: one identity's look, from its seed.

An ``Appearance`` fixes everything about a person that is not pose or scene: skin tone, hair
style and colour, build (the flesh around the skeleton: torso, limb and head widths; never
the joint positions, so keypoints depend on the pose alone), the upper garment (t-shirt,
long-sleeved shirt, tank top, open jacket over a shirt, dress) and the lower one (trousers,
shorts, skirt, long skirt) with colours and patterns (plain, horizontal or vertical stripes,
checks, dots, prints, colour blocks, dip-dye gradients; logos on the chest or back), shoes
and an optional bag (backpack, shoulder bag, handbag).

Body parts are drawn as integer *labels* (``Part``) and coloured afterwards through a
per-appearance palette (``palette``): the label says which anatomical part a pixel belongs
to, the palette which material covers it (a forearm is skin under a t-shirt, cloth under a
shirt). Colours are linear RGB in [0, 1], drawn from weighted lists of common clothing colours
with a small jitter so that no two identities share an exact colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property

import numpy as np

from dpg.synthetic.seeds import APPEARANCE, Draws


class Part(IntEnum):
    """Label of every drawn region; distinct labels get an edge (and shading) between them."""

    BACKGROUND = 0
    TORSO, PELVIS, NECK, FACE, HAIR, HAIR_BACK, EAR = range(1, 8)
    R_ARM, L_ARM, R_HAND, L_HAND, R_SLEEVE, L_SLEEVE = range(8, 14)
    R_LEG, L_LEG, R_SHOE, L_SHOE, R_SHORT, L_SHORT, SKIRT = range(14, 21)
    BAG, STRAP, LOGO, COLLAR, NECKLINE, INNER = range(21, 27)
    FOLD_UPPER, FOLD_LOWER, EYE, MOUTH, HAT, BRIM, SOLE = range(27, 34)


NUM_LABELS = 34
# Patterns are drawn as label offsets: label + LEVEL_STRIDE * level, level 0 the garment's
# colour, 1 its second colour, 2 their mean (gingham overlaps, print edges).
LEVEL_STRIDE, LEVELS = 64, 3

# Weighted colour lists (linear-ish RGB in [0, 1]).
_CLOTH = (
    ((0.06, 0.06, 0.07), 14),
    ((0.93, 0.93, 0.91), 12),
    ((0.5, 0.5, 0.52), 7),
    ((0.25, 0.26, 0.28), 6),
    ((0.1, 0.13, 0.3), 7),
    ((0.3, 0.42, 0.62), 5),
    ((0.55, 0.72, 0.9), 5),
    ((0.78, 0.1, 0.1), 6),
    ((0.45, 0.07, 0.1), 3),
    ((0.95, 0.55, 0.68), 5),
    ((0.95, 0.5, 0.12), 3),
    ((0.95, 0.85, 0.15), 4),
    ((0.2, 0.6, 0.25), 3),
    ((0.1, 0.3, 0.18), 3),
    ((0.42, 0.45, 0.22), 2),
    ((0.8, 0.72, 0.55), 4),
    ((0.42, 0.28, 0.18), 3),
    ((0.45, 0.25, 0.6), 3),
    ((0.1, 0.5, 0.52), 2),
    ((0.62, 0.85, 0.55), 2),
)
_BOTTOM = (
    ((0.05, 0.05, 0.06), 25),
    ((0.2, 0.3, 0.5), 14),
    ((0.33, 0.45, 0.65), 8),
    ((0.1, 0.12, 0.25), 8),
    ((0.42, 0.42, 0.44), 8),
    ((0.72, 0.64, 0.48), 10),
    ((0.9, 0.9, 0.88), 5),
    ((0.38, 0.28, 0.2), 4),
    ((0.38, 0.4, 0.25), 4),
    ((0.85, 0.55, 0.65), 3),
    ((0.75, 0.15, 0.15), 2),
)
_SHOES = (
    ((0.06, 0.06, 0.06), 30),
    ((0.92, 0.92, 0.9), 30),
    ((0.5, 0.5, 0.5), 10),
    ((0.35, 0.22, 0.12), 10),
    ((0.15, 0.18, 0.35), 6),
    ((0.75, 0.15, 0.15), 5),
    ((0.9, 0.6, 0.7), 4),
    ((0.8, 0.7, 0.5), 5),
)
_HAIR = (
    ((0.05, 0.04, 0.04), 55),
    ((0.16, 0.1, 0.07), 20),
    ((0.32, 0.2, 0.12), 10),
    ((0.75, 0.6, 0.35), 5),
    ((0.6, 0.6, 0.6), 5),
    ((0.45, 0.18, 0.08), 5),
)
_BAGS = (
    ((0.06, 0.06, 0.07), 30),
    ((0.12, 0.15, 0.3), 10),
    ((0.4, 0.4, 0.42), 10),
    ((0.7, 0.12, 0.12), 6),
    ((0.4, 0.25, 0.15), 10),
    ((0.78, 0.68, 0.52), 8),
    ((0.9, 0.55, 0.65), 5),
    ((0.2, 0.4, 0.25), 4),
)
_TIGHTS = (((0.05, 0.05, 0.06), 3), ((0.75, 0.62, 0.5), 1))
_SKIN = ((0.97, 0.82, 0.71), (0.92, 0.74, 0.6), (0.8, 0.6, 0.45), (0.62, 0.43, 0.3), (0.4, 0.26, 0.17))

UPPER_KINDS = ("tshirt", "shirt", "tank", "jacket", "dress")
LOWER_KINDS = ("trousers", "shorts", "skirt", "long_skirt", "dress")
PATTERNS = ("plain", "stripes", "vstripes", "checks", "dots", "print", "block", "gradient")


@dataclass(frozen=True)
class Garment:
    """One garment: ``kind``, main and second colour, ``pattern`` and its period and phase
    (fractions of body height, so a pattern looks the same at 128x64 and 256x256)."""

    kind: str
    colour: tuple[float, float, float]
    colour2: tuple[float, float, float]
    pattern: str = "plain"
    period: float = 0.05
    phase: float = 0.0


@dataclass(frozen=True)
class Appearance:
    """One identity's look (module docstring). ``build`` in [0, 1] is slim to heavy;
    ``bag_side`` is -1 for the person's right, +1 for the left."""

    seed: int
    identity: int
    skin: tuple[float, float, float]
    hair_style: str
    hair: tuple[float, float, float]
    build: float
    upper: Garment
    lower: Garment
    collar: str
    logo: str
    logo_colour: tuple[float, float, float]
    shoes: tuple[float, float, float]
    sole: tuple[float, float, float]
    tights: tuple[float, float, float] | None
    bag: str
    bag_colour: tuple[float, float, float]
    bag_side: int

    @cached_property
    def palette(self) -> tuple[np.ndarray, np.ndarray]:
        """``(colours, garment)``: the RGBA colour of each label at each pattern level as
        ``[LEVELS * LEVEL_STRIDE]`` uint32 words (bytes R, G, B, A; alpha 0 for the
        background, 255 for the person), and which garment's pattern covers each label
        (uint8 ``[LEVEL_STRIDE]``: 0 none, 1 upper, 2 lower)."""
        return _palette(self)


def _colour(d: Draws, table, jitter: float = 0.05) -> tuple[float, float, float]:
    base = d.choice([c for c, _ in table], [w for _, w in table])
    gain = d.uniform(0.88, 1.1)
    return tuple(min(1.0, max(0.0, c * gain + d.uniform(-jitter, jitter))) for c in base)


def _garment(d: Draws, kind: str, table, patterns, weights) -> Garment:
    colour = _colour(d, table)
    colour2 = _colour(d, _CLOTH)
    pattern = d.choice(patterns, weights)
    if pattern in ("stripes", "vstripes", "checks") and d.chance(0.5):
        colour2 = tuple(min(1.0, c * 0.4 + 0.6 * (1 - c) * d.uniform(0.6, 1.0)) for c in colour)
    return Garment(kind, colour, colour2, pattern, d.uniform(0.022, 0.055), d.random())


def sample_appearance(seed: int, identity: int | None = None) -> Appearance:
    """The appearance of seed ``seed``; ``identity`` (default: the seed) is its label."""
    d = Draws(APPEARANCE, seed)
    t = d.random() ** 1.3 * (len(_SKIN) - 1)  # lighter tones more common, as in Market-1501
    i = min(int(t), len(_SKIN) - 2)
    skin = tuple(float(a + (b - a) * (t - i)) for a, b in zip(_SKIN[i], _SKIN[i + 1]))
    hair_style = d.choice(("short", "long", "ponytail", "bun", "bald", "cap"), (45, 25, 12, 5, 3, 10))
    upper_kind = d.choice(UPPER_KINDS, (45, 20, 7, 14, 8))
    upper = _garment(d, upper_kind, _CLOTH, PATTERNS, (50, 12, 4, 10, 6, 8, 5, 5))
    if upper_kind == "dress":
        lower = Garment("dress", upper.colour, upper.colour2, upper.pattern, upper.period, upper.phase)
    else:
        lower_kind = d.choice(LOWER_KINDS[:4], (52, 26, 16, 6))
        weights = (80, 5, 0, 7, 2, 4, 0, 2) if lower_kind != "trousers" else (96, 0, 1, 2, 0, 1, 0, 0)
        lower = _garment(d, lower_kind, _BOTTOM if lower_kind in ("trousers", "shorts") else _CLOTH, PATTERNS, weights)
    logo = "none"
    if upper.pattern in ("plain", "block") and upper_kind != "jacket":
        logo = d.choice(("none", "chest", "back", "big"), (65, 15, 10, 10))
    bag = d.choice(("none", "backpack", "shoulder", "handbag"), (50, 25, 15, 10))
    skirted = lower.kind in ("skirt", "long_skirt", "dress", "shorts")
    return Appearance(
        seed=int(seed),
        identity=int(seed if identity is None else identity),
        skin=skin,
        hair_style=hair_style,
        hair=_colour(d, _HAIR, 0.03),
        build=d.random(),
        upper=upper,
        lower=lower,
        collar=d.choice(("crew", "v", "polo"), (60, 20, 20)),
        logo=logo,
        logo_colour=_colour(d, _CLOTH),
        shoes=_colour(d, _SHOES, 0.03),
        sole=d.choice(((0.9, 0.9, 0.88), (0.12, 0.12, 0.12)), (60, 40)),
        tights=_colour(d, _TIGHTS, 0.02) if skirted and d.chance(0.15) else None,
        bag=bag,
        bag_colour=_colour(d, _BAGS, 0.03),
        bag_side=-1 if d.chance(0.5) else 1,
    )


def _palette(a: Appearance) -> tuple[np.ndarray, np.ndarray]:
    P = Part
    skin, up, low = a.skin, a.upper.colour, a.lower.colour
    col: list = [(0.0, 0.0, 0.0)] * LEVEL_STRIDE
    garment = [0] * LEVEL_STRIDE

    def put(parts, colour, which: int = 0) -> None:
        for part in parts:
            col[part], garment[part] = colour, which

    put((P.NECK, P.FACE, P.R_HAND, P.L_HAND, P.NECKLINE), skin)
    put((P.EAR,), tuple(c * 0.95 for c in skin))
    put((P.HAIR, P.HAIR_BACK), a.hair)
    put((P.HAT,), a.logo_colour)
    put((P.BRIM,), tuple(c * 0.85 for c in a.logo_colour))
    put((P.TORSO, P.R_SLEEVE, P.L_SLEEVE), up, 1)
    put((P.FOLD_UPPER,), tuple(c * 0.8 for c in up), 1)  # folds: the garment's colour in shadow
    # Shirts and jackets cover the arms; t-shirts add a sleeve cap over the bare upper arm.
    sleeves = a.upper.kind in ("shirt", "jacket")
    put((P.R_ARM, P.L_ARM), up if sleeves else skin, 1 if sleeves else 0)
    lower_garment = 1 if a.lower.kind == "dress" else 2
    put((P.PELVIS, P.R_SHORT, P.L_SHORT, P.SKIRT), low, lower_garment)
    put((P.FOLD_LOWER,), tuple(c * 0.8 for c in low), lower_garment)
    trousers = a.lower.kind == "trousers"
    put((P.R_LEG, P.L_LEG), low if trousers else (a.tights or skin), 2 if trousers else 0)
    put((P.R_SHOE, P.L_SHOE), a.shoes)
    put((P.SOLE,), a.sole)
    put((P.BAG,), a.bag_colour)
    put((P.STRAP,), tuple(c * 0.8 for c in a.bag_colour))
    put((P.LOGO,), a.logo_colour)
    put((P.COLLAR,), a.upper.colour2 if a.collar == "polo" else tuple(c * 0.92 for c in up))
    put((P.INNER,), a.upper.colour2)
    put((P.EYE,), (0.08, 0.06, 0.06))
    put((P.MOUTH,), (skin[0] * 0.85, skin[1] * 0.72, skin[2] * 0.72))
    base = np.array(col, np.float32)
    # Pattern levels: the second colour (and the mean) wherever a garment covers the label,
    # darkened like the label's base colour (folds stay in shadow).
    which = np.array(garment, np.uint8)
    second = base.copy()
    for g, garment_ in ((1, a.upper), (2, a.lower)):
        if garment_.pattern != "plain":
            rows = which == g
            gain = base[rows].sum(1, keepdims=True) / max(sum(garment_.colour), 1e-3)
            second[rows] = np.array(garment_.colour2, np.float32) * gain
    rgba = np.zeros((LEVELS * LEVEL_STRIDE, 4), np.uint8)
    rgba[:, :3] = np.clip(np.concatenate([base, second, (base + second) / 2]) * 255 + 0.5, 0, 255)
    rgba[:, 3] = 255
    rgba[::LEVEL_STRIDE, 3] = 0  # the background label (at every level) covers nothing
    return rgba.view(np.uint32)[:, 0], which
