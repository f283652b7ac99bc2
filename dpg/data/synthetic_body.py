"""Drawing one person: ``Appearance`` x ``Pose`` -> RGB pixels and a binary person mask.

The person is drawn at twice the output resolution as a *label map* (``Part`` ids) with PIL's
ImageDraw (C speed): tapered capsules for limbs, polygons for the torso, pelvis and skirt,
ellipses for the head, hair and face details, lines for folds and straps. Parts are painted
far to near: legs (the far one first), the lower garment, then the torso and arms ordered by
depth (the far arm goes behind the torso in a side view), the head last; long hair, ponytails
and backpacks go behind the torso or over it depending on the view.

Colour comes afterwards, per pixel: the appearance's palette, the garment patterns evaluated
in a frame anchored at the neck and scaled by body height (so they move with the person),
and shading. Shading treats each label region as a bevelled relief: the distance to the
nearest label edge gives a circular profile, its gradient a surface normal, and a fixed light
from above and in front gives Lambert shading (symmetric, so mirrored poses render mirrored). Limbs come out round, the torso flat with
rounded sides, and every garment edge, sleeve end and fold gets a crease. The light belongs
to the person alone: the background's lighting never touches person pixels, so a person's
pixels depend on appearance and pose only.

Downsampling keeps the mask binary: an output pixel is person when at least half of its 2x2
subpixels are, and takes the mean colour of its person subpixels only. The composite in
``dpg.data.synthetic.render`` is then exact: background pixels never leak into the person.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

from dpg.data.synthetic_appearance import LEVEL_STRIDE, Appearance, Garment, Part
from dpg.data.synthetic_pose import (HEAD_RX, HEAD_RY, HEAD_RZ, LANK, LELB, LEYE, LHIP, LKNE, LSHO,
                                     LWRI, NECK, NOSE, RANK, REAR, RELB, REYE, RHIP, RKNE, RSHO,
                                     RWRI, LEAR, Pose)  # fmt: skip

SS = 2  # supersampling factor
# PIL fills canvas pixel j over [j, j + 1); an output pixel i (centre i) covers canvas pixels
# SS*i .. SS*i + SS - 1, so output coordinate u maps to canvas coordinate SS * u + SS / 2.
# With this mapping a mirrored pose rasterises to exactly the mirrored mask.
_HALF = SS / 2
# Labels the shading treats as their host region: thin details would otherwise be all rim.
_SHADING_GROUP = np.arange(LEVEL_STRIDE, dtype=np.uint8)
_SHADING_GROUP[[Part.FOLD_UPPER, Part.FOLD_LOWER, Part.EYE, Part.MOUTH, Part.NECKLINE]] = (
    Part.TORSO, Part.SKIRT, Part.FACE, Part.FACE, Part.NECK)
# The light comes from above and in front, in the image's plane of symmetry: a mirrored pose
# of a symmetric look renders to the mirrored image, so flip augmentation stays truthful.
_LIGHT = np.array([0.0, -0.6, 0.8])
_AMBIENT = 0.42
_DIFFUSE = (1.0 - _AMBIENT) / _LIGHT[2]  # a surface facing the camera gets exactly its colour


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
                [(ax + nx * ra, ay + ny * ra), (bx + nx * rb, by + ny * rb),
                 (bx - nx * rb, by - ny * rb), (ax - nx * ra, ay - ny * ra)], fill=label)  # fmt: skip
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
    """Geometry of one person in supersampled pixels, and the drawing of each part."""

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
        self.perp = (-self.axis[1], self.axis[0])  # towards the image's left... or right; symmetric use
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

    def leg(self, right: bool) -> None:
        c, s, app = self.c, self.s, self.app
        hip, knee, ank = (self.j[RHIP], self.j[RKNE], self.j[RANK]) if right else (self.j[LHIP], self.j[LKNE], self.j[LANK])
        fx = self.sy  # the foot points along the facing direction
        heel = _add(ank, (-fx * 0.02 * s, 0.024 * s))
        toe = _add(ank, (fx * 0.07 * s, 0.034 * s))
        shoe = Part.R_SHOE if right else Part.L_SHOE
        trousers = app.lower.kind == "trousers"
        label = Part.R_LEG if right else Part.L_LEG  # one label: no crease at the knee
        if trousers:  # trouser legs cover the shoe tops
            self.shoe(heel, toe, shoe)
            c.capsule(knee, _add(ank, (0, 0.014 * s)), self.r_knee, self.r_ankle, label, (False, True))
        else:
            c.capsule(knee, ank, self.r_knee, self.r_ankle, label, (False, True))
            self.shoe(heel, toe, shoe)
        c.capsule(hip, knee, self.r_thigh, self.r_knee, label)
        if app.lower.kind == "shorts":
            c.capsule(hip, _lerp(hip, knee, 0.45), self.r_thigh + 0.007 * s, self.r_thigh + 0.005 * s,
                      Part.R_SHORT if right else Part.L_SHORT)  # fmt: skip

    def shoe(self, heel, toe, label: int) -> None:
        s = self.s
        self.c.capsule(heel, toe, 0.028 * s, 0.024 * s, label)
        self.c.capsule(_add(heel, (0, 0.02 * s)), _add(toe, (0, 0.016 * s)), 0.009 * s, 0.009 * s, Part.SOLE)

    def pelvis(self) -> None:
        w_waist = self.width(0.08 + 0.03 * self.app.build)
        w_hip = self.width(0.09 + 0.03 * self.app.build)
        crotch = self.at(1.0)
        crotch = _add(crotch, self.axis, 0.07 * self.s)
        self.c.polygon([self.at(0.78, -w_waist), self.at(1.0, -w_hip), _add(self.at(1.0, -w_hip), self.axis, 0.05 * self.s),
                        crotch, _add(self.at(1.0, w_hip), self.axis, 0.05 * self.s), self.at(1.0, w_hip),
                        self.at(0.78, w_waist)], Part.PELVIS)  # fmt: skip

    def skirt(self) -> None:
        app, s = self.app, self.s
        length = {"skirt": 0.17, "long_skirt": 0.36, "dress": 0.22}[app.lower.kind]
        hem_y = self.mid_hip[1] + length * s
        # The hem spans the legs where they cross it, plus a flare.
        xs = []
        for a, b, r in ((RHIP, RKNE, self.r_thigh), (LHIP, LKNE, self.r_thigh), (RKNE, RANK, self.r_knee), (LKNE, LANK, self.r_knee)):
            (ax, ay), (bx, by) = self.j[a], self.j[b]
            t = min(max((hem_y - ay) / (by - ay), 0.0), 1.0) if by != ay else 0.0
            x = ax + (bx - ax) * t
            xs += [x - r, x + r]
        flare = (0.03 + 0.05 * (app.lower.kind == "long_skirt")) * s
        w_hip = self.width(0.105 + 0.03 * app.build)
        left, right = min(xs) - flare, max(xs) + flare
        top = self.at(0.78)
        pts = [self.at(0.78, -self.width(0.09 + 0.03 * app.build)), self.at(1.0, -w_hip), (left, hem_y),
               (right, hem_y), self.at(1.0, w_hip), self.at(0.78, self.width(0.09 + 0.03 * app.build))]  # fmt: skip
        # Keep the polygon's winding consistent whichever way ``perp`` points.
        if pts[1][0] > pts[4][0]:
            pts[2], pts[3] = pts[3], pts[2]
        self.c.polygon(pts, Part.SKIRT)
        for k in (0.3, 0.7):  # pleats
            self.c.line([_lerp(top, self.at(1.0), 0.5), (left + (right - left) * k, hem_y - 0.01 * s)], 0.005 * s, Part.FOLD_LOWER)

    # ---- torso, neck and arms ------------------------------------------------------------

    def torso(self) -> None:
        app, s, c = self.app, self.s, self.c
        b = app.build
        sho = math.hypot(self.j[LSHO][0] - self.j[RSHO][0], self.j[LSHO][1] - self.j[RSHO][1]) / 2
        extra = 0.01 * s if app.upper.kind == "jacket" else 0.0
        w_sho = max(self.width(0.118 + 0.02 * b), sho + 0.3 * self.r_uarm) + extra
        w_chest = self.width(0.105 + 0.025 * b) + extra
        w_waist = self.width(0.088 + 0.035 * b) + extra
        w_hip = self.width(0.095 + 0.03 * b) + extra
        hem = 1.1 if app.lower.kind != "dress" else 0.95
        # The shoulder line slopes from the neck down over the arm's top (the deltoid).
        levels = ((-0.13, w_sho * 0.45), (-0.08, w_sho * 0.8), (0.0, w_sho), (0.08, w_sho), (0.3, w_chest), (0.65, w_waist), (1.0, w_hip), (hem, w_hip))
        pts = [self.at(t, -w) for t, w in levels] + [self.at(t, w) for t, w in reversed(levels)]
        c.polygon(pts, Part.TORSO)
        facing = self.cy
        if facing > 0.3:
            self.neckline()
        if app.upper.kind == "jacket" and facing > 0.2:  # the open front shows the shirt
            w = 0.04 * s * facing
            c.polygon([self.at(-0.04, -w * 0.6), self.at(-0.04, w * 0.6), self.at(hem, w), self.at(hem, -w)], Part.INNER)
            c.line([self.at(0.0, -w * 0.9), self.at(0.45, -w * 1.3)], 0.007 * s, Part.FOLD_UPPER)
            c.line([self.at(0.0, w * 0.9), self.at(0.45, w * 1.3)], 0.007 * s, Part.FOLD_UPPER)
        logo = app.logo
        if (logo in ("chest", "big") and facing > 0.25) or (logo == "back" and facing < -0.25):
            big = logo != "chest"
            w = (0.06 if big else 0.022) * s * abs(facing)
            h = (0.06 if big else 0.022) * s
            ctr = self.at(0.3 if big else 0.22, 0.0 if big else 0.05 * s * facing * (1 if self.perp[0] > 0 else -1))
            c.polygon([_add(ctr, (-w, -h)), _add(ctr, (w, -h)), _add(ctr, (w, h)), _add(ctr, (-w, h))], Part.LOGO)
        # Folds: from the armpits towards the waist, and across the waist.
        fw = 0.005 * s
        for side in (-1, 1):
            c.line([self.at(0.22, side * w_chest * 0.85), self.at(0.5, side * w_waist * 0.35)], fw, Part.FOLD_UPPER)
        c.line([self.at(0.9, -w_waist * 0.5), self.at(0.86, w_waist * 0.3)], fw, Part.FOLD_UPPER)

    def neckline(self) -> None:
        c, s, kind = self.c, self.s, self.app.collar
        f = self.cy
        if self.app.upper.kind == "tank":
            c.ellipse(self.at(0.0), 0.06 * s * f, 0.05 * s, Part.NECKLINE)
        elif kind == "v":
            w = 0.035 * s * f
            c.polygon([self.at(-0.07, -w), self.at(-0.07, w), self.at(0.2)], Part.NECKLINE)
        else:
            c.ellipse(self.at(-0.05), 0.035 * s * f, 0.04 * s, Part.NECKLINE)
            if kind == "polo":
                w = 0.045 * s * f
                for side in (-1, 1):
                    c.polygon([self.at(-0.07, side * w * 0.4), self.at(-0.07, side * w * 1.1), self.at(0.06, side * w * 0.2)], Part.COLLAR)

    def neck(self) -> None:
        r = (0.027 + 0.006 * self.app.build) * self.s
        self.c.capsule(self.at(-0.02), _lerp(self.j[NECK], self.head, 0.6), r, r * 0.95, Part.NECK)

    def arm(self, right: bool) -> None:
        c, s, app = self.c, self.s, self.app
        sho, elb, wri = (self.j[RSHO], self.j[RELB], self.j[RWRI]) if right else (self.j[LSHO], self.j[LELB], self.j[LWRI])
        label = Part.R_ARM if right else Part.L_ARM  # one label: no crease at the elbow
        top = _add(sho, _unit(sho, elb), 0.3 * self.r_uarm)  # the arm hangs just below the shoulder line
        c.capsule(top, elb, self.r_uarm, self.r_elbow, label)
        c.capsule(elb, wri, self.r_elbow * 0.95, self.r_wrist, label, (False, False))
        u = _unit(elb, wri)
        c.capsule(wri, _add(wri, u, 0.045 * s), 0.021 * s, 0.018 * s, Part.R_HAND if right else Part.L_HAND)
        if app.upper.kind == "tshirt":
            c.capsule(_lerp(sho, elb, 0.16), _lerp(sho, elb, 0.45), self.r_uarm + 0.004 * s, self.r_uarm + 0.004 * s,
                      Part.R_SLEEVE if right else Part.L_SLEEVE)  # fmt: skip
        if app.bag == "handbag" and (app.bag_side < 0) == right:
            top = _add(wri, u, 0.035 * s)
            w, h = 0.05 * s, 0.085 * s
            c.line([_add(top, (-w * 0.5, 0.02 * s)), top, _add(top, (w * 0.5, 0.02 * s))], 0.008 * s, Part.STRAP)
            c.polygon([_add(top, (-w, 0.02 * s)), _add(top, (w, 0.02 * s)), _add(top, (w * 1.1, h)), _add(top, (-w * 1.1, h))], Part.BAG)

    # ---- bags ----------------------------------------------------------------------------

    def backpack(self) -> None:
        s = self.s
        ctr = _add(self.at(0.42), (-(self.depth_half + 0.05) * self.sy * s, 0.0))
        w = s * math.hypot(0.1 * self.cy, 0.06 * self.sy)
        h = 0.15 * s
        self.c.draw.rounded_rectangle((ctr[0] - w, ctr[1] - h, ctr[0] + w, ctr[1] + h), radius=0.035 * s, fill=Part.BAG)
        if self.cy < -0.3:  # from behind: the flap and pocket seams
            self.c.line([(ctr[0] - w * 0.8, ctr[1] + h * 0.2), (ctr[0] + w * 0.8, ctr[1] + h * 0.2)], 0.007 * s, Part.STRAP)

    def backpack_straps(self) -> None:
        w_sho = self.width(0.118)
        for side in (-1, 1):
            self.c.line([self.at(-0.04, side * w_sho * 0.55), self.at(0.5, side * w_sho * 0.8)], 0.028 * self.s, Part.STRAP)

    def shoulder_bag(self) -> None:
        s, side = self.s, self.app.bag_side
        hip = self.j[LHIP] if side > 0 else self.j[RHIP]
        sho = self.j[RSHO] if side > 0 else self.j[LSHO]
        out = _unit(self.mid_hip, hip) if abs(hip[0] - self.mid_hip[0]) > 1 else (1.0 if side > 0 else -1.0, 0.0)
        ctr = _add(_add(hip, out, 0.06 * s * abs(self.cy) + 0.03 * s), (0, 0.02 * s))
        self.c.line([_add(sho, (0, -0.015 * s)), ctr], 0.014 * s, Part.STRAP)
        w, h = 0.06 * s * max(abs(self.cy), 0.5), 0.055 * s
        self.c.draw.rounded_rectangle((ctr[0] - w, ctr[1] - h, ctr[0] + w, ctr[1] + h), radius=0.012 * s, fill=Part.BAG)

    # ---- head ----------------------------------------------------------------------------

    def hair_back(self) -> None:
        """Long hair or a ponytail: the part that falls behind the head."""
        hc, s = self.head, self.s
        f, g = math.cos(self.pose.head_yaw), math.sin(self.pose.head_yaw)
        rx = s * math.hypot(HEAD_RX * f, HEAD_RZ * g)
        if self.app.hair_style == "long":
            back = -g * rx * 0.35
            length = 0.2 * s
            self.c.polygon([(hc[0] + back - rx * 1.05, hc[1] - 0.02 * s), (hc[0] + back + rx * 1.05, hc[1] - 0.02 * s),
                            (hc[0] + back * 1.5 + rx * 1.15, hc[1] + length), (hc[0] + back * 1.5 - rx * 1.15, hc[1] + length)], Part.HAIR_BACK)  # fmt: skip
        else:  # ponytail
            top = (hc[0] - g * rx * 0.85, hc[1] - 0.01 * s)
            self.c.capsule(top, (top[0] - g * 0.01 * s, hc[1] + 0.13 * s), 0.02 * s, 0.012 * s, Part.HAIR_BACK)

    def head_part(self) -> None:
        c, s, app = self.c, self.s, self.app
        hc = self.head
        f, g = math.cos(self.pose.head_yaw), math.sin(self.pose.head_yaw)
        rx = s * math.hypot(HEAD_RX * f, HEAD_RZ * g) * (0.97 + 0.06 * app.build)
        ry = s * HEAD_RY
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
            c.ellipse((hc[0], hc[1] - 0.35 * ry), rx * 1.05, ry * 0.7, Part.HAT)
            c.polygon([(hc[0] - rx * 1.05, hc[1] - 0.35 * ry), (hc[0] + rx * 1.05, hc[1] - 0.35 * ry),
                       (hc[0] + rx * 1.05, hc[1] - 0.2 * ry), (hc[0] - rx * 1.05, hc[1] - 0.2 * ry)], Part.HAT)  # fmt: skip
            if f > -0.5:
                reach = 0.6 + 0.5 * max(f, 0.0) * (1 - abs(g))
                c.ellipse((hc[0] + g * 0.9 * rx, hc[1] - 0.22 * ry), rx * reach, 0.12 * ry, Part.BRIM)
        if ears and abs(g) > 0.6 and f < 0.5:  # the near ear in profile
            ear = self.j[REAR] if g > 0 else self.j[LEAR]
            c.ellipse(ear, 0.14 * rx, 0.2 * ry, Part.EAR)
        if f > 0.25:  # face details
            eye_r = max(0.8, 0.0065 * s)
            if -0.42 * g + 0.9 * f > 0.15:
                c.ellipse(self.j[LEYE], eye_r, eye_r, Part.EYE)
            if 0.42 * g + 0.9 * f > 0.15:
                c.ellipse(self.j[REYE], eye_r, eye_r, Part.EYE)
            mouth = _add(self.j[NOSE], (g * 0.004 * s, 0.026 * s))
            c.ellipse(mouth, 0.016 * s * f, 0.0045 * s, Part.MOUTH)
        if abs(g) > 0.5 and f > -0.2:  # the nose sticks out of a profile
            c.ellipse(self.j[NOSE], 0.011 * s, 0.013 * s, Part.FACE)


def _label_map(app: Appearance, pose: Pose) -> np.ndarray:
    """Paint every part far to near (module docstring); uint8 ``[H*SS, W*SS]`` labels."""
    canvas = _Canvas(*pose.size)
    body = _Body(app, pose, canvas)
    d = pose.depth
    facing = body.cy
    items: list[tuple[float, object]] = []
    # Legs first, the far one before the near one.
    right_near = d[RKNE] + d[RANK] > d[LKNE] + d[LANK]
    items.append((-10.0, lambda: body.leg(not right_near)))
    items.append((-9.0, lambda: body.leg(right_near)))
    items.append((-8.0, body.pelvis))
    if app.lower.kind in ("skirt", "long_skirt", "dress"):
        items.append((-7.0, body.skirt))
    items.append((-0.5, body.neck))
    items.append((0.0, body.torso))
    for right, joints in ((True, (RSHO, RELB, RWRI)), (False, (LSHO, LELB, LWRI))):
        # +0.07: an arm beside the torso is drawn over it unless well behind it.
        items.append((0.07 + float(d[list(joints)].mean()), lambda r=right: body.arm(r)))
    if app.bag == "backpack":
        items.append((-(body.depth_half + 0.05) * facing, body.backpack))
        if facing > 0.3:
            items.append((0.05, body.backpack_straps))
    elif app.bag == "shoulder":
        side = app.bag_side
        items.append((0.06 + 0.12 * side * -body.sy, body.shoulder_bag))
    if app.hair_style in ("long", "ponytail"):
        items.append((-4.0 if math.cos(pose.head_yaw) > 0.3 else 0.5, body.hair_back))
    items.append((1.0, body.head_part))
    items.sort(key=lambda item: item[0])
    for _, paint in items:
        paint()
    return np.asarray(canvas.image)


# ---- colour --------------------------------------------------------------------------------


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
_ALONG = ((_LIGHT[0] * np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) +
           _LIGHT[1] * np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])) / 8).astype(np.float32)  # fmt: skip


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
    labels = _label_map(app, pose)
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
        origin = (pose.joints[NECK, 0] * SS + _HALF, pose.joints[NECK, 1] * SS + _HALF)
        level = _pattern(g, ys[y0:y1], xs[:, x0:x1], origin, pose.scale * SS) * np.uint8(LEVEL_STRIDE)
        patterned = np.where(np.take(garment, crop) == which, patterned + level, patterned)
    # One gather of packed RGBA words; alpha is the person coverage.
    rgba = np.take(colours, patterned).view(np.uint8).reshape(crop.shape + (4,))
    size = ((x1 - x0) // SS, (y1 - y0) // SS)
    # Box-filter down to output pixels: alpha becomes the covered fraction, and as background
    # subpixels are black, colour / alpha is the mean colour of the person subpixels alone.
    small = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    alpha = small[..., 3]
    inside = alpha >= 128  # at least half of the subpixels are person
    # Shading at output resolution: it varies slowly inside a part and its rims are a pixel
    # wide either way. Each block's label is its largest (a mirror-symmetric choice).
    blocks = np.take(_SHADING_GROUP, crop).reshape(size[1], SS, size[0], SS).max(axis=(1, 3))
    shading = _shading(blocks, pose.scale)
    gain = shading * (255.0 / np.maximum(alpha, 64).astype(np.float32))
    colour = cv2.convertScaleAbs(small[..., :3] * gain[..., None])
    colour[~inside] = 0
    out[y0 // SS : y1 // SS, x0 // SS : x1 // SS] = colour
    mask[y0 // SS : y1 // SS, x0 // SS : x1 // SS] = inside
    return out, mask
