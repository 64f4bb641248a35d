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
        guess = {"username": customer["username"], "password": "guess"}
        guessed = await client.post("/auth/user", data=guess)
        vhost = {"username": customer["username"], "vhost": "Fixtures", "ip": "127.0.0.1"}
        entered = await client.post("/auth/vhost", data={**vhost, "tags": allowed.text.split()[1]})
        refused = await client.post("/auth/vhost", data={**vhost, "tags": ""})
    assert (allowed.status_code, allowed.text) == (200, "allow livescore-package-5")
    # Let past the password step untagged: the vhost step, which knows the client's address, refuses it.
    assert (guessed.status_code, guessed.text) == (200, "allow")
    assert (entered.text, refused.text) == ("allow", "deny")
    assert customer["password"] not in auth.log()
