"""Keypoint format converters (``dpg.pose.formats``) and photo loading (``dpg.pose.images``)."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dpg.errors import UserError
from dpg.keypoints import JOINTS
from dpg.pose import formats
from dpg.pose.images import crop_person, load_image

J = JOINTS.index


def random_keypoints(seed=0, people=None):
    """dpg keypoints with some joints missing and the neck at mid-shoulders (as mediapipe's)."""
    rng = np.random.default_rng(seed)
    shape = (18,) if people is None else (people, 18)
    kp = np.zeros(shape + (3,), np.float32)
    kp[..., :2] = rng.uniform(0, 200, shape + (2,)).round(2)
    kp[..., 2] = rng.random(shape) > 0.3
    kp[..., J("right_shoulder"), 2] = kp[..., J("left_shoulder"), 2] = 1
    kp[..., J("neck"), :2] = (kp[..., J("right_shoulder"), :2] + kp[..., J("left_shoulder"), :2]) / 2
    kp[..., J("neck"), 2] = 1
    return np.where(kp[..., 2:] > 0, kp, 0).astype(np.float32)


# ----------------------------------------------------------------------------------------
# OpenPose JSON


def openpose_person(names, seed=0, confidence=0.9):
    """An OpenPose person whose joint k sits at (10k + 1, 10k + 2) with the given confidence."""
    flat = []
    for k in range(len(names)):
        flat += [10.0 * k + 1, 10.0 * k + 2, confidence]
    return {"person_id": [-1], "pose_keypoints_2d": flat}


@pytest.mark.parametrize("model", ["COCO", "BODY_25"])
def test_openpose_joints_map_by_name(model):
    names = formats.OPENPOSE_MODELS[model]
    kp = formats.openpose_to_keypoints({"version": 1.3, "people": [openpose_person(names)]})
    assert kp.shape == (1, 18, 3) and kp.dtype == np.float32
    for j, name in enumerate(JOINTS):
        k = names.index(name)
        np.testing.assert_array_equal(kp[0, j], [10 * k + 1, 10 * k + 2, 1], err_msg=name)


def test_openpose_eye_and_ear_order_is_dpgs():
    # OpenPose's COCO model, which made the Market-1501 annotations, puts the
    # right eye at 14, the left eye at 15, the right ear at 16, the left ear at 17; in those
    # CSVs index 14 lies on the right shoulder's side in 99% of 4688 rows with both. dpg reads
    # the CSVs index for index, so its joint names must be OpenPose's, or every converter here
    # (which matches by name) swaps the eyes and ears against the training data.
    assert tuple(JOINTS) == formats.OPENPOSE_COCO18, (
        "dpg.keypoints.JOINTS[14:18] must be ('right_eye', 'left_eye', 'right_ear', 'left_ear') "
        f"to match OpenPose and the Market-1501 annotations; it is {tuple(JOINTS[14:])}"
    )


@pytest.mark.parametrize("model", ["COCO", "BODY_25"])
def test_openpose_round_trip(model, tmp_path):
    kp = random_keypoints(1, people=3)
    data = formats.keypoints_to_openpose(kp, model)
    assert len(data["people"]) == 3
    assert len(data["people"][0]["pose_keypoints_2d"]) == 3 * len(formats.OPENPOSE_MODELS[model])
    np.testing.assert_allclose(formats.openpose_to_keypoints(data), kp, atol=1e-3)
    path = tmp_path / "photo_keypoints.json"
    formats.write_openpose_json(path, kp[0], model)
    np.testing.assert_allclose(formats.read_openpose_json(path), kp[:1], atol=1e-3)


def test_body25_mid_hip_and_feet():
    kp = random_keypoints(2)
    kp[J("right_hip")] = [10, 100, 1]
    kp[J("left_hip")] = [30, 104, 1]
    rows = np.asarray(formats.keypoints_to_openpose(kp, "BODY_25")["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    names = formats.OPENPOSE_BODY25
    np.testing.assert_allclose(rows[names.index("mid_hip")], [20, 102, 1])
    assert not rows[names.index("left_big_toe") :].any()
    kp[J("left_hip")] = 0
    rows = np.asarray(formats.keypoints_to_openpose(kp, "BODY_25")["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    assert not rows[names.index("mid_hip")].any()


def test_openpose_confidence_threshold_and_scores():
    person = openpose_person(formats.OPENPOSE_COCO18, confidence=0.9)
    person["pose_keypoints_2d"][3 * 4 + 2] = 0.01  # right wrist, below the 0.05 threshold
    person["pose_keypoints_2d"][3 * 5 : 3 * 6] = [0, 0, 0]  # left shoulder, not found
    kp = formats.openpose_to_keypoints({"people": [person]})[0]
    assert not kp[J("right_wrist")].any() and not kp[J("left_shoulder")].any()
    assert kp[J("right_elbow"), 2] == 1
    scores = np.linspace(0.1, 1, 18)
    flat = formats.keypoints_to_openpose(kp, scores=scores)["people"][0]["pose_keypoints_2d"]
    c = np.asarray(flat).reshape(18, 3)[[formats.OPENPOSE_COCO18.index(j) for j in JOINTS], 2]
    np.testing.assert_allclose(c, np.where(kp[:, 2] > 0, scores, 0), atol=1e-3)


def test_openpose_old_key_and_no_people():
    flat = openpose_person(formats.OPENPOSE_COCO18)["pose_keypoints_2d"]
    assert formats.openpose_to_keypoints({"people": [{"pose_keypoints": flat}]}).shape == (1, 18, 3)
    assert formats.openpose_to_keypoints({"version": 1.3, "people": []}).shape == (0, 18, 3)


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "people"),
        ({"people": [{"face_keypoints_2d": []}]}, "pose_keypoints_2d"),
        ({"people": [{"pose_keypoints_2d": [0.0] * 45}]}, "45 values"),
        ({"people": [{"pose_keypoints_2d": ["a"] * 54}]}, "numbers"),
    ],
)
def test_openpose_bad_input(data, message):
    with pytest.raises(UserError, match=message):
        formats.openpose_to_keypoints(data)


def test_read_openpose_json_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        formats.read_openpose_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="bad.json: not a JSON file"):
        formats.read_openpose_json(bad)


# ----------------------------------------------------------------------------------------
# mediapipe landmarks


def test_mediapipe_names_match_mediapipe():
    pose = pytest.importorskip("mediapipe.python.solutions.pose")
    assert formats.MEDIAPIPE_LANDMARKS == tuple(p.name.lower() for p in sorted(pose.PoseLandmark, key=int))


def mediapipe_landmarks(visibility=0.9):
    """Landmark m at (2m + 10, 3m + 20), each with the given visibility."""
    m = np.arange(33, dtype=np.float32)
    return np.stack([2 * m + 10, 3 * m + 20, np.full(33, visibility, np.float32)], axis=1)


def test_mediapipe_to_keypoints_by_name_with_neck():
    lm = mediapipe_landmarks()
    kp = formats.mediapipe_to_keypoints(lm)
    for j, name in enumerate(JOINTS):
        if name == "neck":
            continue
        m = formats.MEDIAPIPE_LANDMARKS.index(name)
        np.testing.assert_array_equal(kp[j], [2 * m + 10, 3 * m + 20, 1], err_msg=name)
    # Neck = mid-shoulders: mediapipe's shoulders are landmarks 11 (left) and 12 (right).
    np.testing.assert_allclose(kp[J("neck")], [(32 + 34) / 2, (53 + 56) / 2, 1])
    assert kp[J("left_shoulder"), 0] == 2 * 11 + 10 and kp[J("right_eye"), 0] == 2 * 5 + 10


def test_mediapipe_visibility_and_image_bounds():
    lm = mediapipe_landmarks()
    lm[12, 2] = 0.2  # right shoulder barely visible: missing, and so is the neck
    lm[27, 2] = 0.49  # left ankle just below the threshold
    lm[0, :2] = [-3, 5]  # nose left of the image
    lm[16, :2] = [40, 100.2]  # right wrist below a 100-row image
    kp = formats.mediapipe_to_keypoints(lm, threshold=0.5, image_size=(100, 200))
    for name in ("right_shoulder", "neck", "left_ankle", "nose", "right_wrist"):
        assert not kp[J(name)].any(), name
    assert kp[J("left_shoulder"), 2] == 1
    assert formats.mediapipe_to_keypoints(lm, threshold=0.1)[J("neck"), 2] == 1


def test_mediapipe_batched_and_round_trip():
    kp = random_keypoints(3, people=4)
    lm = formats.keypoints_to_mediapipe(kp)
    assert lm.shape == (4, 33, 3)
    assert not lm[:, formats.MEDIAPIPE_LANDMARKS.index("left_thumb")].any()
    np.testing.assert_allclose(formats.mediapipe_to_keypoints(lm), kp, atol=1e-5)


# ----------------------------------------------------------------------------------------
# load_image


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_load_rgb_from_path_bytes_file_pil_and_array(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    data = encode(Image.fromarray(rgb))
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    for source in (path, str(path), data, io.BytesIO(data), Image.fromarray(rgb), rgb):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
        np.testing.assert_array_equal(out, rgb)


def test_load_rgba_on_white():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = [[0, 255, 128], [0, 255, 128]]
    expected = [[255, 255, 255], [200, 0, 0], [228, 127, 127]]
    for source in (encode(Image.fromarray(rgba, "RGBA")), rgba):
        out = load_image(source)
        np.testing.assert_allclose(out[0], expected, atol=1)


def test_load_palette_grayscale_bilevel_la():
    pal = Image.new("P", (4, 2))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 0), 1)
    out = load_image(encode(pal))
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[0, 1]) == (0, 0, 255)
    pal.info["transparency"] = 0  # index 0 transparent: red pixels become white
    assert tuple(load_image(encode(pal, transparency=0))[0, 0]) == (255, 255, 255)
    gray = load_image(encode(Image.new("L", (3, 2), 77)))
    assert gray.shape == (2, 3, 3) and (gray == 77).all()
    assert (load_image(encode(Image.new("1", (3, 2), 1))) == 255).all()
    assert (load_image(encode(Image.new("LA", (3, 2), (50, 0)))) == 255).all()


