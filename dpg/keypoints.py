"""COCO-18 pose geometry: joints, limbs, flips, pose maps, the coarse pose mask, body ROIs.

Section 3.1 of the paper ("to obtain the pose heatmaps and the coarse pose mask we adopt the
same procedure as in [PG2]"), following the authors' code as described in
``shared/reference/original-implementation.md`` sections 1.3-1.6:

* pose map: 18 channels, a solid disk of radius 4 px per visible joint, values in {-1, +1}
  (``utils.py::py_poseInflate``); a Gaussian mode is offered as an option;
* coarse pose mask: solid disks along 23 limbs, then a 5x5 dilation and erosion
  (``convert_market.py::_getPoseMask``), radius 7 at 128x64 and 8 at 256x256;
* 7 body ROIs from keypoint groups, expanded by a margin and clamped
  (``convert_market.py::get_part_bbox37``, ``convert_DF.py::get_part_bbox``);
* the 54-dim pose vector of the pose auto-encoder (coordinates scaled to [-1, 1]).

Keypoints follow the package convention (see ``dpg/__init__.py``): float ``[..., 18, 3]`` rows
``(x, y, v)`` with ``x`` the column, ``y`` the row and ``v`` in {0, 1}. Where the reference
works in (row, col), this module converts at the boundary and says so.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from dpg.errors import UserError

JOINTS = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
)
# Joints 14-17 follow OpenPose's COCO-18 order (REye, LEye, REar, LEar), which is what the
# community annotations hold: in the 12,936 Market-1501 train rows joint 14 lies on the side of
# the right shoulder in 99.3% of the rows that have both eyes. (The authors' code comment says
# "Leye, Reye, Lear, Rear"; the data says otherwise.)
NUM_JOINTS = len(JOINTS)

# Left/right counterpart of every joint: flipping an image horizontally turns the person's
# right shoulder into a left one, so joint ids must be permuted along with the x coordinate.
FLIP_PERM = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)

# The skeleton OpenPose draws (17 bones), used for drawing and for plausibility checks.
LIMBS = (
    (1, 2),
    (2, 3),
    (3, 4),
    (1, 5),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (1, 0),
    (0, 15),
    (15, 17),
    (0, 14),
    (14, 16),
)

# PG2's 23 mask limbs (the reference lists them 1-based; here 0-based), torso diagonals
# (right hip - left hip - left shoulder, right hip - right shoulder) and ear-ear included so
# the mask covers the torso and head as areas rather than as sticks.
MASK_LIMBS = (
    (1, 2),
    (1, 5),
    (2, 3),
    (3, 4),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (1, 0),
    (0, 14),
    (14, 16),
    (0, 15),
    (15, 17),
    (1, 16),
    (1, 17),
    (8, 11),
    (11, 5),
    (8, 2),
    (16, 17),
)

# The 7 body regions of interest of the BodyROI7 model and the joints that span each.
BODY_PARTS = ("head", "upper_body", "lower_body", "left_arm", "right_arm", "left_leg", "right_leg")
PART_JOINTS = (
    (0, 1, 2, 5, 14, 15, 16, 17),
    (2, 3, 4, 5, 6, 7, 8, 11),
    (8, 9, 10, 11, 12, 13),
    (5, 6, 7),
    (2, 3, 4),
    (11, 12, 13),
    (8, 9, 10),
)
PART_FLIP_PERM = (0, 1, 2, 4, 3, 6, 5)
NUM_PARTS = len(BODY_PARTS)

# Colours of the skeleton overlay, one per limb (OpenPose's palette, roughly).
LIMB_COLOURS = (
    (255, 0, 0),
    (255, 85, 0),
    (255, 170, 0),
    (255, 255, 0),
    (170, 255, 0),
    (85, 255, 0),
    (0, 255, 0),
    (0, 255, 85),
    (0, 255, 170),
    (0, 255, 255),
    (0, 170, 255),
    (0, 85, 255),
    (0, 0, 255),
    (85, 0, 255),
    (170, 0, 255),
    (255, 0, 255),
    (255, 0, 170),
)


def mask_radius(height: int) -> int:
    """The reference's pose-mask radius for an image height: 7 at 128 (Market), 8 at 256 (DF)."""
    return 8 if height >= 256 else 7


