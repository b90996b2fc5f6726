"""Headless Chromium for the browser tests (Selenium), one way for all of them.

A test module that imports this is skipped, with the reason, when Selenium is not installed; its
`pytestmark = MARKS` skips it when Chromium or chromedriver is missing (Debian: apt-get install
chromium chromium-driver; `.ci/run` does). Selenium never downloads a driver, and the pages load
nothing from elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("NNCTL_TEST_ARTIFACTS", ROOT / "test-artifacts"))
BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
               None)
DRIVER = shutil.which("chromedriver")
MARKS = [pytest.mark.browser, pytest.mark.slow, pytest.mark.skipif(
    BROWSER is None or DRIVER is None,
    reason="the browser test needs Chromium and chromedriver (Debian: apt-get install chromium "
           "chromium-driver)")]

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")

# imported once it is known to be installed
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By


@contextmanager
def chromium(*arguments: str, mobile: dict | None = None,
             console: bool = False) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with `arguments` (e.g. `--window-size=1200,900`), emulating the
    `mobile` device metrics if given, keeping the page's console log if `console`."""
    options = Options()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-extensions", *arguments):
        options.add_argument(argument)
    if mobile:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": mobile})
    if console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def draw(driver, strokes: list[list[tuple[int, int]]],
         kind: str = interaction.POINTER_MOUSE) -> None:
    """Draw `strokes` on the canvas with a pointer of `kind` (mouse, touch, pen)."""
    canvas = driver.find_element(By.ID, "canvas")
    actions = ActionBuilder(driver, mouse=PointerInput(kind, kind), duration=10)  # ms a move
    for stroke in strokes:
        actions.pointer_action.move_to(canvas, *stroke[0]).pointer_down()
        for x, y in stroke[1:]:
            actions.pointer_action.move_to(canvas, x, y)
        actions.pointer_action.pointer_up()
    actions.perform()
