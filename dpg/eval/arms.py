"""Is a raised arm drawn? (issue 20, item 4a.)

Photographed pedestrians almost never lift an arm, so a model trained on them can draw a
short stub where the pose editor puts a wrist above the head. The probe lifts one arm of a
held-out person (``raise_arm``), composes the person with that pose and with the arm
removed (elbow and wrist invisible), and measures how much the picture changes along the
lifted forearm (``along_segment``): about the change a natural arm makes when it is drawn,
about zero when it is not.
"""

from __future__ import annotations

import math

import numpy as np

# The renderer's joint ids and body model (arm lengths and the torso, neck to hips, in body
# heights, calibrated on Market-1501's annotations).
from dpg.synthetic.pose import FOREARM, LELB, LHIP, LSHO, LWRI, NECK, RELB, RHIP, RSHO, RWRI, TORSO, UPPER_ARM, segment_distance

SIDES = {"right": (RSHO, RELB, RWRI), "left": (LSHO, LELB, LWRI)}  # shoulder, elbow, wrist


def body_height(kp: np.ndarray, height: int) -> float:
    """Pixels of body height from the torso (neck to the hips' middle), else 0.9 image heights."""
    if kp[NECK, 2] > 0 and kp[RHIP, 2] > 0 and kp[LHIP, 2] > 0:
        torso = float(np.linalg.norm(kp[NECK, :2] - (kp[RHIP, :2] + kp[LHIP, :2]) / 2))
        if torso > 4:
            return torso / TORSO
    return 0.9 * height


def raise_arm(kp: np.ndarray, side: str, height: int, elbow_deg: float = 25.0, wrist_deg: float = 10.0) -> np.ndarray | None:
    """``kp [18, 3]`` with ``side``'s arm lifted above the shoulder: the upper arm ``elbow_deg``
    and the forearm ``wrist_deg`` off vertical, leaning away from the neck; shortened so the
    wrist stays 2 px inside the frame. None when the shoulder or the neck is not visible."""
    sh, el, wr = SIDES[side]
    if kp[sh, 2] <= 0 or kp[NECK, 2] <= 0:
        return None
    out = np.array(kp, np.float32, copy=True)
    outward = math.copysign(1.0, float(kp[sh, 0] - kp[NECK, 0]) or (-1.0 if side == "right" else 1.0))
    body = body_height(kp, height)
    up1 = np.array([outward * math.sin(math.radians(elbow_deg)), -math.cos(math.radians(elbow_deg))], np.float32)
    up2 = np.array([outward * math.sin(math.radians(wrist_deg)), -math.cos(math.radians(wrist_deg))], np.float32)
    l1, l2 = UPPER_ARM * body, FOREARM * body
    rise = -(l1 * up1[1] + l2 * up2[1])  # pixels the wrist climbs above the shoulder
    room = float(kp[sh, 1]) - 2.0
    if rise > room > 0:
        l1, l2 = l1 * room / rise, l2 * room / rise
    out[el, :2] = kp[sh, :2] + l1 * up1
    out[wr, :2] = out[el, :2] + l2 * up2
    out[[el, wr], 2] = 1.0
    return out


def without_arm(kp: np.ndarray, side: str) -> np.ndarray:
    """``kp`` with ``side``'s elbow and wrist invisible (the decoder's pose map drops them)."""
    out = np.array(kp, np.float32, copy=True)
    _, el, wr = SIDES[side]
    out[[el, wr], 2] = 0.0
    return out


def segment_mask(a: np.ndarray, b: np.ndarray, shape: tuple[int, int], radius: float = 2.0) -> np.ndarray:
    """Bool ``[H, W]``: pixels within ``radius`` of the segment ``a``-``b`` (x, y pixels)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    pts = np.stack([xs.ravel(), ys.ravel()], 1)  # [H*W, 2]
    ends = np.asarray(a, np.float32)[None], np.asarray(b, np.float32)[None]
    return (segment_distance(pts, *ends)[0] <= radius).reshape(h, w)


def along_segment(with_arm: np.ndarray, armless: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute change (0..1, over RGB) between two uint8 ``[H, W, 3]`` pictures on the
    pixels within 2 px of the forearm ``a``-``b``."""
    m = segment_mask(a, b, with_arm.shape[:2])
    if not m.any():
        return float("nan")
    diff = np.abs(with_arm.astype(np.float32) - armless.astype(np.float32)).mean(-1) / 255.0
    return float(diff[m].mean())
