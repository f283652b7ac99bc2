"""Pictures a second in a real browser while a slider is dragged (issue 21).

    python bench/bench_browser.py [--checkpoint PATH] [--seconds 6] [--driver page|mouse] [--no-compare]

Serves the app (``app.py``'s ``load_app`` launched with ``launch_options``, as ``python
app.py`` serves it: the bundled weights, the default settings) in a child process, opens it
in headless Chromium (``/usr/bin/chromium``, driven by Playwright) and drags the first
foreground slider back and forth for ``--seconds``, a move every 16 ms (a 60 Hz pointer):
by default the page moves it itself (``--driver mouse``: Playwright's pointer, which managed
about 20 moves a second here). A ``MutationObserver`` counts every change of the picture
shown; the figure is pictures per second over the drag (the goal: at least 20). Then the
same without the preview decoder (the weights copied where no preview file lies beside
them: every move drawn in full), in the order A B B A, and the ratio of the means. The
server's event log must show previews in the first and none in the second, or the bench
stops. The browser and the server share this machine's cores, as they would on a laptop.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_app import read_log, served  # noqa: E402
from dpg.app import headless  # noqa: E402
from dpg.directions import directions_path  # noqa: E402
from dpg.eval.bench import machine  # noqa: E402
from dpg.hub import resolve_checkpoint  # noqa: E402
from dpg.preview import preview_path  # noqa: E402

PERSON = "#person img"
COUNT = """() => { window.__pictures = []; let last = document.querySelector('#person img')?.src;
  new MutationObserver(() => { const i = document.querySelector('#person img');
    if (i && i.src !== last) { last = i.src; window.__pictures.push(performance.now()); } })
    .observe(document.querySelector('#person'), {subtree: true, childList: true, attributes: true}); }"""

# The page drags the slider itself: every 16 ms (a 60 Hz pointer) it sets the range input's
# value on a sweep across it each 1.5 s and sends the "input" event a drag sends, then a
# pointerup (the release). Playwright's own pointer manages ~19 moves a second on these two
# cores (each move is a round trip through the driver process), under the goal it measures.
DRAG = """(seconds) => new Promise(done => {
  const input = document.querySelector('#fg-slider-0 input[type=range]');
  const lo = +input.min, hi = +input.max, t0 = performance.now();
  let moves = 0;
  input.dispatchEvent(new PointerEvent('pointerdown', {bubbles: true}));
  const timer = setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    if (t >= seconds) {
      clearInterval(timer);
      input.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));
      done(moves);
      return;
    }
    const phase = (t / 1.5) % 2, f = phase < 1 ? phase : 2 - phase, before = input.value;
    input.value = lo + (hi - lo) * (0.1 + 0.8 * f);
    if (input.value !== before) {  // a browser sends "input" only when the value changed
      input.dispatchEvent(new Event('input', {bubbles: true}));
      moves += 1;
    }
  }, 16);
})"""


def drag(url: str, seconds: float, driver: str) -> tuple[list[float], int]:
    """Open ``url`` in headless Chromium, drag the first foreground slider for ``seconds``;
    returns the page's times (ms) of each new picture and the slider moves made."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = headless.launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(PERSON)
        time.sleep(2)  # the first picture and the page settle
        page.evaluate(COUNT)
        if driver == "page":
            moves = page.evaluate(DRAG, seconds)
        else:
            box = page.locator("#fg-slider-0 input[type=range]").bounding_box()
            y = box["y"] + box["height"] / 2
            left, right = box["x"] + 0.1 * box["width"], box["x"] + 0.9 * box["width"]
            page.mouse.move(left, y)
            page.mouse.down()
            t0, moves = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds:
                phase = ((time.perf_counter() - t0) / 1.5) % 2  # a sweep across the slider each 1.5 s
                x = left + (right - left) * (phase if phase < 1 else 2 - phase)
                page.mouse.move(x, y)
                moves += 1
                time.sleep(max(0.0, 0.016 - 0.001))
            page.mouse.up()
        stamps = page.evaluate("() => window.__pictures")
        browser.close()
    return stamps, moves


def without_preview(checkpoint, folder: str) -> str:
    """A copy of the weights (and their named directions) in ``folder`` with no preview file
    beside it: the app then draws every move with the full decoder, as before session 6."""
    src = resolve_checkpoint(checkpoint)
    dst = Path(folder) / src.name
    shutil.copy(src, dst)
    if directions_path(src).exists():
        shutil.copy(directions_path(src), directions_path(dst))
    return str(dst)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument(
        "--driver",
        choices=("page", "mouse"),
        default="page",
        help="page: the page itself moves the slider every 16 ms (input events, as Chromium sends during a real drag); "
        "mouse: Playwright's pointer (each move a round trip through the driver)",
    )
    p.add_argument("--no-compare", action="store_true", help="only the app as shipped, not also without its preview decoder")
    args = p.parse_args()
    if not headless.available():
        print(f"SKIP browser.pictures_per_s: {headless.CHROMIUM} is missing (apt-get install chromium)")
        return 0
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("SKIP browser.pictures_per_s: playwright is not installed (pip install -e '.[test]')")
        return 0

    with tempfile.TemporaryDirectory() as folder:
        checkpoints = {"shipped": args.checkpoint}
        if not args.no_compare and preview_path(resolve_checkpoint(args.checkpoint)).exists():
            checkpoints["full"] = without_preview(args.checkpoint, folder)
        # A B B A: drift of the shared machine between runs falls on both sides alike
        order = ["shipped"] if len(checkpoints) == 1 else ["shipped", "full", "full", "shipped"]
        rates: dict[str, list[float]] = {k: [] for k in checkpoints}
        for label in order:
            with served(checkpoints[label]) as (url, log):
                since = time.time()
                stamps, moves = drag(url, args.seconds, args.driver)
                time.sleep(1)  # the last events' lines
                events = read_log(log, since)
            previews, full = len(events.get("drag_fg", [])), len(events.get("set_fg", []))
            # what the run claims to measure: previews while moving with the preview file, none without
            if (label == "shipped") != (previews > 0):
                sys.exit(f"{label}: the server drew {previews} previews and {full} full pictures: not the app measured")
            rates[label].append(len(stamps) / args.seconds)
            gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
            median_gap = gaps[len(gaps) // 2] if gaps else float("nan")
            what = "the app as shipped" if label == "shipped" else "without the preview decoder (every move full)"
            print(
                f"# {what}: {moves} slider moves in {args.seconds:.1f} s ({args.driver}); server events: {previews} previews, "
                f"{full} full; {len(stamps)} new pictures, {rates[label][-1]:.1f} a second, median gap {median_gap:.0f} ms",
                flush=True,
            )
        mean = {k: statistics.mean(v) for k, v in rates.items()}
        print(machine())
        print(
            f"FIGURE browser.pictures_per_s: {mean['shipped']:.1f}  (new pictures a second while a slider is dragged in Chromium, "
            f"mean of {len(rates['shipped'])} runs; goal 20)"
        )
        if "full" in mean:
            print(f"FIGURE browser.pictures_per_s_full: {mean['full']:.1f}  (the same without the preview decoder: every move full)")
            print(f"FIGURE browser.preview_speedup: {mean['shipped'] / max(mean['full'], 1e-9):.2f}  (x, A B B A in one run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
