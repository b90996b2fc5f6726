"""`nnctl serve`'s page on a 400-pixel-wide screen (a phone): the prediction stays in view beside
or above the canvas while one draws on it, and a drawn 7 is read there. Screenshot:
test-artifacts/serve-narrow.png (look at it). Needs Chromium and chromedriver, as
test_browser.py; skipped with the reason otherwise."""

from __future__ import annotations

import pytest
from browsers import ARTIFACTS, MARKS, chromium, draw
from serving import running_server

pytestmark = MARKS

from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WIDTH, HEIGHT = 400, 760  # CSS pixels: a phone held upright, the browser's bars taken off
BOX = """const r = arguments[0].getBoundingClientRect();
return [r.left, r.top, r.right, r.bottom, window.innerWidth, window.innerHeight];"""


@pytest.fixture(scope="module")
def narrow(digit_reader):
    metrics = {"width": WIDTH, "height": HEIGHT, "pixelRatio": 1.0}
    with chromium("--hide-scrollbars", mobile=metrics) as driver, \
            running_server(digit_reader) as (url, _):
        driver.get(url)
        WebDriverWait(driver, 20).until(
            lambda b: "784-100-10" in b.find_element(By.ID, "model").text)
        yield driver


def draw_seven(driver) -> None:
    """A 7 drawn with a finger: the bar, then the stem (CSS pixels from the canvas's centre)."""
    draw(driver, [[(-60 + 12 * i, -76) for i in range(11)],
                  [(60 - 6 * i, -76 + 15 * i) for i in range(1, 11)]], interaction.POINTER_TOUCH)


def answered(driver) -> str:
    """The text of #prediction once it answers the drawing."""
    prediction = driver.find_element(By.ID, "prediction")
    WebDriverWait(driver, 20).until(lambda _: prediction.get_attribute("data-state") == "ready")
    return prediction.text


def in_view(driver, element_id: str) -> bool:
    left, top, right, bottom, width, height = driver.execute_script(
        BOX, driver.find_element(By.ID, element_id))
    return 0 <= left and right <= width and 0 <= top and bottom <= height


def test_the_prediction_is_in_view_with_the_canvas(narrow):
    assert narrow.execute_script("return window.innerWidth") == WIDTH
    canvas = narrow.find_element(By.ID, "canvas")
    narrow.execute_script("arguments[0].scrollIntoView({block: 'end'})", canvas)
    assert in_view(narrow, "canvas")
    assert in_view(narrow, "prediction")
    draw_seven(narrow)
    text = answered(narrow)
    ARTIFACTS.mkdir(exist_ok=True)
    narrow.save_screenshot(str(ARTIFACTS / "serve-narrow.png"))
    assert text.startswith("7"), text
    assert in_view(narrow, "canvas") and in_view(narrow, "prediction")
