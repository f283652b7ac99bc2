"""``dpg keypoints``: photos -> COCO-18 keypoints and a crop box, as JSON and overlays.

One photo gives one JSON object, several a list in argument order::

    {"joints": [18 names], "keypoints": [[x, y, visible], ... 18], "box": [x0, y0, x1, y1]}

in the photo's pixels (pixel centres at integers; the box in ``PIL.Image.crop`` edges). With
several photos a photo that fails is reported on stderr, its entry is ``null`` and the exit
code is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

import numpy as np
from PIL import Image, ImageDraw

from dpg.errors import UserError
from dpg.keypoints import draw_skeleton
from dpg.pose.detector import BOX_PAD, PoseDetector
from dpg.pose.images import load_image
from dpg.pose.person import PersonCropper

ASPECTS = {"market": 0.5, "deepfashion": 1.0}


def _aspect(text: str) -> float:
    """``W:H`` (``1:2``), a number (``0.5``) or a dataset name -> width / height."""
    try:
        if text.lower() in ASPECTS:
            return ASPECTS[text.lower()]
        if ":" in text:
            w, h = (float(v) for v in text.split(":"))
            value = w / h
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        value = float("nan")
    if not 0.05 <= value <= 20:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is no aspect ratio; use W:H such as 1:2, or market / deepfashion")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "keypoints",
        help="find the person in photos: COCO-18 keypoints and a crop box (JSON)",
        description="Find the person in each photo with mediapipe's pose model (one person per photo) and "
        "print COCO-18 keypoints and a crop box in the photo's pixels as JSON.",
    )
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, WebP, TIFF, ...)")
    p.add_argument("--json", metavar="OUT", help="write the JSON here instead of printing it")
    p.add_argument(
        "--overlay",
        metavar="OUT.png",
        help="draw the skeleton and box over the photo; with several photos put {stem} in the name, e.g. 'overlays/{stem}.png'",
    )
    p.add_argument(
        "--aspect",
        type=_aspect,
        default=0.5,
        metavar="W:H",
        help="crop box aspect: 1:2 for Market-1501 (default), 1:1 for DeepFashion",
    )
    p.add_argument(
        "--pad",
        type=float,
        default=None,
        metavar="F",
        help="box margin as a fraction of the person's size (default 0.1)",
    )
    p.set_defaults(func=run)


def _overlay_paths(template: str | None, photos: list[str]) -> list[str | None]:
    if template is None:
        return [None] * len(photos)
    if len(photos) == 1:
        return [template.replace("{stem}", _stem(photos[0]))]
    if "{stem}" not in template:
        raise UserError(f"with {len(photos)} photos, --overlay needs {{stem}} in its name, e.g. 'overlays/{{stem}}.png'")
    paths = [template.replace("{stem}", _stem(p)) for p in photos]
    if len(set(paths)) < len(paths):
        raise UserError("two photos share a file name, so their --overlay files would collide; rename one")
    return paths


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def draw_overlay(photo: np.ndarray, detection) -> np.ndarray:
    """The photo with the skeleton and the crop box drawn over it, uint8 ``[H, W, 3]``."""

    img = Image.fromarray(draw_skeleton(photo, detection.keypoints))
    x0, y0, x1, y1 = detection.box
    width = max(1, round(max(img.size) / 256))
    ImageDraw.Draw(img).rectangle([x0, y0, x1 - 1, y1 - 1], outline=(255, 255, 0), width=width)
    return np.asarray(img)


def _save_png(path: str, image: np.ndarray) -> None:

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        Image.fromarray(image).save(path, format="PNG")
    except OSError as err:
        raise UserError(f"cannot write {path}: {err}") from None


def _dumps(value) -> str:
    """JSON with one line per keypoint row instead of one per number."""
    text = json.dumps(value, indent=1)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text)


def run(args: argparse.Namespace) -> int:

    pad = BOX_PAD if args.pad is None else args.pad
    if not 0 <= pad <= 2:
        raise UserError(f"--pad {pad} is out of range; use a fraction such as 0.1")
    overlays = _overlay_paths(args.overlay, args.photos)
    results: list[dict | None] = []
    failed = 0
    with PoseDetector() as detector:
        people = PersonCropper(detector)  # group photos are refused here as in the app
        for path, overlay in zip(args.photos, overlays, strict=True):
            try:
                photo = load_image(path)
                people.refuse_groups(photo, path)
                detection = detector.detect(photo, aspect=args.aspect, pad=pad, name=path)
                people.refuse_groups(photo, path, detection.keypoints)
            except UserError as err:
                if len(args.photos) == 1:
                    raise
                print(f"dpg keypoints: error: {err}", file=sys.stderr)
                results.append(None)
                failed += 1
                continue
            results.append(detection.to_json())
            if overlay:
                _save_png(overlay, draw_overlay(photo, detection))
    text = _dumps(results[0] if len(results) == 1 else results)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        except OSError as err:
            raise UserError(f"cannot write {args.json}: {err}") from None
    else:
        print(text)
    return 1 if failed else 0
