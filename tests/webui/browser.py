"""Read what the Temporal Web UI shows, with Debian's headless Chromium through Selenium.

Selenium drives ``/usr/bin/chromedriver`` directly, so nothing is downloaded; the package
``chromium-driver`` installs both binaries (CI installs them, tests skip without them).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchFrameException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

__all__ = ["CHROMEDRIVER", "CHROMIUM", "WebUI"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class WebUI:
    """One headless Chromium session on the Web UI at ``base_url``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8233``.
        screenshots: where a view that never showed what was expected is photographed.
        timeout_s: how long a view may take to render what is expected of it.
    """

    def __init__(self, base_url: str, *, screenshots: Path, timeout_s: float = 20.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.screenshots = screenshots
        self.timeout_s = timeout_s
        self.missed: list[Path] = []
        """Screenshots of the views that timed out (or failed), in order."""
        self.taken: list[Path] = []
        """Screenshots taken on purpose (:meth:`shoot`), for a person to look at."""
        self._driver: webdriver.Chrome | None = None

    @contextlib.contextmanager
    def session(self) -> Iterator[WebUI]:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1200"):
            options.add_argument(arg)
        self._driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            yield self
        except Exception:
            self._shoot("error")  # e.g. a tab that never appeared
            raise
        finally:
            self._driver.quit()
            self._driver = None

    def read(self, path: str, *expected: str) -> str:
        """Open ``path`` and poll its text (frames included) until it holds every ``expected``.

        Returns the last text seen either way, so the caller's assertion shows it; on a
        timeout the page is saved to ``screenshots`` and listed in ``missed``.
        """
        driver = self._require()
        driver.get(f"{self.base_url}{path}")
        return self._wait(path, expected)

    def click(self, link_text: str, *expected: str) -> str:
        """Follow the link (or tab) named ``link_text``, then wait as ``read`` does."""
        driver = self._require()
        WebDriverWait(driver, self.timeout_s, poll_frequency=0.1).until(
            lambda d: d.find_element(By.PARTIAL_LINK_TEXT, link_text)
        ).click()
        return self._wait(link_text, expected)

    def shoot(self, name: str) -> Path:
        """Save the page as it looks now (``screenshots/<name>.png``) and return its path."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        shot = self.screenshots / f"{_slug(name)}.png"
        self._require().save_screenshot(str(shot))
        self.taken.append(shot)
        return shot

    @property
    def url(self) -> str:
        return self._require().current_url

    def _wait(self, name: str, expected: tuple[str, ...]) -> str:
        driver = self._require()
        seen = {"text": ""}

        def shows_everything(d: webdriver.Chrome) -> bool:
            seen["text"] = _text(d)
            return all(e in seen["text"] for e in expected)

        wait = WebDriverWait(
            driver,
            self.timeout_s,
            poll_frequency=0.1,
            ignored_exceptions=(StaleElementReferenceException, NoSuchFrameException),
        )
        try:
            wait.until(shows_everything)
        except TimeoutException:
            self._shoot(name)
        return seen["text"]

    def _shoot(self, name: str) -> None:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        shot = self.screenshots / f"{len(self.missed):02d}-{_slug(name)}.png"
        self._require().save_screenshot(str(shot))
        self.missed.append(shot)

    def _require(self) -> webdriver.Chrome:
        if self._driver is None:
            raise RuntimeError("use WebUI inside `with ui.session():`")
        return self._driver


def _text(driver: webdriver.Chrome) -> str:
    """The page's visible text, then that of each iframe (the UI renders markdown in one)."""
    driver.switch_to.default_content()
    parts = [driver.find_element(By.TAG_NAME, "body").text]
    for frame in driver.find_elements(By.TAG_NAME, "iframe"):
        try:
            driver.switch_to.frame(frame)
            parts.append(driver.find_element(By.TAG_NAME, "body").text)
        except WebDriverException:
            pass  # a frame still loading; the next poll reads it
        finally:
            driver.switch_to.default_content()
    return "\n".join(parts)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:60] or "page"
