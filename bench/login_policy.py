"""The login policy under attack (`python -m bench.login_policy [--seconds S] [--no-amqp]`), measured against
real processes: an ingress behind a trusted X-Forwarded-For (so one machine can play many client
addresses), and a private RabbitMQ node asking a broker-auth process, reached from two loopback addresses.

What it reports, for docs/SECURITY.md and docs/BENCHMARKS.md:
- guesses that get a verdict (400, not 429) per minute from one address, and from ever-new addresses;
- that the right password gets the same 429 as a wrong one once an address's budget is spent;
- a customer's first login alone and while a flood of failing logins runs (unknown packages from 40
  ever-new addresses; aim ≤ 1 s), and its remembered status calls meanwhile;
- over AMQP: guesses decided per minute from one address, and a customer at another address logging in
  while 12 connections guess its password.
"""

import argparse
import asyncio
import itertools
import multiprocessing
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import aiormq
import aiormq.exceptions
import httpx
from yarl import URL

from bench.services import USERNAME, Backing, _free_port, _wait_healthy, backing, process
from domain.settings import Settings
from servers import rabbitmq_node

STATUS = "/api/livescore/package/status"
# The customer's own packages, one per first login measured; the flood's ids exist nowhere.
CUSTOMER_IDS = range(3001, 3011)
FLOOD_IDS = itertools.count(5_000_000)
FLOOD_ADDRESSES = 40
FLOOD_CONCURRENCY = 200
FIRST_LOGIN_AIM_S = 1.0
AMQP_ATTACKERS = 12
ATTACKER_IP, CUSTOMER_IP = "127.0.0.2", "127.0.0.1"
# The AMQP customer's own username: a login verifies every package of its username.
AMQP_PACKAGE, AMQP_USERNAME = 4001, "amqp-customer@example.com"


@dataclass
class Tally:
    verdicts: int = 0
    locked: int = 0
    latencies: list[float] = field(default_factory=list)


def body(package_id: int, password: str) -> dict[str, object]:
    return {"packageId": package_id, "username": USERNAME, "password": password}


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = await call
    return response, time.perf_counter() - start


async def guess_loop(
    client: httpx.AsyncClient, seconds: float, address: Callable[[], str], package_id: Callable[[], int]
) -> Tally:
    tally, end = Tally(), time.monotonic() + seconds
    while time.monotonic() < end:
        headers = {"X-Forwarded-For": address()}
        response = await client.post(STATUS, json=body(package_id(), "guess"), headers=headers)
        if response.status_code == 429:
            tally.locked += 1
        else:
            tally.verdicts += 1
    return tally


async def http_part(stores: Backing, seconds: float) -> list[str]:
    port = _free_port()
    env = stores.env(PORT=str(port), LIVESCORE_HOST="127.0.0.1", LIVESCORE_CLIENT_IP_HEADER="X-Forwarded-For")
    with process(["ingress"], env, stores.workdir / "ingress-login.log") as ingress:
        _wait_healthy(port, [ingress], stores.workdir)
        limits = httpx.Limits(max_connections=FLOOD_CONCURRENCY + 20)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
        ) as client:
            return await _http_figures(client, stores.password, seconds)


async def _http_figures(client: httpx.AsyncClient, password: str, seconds: float) -> list[str]:
    lines = ["HTTP (one ingress process, default limits: 10 per address and package, 100 per address, 60 s):"]
    one = await guess_loop(client, seconds, lambda: "198.51.100.1", lambda: 3001)
    right = await client.post(STATUS, json=body(3001, password), headers={"X-Forwarded-For": "198.51.100.1"})
    lines.append(
        f"- one address, {seconds:.0f} s of guessing one package: {one.verdicts} verdicts, {one.locked} × 429"
        f" (so {one.verdicts} guesses per 60 s window); the right password then: {right.status_code}"
    )
    addresses = (f"100.64.{n // 250 % 250}.{n % 250}" for n in itertools.count())
    many = await asyncio.gather(
        *(guess_loop(client, seconds, lambda: next(addresses), lambda: 3002) for _ in range(FLOOD_ADDRESSES))
    )
    verdicts = sum(t.verdicts for t in many)
    lines.append(
        f"- ever-new addresses ({FLOOD_ADDRESSES} at once), one package: {verdicts / seconds * 60:,.0f}"
        " guesses per minute (bounded by Argon2 in the verification pool)"
    )
    lines += await _first_logins(client, password, seconds)
    return lines