def _check_keypoints(kp) -> None:
    if kp.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"keypoints must have shape [..., 18, 3], got {tuple(kp.shape)}")


# ----------------------------------------------------------------------------------------
# Pose map (decoder input)


def require_pose(keypoints, height: int, width: int, where: str = "the pose") -> np.ndarray:
    """A pose the decoder can draw a person in, or ``UserError`` saying what to fix.

    ``keypoints`` ``[18, 3]`` ``(x, y, v)``. A joint is usable when it is finite, visible
    (``v > 0.5``) and inside the ``height x width`` picture; at least one must be, and two or
    more must not all sit on one point (no body can be drawn from them). Without this, a pose
    of all ``[0, 0, 0]``, of joints at -500, of visibility 0.4 or of NaN decoded as a person who
    vanished, with exit code 0. Returns the keypoints as float32 ``[18, 3]`` with ``v`` in {0, 1}.
    """

    try:
        kp = np.array(keypoints, dtype=np.float32)
    except (TypeError, ValueError):
        raise UserError(f"{where}: keypoints must be 18 rows of [x, y, visible] numbers") from None
    if kp.shape != (NUM_JOINTS, 3):
        raise UserError(f"{where}: keypoints must be 18 rows of [x, y, visible], got shape {list(kp.shape)}")
    finite = np.isfinite(kp).all(axis=1)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] <= width - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= height - 1)
    usable = finite & (np.nan_to_num(kp[:, 2]) > 0.5) & inside
    if not usable.any():
        raise UserError(
            f"{where} has no usable joint: a joint needs a visibility of 1 and a place inside the "
            f"{width}x{height} picture (x 0..{width - 1}, y 0..{height - 1}); missing joints are [0, 0, 0]"
        )
    if usable.sum() >= 2 and np.ptp(kp[usable, :2], axis=0).max() < 1:
        raise UserError(f"{where} puts all its {int(usable.sum())} joints on one point; no body can be drawn from it")
    kp = np.where(usable[:, None], kp, 0).astype(np.float32)
    kp[:, 2] = usable
    return kp


def pose_map(
    keypoints: torch.Tensor | np.ndarray,
    height: int,
    width: int,
    radius: float = 4.0,
    mode: str = "disk",
    sigma: float = 6.0,
) -> torch.Tensor:
    """18-channel pose map of keypoints ``[..., 18, 3]`` -> float ``[..., 18, H, W]``.

    ``mode="disk"`` (default, the reference's ``py_poseInflate(radius=4)``): +1 within
    ``radius`` px of a visible joint, -1 elsewhere; an invisible joint's channel is all -1.
    The reference snaps each joint to integer pixels first (``int(r)``), and so do we.
    ``mode="gaussian"`` (the PATN family's heat maps, sigma 6): ``exp(-d^2 / 2 sigma^2)``
    rescaled to [-1, 1], again all -1 for an invisible joint.
    Works batched and on any device; numpy input is converted.
    """
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    _check_keypoints(kp)
    ys = torch.arange(height, dtype=torch.float32, device=kp.device).view(height, 1)
    xs = torch.arange(width, dtype=torch.float32, device=kp.device).view(1, width)
    x = kp[..., 0, None, None]  # [..., 18, 1, 1]
    y = kp[..., 1, None, None]
    visible = kp[..., 2, None, None] > 0.5
    if mode == "disk":
        return _disk_map(kp, height, width, radius)
    if mode == "gaussian":
        d2 = (xs - x) ** 2 + (ys - y) ** 2
        heat = torch.exp(-d2 / (2 * sigma**2)) * visible
        return heat * 2 - 1
    raise ValueError(f"unknown pose map mode {mode!r}; use 'disk' or 'gaussian'")


def _disk_map(kp: torch.Tensor, height: int, width: int, radius: float) -> torch.Tensor:
    """Disk mode of ``pose_map``: fill with -1, then scatter +1 at each visible joint's disk
    cells (a few thousand writes instead of several passes over ``[..., 18, H, W]``)."""
    lead = kp.shape[:-2]
    r = int(np.floor(radius))
    g = torch.arange(-r, r + 1, device=kp.device)
    dy, dx = torch.meshgrid(g, g, indexing="ij")
    keep = (dy**2 + dx**2) <= radius**2
    dy, dx = dy[keep], dx[keep]  # [D] disk offsets
    x = kp[..., 0].floor().long()[..., None] + dx  # [..., 18, D]
    y = kp[..., 1].floor().long()[..., None] + dy
    ok = (kp[..., 2] > 0.5)[..., None] & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    channel = torch.arange(kp[..., 0].numel(), device=kp.device).view(*lead, NUM_JOINTS, 1)
    out = torch.full((*lead, NUM_JOINTS, height, width), -1.0, device=kp.device)
    out.view(-1)[((channel * height + y) * width + x)[ok]] = 1.0
    return out


