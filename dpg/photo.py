"""Edit the photo, not a thumbnail: the model's 128x64 result put back into the photo.

The model sees the person's box cut from the photo and resized to its size
(``dpg.pose.person.PersonCropper``); its output is that box again, at 128x64 by design (the
paper's resolution). ``PhotoPerson`` keeps what the cut threw away: the photo and a soft
person mask over the box at the photo's own pixels (mediapipe's segmentation, which ships in
the wheel). ``on_photo`` puts an edit back, keeping every pixel the edit does not change:

* **the person kept, the background new** (a background swap): the photo's person pixels,
  exactly where the mask is at least ``SOLID``, with a soft edge, over the new background
  brought to the box at the photo's pixel density. The result is the box.
* **the person new, the background the photo's** (clothing, pose, body parts): the model's
  person (``model_alpha``) brought to the box, over the photo whose old person was filled
  first (``PhotoPerson.empty``). The result is the whole photo: only pixels inside the
  old and the new person's masks change, so the box's edge leaves no seam.
* **both new**: the model's output brought to the box.

A background taken from a second photo is that photo's box, its person filled, resized to
the first photo's box.

Filling where the old person stood: ``bench/bench_photo.py --pictures`` compares, on the
street photos (``docs/photo-fill.png``), the model's decoded background (the same factors
with no joints: the decoder draws no one), OpenCV's Telea and Navier-Stokes inpainting and
OpenCV-contrib's shift-map inpainting (``cv2.xphoto``, He and Sun 2012). Telea and
Navier-Stokes draw streaks across a hole this large; shift-map copies real texture but also
whole blocks of wall or window into the middle of a pavement; the model's background is a
soft field of the right colours, the least visible where the new person does not cover it,
and costs nothing more (it is decoded in the same batch as the edit). It is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from dpg.keypoints import pose_mask
from dpg.pose.images import cut_box

# The photo's person pixels are kept exactly where its mask is at least SOLID; the edge is
# a ramp from EDGE (nothing of the person) to SOLID.
SOLID = 0.9
EDGE = 0.1
# The hole to fill: the old person's mask above EDGE, grown by this fraction of the box height
# (mediapipe's mask stops short of hair and loose clothes).
HOLE_GROW = 0.04
HOLE_SIDE = 512
# The model person's alpha (``model_alpha``): the pose mask's rim, a fraction of the model's
# height, and the difference (of 255) from the model's empty background that counts as drawn.
MODEL_RIM = 0.02
DRAWN = 16


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 or float32 ``[h, w(, c)]`` -> ``[height, width(, c)]``: bicubic when enlarging,
    area-averaging when shrinking (OpenCV: 5-20x PIL's speed at photo sizes)."""
    if image.shape[:2] == (height, width):
        return image
    shrink = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def alpha_of(mask: np.ndarray) -> np.ndarray:
    """Soft person mask (uint8 0-255, or float in [0, 1]) -> alpha float32 in [0, 1]: 0 up to
    ``EDGE``, 1 from ``SOLID`` (so the person's solid pixels are kept exactly)."""
    m = mask.astype(np.float32) / (255.0 if mask.dtype == np.uint8 else 1.0)
    return np.clip((m - EDGE) / (SOLID - EDGE), 0, 1)


