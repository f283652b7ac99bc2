"""Colouring a label map (``dpg.synthetic.body``): palette, patterns, shading, mask.

Colour comes per pixel: the appearance's palette (packed RGBA words, so one gather colours
every subpixel and its alpha is the person coverage), garment patterns evaluated in a frame
anchored at the neck and scaled by body height (so they move with the person; drawn as label
offsets, ``LEVEL_STRIDE``), and shading. Shading treats each label region as a bevelled
relief: the distance to the nearest label edge gives a circular profile, its gradient a
surface normal, and a fixed light from above and in front gives Lambert shading. Limbs come
out round, the torso flat with rounded sides, and every garment edge, sleeve end and fold
gets a crease. The light belongs to the person alone (the background's lighting never
touches person pixels) and lies in the image's plane of symmetry, so a mirrored pose of a
symmetric look renders to the mirrored image.

Downsampling keeps the mask binary: an output pixel is person when at least half of its
subpixels are, and takes the mean colour of its person subpixels only. The composite in
``dpg.synthetic.people.render`` is then exact: background pixels never leak into the person.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from dpg.synthetic.appearance import LEVEL_STRIDE, Appearance, Garment, Part
from dpg.synthetic.body import SS, label_map
from dpg.synthetic.pose import NECK, Pose

# Labels the shading treats as their host region: thin details would otherwise be all rim.
_SHADING_GROUP = np.arange(LEVEL_STRIDE, dtype=np.uint8)
_SHADING_GROUP[[Part.FOLD_UPPER, Part.FOLD_LOWER, Part.EYE, Part.MOUTH, Part.NECKLINE]] = (
    Part.TORSO,
    Part.SKIRT,
    Part.FACE,
    Part.FACE,
    Part.NECK,
)
# The light comes from above and in front, in the image's plane of symmetry: a mirrored pose
# of a symmetric look renders to the mirrored image, so flip augmentation stays truthful.
_LIGHT = np.array([0.0, -0.6, 0.8])
_AMBIENT = 0.42
_DIFFUSE = (1.0 - _AMBIENT) / _LIGHT[2]  # a surface facing the camera gets exactly its colour
# 255 / alpha for a person pixel (alpha >= 128), 0 for a background one.
_INVERSE_COVER = np.where(np.arange(256) >= 128, 255.0 / np.maximum(np.arange(256), 1), 0.0)
_INVERSE_COVER = _INVERSE_COVER.astype(np.float32)[:, None]


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates of the supersampled canvas: ``ys [H, 1]``, ``xs [1, W]``."""
    return np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :]


@lru_cache(maxsize=1)
def _print_tile() -> np.ndarray:
    """A 64x64 periodic field of soft blobs (floral/camouflage prints) as levels 0, 2, 1."""
    rng = np.random.default_rng(1501)
    noise = rng.random((64, 64)).astype(np.float32)
    blur = cv2.GaussianBlur(np.tile(noise, (3, 3)), (0, 0), 3.0)[64:128, 64:128]
    z = (blur - blur.mean()) / blur.std()
    return np.where(z > 0.7, 1, np.where(z > 0.35, 2, 0)).astype(np.uint8)


_GINGHAM = np.array([0, 2, 1], np.uint8)  # one stripe set: the mean; both: the second colour


def _pattern(g: Garment, ys: np.ndarray, xs: np.ndarray, origin, scale: float) -> np.ndarray:
    """Pattern level (0, 1 or 2; see ``LEVEL_STRIDE``) as uint8 ``[H, 1]``, ``[1, W]`` or
    ``[H, W]``, in a frame at the neck measured in pattern periods."""
    v = (ys - origin[1]) / (scale * g.period) + g.phase
    u = (xs - origin[0]) / (scale * g.period) + g.phase
    kind = g.pattern
    if kind == "stripes":
        return (v % 1.0 < 0.5).view(np.uint8)
    if kind == "vstripes":
        return (u % 1.0 < 0.4).view(np.uint8)
    if kind == "checks":
        return _GINGHAM[(v % 1.0 < 0.5).view(np.uint8) + (u % 1.0 < 0.5).view(np.uint8)]
    if kind == "dots":
        return ((((v * 0.7) % 1.0 - 0.5) ** 2 + ((u * 0.7) % 1.0 - 0.5) ** 2) < 0.06).view(np.uint8)
    if kind == "print":
        return _print_tile()[(v * 12).astype(np.int64) % 64, (u * 12).astype(np.int64) % 64]
    w = (ys - origin[1]) / (scale * 0.32)  # colour block / dip-dye: over the chest and belly
    if kind == "block":
        return ((w > 0.35 + 0.3 * g.phase) & (w < 0.7 + 0.3 * g.phase)).view(np.uint8)
    return _GINGHAM[np.clip(((w - 0.4 - 0.4 * g.phase) * 3.0).astype(np.int64), 0, 2)]  # gradient


