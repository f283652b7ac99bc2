"""The pose factor of the procedural renderer: an articulated skeleton, or real keypoints.

A ``Pose`` is everything the body drawer needs: the image position of all 18 COCO-18 joints
(hidden and out-of-frame ones included, so limbs leaving the frame are still drawn), which of
them are labelled visible, a depth per joint for the drawing order, the body's and the head's
facing angle, the head centre and the body height in pixels.

Procedural poses (``sample_pose``) come from a 3D skeleton in body-height units seen by an
orthographic camera: joint angles with limits (hip flexion -30..100 deg, knee 0..140, shoulder
flexion -50..170, abduction 0..90, elbow 0..150) set by a walking cycle (legs in antiphase,
arms swinging against them, the swing knee bent) or a standing posture (relaxed, hands on
hips, texting, carrying, arms crossed), a body yaw (0 = facing the camera, pi = back to it,
+pi/2 = facing the image's right) and a head turn. A joint is labelled invisible when it
leaves the frame, when the torso or a limb nearer the camera covers it (nominal widths, so
labels do not depend on the appearance's build), or for face points, when they face away.

Real poses (``pose_from_keypoints``) are lifted to the same description: the body height
from limb lengths (foreshortening only shortens, so the torso or the longest limbs decide),
the yaw from the signed shoulder (or hip) width and the nose's side, depths from the yaw.
Missing joints are inferred for drawing only: a lone shoulder or hip mirrored across the
torso, a missing knee or ankle continuing the limb above it, a missing elbow or wrist hanging
the arm down, face points from the head; they stay invisible in the keypoints. A pose with no
joint at all renders a default standing person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from dpg.keypoints import FLIP_PERM, JOINTS
from dpg.synthetic.seeds import POSE, Draws

# Joint ids by name, from the package's COCO-18 order (OpenPose's, dpg.keypoints.JOINTS).
_ID = {name: i for i, name in enumerate(JOINTS)}
NOSE, NECK = _ID["nose"], _ID["neck"]
RSHO, RELB, RWRI = _ID["right_shoulder"], _ID["right_elbow"], _ID["right_wrist"]
LSHO, LELB, LWRI = _ID["left_shoulder"], _ID["left_elbow"], _ID["left_wrist"]
RHIP, RKNE, RANK = _ID["right_hip"], _ID["right_knee"], _ID["right_ankle"]
LHIP, LKNE, LANK = _ID["left_hip"], _ID["left_knee"], _ID["left_ankle"]
REYE, LEYE, REAR, LEAR = _ID["right_eye"], _ID["left_eye"], _ID["right_ear"], _ID["left_ear"]
# Lateral side of every joint: -1 the person's right, +1 the left, 0 the midline.
SIDE = np.array([-1 if n.startswith("right_") else 1 if n.startswith("left_") else 0 for n in JOINTS], np.float32)

# Body model in units of body height (head top 0, soles 1, y down), calibrated on the
# medians of the 12,936 Market-1501 training annotations.
NECK_Y, HIP_Y = 0.205, 0.525
SHOULDER_HALF, HIP_HALF = 0.115, 0.08
UPPER_ARM, FOREARM, THIGH, SHIN = 0.165, 0.145, 0.225, 0.215
TORSO = HIP_Y - NECK_Y
HEAD_ABOVE_NECK = 0.123
HEAD_RX, HEAD_RY, HEAD_RZ = 0.052, 0.068, 0.06  # head half-width, half-height, half-depth
# Face points relative to the head centre in the head frame (x left, y down, z forward).
FACE = {
    NOSE: (0.0, 0.018, 0.05),
    LEYE: (0.021, -0.002, 0.042),
    REYE: (-0.021, -0.002, 0.042),
    LEAR: (0.05, 0.005, -0.005),
    REAR: (-0.05, 0.005, -0.005),
}
ANKLE_Y = HIP_Y + THIGH + SHIN  # 0.965 standing straight


@dataclass(frozen=True, eq=False)
class Pose:
    """One person's geometry in the pixels of an image of ``size`` (see module docstring).

    joints: float32 ``[18, 2]`` ``(x, y)`` of every joint (hidden and out-of-frame ones too).
    visible: bool ``[18]``, the joints labelled present (``v = 1``) in ``keypoints()``.
    depth: float32 ``[18]``, towards the camera, body-height units.
    head: ``(x, y)`` of the head centre. yaw, head_yaw: radians, 0 facing the camera.
    scale: body height (head top to soles) in pixels. size: ``(height, width)``.
    source: ``"procedural"`` or ``"real"``. seed: the pose seed (or CSV row), -1 if none.
    """

    joints: np.ndarray
    visible: np.ndarray
    depth: np.ndarray
    head: tuple[float, float]
    yaw: float
    head_yaw: float
    scale: float
    size: tuple[int, int]
    source: str = "procedural"
    seed: int = -1

    def keypoints(self) -> np.ndarray:
        """float32 ``[18, 3]`` rows ``(x, y, v)``; invisible joints are ``(0, 0, 0)``."""
        kp = np.zeros((18, 3), np.float32)
        kp[self.visible, :2] = self.joints[self.visible]
        kp[self.visible, 2] = 1.0
        return kp

    def flip(self) -> Pose:
        """The mirror image: ``x -> W - 1 - x``, left and right swapped, yaws negated."""
        perm = list(FLIP_PERM)
        joints = self.joints[perm].copy()
        joints[:, 0] = self.size[1] - 1 - joints[:, 0]
        return replace(
            self,
            joints=joints,
            visible=self.visible[perm].copy(),
            depth=self.depth[perm].copy(),
            head=(self.size[1] - 1 - self.head[0], self.head[1]),
            yaw=-self.yaw,
            head_yaw=-self.head_yaw,
        )


def _rad(deg: float) -> float:
    return deg * math.pi / 180.0


def _arm(d: Draws, walking: bool, swing: float) -> tuple[float, float, float, float]:
    """Arm angles (flexion, abduction, elbow, inward twist) in radians, within joint limits."""
    kind = d.choice(("hang", "hip", "text", "carry", "raise"), (0.8, 0.06, 0.06, 0.06, 0.02))
    if kind == "hang":
        flex = swing if walking else d.normal(0.0, _rad(6))
        elbow = _rad(d.uniform(5, 25)) + 0.5 * max(0.0, flex)  # a forward swing bends the elbow
        return flex, _rad(d.uniform(4, 12)), elbow, 0.0
    if kind == "hip":  # hand on the hip or in a pocket: elbow out, forearm back in
        return _rad(d.uniform(-15, 0)), _rad(d.uniform(25, 45)), _rad(d.uniform(40, 80)), _rad(d.uniform(55, 80))
    if kind == "text":  # a phone held in front of the chest
        return _rad(d.uniform(5, 30)), _rad(d.uniform(0, 10)), _rad(d.uniform(85, 115)), _rad(d.uniform(15, 40))
    if kind == "carry":  # forearm forward, carrying something
        return _rad(d.uniform(-5, 15)), _rad(d.uniform(3, 10)), _rad(d.uniform(50, 90)), _rad(d.uniform(0, 15))
    return _rad(d.uniform(60, 160)), _rad(d.uniform(5, 40)), _rad(d.uniform(0, 50)), 0.0  # raised


def _step(a: tuple, length: float, d: tuple) -> tuple[float, float, float]:
    """``a + length * d`` for 3-tuples (plain floats: a few dozen tiny vectors per pose)."""
    return (a[0] + length * d[0], a[1] + length * d[1], a[2] + length * d[2])


def _skeleton(d: Draws, style: str) -> tuple[np.ndarray, float]:
    """Sample joint angles and build the 3D skeleton ``[19, 3]`` (X left, Y down, Z forward;
    the 18 joints, then the head centre) relative to the pelvis centre in body heights;
    returns it and the head turn (radians)."""
    walking = d.chance(0.65 if style == "market" else 0.15)
    phase = d.uniform(0, 2 * math.pi)
    stride, swing = _rad(d.uniform(14, 28)), _rad(d.uniform(8, 30))
    lean, tilt = _rad(d.normal(3 if walking else 0, 3)), _rad(d.normal(0, 2.5))
    p: list = [None] * 19
    up = (math.sin(tilt), -math.cos(tilt) * math.cos(lean), math.sin(lean))
    lateral = (math.cos(tilt), math.sin(tilt), 0.0)
    p[NECK] = _step((0.0, 0.0, 0.0), TORSO, up)
    p[RSHO], p[LSHO] = _step(p[NECK], -SHOULDER_HALF, lateral), _step(p[NECK], SHOULDER_HALF, lateral)
    hip_drop = _rad(d.normal(0, 3))  # weight on one leg tilts the pelvis
    hip_lat = (math.cos(hip_drop), math.sin(hip_drop), 0.0)
    p[RHIP], p[LHIP] = _step((0.0, 0.0, 0.0), -HIP_HALF, hip_lat), _step((0.0, 0.0, 0.0), HIP_HALF, hip_lat)
    spread = math.sin(_rad(d.uniform(0, 6)))
    for side, (sho, elb, wri) in ((-1, (RSHO, RELB, RWRI)), (1, (LSHO, LELB, LWRI))):
        arm_swing = -side * swing * math.sin(phase)  # against the same-side leg
        flex, abd, elbow, twist = _arm(d, walking, arm_swing)
        ca, sa = math.cos(abd), math.sin(abd)
        p[elb] = _step(p[sho], UPPER_ARM, (side * sa, ca * math.cos(flex), ca * math.sin(flex)))
        a2 = flex + elbow
        d2 = (side * (sa - math.sin(twist)), ca * math.cos(a2), ca * math.sin(a2))
        p[wri] = _step(p[elb], FOREARM / math.sqrt(d2[0] ** 2 + d2[1] ** 2 + d2[2] ** 2), d2)
    for side, (hip, kne, ank) in ((-1, (RHIP, RKNE, RANK)), (1, (LHIP, LKNE, LANK))):
        if walking:
            hip_flex = side * stride * math.sin(phase)
            # The swing leg (hip flexing forward) bends its knee most at mid-swing.
            knee = _rad(5) + _rad(d.uniform(30, 50)) * max(0.0, -side * math.cos(phase)) ** 1.5
        else:
            hip_flex = _rad(d.normal(0, 4))
            knee = _rad(d.uniform(0, 12))
        hip_flex = min(max(hip_flex, _rad(-30)), _rad(100))
        p[kne] = _step(p[hip], THIGH, (side * spread, math.cos(hip_flex), math.sin(hip_flex)))
        a2 = hip_flex - knee
        p[ank] = _step(p[kne], SHIN, (side * spread, math.cos(a2), math.sin(a2)))
    turn = d.normal(0, 0.25) if d.chance(0.8) else d.uniform(-1.0, 1.0)
    head = p[18] = _step(p[NECK], HEAD_ABOVE_NECK, up)
    ct, st = math.cos(turn), math.sin(turn)
    for j, (fx, fy, fz) in FACE.items():  # face points turned with the head about the vertical
        p[j] = (head[0] + fx * ct + fz * st, head[1] + fy, head[2] - fx * st + fz * ct)
    return np.array(p), turn


def _project(p3: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic view of body-frame points ``[N, 3]`` at body yaw: ``(x, y)`` and depth."""
    c, s = math.cos(yaw), math.sin(yaw)
    x = p3[:, 0] * c + p3[:, 2] * s
    depth = -p3[:, 0] * s + p3[:, 2] * c
    return np.stack([x, p3[:, 1]], 1), depth