def test_load_cmyk():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red
    for fmt in ("TIFF", "JPEG"):
        out = load_image(encode(cmyk, fmt))
        assert out.shape == (8, 8, 3)
        np.testing.assert_allclose(out[4, 4], [255, 0, 0], atol=3)


def test_load_16_bit_scaled():
    a16 = np.array([[0, 32896, 65535]], np.uint16)
    expected = [[0, 0, 0], [128, 128, 128], [255, 255, 255]]
    im = Image.fromarray(a16)
    assert im.mode == "I;16"
    for source in (encode(im), encode(im, "TIFF"), a16, a16.astype(np.int32)):
        np.testing.assert_array_equal(load_image(source)[0], expected)
    # A float image in [0, 1] (TIFF mode F and float arrays) and 0..255 floats.
    f = np.array([[0, 0.5, 1]], np.float32)
    np.testing.assert_allclose(load_image(encode(Image.fromarray(f), "TIFF"))[0], expected, atol=1)
    np.testing.assert_allclose(load_image(f * 255)[0], expected, atol=1)


def test_load_exif_rotated_jpeg():
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = [255, 0, 0]  # left half red, right half blue
    stored[:, 20:] = [0, 0, 255]
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: viewers turn the stored image 90 degrees clockwise
    out = load_image(encode(Image.fromarray(stored), "JPEG", exif=exif, quality=95))
    assert out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 50  # top half red
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 50  # bottom half blue