# ----------------------------------------------------------------------------------------
# Coarse pose mask (foreground/background split)


def _disk_offsets(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    keep = dy**2 + dx**2 <= radius**2
    return np.stack([dy[keep], dx[keep]], axis=1)  # [D, 2] (row, col) offsets


_DISKS: dict[int, np.ndarray] = {}
_LIMB_A = np.array([a for a, _ in MASK_LIMBS])
_LIMB_B = np.array([b for _, b in MASK_LIMBS])


def _closing5(mask: np.ndarray) -> np.ndarray:
    """5x5 dilation then 5x5 erosion with reflected borders (skimage's grey morphology),
    as separable running max/min in numpy."""
    h, w = mask.shape
    p = np.pad(mask, 2, mode="symmetric")
    p = np.maximum.reduce([p[i : i + h] for i in range(5)])
    d = np.maximum.reduce([p[:, i : i + w] for i in range(5)])
    p = np.pad(d, 2, mode="symmetric")
    p = np.minimum.reduce([p[i : i + h] for i in range(5)])
    return np.minimum.reduce([p[:, i : i + w] for i in range(5)])


def pose_mask(keypoints: np.ndarray, height: int, width: int, radius: int | None = None) -> np.ndarray:
    """Coarse foreground mask of one person: bool ``[H, W]`` from keypoints ``[18, 3]``.

    PG2's ``_getPoseMask``: for each of the 23 ``MASK_LIMBS`` whose two ends are visible, a
    solid disk of ``radius`` at both ends and at ``int(dist / radius) - 1`` evenly spaced
    points between them, each centre truncated to integer pixels; then a 5x5 dilation and a
    5x5 erosion (a closing, as skimage's grey morphology with reflected borders).
    ``radius`` defaults to ``mask_radius(height)``. No limb present: an all-False mask.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    _check_keypoints(kp)
    radius = mask_radius(height) if radius is None else int(radius)
    vis = kp[:, 2] > 0.5
    ok = vis[_LIMB_A] & vis[_LIMB_B]
    if not ok.any():
        return np.zeros((height, width), dtype=bool)
    p0 = kp[_LIMB_A[ok], 1::-1]  # [L, 2] (row, col) of each limb's first joint
    d = kp[_LIMB_B[ok], 1::-1] - p0  # [L, 2]
    n = np.maximum((np.hypot(d[:, 0], d[:, 1]) / radius).astype(np.int64), 1)  # [L]
    limb = np.repeat(np.arange(len(n)), n + 1)  # the limb of each sample point
    step = np.arange(len(limb)) - np.repeat(np.cumsum(n + 1) - (n + 1), n + 1)  # 0..n per limb
    pts = (p0[limb] + d[limb] * (step / n[limb])[:, None]).astype(np.int64)  # truncation, as int()
    # Stamp the disks on a canvas padded by 2r+1; centres farther out are clipped to r+1
    # outside the image, where their disks cannot reach it.
    pad = 2 * radius + 1
    hp, wp = height + 2 * pad, width + 2 * pad
    rows = np.clip(pts[:, 0], -radius - 1, height + radius) + pad
    cols = np.clip(pts[:, 1], -radius - 1, width + radius) + pad
    disk = _DISKS.get(radius)
    if disk is None:
        disk = _DISKS[radius] = _disk_offsets(radius)
    canvas = np.zeros(hp * wp, dtype=np.uint8)
    canvas[((rows * wp + cols)[:, None] + (disk[:, 0] * wp + disk[:, 1])[None]).ravel()] = 1
    mask = canvas.reshape(hp, wp)[pad : pad + height, pad : pad + width]
    return _closing5(mask).astype(bool)


# ----------------------------------------------------------------------------------------
# Body ROIs (foreground encoder)


def _boxes_from_groups(kp: np.ndarray, margin: np.ndarray, single: np.ndarray, height: int, width: int):
    """Shared box arithmetic: min/max of present joints per part, expanded, clamped.

    ``margin`` and ``single`` broadcast against ``[..., 7]``: the expansion when two or more
    joints of the part are present, and when only one is.
    """
    lead = kp.shape[:-2]
    boxes = np.zeros(lead + (NUM_PARTS, 4), dtype=np.float32)
    vis = np.zeros(lead + (NUM_PARTS,), dtype=np.float32)
    for p, joints in enumerate(PART_JOINTS):
        sub = kp[..., joints, :]  # [..., J, 3]
        present = sub[..., 2] > 0.5
        count = present.sum(-1)
        big = np.float32(1e9)
        x0 = np.where(present, sub[..., 0], big).min(-1)
        y0 = np.where(present, sub[..., 1], big).min(-1)
        x1 = np.where(present, sub[..., 0], -big).max(-1)
        y1 = np.where(present, sub[..., 1], -big).max(-1)
        m = np.where(count == 1, single[..., p], margin[..., p])
        box = np.stack([x0 - m, y0 - m, x1 + m, y1 + m], axis=-1)
        box[..., 0::2] = box[..., 0::2].clip(0, width - 1)
        box[..., 1::2] = box[..., 1::2].clip(0, height - 1)
        has = count > 0
        boxes[..., p, :] = np.where(has[..., None], box, 0)
        vis[..., p] = has
    return boxes, vis


def body_rois(
    keypoints: np.ndarray, height: int, width: int, margin: float = 6, single_margin: float = 10
) -> tuple[np.ndarray, np.ndarray]:
    """The 7 body ROIs (Market rule) of keypoints ``[..., 18, 3]``.

    Returns ``boxes [..., 7, 4]`` as ``(x0, y0, x1, y1)`` pixels and ``vis [..., 7]`` in {0, 1}.
    Each box spans the part's present joints (``PART_JOINTS``) expanded by ``margin`` px (the
    reference calls with radius 6), or by ``single_margin`` when only one joint is present
    (+-10), clamped to the image. A part with no joint present has the empty box (0, 0, 0, 0)
    and visibility 0 (the reference wrote ``[0, 0, 1, 1]``; its embedding is zeroed anyway).
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    _check_keypoints(kp)
    m = np.full(NUM_PARTS, margin, dtype=np.float32)
    s = np.full(NUM_PARTS, single_margin, dtype=np.float32)
    return _boxes_from_groups(kp, m, s, height, width)


