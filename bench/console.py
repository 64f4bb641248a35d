"""What the customer console costs and how quick it is (SPEC §13), against a running ingress and worker.

`python -m bench.console [--screenshot docs/console.png]` (about a minute): Debian's headless Chromium
through Selenium measures the first paint of a navigation to the console and how long a score takes from
its incident's append to the page; then 200 open `/console/live` streams: the ingress's memory, and
`status` throughput with and without them. Figures to stdout (docs/notes/console.md quotes them).
"""

import argparse
import asyncio
import socket
import statistics
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import msgspec
from redis import Redis
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bench.load import Target
from bench.loadgen import choose_generator, run_load
from bench.memory import resident_mib
from bench.services import TRIGGER_PACKAGE_ID, USERNAME, Backing, backing, serving
from domain.fixtures import Fixture, Participant, Ref
from domain.messages import MessageType, envelope
from domain.streams import INCIDENTS_STREAM

FIXTURE_ID = 9001
NAVIGATIONS = 5
SCORE_CHANGES = 10
STREAMS = 200
LOAD_S, CONCURRENCY = 5.0, 20
WAIT_S = 20
# Records, in the page, when each score text first showed (epoch ms), to compare with the append time.
WATCH_SCORES = """
window.seen = {};
new MutationObserver(() => {
  const s = document.querySelector('#fixture-9001 .score');
  const now = performance.timeOrigin + performance.now();
  if (s && !(s.textContent in window.seen)) window.seen[s.textContent] = now;
}).observe(document.getElementById('boards'), {subtree: true, childList: true, characterData: true});
"""


def live_fixture() -> Fixture:
    return Fixture(
        fixture_id=FIXTURE_ID,
        status=2,
        start_date=datetime.now(UTC),
        sport=Ref(6046, "Football"),
        league=Ref(67, "Premier League"),
        location=Ref(243, "England"),
        participants=[Participant(52, "Northbridge United", 1), Participant(53, "Harbour City", 2)],
        last_update=datetime.now(UTC),
    )


def store_fixture(stores: Backing) -> None:
    from domain.fixture_store import store_fixtures
    from domain.storage import open_engine

    async def store() -> None:
        engine = open_engine(stores.database_url)
        async with engine.begin() as conn:
            await store_fixtures(conn, [live_fixture()])
        await engine.dispose()

    asyncio.run(store())


def append_incident(redis: Redis, incident_id: int, home: int, kind: str = "Score") -> None:
    body = {
        "id": incident_id,
        "fixtureId": FIXTURE_ID,
        "kind": kind,
        "confidence": 1.0,
        "name": "Goal" if kind == "Score" else "2nd Half",
        "values": [{"position": 1, "value": home}, {"position": 2, "value": 1}],
        "period": {"id": 2, "name": "2nd Half"},
        "seconds": 60 * (46 + incident_id % 100 * 2),
        "status": "Started",
    }
    redis.xadd(INCIDENTS_STREAM, {"message": envelope(MessageType.INCIDENT, msgspec.json.encode(body)).body})


@contextmanager
def chromium() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, base: str, password: str) -> None:
    driver.get(f"{base}/console")
    for element_id, text in (
        ("package-id", str(TRIGGER_PACKAGE_ID)),
        ("username", USERNAME),
        ("password", password),
    ):
        driver.find_element(By.ID, element_id).send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "status").text.lower() == "active")


def first_paints(driver: WebDriver, base: str) -> list[float]:
    """First contentful paint (ms from navigation start) of fresh navigations to the signed-in console."""
    paints = []
    for _ in range(NAVIGATIONS):
        driver.get(f"{base}/console")
        WebDriverWait(driver, WAIT_S).until(
            lambda d: d.execute_script("return performance.getEntriesByName('first-contentful-paint').length")
        )
        paints.append(
            float(
                driver.execute_script(
                    "return performance.getEntriesByName('first-contentful-paint')[0].startTime"
                )
            )
        )
    return paints


