"""The address the brute-force limit counts, through a real ingress process (uvicorn and all).

uvicorn by default believes X-Forwarded-For from 127.0.0.1: a caller on the same host would name a new
address with every guess and never be locked out (SPEC §2.3: the TCP peer's address, unless
LIVESCORE_CLIENT_IP_HEADER names a header).
"""

import httpx

from tests.e2e.processes import Ingress, Processes, add_packages
from tests.support import STATUS

PACKAGE_ID = 4001
# Few failures before the lockout, so that the test is quick (every failure pays one Argon2 verify).
FAILURES = 3


async def guesses(ingress: Ingress, forwarded_for: list[str]) -> list[int]:
    """The status codes of one wrong-password request per X-Forwarded-For value, in order."""
    body = {"packageId": PACKAGE_ID, "username": f"customer-{PACKAGE_ID}@example.com", "password": "guess"}
    async with httpx.AsyncClient(base_url=ingress.base_url, timeout=10) as client:
        return [
            (await client.post(STATUS, json=body, headers={"X-Forwarded-For": value})).status_code
            for value in forwarded_for
        ]


async def test_forwarded_for_headers_do_not_choose_the_address_counted(
    processes: Processes, database_url: str
) -> None:
    await add_packages(database_url, [PACKAGE_ID])
    ingress = await processes.ingress(LIVESCORE_AUTH_FAILURES=str(FAILURES))
    codes = await guesses(ingress, [f"spoof-{i}" for i in range(FAILURES + 3)])
    assert codes == [400] * (FAILURES + 1) + [429] * 2


async def test_with_a_trusted_header_each_forwarded_address_is_counted_on_its_own(
    processes: Processes, database_url: str
) -> None:
    await add_packages(database_url, [PACKAGE_ID])
    ingress = await processes.ingress(
        LIVESCORE_AUTH_FAILURES=str(FAILURES), LIVESCORE_CLIENT_IP_HEADER="X-Forwarded-For"
    )
    assert await guesses(ingress, [f"203.0.113.{i}" for i in range(FAILURES + 3)]) == [400] * (FAILURES + 3)
    repeated = await guesses(ingress, ["198.51.100.7"] * (FAILURES + 2))
    assert repeated == [400] * (FAILURES + 1) + [429]
