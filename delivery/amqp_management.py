"""What the RabbitMQ management API tells the AMQP adapter: a queue's messages delivered but not
acknowledged, the exchange's bindings, whether it answers. When it cannot tell, the answer is None and the
outage is logged once a while, never raised: a status call answers with what the queue itself told."""

import logging
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from delivery.amqp_nodes import ManagementNodes
from domain.delivery import QueueKind
from domain.logs import OccasionalWarning
from domain.streams import AMQP_EXCHANGE, package_of_queue

# The adapter's logger: its warnings read as they did when this was part of delivery/amqp.py.
log = logging.getLogger("delivery.amqp")

# A management API that does not answer within this is reported as unreachable.
MANAGEMENT_TIMEOUT_S = 2.0
# While the management API stays unreachable, the status calls that miss its figure say so this often.
MANAGEMENT_DOWN_LOG_S = 60.0


class ManagementApi:
    """The management API of the first node that answers (delivery/amqp_nodes.py)."""

    def __init__(self, url: str) -> None:
        self._nodes = ManagementNodes(url, MANAGEMENT_TIMEOUT_S)
        self._down = OccasionalWarning(
            log, MANAGEMENT_DOWN_LOG_S, "AMQP management API unreachable: status answers pending null"
        )

    async def bindings(self, vhosts: Mapping[QueueKind, str]) -> dict[int, set[tuple[QueueKind, str]]] | None:
        """Each package's bindings to the exchange as the broker lists them; None when it cannot tell."""
        listed: dict[int, set[tuple[QueueKind, str]]] = {}
        for kind, vhost in vhosts.items():
            path = f"/api/exchanges/{quote(vhost, safe='')}/{AMQP_EXCHANGE}/bindings/source"
            try:
                answer = await self._nodes.get(path)
            except httpx.HTTPError as exc:
                self._down.note(type(exc).__name__)
                return None
            if answer.status_code == httpx.codes.NOT_FOUND:  # no exchange yet: nothing bound
                continue
            if not answer.is_success:
                self._down.note(f"HTTP {answer.status_code}")
                return None
            for binding in answer.json():
                package_id = package_of_queue(str(binding.get("destination", "")))
                if package_id is not None and binding.get("destination_type") == "queue":
                    listed.setdefault(package_id, set()).add((kind, str(binding.get("routing_key", ""))))
        return listed

    async def unacknowledged(self, vhost: str, name: str) -> int | None:
        """None when the management API cannot tell: the status call answers with what the queue itself
        told (SPEC §9) rather than fail, and the operator hears of it once a while."""
        try:
            answer = await self._nodes.get(f"/api/queues/{quote(vhost, safe='')}/{quote(name, safe='')}")
        except httpx.HTTPError as exc:
            # Its type only: an error's text may carry the URL, and with it the account's password.
            self._down.note(type(exc).__name__)
            return None
        if answer.status_code == httpx.codes.NOT_FOUND:  # a queue it has not reported yet: nothing held
            return 0
        if not answer.is_success:
            self._down.note(f"HTTP {answer.status_code}")
            return None
        return int(answer.json().get("messages_unacknowledged") or 0)

    async def reachable(self) -> bool:
        """Whether the management API answers (readiness)."""
        try:
            return (await self._nodes.get("/api/overview")).is_success
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._nodes.aclose()
