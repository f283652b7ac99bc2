"""Photo -> COCO-18 keypoints with mediapipe's pose model, and a crop box for the generator.

The paper (section 4, and PG2 before it) takes keypoints from OpenPose's COCO model; a user
of the editor has a photo instead. mediapipe's legacy ``solutions.pose`` with
``model_complexity=1`` is the one pose model whose weights ship inside a pip wheel
(mediapipe 0.10.21; complexities 0 and 2 would download theirs), so it runs offline.

What mediapipe needs, learned on the 20 Market-1501 crops of ``bench/bench_keypoints.py`` and
on skimage's astronaut and matplotlib's Grace Hopper portraits:

* its person detector sees a 224x224 letterbox of the whole input and misses people who fill
  the frame: on tight 64x128 pedestrian crops it found 9 of 20 as they are, 18 with the crop
  centred on a black square canvas twice the crop's height (a "context" of 2);
* but zoomed out like that, a head-and-shoulders portrait is taken for a whole small person
  (the astronaut's collar ring became her shoulders and her hips landed on her chest).
  So a photo is first tried as it is (context 1, on a square canvas, which also keeps
  mediapipe's landmark projection exact) and then with context 2; a photo much taller than
  wide (``TALL``: 3:2 or more, as a pedestrian crop is) is tried in the other order;
* every photo is resized (Lanczos) so its long side is ``WORK_SIDE`` pixels first, and the
  joints are mapped back to the photo's pixels. mediapipe resamples its inputs bilinearly
  without antialiasing, so its output depended on the photo's resolution: the astronaut at
  1024 px got hips and a wrist that are not in the picture, and at 3000 px joints 55 px away
  from those at 512 px. Resized first, any size agrees with 512 px within a few pixels; tiny
  crops are upscaled the same way (a 64x128 Market crop becomes 256x512).

Real pedestrian crops (PETA) needed two more things: zooms of 1.5 and 3 after those two
(``EXTRA_CONTEXTS``), and, where no zoom finds anyone, a second pass at a lower detector
threshold over a contrast-stretched copy and then the photo as it is (``FALLBACK_*``), whose
find counts only where the mirror image gives the same body (``_agrees``): a low-threshold
find that did not was the one wrong pose on the annotated Market crops. Over all 16,602 PETA
crops the app's finder (``dpg.pose.person``) now finds the person in about nine of ten.

mediapipe's legacy pose solution finds **one person** per photo: with several people in the
frame it returns the one its detector is surest of, not necessarily the largest (with the
astronaut and Grace Hopper side by side it took Grace even at half the astronaut's size).
Crop the photo to the person you want first. It finds people seen from behind or on
bicycles less reliably (one of the 20 annotated Market crops is still missed).
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from dpg.errors import UserError
from dpg.keypoints import JOINTS
from dpg.pose.formats import MEDIAPIPE_LANDMARKS, MEDIAPIPE_THRESHOLD, mediapipe_to_keypoints
from dpg.pose.images import ImageSource, load_image, resize

# Canvas side as a multiple of the photo's long side, tried in order until a person is found.
CONTEXTS = (1.0, 2.0)
# Tried after those where they find no one: real pedestrian crops (PETA) whose people the
# detector's anchors miss at both zooms (GRID 18 -> 20, CAVIAR 8 -> 13, i-LID 22 -> 26 of 40).
# Last, not first: a zoom of 3 finds Market's crops but places their joints worse (mean error
# on the 20 annotated crops 5.2 px with it first, 3.1 px with the order above).
EXTRA_CONTEXTS = (1.5, 3.0)
# Where no context finds a person, a second pass over a contrast-stretched photo (1% cut at
# both ends) with this detector threshold: dark, low-contrast and blurry pedestrian crops
# (PETA's GRID, CAVIAR4REID, i-LID) score under mediapipe's default 0.5. On 40 crops each of
# GRID / CAVIAR4REID / i-LID / TownCentre: 20/13/26/34 found with the first pass alone,
# 28/37/38/40 with the second alone at 0.2.
FALLBACK_CONFIDENCE = 0.2
# A find of that pass counts only where the mirror image gives the same body (``_agrees``).
# It sees the stretched photo, then (second variant) the photo as it is.
FALLBACK_VARIANTS = 2
# A photo at least this much taller than wide is a person crop the person fills: the
# zoomed-out canvas is tried first (18 of the 20 Market crops found, against 9 as they are).
TALL = 1.5
# Every photo is resized so that its long side is this many pixels before detection.
WORK_SIDE = 512
# Fewer pixels than this on a side cannot show a person mediapipe could find.
MIN_SIDE = 16
# Box aspect ratios (width / height) of the paper's datasets.
MARKET_ASPECT = 0.5  # 64x128
DEEPFASHION_ASPECT = 1.0  # 256x256
# Margin around the joints, as a fraction of the person's joint extent. The Market crops leave
# a median 0.09 of it above the top joint and 0.12 below the bottom one (12936 annotations).
BOX_PAD = 0.1

NO_PERSON = (
    "No person found in the photo{where}. Use a photo of one person, upright and mostly in the "
    "frame, with the head visible; crop it around the person if they are small or among others"
)


@dataclass(frozen=True)
class Detection:
    """One person found in a photo.

    Attributes:
        keypoints: float32 ``[18, 3]`` ``(x, y, v)`` in the photo's pixels (dpg's convention).
        box: ``(x0, y0, x1, y1)`` integer pixel edges of a crop of the requested aspect ratio
            around the person (``PIL.Image.crop`` convention; may extend beyond the photo).
        score: mean mediapipe visibility of the 17 joints dpg takes from it, in [0, 1]
            (the legacy API reports no detection score).
        landmarks: float32 ``[33, 3]`` mediapipe's own landmarks ``(x, y, visibility)`` in
            the photo's pixels, for callers that want hands, heels or toes.
        mask: float32 ``[H, W]`` in [0, 1], mediapipe's person segmentation at the photo's
            pixels, where the detector was built with ``segmentation=True``; else None.
    """

    keypoints: np.ndarray
    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray
    mask: np.ndarray | None = None

    def to_json(self) -> dict:
        """The documented JSON object: joint names, ``[x, y, visible]`` rows and the box."""
        return {
            "joints": list(JOINTS),
            "keypoints": [[round(float(x), 2), round(float(y), 2), int(v > 0)] for x, y, v in self.keypoints],
            "box": [int(v) for v in self.box],
        }


# mediapipe's 33 landmarks in the mirror image: left and right exchanged.
MIRROR = (0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23, 26, 25, 28, 27, 30, 29, 32, 31)
# Body landmarks (shoulders to ankles) compared between a find and its mirror image, and how
# far apart they may lie, as a fraction of the body's height.
BODY = tuple(range(11, 17)) + tuple(range(23, 29))
MIRROR_TOLERANCE = 0.3


def _agrees(lm: np.ndarray, mirrored: np.ndarray, width: int) -> bool:
    """Whether landmarks ``[33, 3]`` and those found in the mirrored photo (in its pixels)
    place the body alike once mapped back."""
    back = mirrored[list(MIRROR)].copy()
    back[:, 0] = width - 1 - back[:, 0]
    body = list(BODY)
    both = (lm[body, 2] > 0.5) & (back[body, 2] > 0.5)
    if both.sum() < 4:
        return False
    a, b = lm[body][both, :2], back[body][both, :2]
    height = max(float(np.ptp(a[:, 1])), 1.0)
    return float(np.median(np.hypot(*(a - b).T))) < MIRROR_TOLERANCE * height


def box_for(
    keypoints: np.ndarray,
    aspect: float = MARKET_ASPECT,
    pad: float = BOX_PAD,
    image_size: tuple[int, int] | None = None,
) -> tuple[int, int, int, int]:
    """A crop box of ``aspect`` (width / height) around a person's visible joints.

    The joints' extent grows by ``pad`` times its larger side on every side, then along its
    short side to the aspect ratio, centred on the joints. Given the photo's
    ``(height, width)``, the box is shifted to lie inside the photo where it fits; where it
    is larger than the photo it stays centred on the person (crop with padding then).

    Returns:
        ``(x0, y0, x1, y1)`` integer pixel edges (``PIL.Image.crop`` convention).

    Raises:
        ValueError: no visible joint.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    visible = kp[:, 2] > 0
    if not visible.any():
        raise ValueError("box_for needs at least one visible joint")
    # In PIL's edge coordinates pixel i spans [i, i + 1), so a joint at centre x sits at x + 0.5.
    lo = kp[visible, :2].min(axis=0) + 0.5
    hi = kp[visible, :2].max(axis=0) + 0.5
    extent = hi - lo
    margin = pad * max(float(extent.max()), 1.0)
    w, h = extent + 2 * margin
    h = max(h, w / aspect)
    h_int = max(1, round(h))
    w_int = max(1, round(h_int * aspect))
    cx, cy = (lo + hi) / 2
    x0, y0 = round(cx - w_int / 2), round(cy - h_int / 2)
    if image_size is not None:
        img_h, img_w = image_size
        if w_int <= img_w:
            x0 = min(max(x0, 0), img_w - w_int)
        if h_int <= img_h:
            y0 = min(max(y0, 0), img_h - h_int)
    return (x0, y0, x0 + w_int, y0 + h_int)


