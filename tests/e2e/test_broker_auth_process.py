"""`python -m ingress.broker_auth`, as the Procfile runs it: its own port, RabbitMQ's form questions."""

import httpx

from tests.e2e.processes import Processes, add_packages


async def test_the_broker_auth_process_answers_the_brokers_questions_on_its_own_port(
    processes: Processes, database_url: str
) -> None:
    customer = (await add_packages(database_url, [5]))[5]
    auth = await processes.broker_auth()
    async with httpx.AsyncClient(base_url=auth.base_url, timeout=5) as client:
        allowed = await client.post(
            "/auth/user", data={"username": customer["username"], "password": customer["password"]}
        )
        denied = await client.post("/auth/user", data={"username": customer["username"], "password": "guess"})
        entered = await client.post(
            "/auth/vhost", data={"vhost": "Fixtures", "tags": allowed.text.split()[1]}
        )
    assert (allowed.status_code, allowed.text) == (200, "allow livescore-package-5")
    assert (denied.status_code, denied.text) == (200, "deny")
    assert entered.text == "allow"
    assert customer["password"] not in auth.log()
