"""The customer console as its customer uses it (SPEC §13), in headless Chromium against a running
ingress and worker: sign in, read the package, act, watch a score arrive, sign out."""

import pytest
from litestar import Litestar
from redis.asyncio import Redis
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixture_factory import fixture, incident
from tests.support import (
    PACKAGE_ID,
    PASSWORD,
    USERNAME,
    add_fixtures,
    keep_incident,
    publish_incident,
    serving,
)
from tests.support_browser import Page

IN_PLAY = 2


@pytest.mark.usefixtures("package", "worker")
async def test_a_customer_signs_in_acts_watches_a_score_change_and_signs_out(
    page: Page, engine: AsyncEngine, redis: Redis
) -> None:
    await add_fixtures(engine, [fixture(1, status=IN_PLAY)])
    await page.open()
    await page.sign_in(PACKAGE_ID, USERNAME, PASSWORD)
    await page.until_text("#status", lambda text: text.lower() == "inactive", "the package's status")
    assert "Messages" in await page.text_of("#fixtures-queue")
    assert "Backlog" in await page.text_of("#incidents-queue")
    await page.until_text("#feed", lambda text: "inactive" in text, "the feed's sign of an inactive package")

    await page.click("button[data-action=activate]")
    await page.until_text(
        "#action-message", lambda t: t == "Package activation completed successfully", "activation"
    )
    await page.until_text("#status", lambda text: text.lower() == "active", "the new status")
    await page.click("button[data-action=snapshot]")
    await page.until_text(
        "#action-message",
        lambda t: t.startswith("Livescore snapshot request sent successfully"),
        "the snapshot",
    )

    await publish_incident(redis, incident(11, 1))
    await page.until_text("#fixture-1 .score", lambda text: text == "1 – 0", "the first score")
    await publish_incident(
        redis, incident(12, 1, values=[{"position": 1, "value": 2}, {"position": 2, "value": 0}])
    )
    await page.until_text("#fixture-1 .score", lambda text: text == "2 – 0", "the score's change")
    assert "Last incident: Goal (Score), 10:00" in await page.text_of("#fixture-1")
    news = await page.run(lambda: page.driver.find_element("id", "score-news").get_attribute("textContent"))
    assert "Score:" in news
    assert "2" in news

    await page.click("#sign-out")
    await page.until_text("#sign-in-message", lambda text: text == "Signed out.", "the sign-in form again")


@pytest.mark.usefixtures("package")
async def test_a_wrong_password_shows_the_apis_message(page: Page) -> None:
    await page.open()
    await page.sign_in(PACKAGE_ID, USERNAME, "not the password")
    await page.until_text(
        "#sign-in-message", lambda text: text == "Invalid package credentials", "the refusal"
    )
    assert await page.run(lambda: page.driver.find_element("id", "console").is_displayed()) is False


@pytest.mark.usefixtures("package")
async def test_a_signed_out_session_cannot_act_even_with_its_cookie_put_back(page: Page) -> None:
    await page.open()
    await page.sign_in(PACKAGE_ID, USERNAME, PASSWORD)
    await page.until_text("#status", lambda text: text.lower() == "inactive", "the package's status")
    cookie = await page.run(page.driver.get_cookie, "livescore_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    await page.click("#sign-out")
    await page.until_text("#sign-in-message", lambda text: text == "Signed out.", "the sign-in form again")
    await page.run(page.driver.add_cookie, cookie)
    assert await page.fetch("POST", "/console/activate") in (401, 403)
    assert await page.fetch("GET", "/console/status") == 401
    storage = await page.run(
        page.driver.execute_script, "return JSON.stringify([localStorage, sessionStorage, document.cookie])"
    )
    assert storage == '[{},{},""]'


@pytest.mark.usefixtures("package", "worker")
async def test_a_customer_signs_in_and_acts_with_the_keyboard_alone(page: Page) -> None:
    await page.open()
    await page.until_focused("package-id")  # where the page puts the focus once it knows nobody signed in
    keys = ActionChains(page.driver)
    keys.send_keys(str(PACKAGE_ID), Keys.TAB, USERNAME, Keys.TAB, PASSWORD, Keys.ENTER)
    await page.run(keys.perform)
    await page.until_text("#status", lambda text: text.lower() == "inactive", "the package's status")
    await page.until_focused("package-title")
    activate = ActionChains(page.driver).send_keys(Keys.TAB, Keys.ENTER)
    await page.run(activate.perform)
    await page.until_text(
        "#action-message", lambda t: t == "Package activation completed successfully", "activation"
    )


@pytest.mark.usefixtures("package")
async def test_the_live_panel_comes_back_by_itself_after_the_ingress_restarts(
    app: Litestar, chromium: WebDriver, engine: AsyncEngine
) -> None:
    await add_fixtures(engine, [fixture(1, status=IN_PLAY)])
    await keep_incident(engine, 1, incident(11, 1))
    async with serving(app) as base_url:
        page = Page(chromium, base_url)
        await page.open()
        await page.sign_in(PACKAGE_ID, USERNAME, PASSWORD)
        await page.until_text("#fixture-1 .score", lambda text: text == "1 – 0", "the first score")
    three_two = [{"position": 1, "value": 3}, {"position": 2, "value": 2}]
    await keep_incident(engine, 2, incident(12, 1, values=three_two))
    async with serving(app, port=int(base_url.rsplit(":", 1)[1])):
        await page.until_text(
            "#fixture-1 .score", lambda text: text == "3 – 2", "the score after the restart"
        )
        assert chromium.current_url.endswith("/console")
