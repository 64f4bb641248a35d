"""A flood of failing logins against a real ingress process: others still get in, memory stays bounded."""

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.processes import Processes, add_packages
from tests.support import STATUS, eventually

FLOOD = 60
# Argon2id's memory cost per verification (domain/passwords.py).
ARGON2_MIB = 64
VERIFY_THREADS = 2
# What an ingress may grow by besides its verifications' memory: its first requests' allocations,
# the connections of the flood and the thread stacks; an order of magnitude below the 1.7 GiB of the
# flood without a bounded pool.
OVERHEAD_MIB = 150


def memory_kib(pid: int, field: str) -> int:
    """A figure of /proc/<pid>/status: VmRSS (resident now) or VmHWM (the most it has been resident)."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


async def test_a_flood_of_failing_logins_neither_starves_another_customer_nor_grows_memory_unbounded(
    processes: Processes, database_url: str
) -> None:
    customers = await add_packages(database_url, [7, 8])
    ingress = await processes.ingress(
        LIVESCORE_CLIENT_IP_HEADER="X-Forwarded-For",
        LIVESCORE_VERIFY_THREADS=str(VERIFY_THREADS),
        # Above the flood: every one of its logins is verified, none refused.
        LIVESCORE_AUTH_ADDRESS_FAILURES="1000",
    )
    memory_before = memory_kib(ingress.pid, "VmHWM")
    answered: list[httpx.Response] = []
    limits = httpx.Limits(max_connections=FLOOD + 10)
    async with httpx.AsyncClient(base_url=ingress.base_url, timeout=120, limits=limits) as client:

        async def attack(package_id: int) -> httpx.Response:
            body = {"packageId": package_id, "username": "nobody@example.com", "password": "guess"}
            response = await client.post(STATUS, json=body, headers={"X-Forwarded-For": "198.51.100.1"})
            answered.append(response)
            return response

        async def log_in(customer: dict[str, Any]) -> tuple[httpx.Response, float, int]:
            """The answer, its latency, and how many flood answers came meanwhile."""
            start, flood_answers = time.perf_counter(), len(answered)
            response = await client.post(STATUS, json=customer, headers={"X-Forwarded-For": "192.0.2.9"})
            return response, time.perf_counter() - start, len(answered) - flood_answers

        # For comparison: another customer's first login while nothing else happens.
        alone, alone_s, _ = await log_in(customers[8])
        assert alone.status_code == 200
        flood_start = time.perf_counter()
        flood = [asyncio.create_task(attack(100_000 + i)) for i in range(FLOOD)]

        async def flood_under_way() -> bool:
            return bool(answered)

        # The customer comes once the flood is being answered: every flood request was sent before.
        await eventually(flood_under_way, 60, "the first answer to the flood")
        customer_login = asyncio.create_task(log_in(customers[7]))
        attacks = await asyncio.gather(*flood)
        login, login_s, flood_meanwhile = await customer_login
        flood_s = time.perf_counter() - flood_start
    # On a connection of its own: the flood's pooled connections idle past uvicorn's keep-alive (5 s) are
    # closed by the ingress, and one reused just as it closes is answered by nobody (seen in CI).
    async with httpx.AsyncClient(base_url=ingress.base_url, timeout=30) as client:
        metrics = (await client.get("/metrics")).text
    growth_mib = (memory_kib(ingress.pid, "VmHWM") - memory_before) / 1024
    print(
        f"\na first login alone: {alone_s * 1000:.0f} ms; during the flood: {login_s * 1000:.0f} ms,"
        f" while {flood_meanwhile} of {FLOOD} flood answers came; flood answered in {flood_s:.1f} s;"
        f" ingress peak RSS growth"
        f" {growth_mib:.0f} MiB ({VERIFY_THREADS} verification threads)"
    )
    assert login.status_code == 200
    assert all(a.json() == {"error": "Invalid package credentials"} for a in attacks)
    # The flood names packages that do not exist: it only waits as long as a verification takes.
    assert _verifications(metrics) == 2  # both customers
    # It waited for a few verifications of the flood (those running when it came), not for the flood's queue.
    assert flood_meanwhile < FLOOD // 4
    assert growth_mib <= (VERIFY_THREADS + 2) * ARGON2_MIB + OVERHEAD_MIB


def _verifications(metrics: str) -> float:
    match = re.search(r"^livescore_argon2_verifications_total (\S+)$", metrics, re.MULTILINE)
    assert match, metrics
    return float(match.group(1))
