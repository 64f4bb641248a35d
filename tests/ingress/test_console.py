"""The customer console's sessions and actions (SPEC §13), on a real Redis and a real database: sign-in
under the API's limits and messages, the session cookie, its end, and changes refused from elsewhere."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from http.cookies import SimpleCookie
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis

from domain.settings import Settings
from ingress.app import create_app
from ingress.bodies import SNAPSHOT_SENT
from tests.support import (
    BODY,
    PACKAGE_ID,
    STATUS,
    USERNAME,
    Cli,
    console_browser,
    console_sign_in,
)

WRONG = {**BODY, "password": "not it"}
NOT_SIGNED_IN = {"error": "Not signed in"}


@asynccontextmanager
async def browser_with(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A console browser on an ingress of these settings, for one test."""
    app = create_app(settings)
    async with app.lifespan(), console_browser(cast(Any, app)) as browser:
        yield browser


def session_cookie(response: httpx.Response) -> Any:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie["livescore_console"]


@pytest.mark.usefixtures("package")
async def test_sign_in_opens_a_session_in_an_httponly_samesite_strict_secure_cookie(
    browser: httpx.AsyncClient,
) -> None:
    answer = await console_sign_in(browser)
    assert (answer.status_code, answer.json()) == (
        200,
        {"success": True, "packageId": PACKAGE_ID, "username": USERNAME},
    )
    cookie = session_cookie(answer)
    assert (cookie["httponly"], cookie["secure"], cookie["samesite"]) == (True, True, "strict")
    assert (cookie["path"], cookie["max-age"]) == ("/console", "3600")
    status = await browser.get("/console/status")
    assert status.status_code == 200
    body = status.json()
    assert (body["status"], body["queue"]["length"], body["incidentsQueue"]["name"]) == (
        "inactive",
        0,
        "livescore:incidents:123",
    )
    assert "secret" not in answer.text + str(answer.headers)


@pytest.mark.usefixtures("package")
async def test_under_livescore_dev_the_cookie_is_not_secure(settings: Settings) -> None:
    async with browser_with(replace(settings, console_insecure_cookie=True)) as browser:
        cookie = session_cookie(await console_sign_in(browser))
    assert (cookie["secure"], cookie["httponly"], cookie["samesite"]) == ("", True, "strict")


@pytest.mark.usefixtures("package")
async def test_a_wrong_password_gets_the_apis_message_and_no_session(browser: httpx.AsyncClient) -> None:
    answer = await console_sign_in(browser, WRONG)
    assert (answer.status_code, answer.json()) == (400, {"error": "Invalid package credentials"})
    assert "set-cookie" not in answer.headers
    missing = await console_sign_in(browser, {"packageId": PACKAGE_ID, "username": USERNAME})
    assert (missing.status_code, missing.json()) == (400, {"error": "Password is required"})


@pytest.mark.usefixtures("package")
async def test_sign_in_answers_to_the_apis_failure_limit_and_shares_its_budget(settings: Settings) -> None:
    async with browser_with(replace(settings, auth_failures=2)) as browser:
        for _ in range(3):  # "more than" the limit
            assert (await console_sign_in(browser, WRONG)).status_code == 400
        locked = await console_sign_in(browser)
        api = await browser.post(STATUS, json=BODY)
    assert (locked.status_code, locked.json()) == (429, {"error": "Too many failed attempts; retry later"})
    assert int(locked.headers["retry-after"]) > 0
    assert "set-cookie" not in locked.headers
    assert api.status_code == 429


@pytest.mark.usefixtures("package")
async def test_sign_out_ends_the_session_even_for_a_copy_of_its_cookie(browser: httpx.AsyncClient) -> None:
    token = session_cookie(await console_sign_in(browser)).value
    ended = await browser.post("/console/sign-out")
    assert ended.status_code == 200
    assert session_cookie(ended)["max-age"] == "0"
    browser.cookies.set("livescore_console", token, domain="ingress", path="/console")
    replayed = await browser.get("/console/status")
    assert (replayed.status_code, replayed.json()) == (401, NOT_SIGNED_IN)


@pytest.mark.usefixtures("package")
async def test_an_expired_session_is_refused(settings: Settings, redis: Redis) -> None:
    async with browser_with(replace(settings, console_session_s=1)) as browser:
        token = session_cookie(await console_sign_in(browser)).value
        keys = await redis.keys("livescore:console-session:*")
        assert 0 < await redis.pttl(keys[0]) <= 1000
        assert (await browser.get("/console/status")).status_code == 200
        await asyncio.sleep(1.2)
        # Presented all the same, as a browser with a wrong clock would: the server's expiry decides.
        browser.cookies.set("livescore_console", token, domain="ingress", path="/console")
        answer = await browser.get("/console/status")
    assert (answer.status_code, answer.json()) == (401, NOT_SIGNED_IN)