def body_rois_deepfashion(keypoints: np.ndarray, height: int = 256, width: int = 256):
    """The 7 body ROIs with ``convert_DF.py::get_part_bbox``'s rule (256x256 DeepFashion).

    When both lower legs (knee and ankle, both sides) are visible the person is seen whole and
    margins are 10 px (20 for a single joint) with the nose raised by 10 px to cover the hair;
    otherwise (a close-up) margins are 20 (40) and the nose is raised by 25 px.
    """
    kp = np.array(keypoints, dtype=np.float32)  # a copy: the nose is moved below
    _check_keypoints(kp)
    v = kp[..., 2] > 0.5
    whole = v[..., 12] & v[..., 13] & v[..., 9] & v[..., 10]  # [...]
    raise_by = np.where(whole, 10.0, 25.0).astype(np.float32)
    kp[..., 0, 1] = np.where(v[..., 0], kp[..., 0, 1] - raise_by, kp[..., 0, 1])
    m = np.where(whole, 10.0, 20.0).astype(np.float32)[..., None].repeat(NUM_PARTS, -1)
    return _boxes_from_groups(kp, m, m * 2, height, width)


# ----------------------------------------------------------------------------------------
# Pose vector (pose auto-encoder)

POSE_VECTOR_DIM = 3 * NUM_JOINTS  # 36 coordinates + 18 visibilities