def test_load_one_pixel():
    assert load_image(encode(Image.new("RGB", (1, 1), (1, 2, 3)))).tolist() == [[[1, 2, 3]]]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels and holds none: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_load_refuses_huge_dimensions_before_decoding():
    with pytest.raises(UserError, match="9000x9000 pixels .* downscale it first"):
        load_image(png_header_only(9000, 9000))
    with pytest.raises(UserError, match="megapixels .* downscale it first"):
        load_image(png_header_only(100_000, 100_000))  # Pillow's own bomb guard
    with pytest.raises(UserError, match="megapixels"):
        load_image(np.zeros((10_000, 10_000), np.uint8))


def test_load_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    with pytest.raises(UserError, match="notes.txt is not an image"):
        load_image(text)
    with pytest.raises(UserError, match="not an image"):
        load_image(b"GIF89a but not really")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        load_image(empty)
    with pytest.raises(UserError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(UserError, match="directory"):
        load_image(tmp_path)
    jpeg = encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_image(jpeg[: len(jpeg) // 2])
    with pytest.raises(UserError, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(UserError, match="no pixels"):
        load_image(np.zeros((0, 4, 3), np.uint8))


# ----------------------------------------------------------------------------------------
# crop_person


def test_crop_person_maps_pixels_and_keypoints():
    photo = np.zeros((200, 100, 3), np.uint8)
    photo[50, 20] = 255
    kp = np.zeros((18, 3), np.float32)
    kp[0] = [20, 50, 1]
    kp[1] = [99, 199, 1]
    crop, out = crop_person(photo, kp, (0, 0, 100, 200), (200, 100))
    np.testing.assert_array_equal(crop, photo)
    np.testing.assert_array_equal(out, kp)
    # Halving: pixel centre x maps to (x + 0.5) / 2 - 0.5.
    crop, out = crop_person(photo, kp, (0, 0, 100, 200), (100, 50))
    np.testing.assert_allclose(out[0], [9.75, 24.75, 1])
    # A box past the left and top edges: the photo is padded, joints shift with the box.
    crop, out = crop_person(photo, kp, (-10, -20, 90, 180), (200, 100))
    assert crop.shape == (200, 100, 3) and crop[70, 30].max() == 255
    np.testing.assert_allclose(out[0], [30, 70, 1])
    assert not out[1].any()  # (99, 199) is outside the crop now
