"""The customer console in a real browser as the tests drive it: Debian's headless Chromium through
chromium-driver, and the console's page, every call to it made in a thread (Selenium blocks, and the
server the page talks to answers from the test's event loop).

Fixtures are in tests/browser/conftest.py.
"""

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import server_missing

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# How long a page waits for what it expects: generous for a loaded 2-core machine.
WAIT_S = 15


def start_chromium(width: int = 1280, height: int = 900) -> WebDriver:
    """Headless Chromium, as root (no sandbox), talking to nothing but the test's server."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        server_missing("Chromium is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


@dataclass
class Page:
    """The console in the browser; every method waits in a thread."""

    driver: WebDriver
    base_url: str

    async def run(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(call, *args)

    async def open(self) -> None:
        await self.run(self.driver.get, f"{self.base_url}/console")

    async def sign_in(self, package_id: int, username: str, password: str) -> None:
        await self.type_into("package-id", str(package_id))
        await self.type_into("username", username)
        await self.type_into("password", password)
        await self.click("#sign-in button[type=submit]")

    async def type_into(self, element_id: str, text: str) -> None:
        element = await self.run(self.driver.find_element, By.ID, element_id)
        await self.run(element.clear)
        await self.run(element.send_keys, text)

    async def click(self, selector: str) -> None:
        element = await self.run(self.driver.find_element, By.CSS_SELECTOR, selector)
        await self.run(element.click)

    async def text_of(self, selector: str) -> str:
        return await self.until_text(selector, lambda _: True, "the element")

    async def until_text(self, selector: str, wanted: Callable[[str], bool], what: str) -> str:
        """The text of the first element matching `selector`, once `wanted` holds for it."""

        def check(driver: WebDriver) -> str | bool:
            found = driver.find_elements(By.CSS_SELECTOR, selector)
            text = found[0].text if found and found[0].is_displayed() else ""
            return text if wanted(text) else False

        # The page replaces a board's element on each change: one found a moment ago may be gone.
        wait = WebDriverWait(self.driver, WAIT_S, 0.1, ignored_exceptions=(StaleElementReferenceException,))
        return str(await self.run(wait.until, check, f"{what} (in {selector})"))

    async def until_focused(self, element_id: str) -> None:
        def check(driver: WebDriver) -> bool:
            return bool(driver.switch_to.active_element.get_attribute("id") == element_id)

        wait = WebDriverWait(self.driver, WAIT_S, poll_frequency=0.1)
        await self.run(wait.until, check, f"the focus on #{element_id}")

    async def fetch(self, method: str, path: str) -> int:
        """The status of a request the page's own script would send (same origin, its cookie)."""
        script = (
            "const done = arguments[arguments.length - 1];"
            f"fetch('{path}', {{method: '{method}', credentials: 'same-origin'}}).then(r => done(r.status));"
        )
        return int(await self.run(self.driver.execute_async_script, script))