async def _first_logins(client: httpx.AsyncClient, password: str, seconds: float) -> list[str]:
    """The customer measured from this process, its own client; the flood from another process, so that
    the flood's client work never shows in the customer's figures."""
    customer = {"X-Forwarded-For": "192.0.2.9"}
    alone = [(await timed(client.post(STATUS, json=body(3003, password), headers=customer)))[1]]
    await client.post(STATUS, json=body(3004, password), headers=customer)  # remembered from here on
    flooded = multiprocessing.Value("i", 0)
    flood = multiprocessing.Process(target=_flood, args=(str(client.base_url), seconds, flooded))
    flood.start()
    await asyncio.sleep(1)
    first, remembered = [], []
    for package_id in CUSTOMER_IDS[4:]:
        login = client.post(STATUS, json=body(package_id, password), headers=customer)
        response, latency = await timed(login)
        assert response.status_code == 200, response.text
        first.append(latency)
        remembered.append((await timed(client.post(STATUS, json=body(3004, password), headers=customer)))[1])
        await asyncio.sleep(0.5)
    await asyncio.to_thread(flood.join)
    met = "met" if max(first) <= FIRST_LOGIN_AIM_S else "NOT met"
    return [
        f"- a customer's first login alone: {alone[0] * 1000:.0f} ms",
        f"- during a flood of {flooded.value / seconds:,.0f} failing logins/s against unknown packages from"
        f" {FLOOD_ADDRESSES} addresses ({FLOOD_CONCURRENCY} in flight): first logins p50"
        f" {statistics.median(first) * 1000:.0f} ms, max {max(first) * 1000:.0f} ms"
        f" (aim ≤ {FIRST_LOGIN_AIM_S:.0f} s: {met}); a remembered status meanwhile p50"
        f" {statistics.median(remembered) * 1000:.0f} ms, max {max(remembered) * 1000:.0f} ms",
    ]


def _flood(base_url: str, seconds: float, answered: "Synchronized[int]") -> None:
    """Failing logins against packages that do not exist, from FLOOD_ADDRESSES addresses in turn."""

    async def run() -> int:
        addresses = itertools.cycle(f"198.18.{n // 250}.{n % 250}" for n in range(FLOOD_ADDRESSES))
        limits = httpx.Limits(max_connections=FLOOD_CONCURRENCY)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
            loops = (
                guess_loop(client, seconds, lambda: next(addresses), lambda: next(FLOOD_IDS))
                for _ in range(FLOOD_CONCURRENCY)
            )
            tallies = await asyncio.gather(*loops)
        return sum(t.verdicts + t.locked for t in tallies)

    answered.value = asyncio.run(run())


async def amqp_log_in(port: int, password: str, source: str) -> tuple[bool, float]:
    url = URL.build(scheme="amqp", host="127.0.0.1", port=port, path="/Fixtures")
    url = url.with_user(AMQP_USERNAME).with_password(password)
    start = time.perf_counter()
    try:
        connection = await asyncio.wait_for(aiormq.connect(url, local_addr=(source, 0)), 30)
    except (aiormq.exceptions.AMQPError, OSError, TimeoutError):
        return False, time.perf_counter() - start
    await connection.close()
    return True, time.perf_counter() - start


