"""The editor in a real browser: Playwright driving Debian's headless Chromium against the app
served in-process (a tiny seeded model). A person moves a slider, uploads a photo and drags
a joint; each time the picture must change, and no traceback may ever reach the page.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it).
"""

import importlib.util
import socket
from pathlib import Path

import pytest
import torch
from conftest import seeded_tiny_model

from dpg.app import headless
from dpg.inference import PersonGenerator

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "assets" / "examples" / "astronaut.jpg"
PERSON = "#person img"


@pytest.fixture(scope="module")
def url():
    spec = importlib.util.spec_from_file_location("dpg_app_main", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    gen = PersonGenerator(seeded_tiny_model(), "cpu")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from dpg.directions import NamedDirection

    v = torch.randn(gen.model.stage2.mappings["fg"].dim, generator=torch.Generator().manual_seed(1))
    named = {"fg": [NamedDirection("red top", "fg", v / v.norm(), 1.0, "made up for the test")]}
    demo = app.build_app(gen, named=named).queue(default_concurrency_limit=1)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    # one Playwright per module: a second sync_playwright() in the same thread is refused
    if not headless.available():
        pytest.skip(f"{headless.CHROMIUM} is missing: apt-get install chromium (the CI script does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = headless.launch(p)
        yield browser
        browser.close()


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(PERSON)
    return page


@pytest.fixture(scope="module")
def page(url, browser):
    page = open_page(browser, url)
    yield page
    page.close()


def picture(page) -> str:
    return page.get_attribute(PERSON, "src")


def wait_for_new_picture(page, before: str) -> str:
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel); return i && i.src !== old; }", arg=[PERSON, before])
    return picture(page)


def drag(page, box, dx, dy, steps=8):
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=steps)
    page.mouse.up()


def test_move_a_slider(page):
    # The picture follows the slider while it is held, not only on release.
    box = page.locator("#fg-slider-0 input[type=range]").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    seen = [picture(page)]
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 4):
        page.mouse.move(x + 20 * i, y, steps=3)
        seen.append(wait_for_new_picture(page, seen[-1]))
    page.mouse.up()
    assert len(set(seen)) == 4
    assert float(page.input_value("#fg-slider-0 input[type=number]")) > 0
    assert "seed 0 (moved)" in page.inner_text("#caption")


def test_upload_a_photo_and_a_file_that_is_not_one(page, tmp_path):
    page.get_by_role("tab", name="Edit a photo").click()
    before = picture(page)
    page.set_input_files("#photo input[type=file]", str(EXAMPLE))
    wait_for_new_picture(page, before)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Found the person in astronaut.jpg')")
    assert page.locator("#found img").count() == 1

    from dpg.app.photos import example_photos

    second = Path(example_photos()[1]).name  # a full-body street photo: they come first
    page.locator("#examples img").nth(1).click()
    page.wait_for_function(f"() => document.querySelector('#status').innerText.includes('{second}')")

    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    page.locator("#photo button[aria-label*='Clear' i], #photo button[aria-label*='Remove' i]").first.click()
    page.set_input_files("#photo input[type=file]", str(notes))
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('not an image')")
    assert "Traceback" not in page.content()


def test_ticking_fit_to_the_photo_fits_the_loaded_photo(page):
    page.get_by_role("tab", name="Edit a photo").click()
    before = picture(page)
    page.set_input_files("#photo input[type=file]", str(EXAMPLE))
    before = wait_for_new_picture(page, before)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Found the person in astronaut.jpg')")
    # unedited, the page shows the photo's own pixels: the model's output shows the fit
    page.locator("#model-only input[type=checkbox]").check()
    before = wait_for_new_picture(page, before)
    page.locator("#fit input[type=checkbox]").check()
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('fitted to the photo')")
    wait_for_new_picture(page, before)
    page.locator("#fit input[type=checkbox]").uncheck()  # the next tests upload as before
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('not fitted')")
    page.locator("#model-only input[type=checkbox]").uncheck()
    page.locator("#photo button[aria-label*='Clear' i], #photo button[aria-label*='Remove' i]").first.click()
    assert "Traceback" not in page.content()


def test_drag_a_joint(page):
    page.get_by_role("tab", name="Edit the pose").click()
    joint = page.locator("#pose-editor circle.dpg-joint").first
    joint.wait_for()

    def joints():  # where every drawn joint is (a small person's face joints overlap: the drag
        # may pick up the eye drawn over the nose)
        return {
            c.get_attribute("data-joint"): (c.get_attribute("cx"), c.get_attribute("cy"))
            for c in page.locator("#pose-editor circle.dpg-joint").all()
        }

    before, where = picture(page), joints()
    drag(page, joint.bounding_box(), 45, 30)
    wait_for_new_picture(page, before)
    page.wait_for_function("() => document.querySelector('#caption').innerText.includes('pose edited')")
    assert joints() != where
    assert "Traceback" not in page.content()


