"""The customer console as its customer uses it (SPEC §13), in headless Chromium against a running
ingress and worker: sign in, read the package, act, watch a score arrive, sign out."""

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.browser.conftest import Page
from tests.fixture_factory import fixture, incident
from tests.support import PACKAGE_ID, PASSWORD, USERNAME, add_fixtures, publish_incident

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
    assert "last incident #12" in await page.text_of("#fixture-1")
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