def pose_vector(keypoints, height: int, width: int):
    """Keypoints ``[..., 18, 3]`` -> the pose auto-encoder's 54-dim vector ``[..., 54]``.

    Layout: ``[x_0, y_0, ..., x_17, y_17, v_0, ..., v_17]`` with ``x / W * 2 - 1`` and
    ``y / H * 2 - 1`` as in the reference (which used row/col the other way round; the order
    inside the vector is ours). A missing joint is (0, 0, 0), so its coordinates become -1,
    exactly as the reference's RCV zeros did. Accepts numpy or torch; returns the same kind.
    """
    lib = torch if isinstance(keypoints, torch.Tensor) else np
    kp = keypoints
    _check_keypoints(kp)
    x = kp[..., 0] / width * 2 - 1
    y = kp[..., 1] / height * 2 - 1
    xy = lib.stack([x, y], -1).reshape(*kp.shape[:-2], 2 * NUM_JOINTS)
    return lib.concatenate([xy, kp[..., 2]], -1) if lib is np else torch.cat([xy, kp[..., 2]], -1)


def keypoints_from_vector(vector, height: int, width: int, threshold: float = 0.5):
    """Inverse of ``pose_vector``: ``[..., 54]`` -> keypoints ``[..., 18, 3]``.

    Visibilities are thresholded (the reference's straight-through ``binaryRound``: for torch
    the gradient passes the threshold as if it were not there, so a loss on the keypoints
    reaches the visibilities); invisible joints are set to (0, 0, 0). Coordinates are clamped
    to the image.
    """
    lib = torch if isinstance(vector, torch.Tensor) else np
    lead = vector.shape[:-1]
    xy = vector[..., : 2 * NUM_JOINTS].reshape(*lead, NUM_JOINTS, 2)
    raw = vector[..., 2 * NUM_JOINTS :]
    v = (raw > threshold) * 1.0
    if lib is torch:
        v = v + (raw - raw.detach())  # the same values; the gradient of raw
    x = ((xy[..., 0] + 1) / 2 * width).clip(0, width - 1) * v
    y = ((xy[..., 1] + 1) / 2 * height).clip(0, height - 1) * v
    return lib.stack([x, y, v], -1)


# ----------------------------------------------------------------------------------------
# Left-right flip


def flip_keypoints(keypoints, width: int):
    """Mirror keypoints ``[..., 18, 3]`` in an image of ``width``: ``x -> W - 1 - x`` and the
    joint ids swapped left for right. Missing joints stay (0, 0, 0). numpy or torch."""
    _check_keypoints(keypoints)
    out = keypoints[..., list(FLIP_PERM), :]
    out = out.clone() if isinstance(out, torch.Tensor) else out.copy()
    v = out[..., 2] > 0.5
    out[..., 0] = (width - 1 - out[..., 0]) * v
    return out


def flip_image(image):
    """Mirror an image or mask: numpy ``[H, W, ...]`` (API edge) or torch ``[..., H, W]``."""
    if isinstance(image, torch.Tensor):
        return image.flip(-1)
    return np.ascontiguousarray(np.asarray(image)[:, ::-1])


def flip_rois(boxes, vis, width: int):
    """Mirror body ROIs ``[..., 7, 4]`` / ``[..., 7]``: boxes reflected, arms and legs swapped."""
    perm = list(PART_FLIP_PERM)
    b = boxes[..., perm, :]
    b = b.clone() if isinstance(b, torch.Tensor) else b.copy()
    x0 = width - 1 - boxes[..., perm, 2]
    x1 = width - 1 - boxes[..., perm, 0]
    present = vis[..., perm] > 0.5
    b[..., 0] = x0 * present
    b[..., 2] = x1 * present
    return b, vis[..., perm]


# ----------------------------------------------------------------------------------------
# Drawing


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, radius: int | None = None, width: int | None = None) -> np.ndarray:
    """Draw keypoints ``[18, 3]`` over an RGB uint8 image ``[H, W, 3]``; returns a new image.

    Bones between visible joints in OpenPose's colours, joints as dots. Line width and dot
    radius scale with the image so the overlay reads at 64x128 and at photo sizes alike.
    """

    kp = np.asarray(keypoints, dtype=np.float32)
    _check_keypoints(kp)
    img = Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    scale = max(img.size) / 128
    radius = radius if radius is not None else max(1, round(1.5 * scale))
    width = width if width is not None else max(1, round(1.2 * scale))
    draw = ImageDraw.Draw(img)
    vis = kp[:, 2] > 0.5
    for (a, b), colour in zip(LIMBS, LIMB_COLOURS):
        if vis[a] and vis[b]:
            draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=colour, width=width)
    for j in np.flatnonzero(vis):
        x, y = kp[j, :2]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 255, 255), outline=(0, 0, 0))
    return np.asarray(img)
