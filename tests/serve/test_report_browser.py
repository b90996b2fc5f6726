"""`nnctl report`'s page in a real headless Chromium (Selenium), opened as a file: it loads
without a console error, and the misclassified digits filter by true and predicted digit (the
selects, and a click on a count of the confusion matrix). Skipped with the reason when Chromium,
chromedriver or Selenium is missing, as tests/serve/test_browser.py is."""

from __future__ import annotations

import pytest
from browsers import MARKS, chromium

from nnctl.tasks.report import write_report

pytestmark = MARKS

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


@pytest.fixture(scope="module")
def browser():
    with chromium("--window-size=1200,900", console=True) as driver:
        yield driver


@pytest.fixture(scope="module")
def page(digit_reader, browser, tmp_path_factory):
    out = write_report(digit_reader, tmp_path_factory.mktemp("report") / "report.html")
    browser.get(out.as_uri())
    return browser


def shown(driver) -> list[tuple[str, str]]:
    """(true, predicted) of each misclassified digit the page shows (laid out: not hidden by
    itself or an ancestor), asked in one script rather than three calls per digit."""
    pairs = driver.execute_script(
        "return Array.from(document.querySelectorAll('#mistakes .mistake'))"
        ".filter(m => m.getClientRects().length > 0)"
        ".map(m => [m.getAttribute('data-true'), m.getAttribute('data-predicted')]);")
    return [tuple(pair) for pair in pairs]


def test_the_page_loads_without_errors(page):
    assert page.title.startswith("Run digit-reader")
    assert [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"] == []
    images = page.find_elements(By.TAG_NAME, "img")
    assert images and all(page.execute_script("return arguments[0].naturalWidth", image) > 0
                          for image in images[:10])


def test_the_digits_filter_by_true_and_predicted_class(page):
    everything = shown(page)
    assert len(everything) > 20
    pair = max(set(everything), key=everything.count)
    Select(page.find_element(By.ID, "filter-true")).select_by_value(pair[0])
    assert shown(page) == [m for m in everything if m[0] == pair[0]]
    Select(page.find_element(By.ID, "filter-predicted")).select_by_value(pair[1])
    assert shown(page) == [pair] * everything.count(pair)
    count = page.find_element(By.ID, "mistakes-count").text
    assert count == f"showing {everything.count(pair)} of {len(everything)}"
    Select(page.find_element(By.ID, "filter-true")).select_by_value("")
    Select(page.find_element(By.ID, "filter-predicted")).select_by_value("")
    assert shown(page) == everything


def test_a_count_of_the_confusion_matrix_shows_its_digits(page):
    button = page.find_elements(By.CSS_SELECTOR, "table.confusion button")[0]
    pair = (button.get_attribute("data-true"), button.get_attribute("data-predicted"))
    button.click()
    assert shown(page) == [pair] * int(button.text)
    assert [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"] == []