class PoseDetector:
    """mediapipe's legacy pose solution wrapped for single photos.

    The mediapipe graph is created on first use (about a second) and reused; ``detect`` is
    serialised by a lock, as the graph is not safe to call from several threads (Gradio runs
    handlers in a pool). ``close()`` or a ``with`` block frees it.

    Args:
        visibility_threshold: a landmark with mediapipe visibility below this is missing.
        min_detection_confidence: mediapipe's person-detector threshold.
    """

    def __init__(
        self,
        visibility_threshold: float = MEDIAPIPE_THRESHOLD,
        min_detection_confidence: float = 0.5,
        segmentation: bool = False,
    ):
        self.visibility_threshold = visibility_threshold
        self.min_detection_confidence = min_detection_confidence
        self.segmentation = segmentation
        self._graphs: dict[float, object] = {}
        self._lock = threading.Lock()

    def _graph(self, confidence: float | None = None):
        confidence = self.min_detection_confidence if confidence is None else confidence
        if confidence not in self._graphs:
            try:
                from mediapipe.python.solutions import pose as mp_pose
            except ImportError as err:
                raise UserError(f"photo keypoints need mediapipe: pip install mediapipe==0.10.21 ({err})") from None
            # model_complexity=1: the only pose model inside the wheel (0 and 2 download).
            self._graphs[confidence] = mp_pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=self.segmentation,
                min_detection_confidence=confidence,
            )
        return self._graphs[confidence]

    def close(self) -> None:
        with self._lock:
            for graph in self._graphs.values():
                graph.close()
            self._graphs = {}

    def __enter__(self) -> PoseDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def landmarks(self, image: np.ndarray, fallback: bool = True) -> np.ndarray | None:
        """mediapipe's 33 landmarks of uint8 RGB ``[H, W, 3]``, in its pixels, or None.
        ``fallback=False`` skips the second, low-threshold pass (``FALLBACK_CONFIDENCE``).

        Returns float32 ``[33, 3]`` ``(x, y, visibility)`` with pixel centres at integers.
        """
        found = self._find(image, fallback)
        return None if found is None else found[0]

    def _find(self, image: np.ndarray, fallback: bool = True) -> tuple[np.ndarray, np.ndarray | None] | None:
        """``(landmarks [33, 3], mask [H, W] or None)`` in the photo's pixels, or None."""
        height, width = image.shape[:2]
        long_side = max(height, width)
        # One working size for every photo: see the module docstring.
        scale = WORK_SIDE / long_side
        h_s, w_s = max(1, round(height * scale)), max(1, round(width * scale))
        scaled = resize(image, h_s, w_s)
        contexts = (CONTEXTS[::-1] if height >= TALL * width else CONTEXTS) + EXTRA_CONTEXTS
        for context in contexts:
            found = self._process(scaled, self.min_detection_confidence, context, (height, width))
            if found is not None:
                return found
        if not (fallback and FALLBACK_CONFIDENCE < self.min_detection_confidence):
            return None
        stretched = np.asarray(ImageOps.autocontrast(Image.fromarray(scaled), cutoff=1))
        for pixels, context in itertools.product(FALLBACK_VARIANTS and (stretched, scaled)[:FALLBACK_VARIANTS], contexts):
            found = self._process(pixels, FALLBACK_CONFIDENCE, context, (height, width))
            if found is None:
                continue
            # A low-threshold find must agree with itself in the mirror image: on the 20
            # annotated Market crops the one wrong pose it found (40 px off) did not.
            flipped = pixels[:, ::-1]
            for c in (context, *(c for c in contexts if c != context)):
                mirror = self._process(flipped, FALLBACK_CONFIDENCE, c, (height, width))
                if mirror is not None:
                    break
            if mirror is not None and _agrees(found[0], mirror[0], width):
                return found
        return None

    def _process(self, pixels: np.ndarray, confidence: float, context: float, size: tuple[int, int]):
        """One mediapipe call on ``pixels`` (the photo at the working size) centred on a black
        square canvas ``context`` times its long side: ``(landmarks, mask)`` in the photo's
        pixels ``size`` ``(H, W)``, or None."""
        height, width = size
        h_s, w_s = pixels.shape[:2]
        side = math.ceil(context * max(h_s, w_s))
        oy, ox = (side - h_s) // 2, (side - w_s) // 2
        canvas = np.zeros((side, side, 3), np.uint8)  # black, as mediapipe's letterbox
        canvas[oy : oy + h_s, ox : ox + w_s] = pixels
        with self._lock:
            result = self._graph(confidence).process(canvas)
        if result.pose_landmarks is None:
            return None
        lm = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], np.float32)
        # mediapipe's [0, 1] spans the canvas' pixel edges; ours puts pixel centres at
        # integers. Canvas -> scaled photo -> photo, one axis at a time.
        lm[:, 0] = (lm[:, 0] * side - ox) * (width / w_s) - 0.5
        lm[:, 1] = (lm[:, 1] * side - oy) * (height / h_s) - 0.5
        mask = None
        if self.segmentation and result.segmentation_mask is not None:
            # [side, side] on the canvas -> the scaled photo's region -> the photo's pixels
            seg = np.asarray(result.segmentation_mask, np.float32)[oy : oy + h_s, ox : ox + w_s]
            mask = np.asarray(Image.fromarray(seg, mode="F").resize((width, height), Image.BILINEAR))
            mask = np.clip(mask, 0, 1)
        return lm, mask

    def detect(
        self,
        image: ImageSource,
        aspect: float = MARKET_ASPECT,
        pad: float = BOX_PAD,
        name: str | None = None,
    ) -> Detection:
        """Find the person in a photo.

        Args:
            image: anything ``load_image`` accepts (a uint8 ``[H, W, 3]`` array, a path...).
            aspect: the crop box's width / height: 0.5 for Market-1501, 1 for DeepFashion.
            pad: the box's margin, see ``box_for``.
            name: how error messages call the photo (defaults to its path, if given one).

        Returns:
            A ``Detection`` in the photo's pixels (after EXIF rotation).

        Raises:
            UserError: not an image, too small, or no person found.
        """
        if name is None and isinstance(image, (str, os.PathLike)):
            name = os.fspath(image)
        photo = load_image(image)
        height, width = photo.shape[:2]
        where = f" {name}" if name else ""
        if min(height, width) < MIN_SIDE:
            raise UserError(
                f"The photo{where} is {width}x{height} pixels, too small to find a person in; use one at "
                f"least {MIN_SIDE} pixels on each side (a person crop is best at 64x128 or more)"
            )
        found = self._find(photo)
        if found is None:
            raise UserError(NO_PERSON.format(where=where))
        lm, mask = found
        keypoints = mediapipe_to_keypoints(lm, self.visibility_threshold, image_size=(height, width))
        if not (keypoints[:, 2] > 0).any():
            raise UserError(NO_PERSON.format(where=where))
        taken = [MEDIAPIPE_LANDMARKS.index(j) for j in JOINTS if j in MEDIAPIPE_LANDMARKS]
        return Detection(
            keypoints=keypoints,
            box=box_for(keypoints, aspect, pad, image_size=(height, width)),
            score=float(lm[taken, 2].mean()),
            landmarks=lm,
            mask=mask,
        )