def segment_distance(pts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points ``[N, 2]`` to segments ``a``, ``b`` ``[M, 2]``: ``[M, N]``."""
    ab = (b - a)[:, None]  # [M, 1, 2]
    ap = pts[None] - a[:, None]  # [M, N, 2]
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(ap - t[..., None] * ab, axis=-1)


# Occluding limbs for the hidden-joint test: end joints and nominal radius (body heights).
_OCC_A = np.array([RSHO, RELB, LSHO, LELB, RHIP, RKNE, LHIP, LKNE])
_OCC_B = np.array([RELB, RWRI, LELB, LWRI, RKNE, RANK, LKNE, LANK])
_OCC_R = np.array([0.035, 0.03, 0.035, 0.03, 0.055, 0.04, 0.055, 0.04])[:, None]
_OWN = np.zeros((8, 14), bool)
_OWN[np.arange(8), _OCC_A] = _OWN[np.arange(8), _OCC_B] = True  # a limb never hides its own ends


def _hidden(xy: np.ndarray, depth: np.ndarray, yaw: float) -> np.ndarray:
    """Body joints covered by the torso or a nearer limb, from the skeleton alone (positions
    in body heights)."""
    hidden = np.zeros(18, bool)
    pts, dep = xy[:14], depth[:14]
    ends_a = np.concatenate([xy[NECK][None], xy[_OCC_A]])
    ends_b = np.concatenate([((xy[RHIP] + xy[LHIP]) / 2)[None], xy[_OCC_B]])
    dist = segment_distance(pts, ends_a, ends_b)  # [9, 14]: the torso, then 8 limbs
    torso_r = math.hypot(0.1 * math.cos(yaw), 0.07 * math.sin(yaw))
    torso_depth = float(depth[NECK] + depth[RHIP] + depth[LHIP]) / 3
    hidden[:14] = (dist[0] < torso_r) & (dep < torso_depth - 0.04)
    limb_depth = ((depth[_OCC_A] + depth[_OCC_B]) / 2)[:, None]
    covered = (dist[1:] < _OCC_R) & (dep[None] < limb_depth - 0.04) & ~_OWN
    hidden[:14] |= covered.any(0)
    return hidden


def _face_visibility(yaw_total: float) -> np.ndarray:
    """Which face points face the camera at a head yaw (radians, 0 = facing it)."""
    vis = np.zeros(18, bool)
    c, s = math.cos(yaw_total), math.sin(yaw_total)
    vis[NOSE] = c > 0.05
    # An eye is seen when its outward normal (about 25 deg off the face axis) faces the camera,
    # an ear when its normal (sideways) is not turned away by more than ~60 deg.
    vis[LEYE] = -0.42 * s + 0.9 * c > 0.15
    vis[REYE] = 0.42 * s + 0.9 * c > 0.15
    vis[LEAR] = -s > -0.5
    vis[REAR] = s > -0.5
    return vis


def _finish(xy: np.ndarray, visible: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
    return visible & inside


def sample_pose(seed: int, size: tuple[int, int] = (128, 64), style: str = "market") -> Pose:
    """A procedural pose from its seed (module docstring).

    ``style="market"``: pedestrians, 65% walking, 45% front / 40% back / 15% side views,
    standing 0.72-1.05 image heights tall with position jitter; 8% have their feet cut off
    by the frame, as detector boxes do. ``style="studio"``: the DeepFashion setting, mostly
    standing, front-heavy views, full-body, knee-up and upper-body framings, centred.
    """
    if style not in ("market", "studio"):
        raise ValueError(f"pose style must be 'market' or 'studio', got {style!r}")
    d = Draws(POSE, seed)
    h, w = size
    weights = (0.45, 0.4, 0.15) if style == "market" else (0.65, 0.15, 0.2)
    view = d.choice(("front", "back", "side"), weights)
    yaw = {"front": 0.0, "back": math.pi, "side": math.copysign(math.pi / 2, d.random() - 0.5)}[view]
    yaw = math.remainder(yaw + d.normal(0, 0.35 if view != "side" else 0.3), 2 * math.pi)
    p3, turn = _skeleton(d, style)
    xy, depth = _project(p3, yaw)
    if style == "market":
        scale = h * min(max(d.normal(0.92, 0.06), 0.72), 1.05)
        ankle_y = min(max(d.normal(0.89, 0.035), 0.78), 1.0) * h
        if d.chance(0.08):  # a detector box that cuts the feet off
            ankle_y = d.uniform(1.0, 1.15) * h
        cx = w / 2 - 0.5 + d.normal(0, 0.07 * w)
    else:
        framing = d.choice((1.0, 1.45, 2.0), (0.6, 0.25, 0.15))  # full body, knee-up, upper body
        scale = h * d.uniform(0.86, 0.93) * framing
        ankle_y = h * 0.955 if framing == 1.0 else scale * (ANKLE_Y - 0.01) + d.uniform(0.02, 0.06) * h
        cx = w / 2 - 0.5 + d.normal(0, 0.02 * w)
    # Stand the lower ankle on the ground line; centre the neck-pelvis midpoint on cx.
    y0 = ankle_y - scale * (HIP_Y + float(xy[[RANK, LANK], 1].max()))
    x0 = cx - scale * (2 * float(xy[NECK, 0]) + float(xy[RHIP, 0]) + float(xy[LHIP, 0])) / 4
    pix = np.empty_like(xy)
    pix[:, 0] = x0 + scale * xy[:, 0]
    pix[:, 1] = y0 + scale * (HIP_Y + xy[:, 1])
    visible = ~_hidden(pix[:18] / scale, depth[:18], yaw)
    face = [NOSE, LEYE, REYE, LEAR, REAR]
    visible[face] = _face_visibility(yaw + turn)[face]
    visible = _finish(pix[:18], visible, size)
    return Pose(
        joints=pix[:18].astype(np.float32),
        visible=visible,
        depth=depth[:18].astype(np.float32),
        head=(float(pix[18, 0]), float(pix[18, 1])),
        yaw=yaw,
        head_yaw=math.remainder(yaw + turn, 2 * math.pi),
        scale=float(scale),
        size=(h, w),
        source="procedural",
        seed=int(seed),
    )


# ------------------------------------------------------------------------------------------
# Real keypoints


def _estimate_scale(p: np.ndarray, v: np.ndarray, h: int) -> float:
    """Body height in pixels from the present limbs (longest plausible, see module doc)."""

    def length(a, b):
        return float(np.hypot(*(p[a] - p[b]))) if v[a] and v[b] else 0.0

    torso = [length(NECK, RHIP), length(NECK, LHIP)]
    torso = [t for t in torso if t > 0]
    if torso:  # the torso is rarely foreshortened in upright people
        return min(max(max(torso) / math.hypot(TORSO, HIP_HALF), 0.3 * h), 3.0 * h)
    limbs = [
        length(RHIP, RKNE) / THIGH,
        length(LHIP, LKNE) / THIGH,
        length(RKNE, RANK) / SHIN,
        length(LKNE, LANK) / SHIN,
        length(RSHO, RELB) / UPPER_ARM,
        length(LSHO, LELB) / UPPER_ARM,
        length(NOSE, NECK) / 0.105,
        length(RSHO, LSHO) / (2 * SHOULDER_HALF),
    ]
    limbs = sorted(x for x in limbs if x > 0)
    if not limbs:
        return 0.9 * h
    # The second longest, so one mislabelled joint cannot blow the person up.
    return min(max(limbs[-2] if len(limbs) > 1 else limbs[-1], 0.3 * h), 3.0 * h)


def _estimate_yaw(p: np.ndarray, v: np.ndarray, s: float) -> tuple[float, float]:
    """Body and head yaw from the signed shoulder/hip width and the face's side."""
    if v[RSHO] and v[LSHO]:
        c = (p[LSHO, 0] - p[RSHO, 0]) / (2 * SHOULDER_HALF * s)
    elif v[RHIP] and v[LHIP]:
        c = (p[LHIP, 0] - p[RHIP, 0]) / (2 * HIP_HALF * s)
    else:
        c = 0.8 if (v[NOSE] or v[LEYE] or v[REYE]) else -0.8
    c = min(max(c, -1.0), 1.0)
    face = bool(v[NOSE] or v[LEYE] or v[REYE])
    sign = 1.0
    ref = p[NECK, 0] if v[NECK] else None
    if v[NOSE] and ref is not None and abs(p[NOSE, 0] - ref) > 0.01 * s:
        sign = math.copysign(1.0, p[NOSE, 0] - ref)
    elif v[REAR] != v[LEAR]:  # one ear seen: that side is the near one
        sign = 1.0 if v[REAR] else -1.0
    yaw = math.atan2(sign * math.sqrt(max(0.0, 1 - c * c)), c)
    head_yaw = yaw
    if face and math.cos(yaw) < 0.2:  # body turned away but the face seen: head turned
        head_yaw = math.atan2(sign, 0.3)
    return yaw, head_yaw


def pose_from_keypoints(keypoints: np.ndarray, size: tuple[int, int], seed: int = -1) -> Pose:
    """Lift real keypoints float ``[18, 3]`` ``(x, y, v)`` in an image of ``size`` to a ``Pose``.

    The labelled visibility is the input's (restricted to the frame); missing joints are
    inferred for drawing as the module docstring says.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.shape != (18, 3):
        raise ValueError(f"keypoints must be [18, 3], got {list(kp.shape)}")
    h, w = size
    v = kp[:, 2] > 0.5
    if not v[:14].any() and not v.any():
        rest = sample_pose(0, size, "market")
        return replace(rest, visible=np.zeros(18, bool), source="real", seed=int(seed))
    p = kp[:, :2].copy()
    s = _estimate_scale(p, v, h)
    yaw, head_yaw = _estimate_yaw(p, v, s)
    have = v.copy()
    lat_sho = np.array([SHOULDER_HALF * math.cos(yaw) * s, 0.0])
    lat_hip = np.array([HIP_HALF * math.cos(yaw) * s, 0.0])
    down = np.array([0.0, 1.0])

    def fill(j, value):
        if not have[j]:
            p[j], have[j] = value, True

    if not have[NECK]:
        if have[RSHO] and have[LSHO]:
            fill(NECK, (p[RSHO] + p[LSHO]) / 2)
        elif have[RSHO] or have[LSHO]:
            fill(NECK, p[RSHO] + lat_sho if have[RSHO] else p[LSHO] - lat_sho)
        elif have[NOSE]:
            fill(NECK, p[NOSE] + down * 0.105 * s)
        else:
            hips = [p[j] for j in (RHIP, LHIP) if have[j]]
            anchor = np.mean(hips, 0) if hips else p[have].mean(0)
            fill(NECK, anchor - down * TORSO * s)
    fill(RSHO, 2 * p[NECK] - p[LSHO] if have[LSHO] else p[NECK] - lat_sho)
    fill(LSHO, 2 * p[NECK] - p[RSHO])
    if have[RHIP] != have[LHIP]:
        fill(RHIP, p[LHIP] - 2 * lat_hip)
        fill(LHIP, p[RHIP] + 2 * lat_hip)
    fill(RHIP, p[NECK] + down * TORSO * s - lat_hip)
    fill(LHIP, p[NECK] + down * TORSO * s + lat_hip)
    for hip, kne, ank in ((RHIP, RKNE, RANK), (LHIP, LKNE, LANK)):
        fill(kne, (p[hip] + p[ank]) / 2 if have[ank] else p[hip] + down * THIGH * s)
        thigh = p[kne] - p[hip]
        fill(ank, p[kne] + thigh / max(np.hypot(*thigh), 1e-6) * SHIN * s)
    for sho, elb, wri in ((RSHO, RELB, RWRI), (LSHO, LELB, LWRI)):
        out = math.copysign(1.0, p[sho, 0] - p[NECK, 0]) if p[sho, 0] != p[NECK, 0] else 0.0
        fill(
            elb, (p[sho] + p[wri]) / 2 + np.array([out * 0.02 * s, 0]) if have[wri] else p[sho] + np.array([out * 0.02 * s, UPPER_ARM * s])
        )
        upper = p[elb] - p[sho]
        fill(wri, p[elb] + upper / max(np.hypot(*upper), 1e-6) * FOREARM * s)
    # Head centre: between the ears, else behind the face points, else above the neck.
    ct, st = math.cos(head_yaw - yaw), math.sin(head_yaw - yaw)
    if have[LEAR] and have[REAR]:
        head = (p[LEAR] + p[REAR]) / 2 - down * 0.005 * s
    else:
        est = []
        for j, (fx, fy, fz) in FACE.items():
            if have[j]:  # the point's offset from the centre, turned to the image
                x_off = (fx * ct + fz * st) * math.cos(yaw) + (-fx * st + fz * ct) * math.sin(yaw)
                est.append(p[j] - np.array([x_off, fy]) * s)
        head = np.mean(est, 0) if est else p[NECK] - down * HEAD_ABOVE_NECK * s
    # Keep the head on the shoulders even when a face point was mislabelled.
    off = head - p[NECK]
    dist = float(np.hypot(*off))
    lo, hi = 0.07 * s, 0.17 * s
    if dist < lo or dist > hi:
        head = p[NECK] + (off / dist * min(max(dist, lo), hi) if dist > 1e-6 else -down * HEAD_ABOVE_NECK * s)
    for j, (fx, fy, fz) in FACE.items():
        hx = fx * ct + fz * st
        hz = -fx * st + fz * ct
        fill(j, head + np.array([hx * math.cos(yaw) + hz * math.sin(yaw), fy]) * s)
    depth = -SIDE * 0.1 * math.sin(yaw)
    depth[[NOSE, LEYE, REYE]] += 0.05 * math.cos(head_yaw)
    visible = _finish(kp[:, :2], v, size)
    return Pose(
        joints=p.astype(np.float32),
        visible=visible,
        depth=depth.astype(np.float32),
        head=(float(head[0]), float(head[1])),
        yaw=yaw,
        head_yaw=head_yaw,
        scale=float(s),
        size=(h, w),
        source="real",
        seed=int(seed),
    )
