"""Drawing one person as a label map: ``Appearance`` x ``Pose`` -> ``Part`` id per pixel.

The person is drawn at twice the output resolution as a *label map* (``Part`` ids) with PIL's
ImageDraw (C speed): tapered capsules for limbs, polygons for the torso, pelvis and skirt,
ellipses for the head, hair and face details, lines for folds and straps. Parts are painted
far to near: legs (the far one first), the lower garment, then the torso and arms ordered by
depth (the far arm goes behind the torso in a side view), the head last; long hair, ponytails
and backpacks go behind the torso or over it depending on the view.

Colour, shading and the binary mask come afterwards, from the labels alone
(``dpg.synthetic.colour``).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from dpg.synthetic.appearance import Appearance, Part
from dpg.synthetic.pose import (
    HEAD_RX,
    HEAD_RY,
    HEAD_RZ,
    LANK,
    LEAR,
    LELB,
    LEYE,
    LHIP,
    LKNE,
    LSHO,
    LWRI,
    NECK,
    NOSE,
    RANK,
    REAR,
    RELB,
    REYE,
    RHIP,
    RKNE,
    RSHO,
    RWRI,
    Pose,
)

SS = 2  # supersampling factor (dpg.synthetic.colour assumes 2x2 blocks)
# PIL fills canvas pixel j over [j, j + 1); an output pixel i (centre i) covers canvas pixels
# SS*i .. SS*i + SS - 1, so output coordinate u maps to canvas coordinate SS * u + SS / 2.
# With this mapping a mirrored pose rasterises to exactly the mirrored mask.
_HALF = SS / 2


class _Canvas:
    """A label image in supersampled pixels with the few primitives the body needs."""

    def __init__(self, height: int, width: int):
        self.image = Image.new("L", (width * SS, height * SS), 0)
        self.draw = ImageDraw.Draw(self.image)

    def capsule(self, a, b, ra: float, rb: float, label: int, caps: tuple[bool, bool] = (True, True)) -> None:
        """A tapered limb from ``a`` (radius ``ra``) to ``b`` (radius ``rb``), round ends
        (``caps`` leaves out an end that the next part covers anyway)."""
        (ax, ay), (bx, by) = a, b
        dx, dy = bx - ax, by - ay
        n = math.hypot(dx, dy)
        if n > 1e-6:
            nx, ny = -dy / n, dx / n
            self.draw.polygon(
                [(ax + nx * ra, ay + ny * ra), (bx + nx * rb, by + ny * rb), (bx - nx * rb, by - ny * rb), (ax - nx * ra, ay - ny * ra)],
                fill=label,
            )
        if caps[0]:
            self.ellipse(a, ra, ra, label)
        if caps[1]:
            self.ellipse(b, rb, rb, label)

    def ellipse(self, c, rx: float, ry: float, label: int) -> None:
        self.draw.ellipse((c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry), fill=label)

    def polygon(self, points, label: int) -> None:
        self.draw.polygon(points, fill=label)

    def line(self, points, width: float, label: int) -> None:
        self.draw.line(points, fill=label, width=max(1, int(round(width))))


def _lerp(a, b, t: float):
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _add(a, v, k: float = 1.0):
    return (a[0] + v[0] * k, a[1] + v[1] * k)


def _unit(a, b):
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = math.hypot(dx, dy) or 1.0
    return (dx / n, dy / n)


class _Body:
    """Geometry of one person in supersampled pixels: joints, torso frame, limb radii."""

    def __init__(self, app: Appearance, pose: Pose, canvas: _Canvas):
        self.app, self.pose, self.c = app, pose, canvas
        self.s = pose.scale * SS  # body height in canvas pixels
        self.j = [(x * SS + _HALF, y * SS + _HALF) for x, y in pose.joints.tolist()]
        hx, hy = pose.head
        self.head = (hx * SS + _HALF, hy * SS + _HALF)
        self.cy, self.sy = math.cos(pose.yaw), math.sin(pose.yaw)
        b = app.build
        self.depth_half = 0.065 + 0.025 * b
        self.mid_hip = _lerp(self.j[RHIP], self.j[LHIP], 0.5)
        self.axis = _unit(self.j[NECK], self.mid_hip)  # down the torso
        self.perp = (-self.axis[1], self.axis[0])  # sideways: the image's left for an upright person
        self.torso_len = math.hypot(self.mid_hip[0] - self.j[NECK][0], self.mid_hip[1] - self.j[NECK][1])
        cloth = 0.006 if app.upper.kind in ("shirt", "jacket") else 0.0
        self.r_uarm = (0.028 + 0.008 * b + cloth) * self.s
        self.r_elbow = (0.023 + 0.005 * b + cloth) * self.s
        self.r_wrist = (0.018 + 0.003 * b + cloth * 0.7) * self.s
        loose = 0.006 if app.lower.kind == "trousers" else 0.0
        self.r_thigh = (0.043 + 0.012 * b + loose) * self.s
        self.r_knee = (0.032 + 0.006 * b + loose) * self.s
        self.r_ankle = (0.021 + 0.004 * b + loose * 1.5) * self.s

    def width(self, lateral: float) -> float:
        """Projected half-width of a torso cross-section (an ellipse) of ``lateral`` half-width."""
        return self.s * math.hypot(lateral * self.cy, self.depth_half * self.sy)

    def at(self, t: float, side: float = 0.0):
        """The point ``t`` of the way from the neck to the mid-hip, ``side`` px sideways."""
        n, a, p = self.j[NECK], self.axis, self.perp
        d = t * self.torso_len
        return (n[0] + a[0] * d + p[0] * side, n[1] + a[1] * d + p[1] * side)


# ---- legs and lower garment --------------------------------------------------------


def _leg(b: _Body, right: bool) -> None:
    c, s, app = b.c, b.s, b.app
    hip, knee, ank = (b.j[RHIP], b.j[RKNE], b.j[RANK]) if right else (b.j[LHIP], b.j[LKNE], b.j[LANK])
    fx = b.sy  # the foot points along the facing direction
    heel = _add(ank, (-fx * 0.02 * s, 0.024 * s))
    toe = _add(ank, (fx * 0.07 * s, 0.034 * s))
    shoe = Part.R_SHOE if right else Part.L_SHOE
    trousers = app.lower.kind == "trousers"
    label = Part.R_LEG if right else Part.L_LEG  # one label: no crease at the knee
    if trousers:  # trouser legs cover the shoe tops
        _shoe(b, heel, toe, shoe)
        c.capsule(knee, _add(ank, (0, 0.014 * s)), b.r_knee, b.r_ankle, label, (False, True))
    else:
        c.capsule(knee, ank, b.r_knee, b.r_ankle, label, (False, True))
        _shoe(b, heel, toe, shoe)
    c.capsule(hip, knee, b.r_thigh, b.r_knee, label)
    if app.lower.kind == "shorts":
        c.capsule(hip, _lerp(hip, knee, 0.45), b.r_thigh + 0.007 * s, b.r_thigh + 0.005 * s, Part.R_SHORT if right else Part.L_SHORT)


def _shoe(b: _Body, heel, toe, label: int) -> None:
    s = b.s
    b.c.capsule(heel, toe, 0.028 * s, 0.024 * s, label)
    b.c.capsule(_add(heel, (0, 0.02 * s)), _add(toe, (0, 0.016 * s)), 0.009 * s, 0.009 * s, Part.SOLE)


def _pelvis(b: _Body) -> None:
    w_waist = b.width(0.08 + 0.03 * b.app.build)
    w_hip = b.width(0.09 + 0.03 * b.app.build)
    crotch = b.at(1.0)
    crotch = _add(crotch, b.axis, 0.07 * b.s)
    b.c.polygon(
        [
            b.at(0.78, -w_waist),
            b.at(1.0, -w_hip),
            _add(b.at(1.0, -w_hip), b.axis, 0.05 * b.s),
            crotch,
            _add(b.at(1.0, w_hip), b.axis, 0.05 * b.s),
            b.at(1.0, w_hip),
            b.at(0.78, w_waist),
        ],
        Part.PELVIS,
    )


def _skirt(b: _Body) -> None:
    app, s = b.app, b.s
    length = {"skirt": 0.17, "long_skirt": 0.36, "dress": 0.22}[app.lower.kind]
    hem_y = b.mid_hip[1] + length * s
    # The hem spans the legs where they cross it, plus a flare.
    xs = []
    limbs = ((RHIP, RKNE, b.r_thigh), (LHIP, LKNE, b.r_thigh), (RKNE, RANK, b.r_knee), (LKNE, LANK, b.r_knee))
    for ja, jb, r in limbs:
        (ax, ay), (bx, by) = b.j[ja], b.j[jb]
        t = min(max((hem_y - ay) / (by - ay), 0.0), 1.0) if by != ay else 0.0
        x = ax + (bx - ax) * t
        xs += [x - r, x + r]
    flare = (0.03 + 0.05 * (app.lower.kind == "long_skirt")) * s
    w_hip = b.width(0.105 + 0.03 * app.build)
    left, right = min(xs) - flare, max(xs) + flare
    top = b.at(0.78)
    pts = [
        b.at(0.78, -b.width(0.09 + 0.03 * app.build)),
        b.at(1.0, -w_hip),
        (left, hem_y),
        (right, hem_y),
        b.at(1.0, w_hip),
        b.at(0.78, b.width(0.09 + 0.03 * app.build)),
    ]
    # Keep the polygon's winding consistent whichever way ``perp`` points.
    if pts[1][0] > pts[4][0]:
        pts[2], pts[3] = pts[3], pts[2]
    b.c.polygon(pts, Part.SKIRT)
    for k in (0.3, 0.7):  # pleats
        hem = (left + (right - left) * k, hem_y - 0.01 * s)
        b.c.line([_lerp(top, b.at(1.0), 0.5), hem], 0.005 * s, Part.FOLD_LOWER)


# ---- torso, neck and arms ------------------------------------------------------------


def _torso(b: _Body) -> None:
    app, s, c = b.app, b.s, b.c
    build = app.build
    sho = math.hypot(b.j[LSHO][0] - b.j[RSHO][0], b.j[LSHO][1] - b.j[RSHO][1]) / 2
    extra = 0.01 * s if app.upper.kind == "jacket" else 0.0
    w_sho = max(b.width(0.118 + 0.02 * build), sho + 0.3 * b.r_uarm) + extra
    w_chest = b.width(0.105 + 0.025 * build) + extra
    w_waist = b.width(0.088 + 0.035 * build) + extra
    w_hip = b.width(0.095 + 0.03 * build) + extra
    hem = 1.1 if app.lower.kind != "dress" else 0.95
    # The shoulder line slopes from the neck down over the arm's top (the deltoid).
    levels = (
        (-0.13, w_sho * 0.45),
        (-0.08, w_sho * 0.8),
        (0.0, w_sho),
        (0.08, w_sho),
        (0.3, w_chest),
        (0.65, w_waist),
        (1.0, w_hip),
        (hem, w_hip),
    )
    pts = [b.at(t, -w) for t, w in levels] + [b.at(t, w) for t, w in reversed(levels)]
    c.polygon(pts, Part.TORSO)
    facing = b.cy
    if facing > 0.3:
        _neckline(b)
    if app.upper.kind == "jacket" and facing > 0.2:  # the open front shows the shirt
        w = 0.04 * s * facing
        c.polygon([b.at(-0.04, -w * 0.6), b.at(-0.04, w * 0.6), b.at(hem, w), b.at(hem, -w)], Part.INNER)
        c.line([b.at(0.0, -w * 0.9), b.at(0.45, -w * 1.3)], 0.007 * s, Part.FOLD_UPPER)
        c.line([b.at(0.0, w * 0.9), b.at(0.45, w * 1.3)], 0.007 * s, Part.FOLD_UPPER)
    logo = app.logo
    if (logo in ("chest", "big") and facing > 0.25) or (logo == "back" and facing < -0.25):
        big = logo != "chest"
        w = (0.06 if big else 0.022) * s * abs(facing)
        h = (0.06 if big else 0.022) * s
        # A small logo sits on the person's left chest: the image's right in a front view.
        ctr = b.at(0.3) if big else _add(b.at(0.22), (0.05 * s * facing, 0.0))
        c.polygon([_add(ctr, (-w, -h)), _add(ctr, (w, -h)), _add(ctr, (w, h)), _add(ctr, (-w, h))], Part.LOGO)
    # Folds: from the armpits towards the waist, and across the waist.
    fw = 0.005 * s
    for side in (-1, 1):
        c.line([b.at(0.22, side * w_chest * 0.85), b.at(0.5, side * w_waist * 0.35)], fw, Part.FOLD_UPPER)
    c.line([b.at(0.9, -w_waist * 0.5), b.at(0.86, w_waist * 0.3)], fw, Part.FOLD_UPPER)


def _neckline(b: _Body) -> None:
    c, s, kind = b.c, b.s, b.app.collar
    f = b.cy
    if b.app.upper.kind == "tank":
        c.ellipse(b.at(0.0), 0.06 * s * f, 0.05 * s, Part.NECKLINE)
    elif kind == "v":
        w = 0.035 * s * f
        c.polygon([b.at(-0.07, -w), b.at(-0.07, w), b.at(0.2)], Part.NECKLINE)
    else:
        c.ellipse(b.at(-0.05), 0.035 * s * f, 0.04 * s, Part.NECKLINE)
        if kind == "polo":
            w = 0.045 * s * f
            for side in (-1, 1):
                tips = [b.at(-0.07, side * w * 0.4), b.at(-0.07, side * w * 1.1), b.at(0.06, side * w * 0.2)]
                c.polygon(tips, Part.COLLAR)


def _neck(b: _Body) -> None:
    r = (0.027 + 0.006 * b.app.build) * b.s
    b.c.capsule(b.at(-0.02), _lerp(b.j[NECK], b.head, 0.6), r, r * 0.95, Part.NECK)


def _arm(b: _Body, right: bool) -> None:
    c, s, app = b.c, b.s, b.app
    sho, elb, wri = (b.j[RSHO], b.j[RELB], b.j[RWRI]) if right else (b.j[LSHO], b.j[LELB], b.j[LWRI])
    label = Part.R_ARM if right else Part.L_ARM  # one label: no crease at the elbow
    top = _add(sho, _unit(sho, elb), 0.3 * b.r_uarm)  # the arm hangs just below the shoulder line
    c.capsule(top, elb, b.r_uarm, b.r_elbow, label)
    c.capsule(elb, wri, b.r_elbow * 0.95, b.r_wrist, label, (False, False))
    u = _unit(elb, wri)
    c.capsule(wri, _add(wri, u, 0.045 * s), 0.021 * s, 0.018 * s, Part.R_HAND if right else Part.L_HAND)
    if app.upper.kind == "tshirt":
        c.capsule(
            _lerp(sho, elb, 0.16),
            _lerp(sho, elb, 0.45),
            b.r_uarm + 0.004 * s,
            b.r_uarm + 0.004 * s,
            Part.R_SLEEVE if right else Part.L_SLEEVE,
        )
    if app.bag == "handbag" and (app.bag_side < 0) == right:
        top = _add(wri, u, 0.035 * s)
        w, h = 0.05 * s, 0.085 * s
        c.line([_add(top, (-w * 0.5, 0.02 * s)), top, _add(top, (w * 0.5, 0.02 * s))], 0.008 * s, Part.STRAP)
        c.polygon([_add(top, (-w, 0.02 * s)), _add(top, (w, 0.02 * s)), _add(top, (w * 1.1, h)), _add(top, (-w * 1.1, h))], Part.BAG)


# ---- bags ----------------------------------------------------------------------------


def _backpack(b: _Body) -> None:
    s = b.s
    ctr = _add(b.at(0.42), (-(b.depth_half + 0.05) * b.sy * s, 0.0))
    w = s * math.hypot(0.1 * b.cy, 0.06 * b.sy)
    h = 0.15 * s
    b.c.draw.rounded_rectangle((ctr[0] - w, ctr[1] - h, ctr[0] + w, ctr[1] + h), radius=0.035 * s, fill=Part.BAG)
    if b.cy < -0.3:  # from behind: the flap and pocket seams
        b.c.line([(ctr[0] - w * 0.8, ctr[1] + h * 0.2), (ctr[0] + w * 0.8, ctr[1] + h * 0.2)], 0.007 * s, Part.STRAP)


def _backpack_straps(b: _Body) -> None:
    w_sho = b.width(0.118)
    for side in (-1, 1):
        b.c.line([b.at(-0.04, side * w_sho * 0.55), b.at(0.5, side * w_sho * 0.8)], 0.028 * b.s, Part.STRAP)


def _shoulder_bag(b: _Body) -> None:
    s, side = b.s, b.app.bag_side
    hip = b.j[LHIP] if side > 0 else b.j[RHIP]
    sho = b.j[RSHO] if side > 0 else b.j[LSHO]
    out = _unit(b.mid_hip, hip) if abs(hip[0] - b.mid_hip[0]) > 1 else (1.0 if side > 0 else -1.0, 0.0)
    ctr = _add(_add(hip, out, 0.06 * s * abs(b.cy) + 0.03 * s), (0, 0.02 * s))
    b.c.line([_add(sho, (0, -0.015 * s)), ctr], 0.014 * s, Part.STRAP)
    w, h = 0.06 * s * max(abs(b.cy), 0.5), 0.055 * s
    b.c.draw.rounded_rectangle((ctr[0] - w, ctr[1] - h, ctr[0] + w, ctr[1] + h), radius=0.012 * s, fill=Part.BAG)


# ---- head ----------------------------------------------------------------------------


def _hair_back(b: _Body) -> None:
    """Long hair or a ponytail: the part that falls behind the head."""
    hc, s = b.head, b.s
    f, g = math.cos(b.pose.head_yaw), math.sin(b.pose.head_yaw)
    rx = s * math.hypot(HEAD_RX * f, HEAD_RZ * g)
    if b.app.hair_style == "long":
        back = -g * rx * 0.35  # the hair hangs behind the head, away from the face
        top, bottom = hc[1] - 0.02 * s, hc[1] + 0.2 * s
        b.c.polygon(
            [
                (hc[0] + back - rx * 1.05, top),
                (hc[0] + back + rx * 1.05, top),
                (hc[0] + back * 1.5 + rx * 1.15, bottom),
                (hc[0] + back * 1.5 - rx * 1.15, bottom),
            ],
            Part.HAIR_BACK,
        )
    else:  # ponytail
        top = (hc[0] - g * rx * 0.85, hc[1] - 0.01 * s)
        b.c.capsule(top, (top[0] - g * 0.01 * s, hc[1] + 0.13 * s), 0.02 * s, 0.012 * s, Part.HAIR_BACK)


def _head_part(b: _Body) -> None:
    c, s, app = b.c, b.s, b.app
    hc = b.head
    f, g = math.cos(b.pose.head_yaw), math.sin(b.pose.head_yaw)
    rx = s * math.hypot(HEAD_RX * f, HEAD_RZ * g) * (0.97 + 0.06 * app.build)
    ry = s * HEAD_RY
    # Labelled ears belong on the head: real annotations often put them wider than the
    # nominal head, so the head grows to reach them (by at most half).
    for ear in (LEAR, REAR):
        if b.pose.visible[ear]:
            ex, ey = b.j[ear]
            rx = min(max(rx, abs(ex - hc[0]) + 0.012 * s), 1.5 * rx)
            ry = min(max(ry, abs(ey - hc[1]) + 0.012 * s), 1.3 * ry)
    style = app.hair_style
    if style == "bun":
        c.ellipse((hc[0] - g * 0.4 * rx, hc[1] - 0.9 * ry), 0.45 * rx, 0.38 * ry, Part.HAIR)
    # Ears stick out beside the face in a front view, and sit mid-head in profile.
    ears = style not in ("long",)
    if ears and f > 0.5:
        for side in (-1, 1):
            c.ellipse((hc[0] + side * rx * 0.97, hc[1] + 0.08 * ry), 0.16 * rx, 0.22 * ry, Part.EAR)
    if style == "bald":
        c.ellipse(hc, rx, ry, Part.FACE)
    else:
        c.ellipse((hc[0] - g * 0.05 * rx, hc[1] - 0.05 * ry), rx * 1.04, ry * 1.02, Part.HAIR)
        if f > -0.35:
            fr = rx * (0.88 - 0.16 * abs(g)) * min(1.0, (f + 0.35) / 0.6) ** 0.5
            drop = 0.24
            c.ellipse((hc[0] + g * (rx - fr) * 0.95, hc[1] + drop * ry), fr, ry * (1 - drop * 0.85), Part.FACE)
    if style == "cap":  # crown over the top of the head, brim at the forehead
        c.ellipse((hc[0], hc[1] - 0.4 * ry), rx * 1.05, ry * 0.66, Part.HAT)
        top, bottom = hc[1] - 0.4 * ry, hc[1] - 0.28 * ry
        c.polygon([(hc[0] - rx * 1.05, top), (hc[0] + rx * 1.05, top), (hc[0] + rx * 1.05, bottom), (hc[0] - rx * 1.05, bottom)], Part.HAT)
        if f > -0.5:
            reach = 0.6 + 0.5 * max(f, 0.0) * (1 - abs(g))
            c.ellipse((hc[0] + g * 0.9 * rx, hc[1] - 0.3 * ry), rx * reach, 0.09 * ry, Part.BRIM)
    if ears and abs(g) > 0.6 and f < 0.5:  # the near ear in profile
        ear = b.j[REAR] if g > 0 else b.j[LEAR]
        c.ellipse(ear, 0.14 * rx, 0.2 * ry, Part.EAR)
    if f > 0.25:  # face details
        eye_r = max(0.8, 0.0065 * s)
        if -0.42 * g + 0.9 * f > 0.15:
            c.ellipse(b.j[LEYE], eye_r, eye_r, Part.EYE)
        if 0.42 * g + 0.9 * f > 0.15:
            c.ellipse(b.j[REYE], eye_r, eye_r, Part.EYE)
        mouth = _add(b.j[NOSE], (g * 0.004 * s, 0.026 * s))
        c.ellipse(mouth, 0.016 * s * f, 0.0045 * s, Part.MOUTH)
    if abs(g) > 0.5 and f > -0.2:  # the nose sticks out of a profile
        c.ellipse(b.j[NOSE], 0.011 * s, 0.013 * s, Part.FACE)


def label_map(app: Appearance, pose: Pose) -> np.ndarray:
    """Paint every part far to near (module docstring); uint8 ``[H*SS, W*SS]`` labels."""
    canvas = _Canvas(*pose.size)
    body = _Body(app, pose, canvas)
    d = pose.depth
    facing = body.cy
    items: list[tuple[float, object]] = []
    # Legs first, the far one before the near one.
    right_near = d[RKNE] + d[RANK] > d[LKNE] + d[LANK]
    items.append((-10.0, lambda: _leg(body, not right_near)))
    items.append((-9.0, lambda: _leg(body, right_near)))
    items.append((-8.0, lambda: _pelvis(body)))
    if app.lower.kind in ("skirt", "long_skirt", "dress"):
        items.append((-7.0, lambda: _skirt(body)))
    items.append((-0.5, lambda: _neck(body)))
    items.append((0.0, lambda: _torso(body)))
    for right, joints in ((True, (RSHO, RELB, RWRI)), (False, (LSHO, LELB, LWRI))):
        # +0.07: an arm beside the torso is drawn over it unless well behind it.
        items.append((0.07 + float(d[joints[0]] + d[joints[1]] + d[joints[2]]) / 3, lambda r=right: _arm(body, r)))
    if app.bag == "backpack":
        items.append((-(body.depth_half + 0.05) * facing, lambda: _backpack(body)))
        if facing > 0.3:
            items.append((0.05, lambda: _backpack_straps(body)))
    elif app.bag == "shoulder":
        side = app.bag_side
        items.append((0.06 + 0.12 * side * -body.sy, lambda: _shoulder_bag(body)))
    if app.hair_style in ("long", "ponytail"):
        items.append((-4.0 if math.cos(pose.head_yaw) > 0.3 else 0.5, lambda: _hair_back(body)))
    items.append((1.0, lambda: _head_part(body)))
    items.sort(key=lambda item: item[0])
    for _, paint in items:
        paint()
    return np.asarray(canvas.image)
