"""What the page shows: model-sized images made visible, skeleton overlays, the pose editor's
value and interpolation GIFs. Plain numpy and PIL; nothing here knows of Gradio.

The model works at 128x64 (tests at 32x16), too small to see or to grab a joint on, so images
are enlarged by an integer factor with nearest-neighbour sampling: every model pixel stays a
crisp square and a display pixel maps back to exactly one model pixel. The pose editor sends
the image at the model's size and lets the browser enlarge it (``image-rendering:
pixelated``); its SVG overlay works in model pixels, so dragged coordinates need no mapping.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from dpg.keypoints import JOINTS, draw_skeleton

DISPLAY_HEIGHT = 384  # about how tall the person is shown, in screen pixels
OUTPUT_DIR = Path(tempfile.gettempdir()) / "dpg-app-outputs"
OUTPUT_MAX_AGE_S = 3600


def display_scale(height: int) -> int:
    """The integer enlargement that shows an image of ``height`` about ``DISPLAY_HEIGHT`` tall."""
    return max(1, round(DISPLAY_HEIGHT / height))


def upscale(image: np.ndarray, k: int) -> np.ndarray:
    """uint8 ``[H, W, C]`` -> ``[k H, k W, C]``, each pixel a ``k x k`` square."""
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1) if k > 1 else image


def overlay(image: np.ndarray, keypoints, k: int | None = None) -> np.ndarray:
    """The image enlarged ``k`` times with its skeleton drawn at screen resolution."""
    k = k or display_scale(image.shape[0])
    kp = np.asarray(keypoints, dtype=np.float32).reshape(18, 3).copy()
    # Pixel centres at integers: model pixel x covers display pixels [k x, k x + k).
    kp[:, :2] = (kp[:, :2] + 0.5) * k - 0.5
    kp[kp[:, 2] <= 0.5] = 0
    return draw_skeleton(upscale(image, k), kp)


def data_url(image: np.ndarray) -> str:
    """uint8 ``[H, W, 3]`` -> a ``data:image/png;base64,...`` URL (a few kB at 128x64)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def editor_value(image: np.ndarray, keypoints) -> dict:
    """The pose editor's value: the image, its size and the keypoints ``[18][3]`` (hidden
    joints keep their coordinates with ``v = 0``), rounded for a small payload."""
    kp = np.asarray(keypoints, dtype=np.float32).reshape(18, 3)
    return {
        "image": data_url(image),
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "keypoints": [[round(float(x), 2), round(float(y), 2), int(v > 0.5)] for x, y, v in kp],
    }


def joint_label(j: int) -> str:
    return JOINTS[j].replace("_", " ")


def visible_joints(keypoints) -> list[str]:
    """Labels of the joints shown (the pose editor's checkbox group value)."""
    kp = np.asarray(keypoints, dtype=np.float32).reshape(18, 3)
    return [joint_label(j) for j in range(18) if kp[j, 2] > 0.5]


_pruned_at = 0.0  # when the folder was last cleared of old files
# Held while pruning and while a picture file is looked up, so that a picture shown again just
# as it turns an hour old is either refreshed before the pruning looks at it or written again
# after: never deleted between being handed to Gradio and Gradio copying it.
_folder_lock = threading.Lock()


def _prune(now: float) -> None:
    """Remove files older than an hour from the app's temporary folder, at most once a minute
    (every slider event writes a picture there: scanning the folder each time would grow slow)."""
    global _pruned_at
    with _folder_lock:
        if now - _pruned_at < 60:
            return
        _pruned_at = now
        for old in OUTPUT_DIR.iterdir():
            try:
                if now - old.stat().st_mtime > OUTPUT_MAX_AGE_S:
                    old.unlink()
            except OSError:  # removed by another worker meanwhile
                pass


def _output_path(stem: str, suffix: str) -> Path:
    """A new file in the app's temporary folder; files older than an hour there are removed,
    so a long-running app does not fill the disk."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    _prune(time.time())
    return OUTPUT_DIR / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"


def picture_file(image: np.ndarray) -> str:
    """uint8 ``[H, W, 3]`` -> the path of a PNG of it in the app's temporary folder, named by
    its content and written once: under a temporary name, then renamed into place.

    Why not hand the page the array: Gradio saves an array to a file named by its content and
    writes that file again, in place, each time the same picture is shown. When two visitors
    got the same picture at once (both clicked one example photo), one was being sent the file
    while the other's event truncated and rewrote it, and the first download broke ("Too
    little data for declared Content-Length"). A path is copied by Gradio the safe way (a
    temporary file renamed into place, never rewritten), and an identical picture here is
    not encoded again."""
    if image.dtype != np.uint8:  # a float picture would silently turn black in the cast
        raise TypeError(f"picture_file takes uint8 pictures, got {image.dtype}")
    image = np.ascontiguousarray(image)
    digest = hashlib.blake2b(repr(image.shape).encode(), digest_size=16)
    digest.update(image.tobytes())
    path = OUTPUT_DIR / f"picture-{digest.hexdigest()}.png"
    with _folder_lock:
        if path.exists():
            os.utime(path)  # shown again: kept for another hour
            return os.fspath(path)
    staging = _output_path(".picture", ".png.part")  # only for a new picture; prunes at most once a minute
    try:
        Image.fromarray(image).save(staging, format="PNG", compress_level=1)
        os.replace(staging, path)  # atomic: a reader sees no file or the whole file
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return os.fspath(path)


def write_gif(frames: np.ndarray, k: int = 1, fps: float = 8.0, bounce: bool = True) -> str:
    """Frames uint8 ``[N, H, W, 3]`` -> a looping GIF (enlarged ``k`` times; forth and back
    when ``bounce``) in a temporary folder; returns its path."""
    seq = list(frames) + (list(frames[-2:0:-1]) if bounce and len(frames) > 2 else [])
    images = [Image.fromarray(upscale(f, k)) for f in seq]
    path = _output_path("interpolation", ".gif")
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, optimize=False)
    return os.fspath(path)


def write_png(image: np.ndarray, stem: str = "dpg-edit") -> str:
    """uint8 ``[H, W, 3]`` -> a PNG in the same temporary folder; returns its path."""
    path = _output_path(stem, ".png")
    Image.fromarray(image).save(path, compress_level=3)
    return os.fspath(path)
