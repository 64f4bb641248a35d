"""`livescore amqp setup`: the feed's vhosts and the service's account, through RabbitMQ's management API.

Every call is a PUT of the wanted state, so running it again changes nothing. Messages name URLs without
their credentials.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from domain.amqp_urls import node_urls
from domain.errors import BrokerSetupFailed
from domain.settings import Settings

# The management API answers in milliseconds; a broker that does not answer within this is not ready.
TIMEOUT_S = 10.0
# The service declares, publishes to and reads every package's queues on the feed's vhosts.
FULL_PERMISSIONS = {"configure": ".*", "write": ".*", "read": ".*"}
# A new service account may read queue figures through the management API (the least tag that does);
# an existing account keeps its tags, so an administrator is never demoted.
NEW_ACCOUNT_TAGS = "management"


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    password: str


def setup(settings: Settings) -> Account:
    """Creates (or confirms) both vhosts and the account named in LIVESCORE_AMQP_URL with full
    permissions on both; returns that account. With several management URLs (a cluster), through the
    first that answers: vhosts, users and permissions are the whole cluster's."""
    account = service_account(settings.amqp_url)
    *others, last = node_urls(settings.amqp_management_url)
    for url in others:
        try:
            return _setup_at(url, settings, account)
        except _Unreachable:
            continue
    return _setup_at(last, settings, account)


def _setup_at(url: str, settings: Settings, account: Account) -> Account:
    base, admin = _management(url)
    with httpx.Client(base_url=base, auth=(admin.username, admin.password), timeout=TIMEOUT_S) as client:
        api = _Api(client, base)
        for vhost in (settings.amqp_fixtures_vhost, settings.amqp_incidents_vhost):
            api.put(f"/api/vhosts/{_segment(vhost)}", {})
        user = f"/api/users/{_segment(account.username)}"
        existing = api.get(user)
        tags = NEW_ACCOUNT_TAGS if existing is None else _tags(existing)
        api.put(user, {"password": account.password, "tags": tags})
        for vhost in (settings.amqp_fixtures_vhost, settings.amqp_incidents_vhost):
            api.put(f"/api/permissions/{_segment(vhost)}/{_segment(account.username)}", FULL_PERMISSIONS)
    return account


def service_account(amqp_url: str) -> Account:
    """The user and password of LIVESCORE_AMQP_URL (its first node's, when it lists several); AMQP's
    own defaults when it names none."""
    parts = urlsplit(amqp_url.split(",", 1)[0].strip())
    return Account(unquote(parts.username or "guest"), unquote(parts.password or "guest"))


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl().rstrip("/")


def _management(url: str) -> tuple[str, Account]:
    parts = urlsplit(url)
    if not parts.username:
        raise BrokerSetupFailed(
            f"LIVESCORE_AMQP_MANAGEMENT_URL names no user: give an administrator's, as in "
            f"http://admin:secret@{parts.hostname or '127.0.0.1'}:{parts.port or 15672}"
        )
    return without_credentials(url), Account(unquote(parts.username), unquote(parts.password or ""))


def _segment(name: str) -> str:
    # A vhost or user name is one path segment: "/" (the default vhost) must read as %2F.
    return quote(name, safe="")


def _tags(user: dict[str, Any]) -> str:
    tags = user.get("tags") or []
    # RabbitMQ 3.10 lists the tags; older releases gave one comma-separated string.
    return tags if isinstance(tags, str) else ",".join(str(tag) for tag in tags)


class _Unreachable(BrokerSetupFailed):
    """The management API of one node does not answer (another node of a cluster may)."""


@dataclass(frozen=True, slots=True)
class _Api:
    client: httpx.Client
    base: str

    def put(self, path: str, body: dict[str, str]) -> None:
        self._checked("PUT", path, body)

    def get(self, path: str) -> dict[str, Any] | None:
        """The resource, or None when it does not exist."""
        response = self._checked("GET", path, None, missing_ok=True)
        return None if response.status_code == 404 else dict(response.json())

    def _checked(
        self, method: str, path: str, body: dict[str, str] | None, *, missing_ok: bool = False
    ) -> httpx.Response:
        try:
            response = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise _Unreachable(
                f"cannot reach RabbitMQ's management API at {self.base} ({type(exc).__name__}): start the "
                f"broker with the plugins of `livescore amqp config`, or set LIVESCORE_AMQP_MANAGEMENT_URL"
            ) from None
        if response.status_code == 401:
            raise BrokerSetupFailed(
                f"RabbitMQ's management API at {self.base} refused the credentials of "
                f"LIVESCORE_AMQP_MANAGEMENT_URL: give an administrator's user and password"
            )
        if response.is_success or (missing_ok and response.status_code == 404):
            return response
        raise BrokerSetupFailed(
            f"RabbitMQ's management API answered {response.status_code} to {method} {path}: "
            f"{_reason(response)}"
        )


def _reason(response: httpx.Response) -> str:
    """RabbitMQ's own explanation (`{"error": …, "reason": …}`), else the status's name."""
    try:
        body = response.json()
    except ValueError:
        body = None
    reason = body.get("reason") if isinstance(body, dict) else None
    return str(reason) if reason else response.reason_phrase
