"""What the headless-Chromium tests share: where Chromium is, the mark that skips a test
without it, a browser for a test module, and choosing a value of a page's <select>."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
browser_only = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")


def open_browser(tmp_path_factory, name: str) -> Iterator:
    """A module-scoped fixture's body: one Chromium with its profile under pytest's tmp."""
    try:
        from tests.test_browser import Chromium
    except ModuleNotFoundError:
        from test_browser import Chromium

    chromium = Chromium(tmp_path_factory.mktemp(name))
    try:
        yield chromium
    finally:
        chromium.close()


def choose(browser, select_id: str, value: str) -> None:
    """Set a <select> and fire its change event, as a person choosing it would."""
    browser.evaluate(
        f"(() => {{ const s = document.getElementById({json.dumps(select_id)});"
        f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()"
    )
