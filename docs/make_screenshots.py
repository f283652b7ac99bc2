"""Regenerate the README's screenshots of the editor (``docs/app-*.png``).

    python docs/make_screenshots.py [--checkpoint PATH] [--out docs]

Serves ``app.py`` on the bundled weights and drives Debian's headless Chromium
(``apt-get install chromium``) through each part: sampling, editing a photo, editing the
pose, interpolating, and the message a file that is not a photo gets.
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
import tempfile
from pathlib import Path

from dpg.app import headless

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "assets" / "examples"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--out", default=str(ROOT / "docs"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    spec = importlib.util.spec_from_file_location("dpg_app_main", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    demo = app.load_app(args.checkpoint)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options())

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = headless.launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.set_default_timeout(60_000)
        page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
        page.wait_for_selector("#person img")

        def picture():
            return page.get_attribute("#person img", "src")

        def changed(before):
            page.wait_for_function("(old) => document.querySelector('#person img').src !== old", arg=before)
            page.wait_for_timeout(300)

        def shot(name):
            page.mouse.move(0, 0)
            page.screenshot(path=str(out / f"app-{name}.png"), full_page=True)
            print("wrote", out / f"app-{name}.png")

        # 1. Sample: a foreground seed, a slider moved.
        before = picture()
        page.fill("#fg-seed input", "5")
        page.press("#fg-seed input", "Enter")
        changed(before)
        before = picture()
        box = page.locator("#fg-slider-0 input[type=range]").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
        changed(before)
        shot("sample")

        # 2. Edit a photo: a full-body street photo, with the background of another
        page.get_by_role("tab", name="Edit a photo").click()
        before = picture()
        page.set_input_files("#photo input[type=file]", str(EXAMPLES / "street-1001.jpg"))
        changed(before)
        page.set_input_files("#other input[type=file]", str(EXAMPLES / "street-1020.jpg"))
        page.wait_for_function("() => document.querySelector('#status').innerText.includes('Second photo')")
        before = picture()
        page.locator("#take").click()
        changed(before)
        shot("photo")

        # 3. Edit the pose: back to a sampled person, drag a wrist.
        page.get_by_role("tab", name="Edit the pose").click()
        before = picture()
        page.locator("#random-pose").click()
        changed(before)
        joints = page.locator("#pose-editor circle.dpg-joint")
        joint = joints.nth(joints.count() // 2)
        box = joint.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        before = picture()
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 60, y - 50, steps=10)
        page.mouse.up()
        changed(before)
        shot("pose")

        # 4. Interpolate two seeds, all factors.
        page.get_by_role("tab", name="Interpolate").click()
        page.fill("#steps input[type=number]", "8")
        page.locator("#interpolate-go").click()
        page.wait_for_selector("#frames img")
        page.wait_for_timeout(800)
        shot("interpolate")

        # 5. A file that is not a photo: a message in the page, and the app keeps working.
        page.get_by_role("tab", name="Edit a photo").click()
        notes = Path(tempfile.mkdtemp()) / "notes.jpg"
        notes.write_text("these are notes, not a photo")
        page.locator("#photo button[aria-label*='Clear' i], #photo button[aria-label*='Remove' i]").first.click()
        page.set_input_files("#photo input[type=file]", str(notes))
        page.wait_for_function("() => document.querySelector('#status').innerText.includes('not an image')")
        page.wait_for_timeout(300)
        shot("error")
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
