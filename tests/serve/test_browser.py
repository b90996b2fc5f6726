"""`nnctl serve`'s page in a real headless Chromium (Selenium): a 7 drawn with a mouse, a finger
and a pen is read as 7, the page says when nothing is drawn, undo and clear work, a single layer
shows its 10 templates with the best one marked. Screenshots go to test-artifacts/ (look at them).

Needs Chromium, its driver and Selenium (Debian: apt-get install chromium chromium-driver; the
test extra has selenium); skipped with the reason when one is missing. The server listens on
127.0.0.1 only, and the browser loads nothing from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browsers import ARTIFACTS, MARKS, chromium, draw
from serving import running_server

from nnctl.io.config import config_from_dict
from nnctl.tasks.train import train

pytestmark = MARKS

from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# A 7 as people draw it, two strokes, in CSS pixels from the canvas's centre (it is 336 wide):
# the bar, then the stem down to the left. The pen is 22 of 280 canvas pixels wide, so the
# strokes are about as thick, for the digit's size, as MNIST's.
SEVEN = [[(-75 + 15 * i, -95) for i in range(11)],
         [(75 - 8 * i, -95 + 19 * i) for i in range(1, 11)]]
INK = """const c = document.getElementById(arguments[0]);
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0; for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - arguments[1]) > 128) n++;
return n;"""


@pytest.fixture(scope="module")
def browser():
    with chromium("--window-size=1200,900") as driver:
        yield driver


@pytest.fixture(scope="module")
def page(digit_reader, browser):
    """The page of the digit reader (784-100-10), loaded, with the model's description shown."""
    with running_server(digit_reader) as (url, log):
        browser.get(url)
        WebDriverWait(browser, 20).until(lambda b: "784-100-10" in b.find_element(By.ID,
                                                                                   "model").text)
        yield browser, log


def answered(driver) -> str:
    """The text of #prediction once it answers the drawing as it is now."""
    prediction = driver.find_element(By.ID, "prediction")
    WebDriverWait(driver, 20).until(
        lambda _: prediction.get_attribute("data-state") in ("ready", "empty", "error"))
    return prediction.text


def click(driver, button: str) -> None:
    driver.find_element(By.ID, button).click()


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def test_the_page_says_when_nothing_is_drawn(page):
    driver, log = page
    click(driver, "clear")
    assert answered(driver).startswith("Nothing drawn yet")
    assert driver.execute_script(INK, "seen", 0) == 0  # the network's view is black
    assert "Draw to see" in driver.find_element(By.ID, "units").text
    screenshot(driver, "serve-nothing-drawn.png")
    assert log == []


@pytest.mark.parametrize("kind", [interaction.POINTER_MOUSE, interaction.POINTER_TOUCH,
                                  interaction.POINTER_PEN])
def test_a_drawn_seven_is_read_as_seven(page, kind):
    driver, log = page
    click(driver, "clear")
    draw(driver, SEVEN, kind)
    text = answered(driver)
    screenshot(driver, f"serve-seven-{kind}.png")
    assert text.startswith("7"), text
    assert text.count("%") == 3  # the top three, with their probabilities
    assert driver.execute_script(INK, "seen", 0) > 40  # what the network sees has the strokes
    units = driver.find_elements(By.CSS_SELECTOR, "#units .unit")
    assert len(units) == 8 and all("a = " in u.text for u in units)
    assert all(driver.execute_script("return arguments[0].naturalWidth", img) == 114
               for img in driver.find_elements(By.CSS_SELECTOR, "#units img"))
    assert log == []


def test_undo_removes_the_last_stroke_and_clear_everything(page):
    driver, _ = page
    click(driver, "clear")
    draw(driver, SEVEN)
    answered(driver)
    both = driver.execute_script(INK, "canvas", 255)
    click(driver, "undo")
    answered(driver)
    bar = driver.execute_script(INK, "canvas", 255)
    assert 0 < bar < both
    click(driver, "clear")
    assert answered(driver).startswith("Nothing drawn yet")
    assert driver.execute_script(INK, "canvas", 255) == 0


def test_a_single_layer_shows_its_templates_and_marks_the_best(browser, tmp_path):
    config = config_from_dict({"model": {"hidden": [], "init": {"scheme": "zeros"}},
                               "training": {"epochs": 2, "learning_rate": 0.01},
                               "data": {"limit": 10000, "validation": 1000}}, "templates")
    train(config, tmp_path / "templates")
    with running_server(tmp_path / "templates") as (url, log):
        browser.get(url)
        WebDriverWait(browser, 20).until(
            lambda b: len(b.find_elements(By.CSS_SELECTOR, "#units .unit")) == 10)
        draw(browser, SEVEN)
        text = answered(browser)
        screenshot(browser, "serve-templates.png")
        cells = browser.find_elements(By.CSS_SELECTOR, "#units .unit")
        best = browser.find_elements(By.CSS_SELECTOR, "#units .unit.best")
    assert [c.text.split("\n")[0] for c in cells] == [f"digit {k}" for k in range(10)]
    assert all("z = " in c.text for c in cells)
    assert len(best) == 1 and best[0].text.startswith(f"digit {text[0]}")  # the top score wins
    assert log == []
