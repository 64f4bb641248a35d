"""The customer console in a real browser: Debian's headless Chromium driven by Selenium through
chromium-driver, against the ingress served over HTTP from the test's event loop.

Skipped where Chromium is not installed, unless LIVESCORE_REQUIRE_SERVERS=1 (CI) makes that a failure.
Selenium blocks: every call to the browser runs in a thread, so that the server in this loop answers it.
"""

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
from litestar import Litestar
from selenium.webdriver.remote.webdriver import WebDriver

from domain.settings import Settings
from tests.support import serving
from tests.support_browser import Page, start_chromium


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """As under `livescore dev`: the session cookie works over plain http://127.0.0.1."""
    return replace(settings, console_insecure_cookie=True)


@pytest.fixture
def chromium() -> Iterator[WebDriver]:
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def page(app: Litestar, chromium: WebDriver) -> AsyncIterator[Page]:
    async with serving(app) as base_url:
        yield Page(chromium, base_url)