# ------------------------------------------------------------------------------------------
# The editor as people use it (issue 20): each of these failed on the code before the fix.


def settle(page, ms=600):
    """Wait until no event is running (Gradio marks pending outputs) and a little more."""
    page.wait_for_timeout(ms)
    page.wait_for_function("() => !document.querySelector('.pending, .generating')")


def test_a_refused_upload_empties_its_slot(page, tmp_path):
    from PIL import Image

    page.get_by_role("tab", name="Edit a photo").click()
    street = ROOT / "assets" / "examples" / "street-1001.jpg"
    page.set_input_files("#photo input[type=file]", str(street))
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Found the person in street-1001.jpg')")
    page.set_input_files("#other input[type=file]", str(ROOT / "assets" / "examples" / "street-1016.jpg"))
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Second photo: found')")
    empty = tmp_path / "empty-street.png"  # a photo with no one in it
    Image.new("RGB", (300, 400), (128, 140, 150)).save(empty)
    for box, found in (("#other", "#other-found"), ("#photo", "#found")):
        page.locator(f"{box} button[aria-label*='Clear' i], {box} button[aria-label*='Remove' i]").first.click()
        page.set_input_files(f"{box} input[type=file]", str(empty))
        page.wait_for_function("() => document.querySelector('#status').innerText.includes('No person')")
        settle(page)
        # the old person is not shown as in use (waited for, not read at once: the second pass
        # finds the first's "No person" already in the status line, so the wait above can return
        # before its own upload's event has finished; a panel that never empties times out)
        page.wait_for_function(f"() => document.querySelectorAll('{found} img').length === 0")
        assert "empty-street.png" not in page.inner_text(box)  # nor the refused file as accepted
    # the factors of the photo before say where they came from; "Take" has no second photo
    assert "street-1001.jpg (replaced by a refused upload)" in page.inner_text("#caption")
    page.locator("#take").click()
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('second photo to take')")
    assert page.locator(".toast-body").count() == 0  # messages in the status line, no pile of pop-ups


def test_the_seed_box_and_the_picture_always_agree(page):
    page.get_by_role("tab", name="Sample").click()
    box = page.locator("#bg-seed input")
    for i in range(6):
        box.fill(str(100 + i))
        box.press("Enter")
        page.locator("#bg-dice").click()  # at once: the box's blur races the dice
        settle(page, 900)
        caption = page.inner_text("#caption")
        shown = caption.split("background** ")[-1] if "background** " in caption else caption
        assert f"seed {box.input_value()}" in caption, (box.input_value(), shown)


def test_a_slider_number_box_shows_the_value_used(page):
    page.get_by_role("tab", name="Sample").click()
    number = page.locator("#pose-slider-1 input[type=number]")
    number.fill("10")
    number.press("Enter")
    page.wait_for_function("() => document.querySelector('#pose-slider-1 input[type=number]').value === '3'")


def test_holding_an_arrow_key_moves_a_joint_all_the_way(page):
    page.get_by_role("tab", name="Edit the pose").click()
    nose = page.locator('#pose-editor circle.dpg-joint[data-joint="0"]')
    nose.wait_for()
    y0 = float(nose.get_attribute("cy"))
    nose.focus()
    for _ in range(12):  # a held key repeats about 30 times a second
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(33)
    settle(page, 1000)
    y1 = float(page.locator('#pose-editor circle.dpg-joint[data-joint="0"]').get_attribute("cy"))
    assert y1 - y0 >= 11, (y0, y1)


def test_on_a_phone_the_picture_stays_in_view_while_the_controls_are_used(page, url):
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone.goto(url, wait_until="domcontentloaded")
        phone.wait_for_selector(PERSON)
        for control in ("#bg-slider-2", "#pose-slider-2", "#sample-all"):
            phone.locator(control).scroll_into_view_if_needed()
            phone.wait_for_timeout(200)
            pic = phone.locator(PERSON).bounding_box()
            ctl = phone.locator(control).bounding_box()
            assert pic["y"] >= -1 and pic["y"] + pic["height"] <= 844 + 1, (control, pic)
            assert ctl["y"] >= pic["y"] + pic["height"] - 1 and ctl["y"] < 844, (control, ctl)  # not under the picture
    finally:
        phone.close()


