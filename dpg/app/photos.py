"""An uploaded photo -> the one person in it, cropped and encoded; the bundled example photos.

``PersonFinder.find`` reads any file a visitor may upload (``dpg.pose.images.load_image``:
grayscale, RGBA, CMYK, 16-bit, EXIF-rotated...), names it as the visitor knows it (not by
its temporary path), crops the one person in it at the model's size and encodes them. Every
refusal is a ``UserError`` whose message says what to do; the app shows it in the page.

The checks themselves (several people, no person, too few joints) are
``dpg.pose.person.PersonCropper``'s, shared with ``PersonGenerator.encode_photo``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dpg.errors import UserError
from dpg.photo import PhotoPerson
from dpg.pose.images import ImageSource, fit_within, load_image
from dpg.pose.person import PersonCropper

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"

# Steps of "fit to the photo" (``PersonGenerator.encode(..., refine=K)``) when the host does
# not give ``app.py --refine K``: on 300 held-out pedestrians 25 steps took the person's colour
# error from 3.00 to 2.31 CIELAB units, for 1 s more an upload on a 2-core Xeon with AMX and
# 4.6 s on a 2-core AVX2-only EPYC (bench_inference.py; README).
FIT_STEPS = 25


@dataclass(frozen=True)
class FoundPerson:
    """The person found in a photo: ``crop`` uint8 ``[H, W, 3]`` at the model's size,
    ``keypoints`` float32 ``[18, 3]`` in the crop, the encoded ``factors`` (batch of one),
    the photo's display ``name`` and its size ``(height, width)``, and the ``person`` with
    the photo itself (``dpg.photo.PhotoPerson``, for edits at the photo's resolution)
    and the steps that ``fitted`` the factors to it."""

    name: str
    crop: np.ndarray
    keypoints: np.ndarray
    factors: object
    photo_size: tuple[int, int]
    person: PhotoPerson | None = None
    fitted: int = 0  # refine steps that fitted ``factors`` to the photo (0: the encoders' own)


def display_name(source) -> str:
    """A short, Markdown-safe name for a photo (its file name, or "the photo")."""
    if isinstance(source, (str, os.PathLike)):
        name = re.sub(r"[^\w.\- ]", "_", Path(source).name)[:60]
        return name or "the photo"
    return "the photo"


class PersonFinder:
    """Finds and encodes the person in a photo; one instance per app, like the model.

    It holds ``workers`` croppers (default: ``DPG_PHOTO_WORKERS``, else one per core, at most
    ``MAX_WORKERS``), each with
    its own mediapipe graphs made on its first upload, and lends one to each upload: the
    graphs are not thread-safe, and one shared graph under a lock made every upload wait for
    the others (8 visitors: median 949 ms against 239 ms alone). The app lets as many photo
    events run at once as there are croppers."""

    MAX_WORKERS = 4

    def __init__(self, detector=None, workers: int | None = None, store: "PhotoStore | None" = None, refine: int = 0):
        self.store = store or PhotoStore()
        # Fitting an uploaded person's embeddings to the photo (PersonGenerator.encode's
        # refine): truer colours for 1-5 s more an upload on 2 cores. Each visitor chooses
        # ("fit to the photo"); a host's app.py --refine K makes it the default, with K steps.
        self.fit_by_default = refine > 0
        self.fit_steps = int(refine) or FIT_STEPS
        default = int(os.environ.get("DPG_PHOTO_WORKERS", "0")) or min(self.MAX_WORKERS, os.cpu_count() or 1)
        n = workers or (1 if detector is not None else default)
        self.workers = max(1, int(n))
        self._idle: queue.Queue = queue.Queue()
        for _ in range(self.workers):
            self._idle.put(PersonCropper(detector))

    @contextlib.contextmanager
    def _lend(self):
        cropper = self._idle.get()  # waits while every cropper is busy
        try:
            yield cropper
        finally:
            self._idle.put(cropper)

    def steps(self, fit: bool | None = None) -> int:
        """The refine steps of an upload: ``fit_steps`` if ``fit`` (None: the host's default), else 0."""
        return self.fit_steps if (self.fit_by_default if fit is None else bool(fit)) else 0

    def find(self, gen, source: ImageSource, fit: bool | None = None) -> FoundPerson:
        """Any photo -> ``FoundPerson`` at ``gen``'s size, its embeddings fitted to the photo
        when ``fit`` (``steps``). Raises ``UserError`` for a file that is not an image, a photo
        too small or too large, with no person or several."""
        if source is None:
            raise UserError("no photo was uploaded")
        name = display_name(source)
        try:
            photo = load_image(source)
        except UserError as err:  # name the file as the visitor knows it, not by its temp path
            raise UserError(str(err).replace(os.fspath(source), name) if isinstance(source, (str, os.PathLike)) else str(err)) from None
        with self._lend() as cropper:
            found = cropper.find(photo, (gen.height, gen.width), name)
        crop, kp = found.crop, found.keypoints
        person = PhotoPerson(photo, crop, kp, found.box, found.box_mask) if found.box_mask is not None else None
        steps = self.steps(fit)
        return FoundPerson(name, crop, kp, gen.encode(crop[None], kp[None], steps), photo.shape[:2], person, steps)


# The page shows photo edits on a copy of the photo at most this tall (the picture is about
# 400 screen pixels tall and drawn pixelated, so a copy near that size is shown about 1:1);
# "full resolution" renders the photo itself.
PREVIEW_HEIGHT = 400


class PhotoStore:
    """The uploaded photos of every session, kept on the server (a session holds only a key:
    ``gr.State`` copies its value, and a photo is megabytes). The ``capacity`` most recently
    used are kept, each with a preview copy for the page (``PREVIEW_HEIGHT``)."""

    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[PhotoPerson, PhotoPerson]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, person: PhotoPerson) -> str:
        key = uuid.uuid4().hex
        preview = shrink(person, PREVIEW_HEIGHT)
        with self._lock:
            self._items[key] = (person, preview)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str | None, full: bool = False) -> PhotoPerson | None:
        """The photo under ``key`` (its preview unless ``full``), or None once forgotten."""
        with self._lock:
            item = self._items.get(key) if key else None
            if item is not None:
                self._items.move_to_end(key)
        return None if item is None else item[0 if full else 1]


def shrink(person: PhotoPerson, height: int) -> PhotoPerson:
    """``person`` with the photo at most ``height`` tall and twice that wide (box and mask
    scaled alike)."""
    h, w = person.photo.shape[:2]
    side = min(max(h, w), max(1, round(max(h, w) * height / h)), 2 * height)
    if side >= max(h, w):
        return person
    photo = fit_within(person.photo, side)
    s = photo.shape[0] / h
    x0, y0, x1, y1 = person.box
    box = (round(x0 * s), round(y0 * s), max(round(x1 * s), round(x0 * s) + 1), max(round(y1 * s), round(y0 * s) + 1))
    mask = cv2.resize(person.mask, (box[2] - box[0], box[3] - box[1]), interpolation=cv2.INTER_AREA)
    return PhotoPerson(photo, person.crop, person.keypoints, box, mask)


def example_photos() -> list[str]:
    """The bundled example photos (``assets/examples``): the full-body street photos first
    (what a newcomer clicks first, and what the model edits best), then the portraits."""
    if not EXAMPLES.is_dir():
        return []
    photos = [p for p in EXAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return [str(p) for p in sorted(photos, key=lambda p: (not p.name.startswith("street-"), p.name))]
