"""Any photo a user has -> a uint8 ``[H, W, 3]`` RGB array, and person crops out of it.

``load_image`` takes a path, bytes, a file object, a PIL image or an array, and accepts what
cameras, phones and editors write: RGB, RGBA / LA / palette with transparency (composited on
white), grayscale, 1-bit, CMYK, 16-bit and float (scaled to 8 bits), EXIF-rotated JPEGs
(turned upright, so coordinates refer to the photo as viewers show it). Anything else
(not an image, a truncated or corrupt file, no pixels, more than ``MAX_PIXELS``) raises
``dpg.errors.UserError`` with a message that says which file and what to do.

``crop_person`` cuts a detection's box out of a photo at the model's resolution and maps the
keypoints along, padding with a blurred mirror image where the box leaves the photo.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from dpg.errors import UserError

# Below Pillow's own decompression-bomb warning (~89.5 MP), above any camera's default output.
MAX_PIXELS = 80_000_000
# A photo of a person is never a strip: panoramas reach about 4:1, a pedestrian crop 1:3.
# Longer strips are refused before any native code sees them: OpenCV inside mediapipe asserts
# (and ends the process) on a side of 32,767 pixels or more (a 6 KB 32768x64 PNG did).
MAX_ASPECT = 8.0
# Every side is at most this after loading (shrunk, pixel areas averaged) -- far above any camera's output
# and below OpenCV's SHRT_MAX limit, so no photo can reach the native code at a size it refuses.
MAX_SIDE = 16_384

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Load a photo as uint8 ``[H, W, 3]`` RGB.

    Args:
        source: a path, the file's bytes, a binary file object, a ``PIL.Image.Image``, or an
            array ``[H, W]`` / ``[H, W, 1|3|4]`` (uint8, uint16, bool, float in [0, 1]; see
            ``_to_uint8`` for other ranges). A uint8 ``[H, W, 3]`` array is returned as is.
        max_pixels: refuse larger images before decoding them.

    Raises:
        UserError: missing/empty file, not an image, truncated or corrupt, no pixels, too
        many pixels, an unsupported colour mode.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels)
    if isinstance(source, Image.Image):
        name, im = "the image", source
    else:
        name, stream = _open(source)
    try:
        if not isinstance(source, Image.Image):
            im = Image.open(stream)
        _check_size(im, name, max_pixels)
        im.load()
    except UserError:
        raise
    except Image.DecompressionBombError:  # Pillow refuses before we can read the size
        raise UserError(f"{name} has more than the {max_pixels / 1e6:.0f} megapixels dpg accepts; downscale it first") from None
    except UnidentifiedImageError:
        raise UserError(f"{name} is not an image Pillow can read; use a JPEG, PNG, WebP, BMP, TIFF or GIF photo") from None
    except Exception as err:  # Pillow's decoders raise OSError, SyntaxError, ValueError, EOFError...
        raise UserError(f"{name} is truncated or corrupt and cannot be decoded ({err}); re-export or re-download it") from err
    return fit_within(_to_rgb(_upright(im), name))


def _open(source) -> tuple[str, BinaryIO]:
    """A display name and a readable binary stream for a path, bytes or file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, data = "the uploaded data", bytes(source)
    elif hasattr(source, "read"):
        name, data = str(getattr(source, "name", "the uploaded file")), source.read()
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if not os.path.exists(name):
            raise UserError(f"{name}: no such file")
        if os.path.isdir(name):
            raise UserError(f"{name} is a directory, not a photo")
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as err:
            raise UserError(f"{name} cannot be read: {err.strerror}") from None
    else:
        raise TypeError(f"cannot load an image from a {type(source).__name__}")
    if not data:
        raise UserError(f"{name} is empty (0 bytes)")
    return name, io.BytesIO(data)


def _check_size(im: Image.Image, name: str, max_pixels: int) -> Image.Image:
    width, height = im.size
    if width < 1 or height < 1:
        raise UserError(f"{name} has no pixels ({width}x{height})")
    _check_aspect(width, height, name)
    if width * height > max_pixels:
        raise UserError(
            f"{name} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), more than "
            f"the {max_pixels / 1e6:.0f} dpg accepts; downscale it first"
        )
    return im