def amqp_part(stores: Backing, seconds: float) -> list[str]:
    if not rabbitmq_node.installed():
        return [f"AMQP: skipped, RabbitMQ is not installed ({rabbitmq_node.INSTALL_HINT})"]
    with tempfile.TemporaryDirectory() as base, ExitStack() as stack:
        node = rabbitmq_node.start_node(Path(base), Settings())
        stack.callback(node.stop)
        env = stores.env(
            LIVESCORE_BROKER_AUTH_PORT=str(node.broker_auth_port), LIVESCORE_BROKER_AUTH_HOST="127.0.0.1"
        )
        auth = stack.enter_context(process(["ingress.broker_auth"], env, stores.workdir / "broker-auth.log"))
        _wait_healthy(node.broker_auth_port, [auth], stores.workdir)
        return asyncio.run(_amqp_figures(node.amqp_port, node.broker_auth_port, stores.password, seconds))


async def _amqp_figures(port: int, auth_port: int, password: str, seconds: float) -> list[str]:
    lines = ["AMQP (a private RabbitMQ node asking one broker-auth process; 10 per username and address):"]
    alone = [(await amqp_log_in(port, password, CUSTOMER_IP))[1] for _ in range(5)]
    before = await _decided(auth_port)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await amqp_log_in(port, "guess", ATTACKER_IP)
    decided = await _decided(auth_port)
    right, _ = await amqp_log_in(port, password, ATTACKER_IP)
    lines.append(
        f"- one address, {seconds:.0f} s of guessing: {decided[0] - before[0]:.0f} guesses decided,"
        f" {decided[1] - before[1]:.0f} refused by the limit; the right password from there then:"
        f" {'let in' if right else 'refused like a wrong one'}"
    )
    lines.append(await _customer_under_attack(port, password, seconds, alone))
    return lines


async def _customer_under_attack(port: int, password: str, seconds: float, alone: list[float]) -> str:
    stop = asyncio.Event()

    async def attack() -> None:
        while not stop.is_set():
            await amqp_log_in(port, "guess", ATTACKER_IP)

    attackers = [asyncio.create_task(attack()) for _ in range(AMQP_ATTACKERS)]
    results: list[tuple[bool, float]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        results.append(await amqp_log_in(port, password, CUSTOMER_IP))
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*attackers)
    times = [t for ok, t in results if ok]
    return (
        f"- a customer at another address, {AMQP_ATTACKERS} connections guessing its password meanwhile:"
        f" {len(times)} of {len(results)} logins let in, p50 {statistics.median(times or [0]) * 1000:.0f} ms,"
        f" max {max(times or [0]) * 1000:.0f} ms (alone: p50 {statistics.median(alone) * 1000:.0f} ms)"
    )


async def _decided(auth_port: int) -> tuple[float, float]:
    """(vhost questions decided, refused by the limit) so far, from the broker-auth process's metrics."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{auth_port}/metrics")).text

    def sample(pattern: str) -> float:
        return sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))

    decided = sample(r'^livescore_amqp_logins_total\{result="\w+"\} (\S+)$')
    return decided, sample(r"^livescore_amqp_auth_lockouts_total (\S+)$")


def add_customer_packages(stores: Backing) -> None:
    """The customers' packages, with the service's Redis copies made to agree as `package add` does
    (without a copy, every status call would verify in full)."""
    from redis.asyncio import Redis

    from domain.package_view import PackageView, refresh_from_storage
    from domain.packages import add_package
    from domain.storage import open_engine

    async def add() -> None:
        engine, redis = open_engine(stores.database_url), Redis.from_url(stores.redis_url)
        async with engine.begin() as conn:
            for package_id in CUSTOMER_IDS:
                await add_package(conn, package_id, USERNAME, stores.password)
            await add_package(conn, AMQP_PACKAGE, AMQP_USERNAME, stores.password)
        await refresh_from_storage(engine, PackageView(redis), [*CUSTOMER_IDS, AMQP_PACKAGE])
        await engine.dispose()
        await redis.aclose()

    asyncio.run(add())


def run(seconds: float, amqp: bool) -> str:
    with backing() as stores:
        add_customer_packages(stores)
        lines = asyncio.run(http_part(stores, seconds))
        if amqp:
            lines += amqp_part(stores, seconds)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.login_policy", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each attack")
    parser.add_argument("--no-amqp", action="store_true", help="leave the AMQP part out")
    args = parser.parse_args()
    print(run(args.seconds, not args.no_amqp))


if __name__ == "__main__":
    main()
