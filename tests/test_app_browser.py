"""The editor in a real browser: Playwright driving Debian's headless Chromium against the app
served in-process (a tiny seeded model). A person moves a slider, uploads a photo and drags
a joint; each time the picture must change, and no traceback may ever reach the page.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it).
"""

import importlib.util
import os
import socket
from pathlib import Path

import pytest
import torch

from dpg.config import tiny
from dpg.inference import PersonGenerator
from dpg.model import DisentangledPersonModel

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "assets" / "examples" / "astronaut.jpg"
PERSON = "#person img"


@pytest.fixture(scope="module")
def url():
    spec = importlib.util.spec_from_file_location("dpg_app_main", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    torch.manual_seed(0)
    gen = PersonGenerator(DisentangledPersonModel(tiny()), "cpu")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = app.build_app(gen).queue(default_concurrency_limit=1)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def page(url):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (the CI script does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(PERSON)
        yield page
        browser.close()


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


def test_drag_a_joint(page):
    page.get_by_role("tab", name="Edit the pose").click()
    joint = page.locator("#pose-editor circle.dpg-joint").first
    joint.wait_for()

    def joints():  # where every drawn joint is (a small person's face joints overlap: the drag
        # may pick up the eye drawn over the nose)
        return {c.get_attribute("data-joint"): (c.get_attribute("cx"), c.get_attribute("cy"))
                for c in page.locator("#pose-editor circle.dpg-joint").all()}  # fmt: skip

    before, where = picture(page), joints()
    drag(page, joint.bounding_box(), 45, 30)
    wait_for_new_picture(page, before)
    page.wait_for_function("() => document.querySelector('#caption').innerText.includes('pose edited')")
    assert joints() != where
    assert "Traceback" not in page.content()
