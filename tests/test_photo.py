"""Edits at the photo's own resolution (``dpg.photo``, ``PersonGenerator.on_photo``, ``dpg swap``
and ``dpg transfer``, the app's picture): the person's pixels kept exactly where the edit does
not touch them, the photo's pixel density, EXIF rotation, the model-size switch."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpg.cli import main as dpg
from dpg.photo import SOLID, PhotoPerson, alpha_of, blend, on_photo
from dpg.pose.images import load_image

STREET = Path(__file__).resolve().parents[1] / "assets" / "examples"


def synthetic_person(seed=0, size=(300, 200), box=(40, 20, 140, 220)):
    """A photo of noise with a soft elliptical 'person' mask over a box, no mediapipe."""
    rng = np.random.default_rng(seed)
    photo = rng.integers(0, 256, size + (3,), dtype=np.uint8)
    x0, y0, x1, y1 = box
    bh, bw = y1 - y0, x1 - x0
    yy, xx = np.mgrid[0:bh, 0:bw]
    r = ((yy - bh / 2) / (0.4 * bh)) ** 2 + ((xx - bw / 2) / (0.3 * bw)) ** 2
    mask = np.clip((1.3 - r) * 255, 0, 255).astype(np.uint8)  # 255 inside, a soft rim, 0 outside
    crop = np.zeros((32, 16, 3), np.uint8)
    kp = np.zeros((18, 3), np.float32)
    kp[:14] = [(8, 3 + 2 * j, 1) for j in range(14)]
    return PhotoPerson(photo, crop, kp, box, mask)


def test_a_background_edit_keeps_the_persons_pixels_exactly_at_the_photos_density():
    p = synthetic_person()
    model = np.full((32, 16, 3), 30, np.uint8)
    out = on_photo(p, model, p.keypoints, model, keep_person=True, background="model")
    assert out.shape == (200, 100, 3)  # the box, at the photo's own pixels
    solid = p.mask >= SOLID * 255
    assert solid.sum() > 1000
    region = p.photo[20:220, 40:140]
    assert np.array_equal(out[solid], region[solid])
    outside = p.mask == 0
    assert np.abs(out[outside].astype(int) - 30).max() <= 2  # the new background there
    # another photo's real background: its pixels where its own person was not
    q = synthetic_person(seed=1, size=(300, 200), box=(40, 20, 140, 220))
    q_empty = np.full((32, 16, 3), 77, np.uint8)  # q's background as the model decodes it
    out = on_photo(p, model, p.keypoints, model, keep_person=True, background=q, background_empty=q_empty)
    assert np.array_equal(out[solid], region[solid])
    far = outside & (q.hole == 0)  # q's own pixels where neither person is
    assert far.sum() > 1000 and np.array_equal(out[far], q.photo[20:220, 40:140][far])
    filled = outside & (q.hole >= 1)  # where q's person stood: q's model background, moved to q's colours
    assert filled.sum() > 100 and np.array_equal(out[filled], q.empty(q_empty)[filled])


def test_a_person_edit_changes_only_pixels_near_the_old_and_new_person():
    p = synthetic_person()
    model = np.full((32, 16, 3), 200, np.uint8)
    empty = np.full((32, 16, 3), 10, np.uint8)  # decoded with no joints: differs where drawn
    out = on_photo(p, model, p.keypoints, empty, keep_person=False, background="photo")
    assert out.shape == p.photo.shape  # the whole photo comes back
    changed = (out != p.photo).any(-1)
    assert changed[20:220, 40:140].any()
    assert not changed[:, :35].any() and not changed[:, 145:].any() and not changed[225:].any()
    # nothing changed: the photo itself
    assert np.array_equal(on_photo(p, model, p.keypoints, empty, keep_person=True, background="photo"), p.photo)
    with pytest.raises(ValueError, match="background"):
        on_photo(p, model, p.keypoints, empty, keep_person=True, background="sky")


def test_the_hole_covers_the_mask_grown_and_blend_is_exact_at_its_ends():
    p = synthetic_person()
    assert (p.hole[p.mask > 30] == 1).all() and (p.hole[:, :3] == 0).all()
    flat = np.full(p.region.shape, 120, np.uint8)
    p2 = PhotoPerson(flat, p.crop, p.keypoints, (0, 0, 100, 200), p.mask)  # a plain grey photo
    empty = p2.empty(np.zeros((32, 16, 3), np.uint8))  # a backdrop far darker than the photo
    assert np.array_equal(empty[p2.hole == 0], flat[p2.hole == 0])
    # the backdrop is moved to the photo's colours around the hole: no dark silhouette
    assert np.abs(empty[p2.hole == 1].astype(int) - 120).mean() < 10
    a = alpha_of(np.array([[0, 25, 128, 230, 255]], np.uint8))
    assert a[0, 0] == 0 and a[0, -1] == 1 and a[0, -2] == 1 and 0 < a[0, 2] < 1
    back, front = np.zeros((1, 5, 3), np.uint8), np.full((1, 5, 3), 255, np.uint8)
    assert blend(back, front, a)[0, :, 0].tolist()[::4] == [0, 255]


@pytest.fixture(scope="module")
def street(gen):
    """Two real street photos (mediapipe finds and segments the people)."""
    return [gen.find_person(STREET / f"street-{n}.jpg") for n in ("1001", "1016")]


def test_real_photos_background_swap_keeps_the_person_and_takes_the_others_background(gen, street):
    a, b = street
    fa, fb = (gen.encode(p.crop[None], p.keypoints[None]) for p in street)
    assert a.mask is not None and a.mask.shape == a.box_size
    out = gen.on_photo(a, gen.swap(fa, fb, ("bg",)), {"bg"}, background=b)
    assert out.shape[:2] == a.box_size  # the person's box at the photo's pixel density
    # B's own background is decoded once and kept: the second edit gives the same picture
    assert np.array_equal(gen.on_photo(a, gen.swap(fa, fb, ("bg",)), {"bg"}, background=b), out)
    solid = a.mask >= SOLID * 255
    assert solid.mean() > 0.15
    assert np.array_equal(out[solid], a.region[solid])
    # pixels far from both people come from B's photo (resized to A's box), not A's
    far = (a.mask == 0) & (np.asarray(Image.fromarray(b.mask).resize(a.box_size[::-1])) == 0)
    b_back = np.asarray(Image.fromarray(b.region).resize(a.box_size[::-1]), np.float32)
    err_b = np.abs(out[far] - b_back[far]).mean()
    err_a = np.abs(out[far] - a.region[far].astype(np.float32)).mean()
    assert err_b < 0.5 * err_a
    # a clothing edit: the whole photo back, unchanged far from the person
    whole = gen.on_photo(a, gen.swap(fa, fb, ("fg",)), {"fg"})
    assert whole.shape == a.photo.shape
    x0, y0, x1, y1 = a.box
    assert np.array_equal(whole[:, : max(x0, 0)], a.photo[:, : max(x0, 0)])
    with pytest.raises(Exception, match="fg, bg, pose"):
        gen.on_photo(a, fa, {"hat"})


def test_exif_rotated_photos_come_out_upright(gen, tmp_path):
    upright = Image.open(STREET / "street-1001.jpg")
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # stored on its side...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...with the tag that tells viewers to turn it back (90 clockwise)
    path = tmp_path / "sideways.jpg"
    sideways.save(path, exif=exif, quality=95)
    p = gen.find_person(path)
    assert p.photo.shape[:2] == (upright.height, upright.width)
    assert np.abs(p.photo.astype(np.float32) - np.asarray(upright, np.float32)).mean() < 6
    f = gen.encode(p.crop[None], p.keypoints[None])
    out = gen.on_photo(p, f, {"bg"})
    assert out.shape[0] > out.shape[1]  # a standing person's box: upright
    truth = np.asarray(upright, np.float32)
    x0, y0, x1, y1 = p.box
    sub = truth[max(y0, 0) : y1, max(x0, 0) : x1]
    solid = p.mask >= SOLID * 255
    got = out[max(-y0, 0) :, max(-x0, 0) :][: sub.shape[0], : sub.shape[1]]
    keep = solid[max(-y0, 0) :, max(-x0, 0) :][: sub.shape[0], : sub.shape[1]]
    assert np.abs(got[keep] - sub[keep]).mean() < 6  # the same pixels, up to JPEG re-encoding


def test_swap_and_transfer_write_the_photos_resolution_unless_model_size(ckpt, tmp_path):
    a, b = str(STREET / "street-1001.jpg"), str(STREET / "street-1016.jpg")
    c = ["--checkpoint", str(ckpt), "--device", "cpu"]
    assert dpg(["swap", a, b, "--factors", "bg", "--out", str(tmp_path / "s"), *c]) == 0
    big = Image.open(tmp_path / "s" / "swap.png")
    assert big.height > 200  # the box of a 320-pixel-tall photo, not 32x16
    assert dpg(["swap", a, b, "--factors", "bg", "--model-size", "--scale", "2", "--out", str(tmp_path / "m"), *c]) == 0
    assert Image.open(tmp_path / "m" / "swap.png").size == (32, 64)
    assert dpg(["transfer", a, "--pose", b, "--out", str(tmp_path / "t"), *c]) == 0
    assert Image.open(tmp_path / "t" / "transfer.png").size == Image.open(a).size  # the whole photo


def test_the_apps_picture_is_the_edit_on_the_photo(gen):
    from dataclasses import replace

    from dpg.app import handlers as h
    from dpg.app.photos import PREVIEW_HEIGHT, PersonFinder
    from dpg.app.session import Session, materialize

    finder = PersonFinder()
    s = materialize(gen, Session())
    s, _ = h.load_photo(gen, finder, s, str(STREET / "street-1001.jpg"))
    s, _ = h.load_photo(gen, finder, s, str(STREET / "street-1016.jpg"), "other")
    photo = load_image(STREET / "street-1001.jpg")
    preview = h.picture(gen, finder, s)
    assert preview.shape[0] <= PREVIEW_HEIGHT and preview.shape[0] > 200  # the photo, not the 32x16 model
    assert np.array_equal(h.picture(gen, finder, s, full=True), photo)  # nothing edited yet: the photo itself
    bg = h.take_from_other(gen, s, ["background"])
    full = h.picture(gen, finder, bg, full=True)
    person = finder.store.get(s.photo["key"], full=True)
    assert full.shape[:2] == person.box_size
    solid = person.mask >= SOLID * 255
    assert np.array_equal(full[solid], person.region[solid])
    assert h.picture(gen, finder, h.set_model_only(gen, bg, True)).shape == (32, 16, 3)
    # a forgotten photo (the store keeps the most recent ones) falls back to the model's picture
    forgotten = replace(bg, photo={**bg.photo, "key": "gone"})
    assert h.picture(gen, finder, forgotten).shape == (32, 16, 3)
