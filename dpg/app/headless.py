"""Headless Chromium for the repository's own browser checks (the browser tests,
``bench/bench_browser.py``, ``docs/make_screenshots.py``): one place for the binary and its
launch arguments. Debian's ``chromium`` package, driven by Playwright; nothing is downloaded."""

from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
# no sandbox (containers run as root), no GPU (none here), no network beyond the local app
ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")


def available() -> bool:
    return os.path.exists(CHROMIUM)


def launch(playwright):
    """A headless Chromium browser from a started ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=list(ARGS))
