"""The background factor of the procedural renderer: surveillance-like scenes and studio walls.

``sample_background(seed)`` draws a camera (1-6) and a scene kind; ``render_background``
builds the pixels, again from the seed alone. Street scenes, as in Market-1501's campus
crops, split the frame at a horizon: above it a wall (brick, painted panels, a shop front with
windows and a sign, foliage, a railing), below it the ground (paving tiles, asphalt, brick
paving, lawn, steps), with props (poles, bicycles, kerbs). Other kinds are crops of real
photographs, plain gradients and, for the 256x256 DeepFashion setting, studio walls.

Textures are cut from the photographs that ship inside the scikit-image wheel (``brick``,
``gravel``, ``grass``, ``rocket``, ``motorcycle_left``, ``coffee``; the ones with faces or
animals are left out) and prepared once per process (``lru_cache``). Each camera prefers
some wall and ground kinds and has its own colour cast, so camera labels mean something.

Lighting (exposure, colour cast, a vertical fall-off, sensor noise, defocus blur) is a
property of the background and touches background pixels only; the person keeps the
renderer's fixed light (``dpg.synthetic.colour``), so swapping backgrounds never changes a
person pixel.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from dpg.synthetic.seeds import BACKGROUND, Draws

KINDS = ("street", "photo", "gradient", "studio")
CAMERAS = 6
_LAYOUT = 0x1A7  # tag of the layout stream, apart from the one that picked the parameters

# Per camera: weights over wall kinds, over ground kinds, and a colour cast (r, g, b gains).
_WALLS = ("brick", "panels", "shop", "foliage", "railing")
_GROUNDS = ("tiles", "asphalt", "paving", "lawn", "steps")
_CAMERA_STYLE = (
    ((5, 2, 1, 2, 1), (3, 3, 3, 0.5, 1), (1.03, 1.0, 0.95)),
    ((1, 1, 1, 6, 1), (3, 2, 2, 2, 0.5), (0.97, 1.03, 0.97)),
    ((1, 2, 6, 1, 1), (5, 1, 1, 0, 1), (1.0, 0.98, 1.03)),
    ((1, 3, 1, 1, 4), (1, 1, 1, 0.5, 6), (1.02, 1.01, 0.97)),
    ((1, 5, 2, 1, 1), (1, 5, 2, 0.5, 1), (0.96, 0.99, 1.06)),
    ((2, 2, 2, 2, 2), (2, 2, 2, 1, 2), (1.05, 0.98, 0.92)),
)
_PAINT = (
    (0.85, 0.83, 0.78),
    (0.7, 0.7, 0.7),
    (0.75, 0.68, 0.58),
    (0.55, 0.6, 0.65),
    (0.8, 0.75, 0.6),
    (0.45, 0.45, 0.48),
    (0.9, 0.9, 0.9),
    (0.65, 0.55, 0.5),
    (0.6, 0.65, 0.55),
)
_SIGNS = ((0.8, 0.15, 0.1), (0.1, 0.3, 0.7), (0.95, 0.8, 0.1), (0.1, 0.55, 0.3), (0.9, 0.9, 0.9), (0.2, 0.2, 0.2))


@dataclass(frozen=True)
class Background:
    """One scene: ``kind`` (``KINDS``), the ``camera`` label (1-6) and the lighting
    (``exposure`` gain, ``cast`` per-channel gains, ``falloff`` top-to-bottom gain change,
    ``noise`` std and ``blur`` sigma in pixels at 128x64). The layout follows from ``seed``."""

    seed: int
    kind: str
    camera: int
    exposure: float
    cast: tuple[float, float, float]
    falloff: float
    noise: float
    blur: float


def sample_background(seed: int, style: str = "market") -> Background:
    """The background of seed ``seed``: street scenes (75%), photo crops (18%) and gradients
    (7%) for ``style="market"``; light studio walls for ``style="studio"``."""
    if style not in ("market", "studio"):
        raise ValueError(f"background style must be 'market' or 'studio', got {style!r}")
    d = Draws(BACKGROUND, seed)
    camera = 1 + d.integer(CAMERAS)
    if style == "studio":
        kind = "studio"
    else:
        kind = d.choice(("street", "photo", "gradient"), (75, 18, 7))
    cast = _CAMERA_STYLE[camera - 1][2]
    jitter = tuple(c * d.uniform(0.95, 1.05) for c in cast)
    return Background(
        seed=int(seed),
        kind=kind,
        camera=camera,
        exposure=d.uniform(0.65, 1.2) if style == "market" else d.uniform(0.95, 1.05),
        cast=jitter if style == "market" else (1.0, 1.0, 1.0),
        falloff=d.uniform(-0.25, 0.15),
        noise=d.uniform(0.005, 0.03),
        blur=d.uniform(0.3, 1.3),
    )


# ---- textures, prepared once per process ---------------------------------------------------


def _skimage_image(name: str) -> np.ndarray:
    """A picture from ``skimage/data`` as float32 in [0, 1] (RGB, or grey ``[H, W]``)."""
    import skimage.data

    path = os.path.join(os.path.dirname(skimage.data.__file__), name)
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(f"scikit-image ships no {name} here ({path})")
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)
    return image.astype(np.float32) / 255.0


@lru_cache(maxsize=1)
def _textures() -> dict[str, np.ndarray]:
    """Grey textures normalised to mean 0, std 1 (``[256, 256]``) and colour photos at half
    size (float ``[h, w, 3]``)."""
    out = {}
    for name in ("brick", "gravel", "grass"):
        t = cv2.resize(_skimage_image(f"{name}.png"), (256, 256), interpolation=cv2.INTER_AREA)
        out[name] = (t - t.mean()) / t.std()
    for name in ("rocket.jpg", "motorcycle_left.png", "coffee.png"):
        p = _skimage_image(name)
        out[name.split(".")[0]] = cv2.resize(p, (p.shape[1] // 2, p.shape[0] // 2), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(6)
    out["noise"] = rng.standard_normal((256, 256, 3)).astype(np.float32)
    return out


def _crop(texture: np.ndarray, d: Draws, height: int, width: int, zoom: float) -> np.ndarray:
    """A ``zoom``-scaled crop of a texture resized to ``height x width`` (wrapping if needed)."""
    th, tw = texture.shape[:2]
    ch, cw = min(th, max(2, int(height * zoom))), min(tw, max(2, int(width * zoom)))
    y, x = d.integer(th - ch + 1), d.integer(tw - cw + 1)
    patch = texture[y : y + ch, x : x + cw]
    if patch.shape[:2] != (height, width):
        patch = cv2.resize(patch, (width, height), interpolation=cv2.INTER_LINEAR)
    return patch


def _tinted(texture: np.ndarray, colour, strength: float) -> np.ndarray:
    """Colour ``[h, w, 3]`` modulated by a grey texture ``[h, w]``."""
    return cv2.merge([texture * np.float32(c * strength) + np.float32(c) for c in colour])


# ---- scene layouts ---------------------------------------------------------------------------


def _wall(d: Draws, kind: str, h: int, w: int, unit: float) -> np.ndarray:
    tex = _textures()
    paint = d.choice(_PAINT)
    if kind == "brick":
        colour = d.choice(((0.6, 0.35, 0.28), (0.55, 0.5, 0.45), (0.7, 0.55, 0.45), paint))
        return _tinted(_crop(tex["brick"], d, h, w, d.uniform(0.8, 1.6) / unit), colour, 0.18)
    if kind == "foliage":
        green = (d.uniform(0.12, 0.3), d.uniform(0.3, 0.5), d.uniform(0.1, 0.22))
        img = _tinted(_crop(tex["grass"], d, h, w, d.uniform(1.0, 2.0) / unit), green, 0.35)
        return cv2.GaussianBlur(img, (0, 0), 0.8 * unit)
    img = _tinted(_crop(tex["gravel"], d, h, w, 2.0 / unit), paint, 0.04)
    if kind == "panels":
        step = max(4, int(d.uniform(10, 30) * unit))
        for x in range(d.integer(step), w, step):
            cv2.line(img, (x, 0), (x, h), tuple(c * 0.8 for c in paint), max(1, int(unit)))
    elif kind == "shop":
        glass = (d.uniform(0.1, 0.25), d.uniform(0.12, 0.28), d.uniform(0.15, 0.32))
        top = int(h * d.uniform(0.1, 0.35))
        cv2.rectangle(img, (0, 0), (w, top), d.choice(_SIGNS), -1)
        x = d.integer(max(1, int(10 * unit))) - int(8 * unit)
        while x < w:
            width = int(d.uniform(18, 40) * unit)
            cv2.rectangle(img, (x, top + int(3 * unit)), (x + width, h), glass, -1)
            # A reflection: a lighter diagonal band across the glass.
            shine = tuple(g + 0.12 for g in glass)
            cv2.line(img, (x + width // 3, h), (x + width, top + int(6 * unit)), shine, max(1, int(3 * unit)))
            x += width + int(d.uniform(3, 8) * unit)
    elif kind == "railing":
        rail = tuple(c * 0.4 for c in paint) if d.chance(0.5) else (0.75, 0.75, 0.72)
        y = int(h * d.uniform(0.3, 0.7))
        cv2.line(img, (0, y), (w, y), rail, max(1, int(2 * unit)))
        step = max(3, int(d.uniform(5, 9) * unit))
        for x in range(d.integer(step), w, step):
            cv2.line(img, (x, y), (x, h), rail, max(1, int(unit)))
    return img


def _ground(d: Draws, kind: str, h: int, w: int, unit: float) -> np.ndarray:
    tex = _textures()
    grey = d.uniform(0.38, 0.7)
    colour = (grey * d.uniform(0.95, 1.08), grey, grey * d.uniform(0.9, 1.02))
    if kind == "lawn":
        green = (d.uniform(0.2, 0.35), d.uniform(0.4, 0.55), d.uniform(0.15, 0.25))
        return _tinted(_crop(tex["grass"], d, h, w, 1.5 / unit), green, 0.3)
    if kind == "paving":
        return _tinted(_crop(tex["brick"], d, h, w, d.uniform(1.5, 2.5) / unit), colour, 0.15)
    grain = 0.12 if kind == "asphalt" else 0.05
    img = _tinted(_crop(tex["gravel"], d, h, w, d.uniform(1.0, 2.0) / unit), colour, grain)
    line = tuple(c * 0.8 for c in colour)
    if kind == "tiles":
        # Joints in a ground-plane grid: rows closer together towards the horizon.
        y, step = 0.0, d.uniform(3, 6) * unit
        while y < h:
            cv2.line(img, (0, int(y)), (w, int(y)), line, 1)
            step *= 1.25
            y += step
        vx = w * d.uniform(-0.5, 1.5)
        for x in np.arange(d.uniform(-2 * w, -w), 3 * w, d.uniform(14, 24) * unit):
            cv2.line(img, (int(vx + (x - vx) * 0.3), 0), (int(x), h), line, 1)
    elif kind == "steps":
        y, step = d.integer(max(1, int(8 * unit))), d.uniform(7, 12) * unit
        while y < h:
            cv2.rectangle(img, (0, int(y)), (w, int(y + step * 0.25)), tuple(c * 0.7 for c in colour), -1)
            y += step
    return img


def _street(d: Draws, h: int, w: int, camera: int) -> np.ndarray:
    walls, grounds, _ = _CAMERA_STYLE[camera - 1]
    unit = h / 128.0  # drawing sizes are given at 128 px image height
    horizon = int(h * d.uniform(0.3, 0.72))
    img = np.empty((h, w, 3), np.float32)
    img[:horizon] = _wall(d, d.choice(_WALLS, walls), horizon, w, unit)
    img[horizon:] = _ground(d, d.choice(_GROUNDS, grounds), h - horizon, w, unit)
    if d.chance(0.5):  # a kerb or skirting at the horizon
        cv2.line(img, (0, horizon), (w, horizon), tuple([d.uniform(0.25, 0.8)] * 3), max(1, int(2 * unit)))
    for _ in range(d.choice((0, 0, 1, 1, 2))):  # poles and posts
        x = d.integer(w)
        colour = tuple([d.uniform(0.1, 0.6)] * 3)
        top = 0 if d.chance(0.5) else horizon - int(20 * unit)
        cv2.line(img, (x, top), (x, horizon + int(8 * unit)), colour, max(1, int(d.uniform(1, 4) * unit)))
    if d.chance(0.3):  # a parked bicycle
        cx, cy, r = d.integer(w), horizon + int(d.uniform(5, 25) * unit), d.uniform(7, 11) * unit
        colour = tuple([d.uniform(0.05, 0.4)] * 3)
        thick = max(1, int(unit))
        for dx in (-r * 1.2, r * 1.2):
            cv2.circle(img, (int(cx + dx), int(cy)), int(r), colour, thick)
        cv2.line(img, (int(cx - r * 1.2), int(cy)), (int(cx), int(cy - r)), colour, thick)
        cv2.line(img, (int(cx), int(cy - r)), (int(cx + r * 1.2), int(cy)), colour, thick)
    if d.chance(0.3):  # a cast shadow across the scene
        x0, x1 = d.integer(w), d.integer(w)
        pts = np.array([[x0, 0], [x0 + w // 3, 0], [x1 + w // 3, h], [x1, h]], np.int32)
        shade = np.ones((h, w), np.float32)
        cv2.fillPoly(shade, [pts], d.uniform(0.6, 0.85))
        img *= shade[..., None]
    return img


@lru_cache(maxsize=8)
def _rows(height: int) -> np.ndarray:
    """Row positions from -0.5 (top) to 0.5 (bottom), float32 ``[H, 1, 1]``."""
    return np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None, None]


def render_background(bg: Background, size: tuple[int, int]) -> np.ndarray:
    """The pixels of a background: uint8 ``[H, W, 3]`` RGB."""
    h, w = size
    d = Draws(_LAYOUT, bg.seed)
    unit = h / 128.0
    if bg.kind == "street":
        img = _street(d, h, w, bg.camera)
    elif bg.kind == "photo":
        photo = _textures()[d.choice(("rocket", "motorcycle_left", "coffee"))]
        img = _crop(photo, d, h, w, d.uniform(0.7, 1.5)).copy()
    elif bg.kind == "studio":
        tone = d.uniform(0.8, 0.97)
        warm = d.uniform(-0.03, 0.03)
        base = np.array([tone + warm, tone, tone - warm], np.float32)
        ys = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img = np.broadcast_to(base * (1.02 - 0.08 * ys), (h, w, 3)).copy()
        if d.chance(0.3):  # the floor line of the studio sweep
            y = int(h * d.uniform(0.8, 0.95))
            img[y:] *= 0.94
    else:  # gradient
        # Muted: a grey level with a little colour, as walls and floors out of focus are.
        a, b = (np.float32(d.uniform(0.25, 0.8)) + np.array([d.uniform(-0.08, 0.08) for _ in range(3)], np.float32) for _ in range(2))
        angle = d.uniform(0, math.pi)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        t = ((xs / w - 0.5) * math.cos(angle) + (ys / h - 0.5) * math.sin(angle)) + 0.5
        img = a + np.clip(t, 0, 1)[..., None] * (b - a)
    # Lighting: exposure, cast and a vertical fall-off in one per-row gain; then defocus and
    # sensor noise; cv2 saturates and rounds on the way to uint8.
    ramp = 1.0 + bg.falloff * _rows(h)
    img *= ramp * (np.asarray(bg.cast, np.float32) * (bg.exposure * 255.0))
    if bg.blur > 0.4:
        img = cv2.GaussianBlur(img, (0, 0), bg.blur * unit)
    noise = _crop(_textures()["noise"], d, h, w, 1.0)
    return cv2.convertScaleAbs(cv2.scaleAdd(noise, bg.noise * 255.0, img))