def score_delays(driver: WebDriver, redis: Redis) -> list[float]:
    """Ms from an incident's append to its score showing in the page, for SCORE_CHANGES goals."""
    append_incident(redis, 1, 0, kind="Period")  # warm-up: the worker takes its partitions, the board shows
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#fixture-9001 .score"))
    driver.execute_script(WATCH_SCORES)
    delays = []
    for goal in range(1, SCORE_CHANGES + 1):
        appended = time.time() * 1000
        append_incident(redis, 100 + goal, goal)
        delays.append(shown_at(driver, f"{goal} – 1") - appended)
    return delays


def shown_at(driver: WebDriver, score: str) -> float:
    """When the page first showed this score (epoch ms), once it has."""
    script = f"return window.seen['{score}']"
    return float(WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(lambda d: d.execute_script(script)))


def picture(driver: WebDriver, redis: Redis, path: str) -> None:
    """The console with the match at a score one would believe, once the change's highlight faded."""
    append_incident(redis, 200, 2)
    shown_at(driver, "2 – 1")
    time.sleep(2)
    driver.save_screenshot(path)


def session_cookie(port: int, password: str) -> str:
    body = msgspec.json.encode({"packageId": TRIGGER_PACKAGE_ID, "username": USERNAME, "password": password})
    origin = f"127.0.0.1:{port}"
    request = urllib.request.Request(
        f"http://{origin}/console/sign-in",
        data=body,
        headers={"Content-Type": "application/json", "Origin": f"http://{origin}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - 127.0.0.1 only
        return str(answer.headers["set-cookie"]).split(";", 1)[0]


@contextmanager
def open_streams(port: int, cookie: str, count: int) -> Iterator[None]:
    """`count` open /console/live streams, each past its first event."""
    with ExitStack() as stack:
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
            sock.sendall(
                f"GET /console/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n".encode()
            )
            received = b""
            while b"event:" not in received:
                received += sock.recv(65536)
        yield


def status_rps(port: int, body: bytes) -> float:
    target = Target(port, ("/api/livescore/package/status",), body)
    return run_load(choose_generator("auto"), target, CONCURRENCY, LOAD_S).rps


def measure(screenshot: str | None) -> None:
    with backing() as stores:
        store_fixture(stores)
        with serving("ingress", stores) as served, chromium() as driver:
            base, redis = f"http://127.0.0.1:{served.port}", Redis.from_url(stores.redis_url)
            sign_in(driver, base, stores.password)
            paints = first_paints(driver, base)
            delays = score_delays(driver, redis)
            if screenshot:
                picture(driver, redis, screenshot)
            report_browser(paints, delays)
            streams(served.port, served.pids["server"], stores)


def streams(port: int, pid: int, stores: Backing) -> None:
    body = stores.credentials_body(TRIGGER_PACKAGE_ID)
    status_rps(port, body)  # warm-up: connection pools, the remembered login
    before_mib, without = resident_mib(pid), status_rps(port, body)
    with open_streams(port, session_cookie(port, stores.password), STREAMS):
        time.sleep(1)
        with_mib, with_streams = resident_mib(pid), status_rps(port, body)
    per_stream_kib = (with_mib - before_mib) * 1024 / STREAMS
    print(
        f"ingress resident memory: {before_mib:.1f} MiB; with {STREAMS} open live streams {with_mib:.1f} MiB"
    )
    print(f"  ({per_stream_kib:.0f} KiB a stream)")
    print(f"status throughput ({CONCURRENCY} connections, {LOAD_S:.0f} s each):")
    print(f"  {without:.0f}/s alone, {with_streams:.0f}/s with the streams open")


def report_browser(paints: list[float], delays: list[float]) -> None:
    print(f"first contentful paint of /console, {NAVIGATIONS} navigations:")
    print(f"  median {statistics.median(paints):.0f} ms, max {max(paints):.0f} ms")
    print(f"score visible after its incident's append, {SCORE_CHANGES} goals:")
    print(f"  median {statistics.median(delays):.0f} ms, max {max(delays):.0f} ms")


def main() -> None:
    import os

    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--screenshot", help="save a picture of the console with the live match here")
    args = parser.parse_args()
    # The bench's ingress is plain http://127.0.0.1, as under `livescore dev`.
    os.environ["LIVESCORE_CONSOLE_INSECURE_COOKIE"] = "1"
    measure(args.screenshot)


if __name__ == "__main__":
    main()