def _check_aspect(width: int, height: int, name: str) -> None:
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise UserError(
            f"{name} is {width}x{height} pixels, a strip more than {MAX_ASPECT:.0f} times longer than wide; "
            "use a photo of a person (crop it to the person if it is a panorama)"
        )


def fit_within(image: np.ndarray, side: int = MAX_SIDE) -> np.ndarray:
    """uint8 ``[H, W, 3]`` shrunk (pixel areas averaged, ``resize``) so that its long side is at most ``side``; as is
    when it already fits (default ``MAX_SIDE``, the bound every loaded photo gets)."""
    height, width = image.shape[:2]
    if max(height, width) <= side:
        return image
    scale = side / max(height, width)
    return resize(image, max(1, round(height * scale)), max(1, round(width * scale)))


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, as photo viewers do."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # a malformed EXIF block: the pixels are fine, keep them as stored
        return im


def _to_rgb(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I") or mode == "F":
        # 16-bit, 32-bit integer and float grayscale: Pillow's convert() would clip at 255.
        return np.repeat(_to_uint8(np.asarray(im))[:, :, None], 3, axis=2)
    if "A" in mode or "a" in mode or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    try:
        return np.asarray(im.convert("RGB"))
    except ValueError:
        raise UserError(f"{name} uses the colour mode {mode}, which cannot be converted to RGB; save it as RGB") from None


def _from_array(a: np.ndarray, max_pixels: int) -> np.ndarray:
    """An array photo -> uint8 ``[H, W, 3]``; see ``load_image`` for what is accepted."""
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise UserError(f"an image array must be [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], got shape {a.shape}")
    height, width = a.shape[:2]
    if height < 1 or width < 1:
        raise UserError(f"the image has no pixels ({width}x{height})")
    if height * width > max_pixels:
        raise UserError(f"the image is {width}x{height} pixels, more than {max_pixels / 1e6:.0f} megapixels; downscale it first")
    _check_aspect(width, height, "the image")
    a = _to_uint8(a)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        # Composite on white: out = alpha * rgb + (1 - alpha) * 255.
        alpha = a[:, :, 3:].astype(np.float32) / 255
        a = np.rint(a[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return fit_within(a)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """Scale pixel values to uint8.

    uint16 spans 0..65535. Wider integers and floats carry no range of their own (Pillow
    opens some 16-bit files as 32-bit 'I'), so their maximum decides: up to 1 (floats) is
    0..1, up to 255 is 8-bit, above is 16-bit.
    """
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise UserError(f"an image array of dtype {a.dtype} is not supported; use uint8")
    f = np.nan_to_num(a.astype(np.float64))
    top = f.max()
    if a.dtype == np.uint16 or top > 255:
        f = f / 257
    elif np.issubdtype(a.dtype, np.floating) and top <= 1:
        f = f * 255
    return np.rint(np.clip(f, 0, 255)).astype(np.uint8)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 ``[H, W, C]`` to ``[height, width, C]``: pixel-area averaging when shrinking
    (antialiased), Lanczos when enlarging.

    OpenCV's, not PIL's Lanczos: a 2000-pixel photo to the detector's 512 took 45-65 ms in PIL
    (plus a copy of the photo into a PIL image), a few ms here; the upload of issue 21 resizes
    a photo five times (detector twice, face finder, crop, mask)."""
    if image.shape[:2] == (height, width):
        return image
    shrink = height <= image.shape[0] and width <= image.shape[1]
    out = cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)
    return out.reshape(height, width, *image.shape[2:])  # OpenCV drops a single channel axis


def pad_softly(inside: np.ndarray, pads) -> np.ndarray:
    """Pad uint8 ``[h, w, 3]`` by ``pads`` (``np.pad``'s) with the photo's mirror image,
    blurred the more the farther from the photo: edge replication drew streaks beside narrow
    pedestrian crops, black bars a frame. ``[h + top + bottom, w + left + right, 3]``."""
    if not any(a or b for a, b in pads[:2]):
        return inside

    top, left = pads[0][0], pads[1][0]
    h, w = inside.shape[:2]
    # mirror what fits, replicate the rest (np.pad's "symmetric" needs pads up to the size)
    sym = tuple((min(a, n), min(b, n)) for (a, b), n in zip(pads[:2], (h, w))) + ((0, 0),)
    out = np.pad(inside, sym, mode="symmetric")
    rest = tuple((a - sa, b - sb) for (a, b), (sa, sb) in zip(pads[:2], sym[:2])) + ((0, 0),)
    out = np.pad(out, rest, mode="edge")
    radius = max(2.0, 0.04 * max(out.shape[:2]))
    blurred = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(radius)), np.float32)
    # weight of the blur: 0 inside the photo, rising to 1 over ``ramp`` pixels outside it
    ys, xs = np.arange(out.shape[0], dtype=np.float32), np.arange(out.shape[1], dtype=np.float32)
    dy = np.maximum(top - ys, ys - (top + h - 1)).clip(0)
    dx = np.maximum(left - xs, xs - (left + w - 1)).clip(0)
    ramp = 2 * radius
    weight = np.clip(np.maximum(dy[:, None], dx[None, :]) / ramp, 0, 1)[:, :, None]
    return np.rint(out * (1 - weight) + blurred * weight).astype(np.uint8)


def cut_box(image: np.ndarray, box: tuple[int, int, int, int], zeros: bool = False) -> np.ndarray:
    """The box ``(x0, y0, x1, y1)`` (integer pixel edges, as in ``PIL.Image.crop``) of an image
    at its own pixels: ``[y1-y0, x1-x0(, C)]``. Beyond the image: its mirror image, blurred
    (``pad_softly``, uint8 ``[H, W, 3]``), or zeros (``zeros=True``, any ``[H, W(, C)]``: for
    masks, nothing is there)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    img_h, img_w = image.shape[:2]
    if x1 <= max(x0, 0) or y1 <= max(y0, 0) or x0 >= img_w or y0 >= img_h:
        raise ValueError(f"box {box} does not overlap the {img_w}x{img_h} image")
    inside = image[max(y0, 0) : min(y1, img_h), max(x0, 0) : min(x1, img_w)]
    pads = ((max(-y0, 0), max(y1 - img_h, 0)), (max(-x0, 0), max(x1 - img_w, 0)), (0, 0))[: image.ndim]
    return np.pad(inside, pads) if zeros else pad_softly(inside, pads)


def crop_person(
    image: np.ndarray,
    keypoints: np.ndarray,
    box: tuple[int, int, int, int],
    size: tuple[int, int],
    zeros: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``box`` out of a photo at ``size`` and map keypoints into the crop.

    Args:
        image: uint8 ``[H, W, 3]``.
        keypoints: ``[18, 3]`` in the photo's pixels.
        box: ``(x0, y0, x1, y1)`` integer pixel edges as in ``PIL.Image.crop`` (the whole photo
            is ``(0, 0, W, H)``); may extend beyond the photo, which is then padded with the
            photo's mirror image, blurred (``pad_softly``), or with zeros (``zeros=True``,
            for masks: nothing is there).
        size: ``(height, width)`` of the crop, e.g. ``(128, 64)`` for Market-1501.

    Returns:
        The crop, uint8 ``[height, width, 3]``, and the keypoints in its pixels, float32
        ``[18, 3]``; joints that fall outside the crop become missing.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    height, width = size
    crop = resize(cut_box(image, box, zeros), height, width)
    # Pixel centres at integers: a centre x maps to (x + 0.5 - x0) * scale - 0.5.
    kp = np.asarray(keypoints, dtype=np.float32).copy()
    kp[:, 0] = (kp[:, 0] + 0.5 - x0) * (width / (x1 - x0)) - 0.5
    kp[:, 1] = (kp[:, 1] + 0.5 - y0) * (height / (y1 - y0)) - 0.5
    on = (kp[:, 2] > 0) & (kp[:, 0] > -0.5) & (kp[:, 0] < width - 0.5) & (kp[:, 1] > -0.5) & (kp[:, 1] < height - 0.5)
    kp[:, 2] = on
    kp[~on] = 0
    return crop, kp