@lru_cache(maxsize=1)
def _bevel_tables() -> tuple[np.ndarray, np.ndarray]:
    """Shading terms of the bevel as functions of the quantised edge distance (``_shading``):
    ``A[q]``, ``B[q]`` for ``t = min(q / 64, 1)``, float32 ``[256, 1]`` each."""
    t = np.minimum(np.arange(256) / 64.0, 1.0)
    # Circular profile h = R sqrt(1 - (1 - t)^2) has slope (1 - t) / sqrt(1 - (1 - t)^2).
    slope = np.minimum((1 - t) / np.sqrt(np.maximum(1 - (1 - t) ** 2, 1e-4)), 4.0)
    norm = np.sqrt(1 + slope**2)
    # shade = AMBIENT + DIFFUSE * max(n.l, 0) = max(A * along + B, AMBIENT).
    a = -_DIFFUSE * slope / norm
    b = _DIFFUSE * _LIGHT[2] / norm + _AMBIENT
    return a.astype(np.float32)[:, None], b.astype(np.float32)[:, None]


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
# A 3x3 Sobel derivative along the light's image-plane direction, divided by 8 (a unit slope).
_ALONG = (
    (_LIGHT[0] * np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) + _LIGHT[1] * np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])) / 8
).astype(np.float32)


def _shading(labels: np.ndarray, scale: float) -> np.ndarray:
    """Lambert shading ``[H, W]`` of the label regions seen as bevelled reliefs (module doc).

    With ``d`` the distance to the nearest label edge and ``g`` its gradient (unit, pointing
    inwards), the surface normal is ``(-slope(d) g, 1) / sqrt(1 + slope^2)``, so
    ``n . l = A(d) (g . l_xy) + B(d)``: ``A`` and ``B`` are table look-ups. On a ridge (a
    limb's axis) ``g`` vanishes and the normal faces the camera, as it should.
    """
    # Label edges: where the 3x3 cross neighbourhood holds another label (morphological gradient).
    inner = cv2.compare(cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, _CROSS), 0, cv2.CMP_EQ)
    dist = cv2.distanceTransform(inner, cv2.DIST_L2, 3)
    radius = 0.04 * scale  # about a limb's radius: limbs come out round, the torso flat
    q = cv2.convertScaleAbs(dist, alpha=64.0 / radius)  # t = d / R in 1/64 steps, saturated
    along = np.clip(cv2.filter2D(dist, -1, _ALONG, borderType=cv2.BORDER_REPLICATE), -1.0, 1.0)
    table_a, table_b = _bevel_tables()
    shade = cv2.LUT(q, table_a) * along + cv2.LUT(q, table_b)
    # Surfaces tilted towards the light could reach 1.15; capping at 1.08 keeps pale cloth
    # from burning out into white patches.
    return np.clip(shade, np.float32(_AMBIENT), np.float32(1.08))


def draw_person(app: Appearance, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Render one person alone: RGB uint8 ``[H, W, 3]`` (0 outside the person) and the
    person mask bool ``[H, W]``, ``(H, W) = pose.size``."""
    h, w = pose.size
    labels = label_map(app, pose)
    out = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), bool)
    bx, by, bw, bh = cv2.boundingRect(labels)
    if bw == 0:
        return out, mask
    # Work inside the person's box, even-aligned so that 2x2 blocks map to output pixels.
    x0, y0 = bx // SS * SS, by // SS * SS
    x1, y1 = min(w * SS, -(-(bx + bw) // SS) * SS), min(h * SS, -(-(by + bh) // SS) * SS)
    crop = labels[y0:y1, x0:x1]
    colours, garment = app.palette
    patterned = crop
    for which, g in ((1, app.upper), (2, app.lower)):
        if g.pattern == "plain" or (which == 2 and g.kind == "dress"):
            continue
        ys, xs = _grid(h * SS, w * SS)
        origin = (pose.joints[NECK, 0] * SS + SS / 2, pose.joints[NECK, 1] * SS + SS / 2)
        level = _pattern(g, ys[y0:y1], xs[:, x0:x1], origin, pose.scale * SS) * np.uint8(LEVEL_STRIDE)
        patterned = np.where(np.take(garment, crop) == which, patterned + level, patterned)
    # One gather of packed RGBA words; alpha is the person coverage.
    rgba = np.take(colours, patterned).view(np.uint8).reshape(crop.shape + (4,))
    size = ((x1 - x0) // SS, (y1 - y0) // SS)
    # Box-filter down to output pixels: alpha becomes the covered fraction, and as background
    # subpixels are black, colour / alpha is the mean colour of the person subpixels alone.
    small = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    alpha = np.ascontiguousarray(small[..., 3])
    inside = alpha >= 128  # at least half of the subpixels are person
    # Shading at output resolution: it varies slowly inside a part and its rims are a pixel
    # wide either way. Each 2x2 block's label is its largest (a mirror-symmetric choice).
    group = np.take(_SHADING_GROUP, crop)
    blocks = np.maximum(np.maximum(group[0::2, 0::2], group[0::2, 1::2]), np.maximum(group[1::2, 0::2], group[1::2, 1::2]))
    gain = _shading(blocks, pose.scale) * cv2.LUT(alpha, _INVERSE_COVER)  # 0 outside the mask
    colour = cv2.multiply(small, cv2.merge([gain, gain, gain, gain]), dtype=cv2.CV_8U)
    out[y0 // SS : y1 // SS, x0 // SS : x1 // SS] = colour[..., :3]
    mask[y0 // SS : y1 // SS, x0 // SS : x1 // SS] = inside
    return out, mask