def test_a_named_slider_says_what_it_does_and_moves_the_person(page):
    page.get_by_role("tab", name="Sample").click()
    assert "red top" in page.inner_text("#fg-named-0")
    box = page.locator("#fg-named-0 input[type=range]").bounding_box()
    before = picture(page)
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    wait_for_new_picture(page, before)
    page.wait_for_function("() => document.querySelector('#caption').innerText.includes('(moved)')")


def test_the_download_is_the_photo_at_its_own_resolution(page):
    # the page shows a small copy; the download is the edit at the photo's pixels
    import io

    from PIL import Image

    page.get_by_role("tab", name="Edit a photo").click()
    street = ROOT / "assets" / "examples" / "street-1020.jpg"
    clear = page.locator("#photo button[aria-label*='Clear' i], #photo button[aria-label*='Remove' i]")
    if clear.count():  # a file left there by an earlier test
        clear.first.click()
    page.set_input_files("#photo input[type=file]", str(street))
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Found the person in street-1020.jpg')")
    page.locator("#full-res").click()
    link = page.locator("#full-file a").first
    link.wait_for()
    data = page.request.get(link.get_attribute("href")).body()
    assert Image.open(io.BytesIO(data)).size == Image.open(street).size  # nothing edited yet: the photo itself


# ------------------------------------------------------------------------------------------
# Raised arms (issue 20, 4a): a skill of the bundled weights, so this one serves them.

BUNDLED = ROOT / "assets" / "dpg-demo.safetensors"
# The picture's mean change (0..1) along a forearm lifted above the head, against the picture
# with the arm hanging, for the person of seeds 103: 0.027 with the model trained on photos
# alone (a stub), 0.20 with raised-arm procedural people mixed into its training. Session 9's
# flow mappings draw another person from the same seeds: 103 became a dark sleeve on a dark
# wall (0.054, the arm drawn but hardly visible); seeds 102, 105, 106 give 0.36, 0.10, 0.13,
# so the test takes 102, whose sleeve again stands out from the background.
# bench/bench_arms.py measures the same against the arm removed, on held-out real people.
ARM_DRAWN = 0.06
PERSON_SEED = 102


@pytest.fixture(scope="module")
def bundled_page(browser):
    spec = importlib.util.spec_from_file_location("dpg_app_bundled", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    demo = app.build_app(PersonGenerator.from_checkpoint(str(BUNDLED), "cpu"), named={}).queue(default_concurrency_limit=1)
    for page in served_page(browser, app, demo):
        yield page


def served_page(browser, app, demo):
    """Launch ``demo`` (``app``'s launch options) on a free port and yield a page on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options())
    try:
        page = open_page(browser, f"http://127.0.0.1:{port}/")
        yield page
        page.close()
    finally:
        demo.close()


def _model_picture(page, height=128, width=64):
    """The shown picture at the model's size, uint8 ``[H, W, 3]``."""
    import io

    import numpy as np
    from PIL import Image

    src = picture(page)
    if src.startswith("data:"):
        import base64

        data = base64.b64decode(src.split(",", 1)[1])
    else:
        data = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((width, height), Image.BOX))


def test_an_arm_lifted_above_the_head_is_drawn(bundled_page):
    import numpy as np

    from dpg.eval import arms as A

    page = bundled_page
    for f in ("fg", "bg", "pose"):  # a person whose sleeve stands out from the background
        before = picture(page)
        page.locator(f"#{f}-seed input").fill(str(PERSON_SEED))
        page.locator(f"#{f}-seed input").press("Enter")
        wait_for_new_picture(page, before)
        settle(page)
    page.get_by_role("tab", name="Edit the pose").click()
    page.locator("#pose-editor circle.dpg-joint").first.wait_for()
    settle(page)

    def joints():  # model pixels of the drawn (visible) joints
        kp = np.zeros((18, 3), np.float32)
        for c in page.locator("#pose-editor circle.dpg-joint").all():
            kp[int(c.get_attribute("data-joint"))] = (float(c.get_attribute("cx")) - 0.5, float(c.get_attribute("cy")) - 0.5, 1)
        return kp

    def screen(xy):  # model pixels -> the page's, through the overlay's own transform
        return page.evaluate(
            """([x, y]) => { const s = document.querySelector('#pose-editor svg.dpg-skeleton');
                 const p = s.createSVGPoint(); p.x = x; p.y = y;
                 const q = p.matrixTransform(s.getScreenCTM()); return [q.x, q.y]; }""",
            [float(xy[0]) + 0.5, float(xy[1]) + 0.5],
        )

    kp = joints()
    side = next(s for s in ("right", "left") if kp[A.SIDES[s][0], 2] and kp[A.SIDES[s][1], 2] and kp[A.SIDES[s][2], 2])
    _, el, wr = A.SIDES[side]
    target = A.raise_arm(kp, side, 128)
    hanging = _model_picture(page)
    for j in (el, wr):  # the elbow up first, then the wrist above the head
        before = picture(page)
        page.mouse.move(*screen(kp[j]))
        page.mouse.down()
        page.mouse.move(*screen(target[j]), steps=6)
        page.mouse.up()
        wait_for_new_picture(page, before)
        settle(page)
    moved = joints()
    head = [j for j in (0, 14, 15, 16, 17) if kp[j, 2]] or [1]  # face points, else the neck
    assert moved[wr, 1] < kp[head, 1].min(), "the wrist is not above the head"
    lifted = _model_picture(page)
    change = A.along_segment(lifted, hanging, moved[el, :2], moved[wr, :2])
    assert change > ARM_DRAWN, f"the lifted forearm is not drawn: {change:.3f}"