@pytest.mark.usefixtures("package")
async def test_a_password_change_ends_the_packages_sessions(
    browser: httpx.AsyncClient, cli: Cli, redis: Redis
) -> None:
    await console_sign_in(browser)
    await cli.output("package", "set-password", "--id", str(PACKAGE_ID), "--password", "a new one")
    for path in ("/console/status", "/console/live"):
        answer = await browser.get(path)
        assert (answer.status_code, answer.json()) == (401, NOT_SIGNED_IN)
    assert (await browser.post("/console/snapshot")).status_code == 401
    assert await redis.keys("livescore:console-session:*") == []


@pytest.mark.usefixtures("package")
async def test_a_session_survives_its_package_copy_being_dropped_but_not_a_changed_password(
    browser: httpx.AsyncClient, redis: Redis, cli: Cli
) -> None:
    await console_sign_in(browser)
    await redis.delete(f"livescore:package:{PACKAGE_ID}")
    assert (await browser.get("/console/status")).status_code == 200
    await redis.hdel(f"livescore:package:{PACKAGE_ID}", "cv")
    await cli.output("package", "set-password", "--id", str(PACKAGE_ID), "--password", "a new one")
    await redis.hdel(f"livescore:package:{PACKAGE_ID}", "cv")
    answer = await browser.post("/console/deactivate")
    assert (answer.status_code, answer.json()) == (401, NOT_SIGNED_IN)


@pytest.mark.usefixtures("package", "worker")
async def test_actions_answer_with_the_apis_own_messages(browser: httpx.AsyncClient) -> None:
    await console_sign_in(browser)
    snapshot_inactive = await browser.post("/console/snapshot")
    assert (snapshot_inactive.status_code, snapshot_inactive.json()) == (
        400,
        {"error": "Package is inactive"},
    )
    expected = [
        ("activate", "Package activation completed successfully"),
        ("activate", "Package is already active"),
        ("deactivate", "Package deactivation completed successfully"),
        ("deactivate", "Package is already inactive"),
    ]
    for action, message in expected:
        answer = await browser.post(f"/console/{action}")
        assert answer.status_code == 200
        assert answer.json() == {
            "success": True,
            "message": message,
            "packageId": PACKAGE_ID,
            "username": USERNAME,
        }
    await browser.post("/console/activate")
    snapshot = (await browser.post("/console/snapshot")).json()
    assert (snapshot["message"], len(snapshot["requestId"])) == (SNAPSHOT_SENT, 36)
    assert (await browser.get("/console/status")).json()["status"] == "active"


@pytest.mark.usefixtures("package", "worker")
async def test_recovery_is_answered_in_place_with_the_apis_messages(browser: httpx.AsyncClient) -> None:
    await console_sign_in(browser)
    inactive = await browser.post("/console/recovery", json={})
    await browser.post("/console/activate")
    not_a_time = await browser.post("/console/recovery", json={"after": "yesterday"})
    sent = await browser.post("/console/recovery", json={})
    assert (inactive.status_code, inactive.json()) == (400, {"error": "Package is inactive"})
    assert (not_a_time.status_code, not_a_time.json()) == (400, {"error": "After must be an ISO-8601 time"})
    assert sent.status_code == 200
    assert sent.json()["message"] == "Recovery request sent successfully"
    assert len(sent.json()["requestId"]) == 36


@pytest.mark.usefixtures("package", "worker")
@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "https://ingress.evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
async def test_a_change_from_another_origin_is_refused_and_changes_nothing(
    browser: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await console_sign_in(browser)
    for action in ("activate", "snapshot", "sign-out"):
        answer = await browser.post(f"/console/{action}", headers=headers)
        assert (answer.status_code, answer.json()) == (403, {"error": "Request from another origin refused"})
    assert (await browser.get("/console/status")).json()["status"] == "inactive"


@pytest.mark.usefixtures("package")
async def test_a_change_without_an_origin_header_is_refused(browser: httpx.AsyncClient) -> None:
    await console_sign_in(browser)
    del browser.headers["origin"]
    assert (await browser.post("/console/activate")).status_code == 403
    assert (await browser.post("/console/sign-in", json=BODY)).status_code == 403


@pytest.mark.usefixtures("package")
@pytest.mark.parametrize("action", ["activate", "deactivate", "snapshot", "recovery", "sign-out"])
async def test_a_change_without_a_session_is_401(browser: httpx.AsyncClient, action: str) -> None:
    answer = await browser.post(f"/console/{action}")
    expected = 200 if action == "sign-out" else 401  # signing out twice is no error
    assert answer.status_code == expected
    if expected == 401:
        assert answer.json() == NOT_SIGNED_IN


async def test_reads_without_a_session_are_401(browser: httpx.AsyncClient) -> None:
    for path in ("/console/status", "/console/live"):
        answer = await browser.get(path)
        assert (answer.status_code, answer.json()) == (401, NOT_SIGNED_IN)
    browser.cookies.set("livescore_console", "made-up", domain="ingress", path="/console")
    forged = await browser.get("/console/status")
    assert forged.status_code == 401


async def test_the_page_allows_no_other_host(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    sources = {source for value in policy.values() for source in value.split()}
    assert sources <= {"'self'", "'none'"}
    assert "://" not in page.text  # every asset from this origin
    for asset in ("/static/console.js", "/static/console.css"):
        served = await browser.get(asset)
        assert served.status_code == 200
        assert "://" not in served.text