def blend(back: np.ndarray, front: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 ``[h, w, 3]`` each, alpha ``[h, w]`` in [0, 1]: ``front`` where alpha is 1 and
    ``back`` where it is 0, exactly (OpenCV's ``blendLinear``: 20x numpy's speed on a
    4-megapixel box, and exact at both ends; a test checks it)."""
    a = np.ascontiguousarray(alpha, dtype=np.float32)
    return cv2.blendLinear(np.ascontiguousarray(back), np.ascontiguousarray(front), 1 - a, a)


def hole_weight(mask: np.ndarray) -> np.ndarray:
    """Where to fill behind a person: their mask ``[h, w]`` (uint8) above ``EDGE``, grown by
    ``HOLE_GROW`` of the height (mediapipe's mask stops short of hair, shoes and loose
    clothes), feathered over a few pixels: float32 ``[h, w]`` in [0, 1]. Worked out at a long
    side of at most ``HOLE_SIDE`` pixels and brought back (a 3-megapixel box took 1.4 s)."""
    h, w = mask.shape
    s = min(1.0, HOLE_SIDE / max(h, w))
    small = _resize(mask, max(1, round(h * s)), max(1, round(w * s))) if s < 1 else mask
    sh, sw = small.shape
    grow = max(3, int(HOLE_GROW * sh) | 1)
    hole = cv2.dilate((small > EDGE * 255).astype(np.uint8), np.ones((grow, grow), np.uint8))
    k = max(3, int(0.01 * max(sh, sw)) | 1)
    weight = np.maximum(cv2.GaussianBlur(cv2.dilate(hole, np.ones((k, k), np.uint8)).astype(np.float32), (k, k), 0), hole)
    return np.clip(cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1) if s < 1 else weight


@dataclass(frozen=True)
class PhotoPerson:
    """The one person of a photo, with what the model's crop threw away.

    Attributes:
        photo: uint8 ``[H, W, 3]``, upright (EXIF applied).
        crop: uint8 ``[h, w, 3]``, the model's view of the box.
        keypoints: float32 ``[18, 3]`` in the crop's pixels.
        box: ``(x0, y0, x1, y1)`` of the crop in the photo (may extend beyond it).
        mask: uint8 ``[y1-y0, x1-x0]`` person segmentation over the box at the photo's pixels
            (255 = person, 0 beyond the photo), or None when the detector does not segment.
    """

    photo: np.ndarray = field(repr=False)
    crop: np.ndarray = field(repr=False)
    keypoints: np.ndarray = field(repr=False)
    box: tuple[int, int, int, int]
    mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def box_size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box
        return y1 - y0, x1 - x0

    @cached_property
    def region(self) -> np.ndarray:
        """The box at the photo's pixels, uint8 ``[bh, bw, 3]``; beyond the photo its mirror
        image, blurred, as in the model's crop (``dpg.pose.images.cut_box``)."""
        return cut_box(self.photo, self.box)

    @cached_property
    def hole(self) -> np.ndarray:
        """``hole_weight`` of the person's mask, float32 ``[bh, bw]``."""
        if self.mask is None:
            raise ValueError("this person has no segmentation mask: find them with PoseDetector(segmentation=True)")
        return hole_weight(self.mask)

    def empty(self, backdrop: np.ndarray) -> np.ndarray:
        """``region`` with the person replaced by ``backdrop`` (uint8 ``[h, w, 3]``, the model's
        background of this box, any size) where ``hole`` says: the background behind them.

        The model's background is near the photo's colours but not at them (a pale or dark
        silhouette showed where the old person stood), so it is first moved to them: the
        difference photo - backdrop, known around the hole, is spread into it (a normalised
        Gaussian blur at ``HOLE_SIDE`` / 4 pixels) and added."""
        bh, bw = self.box_size
        s = min(1.0, (HOLE_SIDE / 4) / max(bh, bw))
        sh, sw = max(2, round(bh * s)), max(2, round(bw * s))
        photo = _resize(self.region, sh, sw).astype(np.float32)
        back_small = _resize(backdrop, sh, sw).astype(np.float32)
        known = (1 - _resize(self.hole, sh, sw).clip(0, 1)) ** 4  # only where no person is
        sigma = 0.15 * max(sh, sw)
        num = cv2.GaussianBlur((photo - back_small) * known[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(known, (0, 0), sigma)[..., None]
        shift = num / np.maximum(den, 1e-3)  # [sh, sw, 3] the colour correction
        back = np.clip(_resize(backdrop, bh, bw).astype(np.float32) + _resize(shift, bh, bw), 0, 255)
        return blend(self.region, np.rint(back).astype(np.uint8), self.hole)

    def backdrop(self, make) -> np.ndarray:
        """The model's background of this box, uint8 ``[h, w, 3]``: ``make()`` once, then kept
        (a photo is edited by one model; the app takes many backgrounds from one photo)."""
        if "backdrop_image" not in self.__dict__:  # frozen: kept beside the cached properties
            self.__dict__["backdrop_image"] = make()
        return self.__dict__["backdrop_image"]

    def paste(self, region: np.ndarray) -> np.ndarray:
        """A new box region uint8 ``[bh, bw, 3]`` -> the whole photo with it in place (the
        part of the box beyond the photo dropped)."""
        x0, y0, x1, y1 = self.box
        h, w = self.photo.shape[:2]
        out = self.photo.copy()
        out[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = region[max(-y0, 0) : min(y1, h) - y0, max(-x0, 0) : min(x1, w) - x0]
        return out


def model_alpha(keypoints: np.ndarray, image: np.ndarray, empty: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Alpha float32 ``size`` of the person the model drew in ``image`` (uint8 ``[h, w, 3]``,
    pose ``keypoints [18, 3]`` in its pixels), brought to ``size``.

    The pose mask (PG2's limb disks) is wider than the drawn person, and its rim showed the
    model's background as a pale halo on the photo; where the model drew someone, its output
    differs from ``empty`` (the same factors decoded with no joints). So: the pose mask shrunk
    by its rim (the body's core, kept whatever the colours), plus the pixels of the grown pose
    mask that differ from ``empty`` by ``DRAWN`` levels or more; softened."""
    h, w = image.shape[:2]
    pm = pose_mask(keypoints, h, w).astype(np.uint8)
    r = max(1, round(MODEL_RIM * h))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    core = cv2.erode(pm, disk).astype(np.float32)
    differs = np.abs(image.astype(np.int16) - empty.astype(np.int16)).max(-1).astype(np.float32)
    drawn = np.clip((differs - DRAWN) / DRAWN, 0, 1) * cv2.dilate(pm, disk)
    a = cv2.GaussianBlur(np.maximum(core, drawn), (3, 3), 0)
    return np.clip(_resize(a, *size), 0, 1)


def on_photo(
    person: PhotoPerson,
    model_image: np.ndarray | None,
    keypoints: np.ndarray,
    model_empty: np.ndarray | None,
    keep_person: bool,
    background: str | PhotoPerson = "photo",
    background_empty: np.ndarray | None = None,
) -> np.ndarray:
    """An edit of ``person``'s photo, at the photo's pixel density.

    Args:
        person: the photo's person (``PhotoPerson``).
        model_image: uint8 ``[h, w, 3]``, the model's output for the edited factors (None
            when the photo's person is kept on a photo's background: it is not shown).
        keypoints: ``[18, 3]`` the pose of ``model_image``, in its pixels.
        model_empty: uint8 ``[h, w, 3]``, the same factors decoded with no joints: where the
            model's person is (``model_alpha``) and what fills the old person's place (None
            when the photo's person is kept).
        keep_person: the photo's person stays (a background edit) rather than the model's.
        background: ``"photo"`` (the photo's own), ``"model"`` (``model_image``'s), or another
            ``PhotoPerson`` whose real background to take.
        background_empty: with a ``PhotoPerson`` background: its own factors decoded with no
            joints, to fill where its person stood.

    Returns:
        uint8: the whole photo ``[H, W, 3]`` when only the person changed (background
        ``"photo"``), else the box ``[bh, bw, 3]``.
    """
    bh, bw = person.box_size
    if isinstance(background, PhotoPerson):
        if background_empty is None:
            raise ValueError("a background from another photo needs background_empty")
        back = _resize(background.empty(background_empty), bh, bw)
    elif background == "model":
        back = _resize(model_image, bh, bw)
    elif background == "photo":
        if keep_person:
            return person.photo.copy()
        back = person.empty(model_empty)
    else:
        raise ValueError(f"background must be 'photo', 'model' or a PhotoPerson, not {background!r}")
    if keep_person:
        if person.mask is None:
            raise ValueError("keeping the photo's person needs its segmentation mask (PoseDetector(segmentation=True))")
        out = blend(back, person.region, alpha_of(person.mask))
    elif background == "model":
        out = back
    else:
        out = blend(back, _resize(model_image, bh, bw), model_alpha(keypoints, model_image, model_empty, (bh, bw)))
    return person.paste(out) if isinstance(background, str) and background == "photo" else out
