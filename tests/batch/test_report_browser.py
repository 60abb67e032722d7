"""report.html in real headless Chromium (Debian's chromium + chromium-driver, via selenium):
no console errors, one row per submission, filter, sort, detail view; a screenshot is kept."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ("qlora-cuda-unpinned", "apt-pinned-clean", "cuda-flash-attn",
               "sec-env-arg-tokens", "ctx-host-paths")


def chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail("chromium and chromium-driver are needed: run scripts/engine.sh")
    return browser, driver


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("report")
    inp = base / "in"
    for name in SUBMISSIONS:
        shutil.copytree(ROOT / "fixtures" / "submissions" / name, inp / name)
    proc = subprocess.run([sys.executable, "-m", "carpenter.cli", "batch", str(inp), "--out",
                           str(base / "out"), "--stages", "scan,fix"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return base / "out" / "report.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


def rows(browser) -> list:
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")


def test_report_works_offline_in_headless_chromium(browser, report: Path,
                                                   tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    text = report.read_text()
    # Nothing to fetch (no CDN): no external stylesheet, script, image or font.
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]*\bsrc=|url\(", text)
    browser.get(report.as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    assert len(rows(browser)) == len(SUBMISSIONS)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-categories svg rect")

    # Filter by verdict text: only the matching rows stay.
    box = browser.find_element(By.ID, "filter")
    box.send_keys("needs-human")
    shown = [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows(browser)]
    assert shown and set(shown) == {"needs-human"}
    box.clear()
    box.send_keys(" ")  # an input event with an empty query shows everything again
    assert len(rows(browser)) == len(SUBMISSIONS)

    # Sort by findings, descending on the second click.
    header = browser.find_element(By.CSS_SELECTOR, 'th[data-key="findings"]')
    header.click()
    ascending = [int(r.find_elements(By.TAG_NAME, "td")[3].text) for r in rows(browser)]
    assert ascending == sorted(ascending)
    header.click()
    descending = [int(r.find_elements(By.TAG_NAME, "td")[3].text) for r in rows(browser)]
    assert descending == sorted(ascending, reverse=True)

    # Detail view of the submission with the most findings: code frames and the fix diff.
    rows(browser)[0].click()
    detail = browser.find_element(By.ID, "detail")
    assert detail.is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#detail pre.frame")
    assert "+" in browser.find_element(By.CSS_SELECTOR, "#detail pre.diff").text
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