# ------------------------------------------------------------------------------------------
# A preview decoder (issue 21, dpg.preview): a moving slider is drawn by it, its release by the
# full decoder, by the mouse and by the keyboard alike.


@pytest.fixture(scope="module")
def preview_app(browser):
    from dpg.preview import narrow_decoder

    spec = importlib.util.spec_from_file_location("dpg_app_preview", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    gen = PersonGenerator(seeded_tiny_model(), "cpu")
    gen.preview = narrow_decoder(gen.model.stage1.decoder, 4).eval()  # untrained: another picture
    # two events at once, as on a 2-core machine: a preview may still run when its release starts
    demo = app.build_app(gen, named={}).queue(default_concurrency_limit=2)
    for page in served_page(browser, app, demo):
        yield page, gen


def _expected(gen, fg_amount: float, preview: bool):
    from dpg.app import handlers as h
    from dpg.app.session import Session, materialize, render

    s = h.set_factor(gen, materialize(gen, Session()), "fg", 0, [fg_amount, 0.0, 0.0])
    return render(gen, s, preview=preview)


def _shows(page, want, other, timeout_s=30.0) -> tuple[bool, str]:
    """Whether the page comes to show ``want`` (uint8 ``[H, W, 3]``) rather than ``other``
    (the other decoder's picture of the same position) within ``timeout_s``; and the last
    distances, for the failure message. Near, not equal: the server's thread and this one may
    round a pixel differently (the order of a sum depends on the CPU), so the picture counts as
    ``want`` when it is within 1.5 levels of it on average and nearer to it than to ``other``
    (the untrained preview slice draws another picture, tens of levels away)."""
    import time

    import numpy as np

    deadline = time.time() + timeout_s
    while True:
        shown = _model_picture(page, *want.shape[:2]).astype(np.float32)
        near, far = (float(np.abs(shown - x.astype(np.float32)).mean()) for x in (want, other))
        if near <= 1.5 and near < far:
            return True, ""
        if time.time() > deadline:
            return False, f"mean distance {near:.2f} to the expected picture, {far:.2f} to the other decoder's"
        page.wait_for_timeout(200)


def test_a_dragged_slider_shows_previews_and_its_release_the_full_picture(preview_app):
    page, gen = preview_app
    box = page.locator("#fg-slider-0 input[type=range]").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y, steps=3)
    settle(page)
    held = float(page.input_value("#fg-slider-0 input[type=number]"))
    assert held > 0
    preview, full = _expected(gen, held, preview=True), _expected(gen, held, preview=False)
    assert _shows(page, preview, full) == (True, "")  # while held: the preview's picture
    page.mouse.up()
    assert _shows(page, full, preview) == (True, "")  # let go: the full decoder's
    assert "seed 0 (moved)" in page.inner_text("#caption")


def test_a_slider_moved_by_the_keyboard_ends_on_the_full_picture(preview_app):
    page, gen = preview_app
    slider = page.locator("#fg-slider-0 input[type=range]")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")  # step 0.05 each
        page.wait_for_timeout(50)
    settle(page, 900)
    value = float(page.input_value("#fg-slider-0 input[type=number]"))
    # the key-up's release (app.HEAD's script): without it the preview's picture stayed
    shown = _shows(page, _expected(gen, value, preview=False), _expected(gen, value, preview=True))
    assert shown == (True, ""), (value, shown)
