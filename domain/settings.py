"""Typed settings, read from the environment once per process and passed to whatever needs them."""

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import msgspec

from domain.connections import RedisAddress
from domain.logs import redact

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./livescore.db"
# Only used when REDIS_URL is unset outside `livescore dev`, which starts its own embedded server instead.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Named, because the Redis view of a package (domain/package_view.py) defaults to it as well.
DEFAULT_QUEUE_LIMIT = 50000
# Sports scored in sets (SPEC §12: a scoreboard counts the sets each side won instead of summing points):
# the demo data's tennis and volleyball (cli/demo_fixtures.py, LSports ids). The demo data has no
# badminton or table tennis; a deployment whose feed has them adds their ids to LIVESCORE_SET_SPORTS.
DEFAULT_SET_SPORTS = (54094, 154830)


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str = DEFAULT_REDIS_URL
    database_url: str = DEFAULT_DATABASE_URL
    port: int = 8000
    # Address the ingress listens on: every interface, as a platform's router expects; `livescore dev`
    # keeps it to this machine.
    host: str = "0.0.0.0"  # noqa: S104
    # How long activate/deactivate wait for the worker before answering 202 (SPEC §2.2).
    command_timeout_ms: int = 5000
    # Failed authentications per client and package within the window before 429 (SPEC §2.3).
    auth_failures: int = 10
    auth_window_s: int = 60
    # Failed authentications per client for any packages together within the window before 429: guessing
    # across package ids is bounded too (SPEC §2.3).
    auth_address_failures: int = 100
    # Argon2 verifications running at once in one ingress process. Each holds 64 MiB and a core for
    # ~90 ms (NOTES), so more threads than cores only add memory and make everyone wait longer.
    verify_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    # A pending command idle this long belonged to a dead worker and is claimed by another (SPEC §3).
    claim_idle_ms: int = 30000
    max_deliveries: int = 5
    # Approximate length the commands stream is trimmed to on every append (SPEC §3).
    commands_maxlen: int = 1_000_000
    # Unconsumed messages in a fixtures queue above which the package is deactivated (SPEC §4).
    queue_limit: int = DEFAULT_QUEUE_LIMIT
    # Where customers' messages go: "redis" (streams, SPEC §4, needs nothing else) or "amqp" (SPEC §9).
    delivery: str = "redis"
    # "classic", or "quorum" for queues replicated across a RabbitMQ cluster (SPEC §11).
    amqp_queue_type: str = "classic"
    worker_port: int | None = None
    # Behind a proxy: the header it sets to the client's address (e.g. X-Forwarded-For, of which the last
    # address is the one the proxy saw). Unset: the connection's address. Only set it when every request
    # comes through that proxy, or clients could choose their own address for the brute-force limit.
    client_ip_header: str = ""
    # Seconds a client has to deliver a complete request (head and body), counted from its connection or
    # from the request's first byte; then the connection is closed. Silent or trickling clients would
    # otherwise hold a connection each for ever. 10 s sends a 16 KiB body at 1.6 KB/s: any real client.
    request_timeout_s: int = 10
    # Seconds a connection may stay idle between requests before the listener closes it (uvicorn's own
    # default). Behind a proxy or load balancer that keeps connections to the service, set it above the
    # proxy's idle timeout: else the proxy may send a request on a connection being closed that moment,
    # and its client gets an error for a request nobody received.
    keep_alive_s: int = 5
    log_format: str = "text"
    # Commands one worker reads per XREADGROUP and applies in one transaction.
    worker_batch: int = 100
    # How long a worker blocks on an empty stream before reading again; bounds shutdown latency.
    worker_poll_ms: int = 100
    # Logins remembered per ingress process (a bounded LRU), so known clients skip Argon2.
    credentials_cache_size: int = 100_000
    # The service's own RabbitMQ account (SPEC §9); `livescore amqp setup` creates the user it names.
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # The upstream feed's virtual hosts, which customers' consumers are written against (SPEC §9).
    amqp_fixtures_vhost: str = "Fixtures"
    amqp_incidents_vhost: str = "Incidents"
    # RabbitMQ's management HTTP API, with an administrator's credentials: `livescore amqp setup` creates
    # the vhosts and the service account through it; `status` reads AMQP queue figures from it.
    amqp_management_url: str = "http://guest:guest@127.0.0.1:15672"
    # Where the broker-auth process listens: RabbitMQ asks it whether a customer's login and each access
    # may pass. Not for customers, so this machine only by default; the broker must reach it.
    broker_auth_host: str = "127.0.0.1"
    broker_auth_port: int = 8081
    # How RabbitMQ reaches the broker-auth process; written into rabbitmq.conf by `livescore amqp config`.
    broker_auth_url: str = "http://127.0.0.1:8081"
    # Failed AMQP logins per username and client address within LIVESCORE_AUTH_WINDOW_S; beyond it, that
    # address's logins with that username are refused at the vhost step whatever the password (SPEC §2.3,
    # docs/SECURITY.md). Per address, so that a guesser elsewhere cannot lock the customer out. Failed AMQP
    # logins per address for any usernames together answer to LIVESCORE_AUTH_ADDRESS_FAILURES, in counters
    # of their own: a flood of AMQP guesses never spends a Customers API budget.
    amqp_auth_failures: int = 10
    # How long an incident waits for its fixture to be stored before it is dead-lettered (SPEC §10).
    incident_wait_s: float = 60.0
    # Incidents waiting for their fixture that a worker keeps in memory (shared out equally among the
    # incident partitions); the others wait in Redis only and are read back as these are settled.
    incident_wait_max: int = 16_000
    # How long a worker owns an incidents partition without renewing it: a dead worker's partitions are
    # taken over within this; renewed every third of it.
    incident_lease_ms: int = 5000
    # Keep-alive to every active package's fixtures queue and heartbeat to its incidents queue, once per
    # interval for the whole deployment (SPEC §10); 0 = off.
    keepalive_s: float = 30.0
    heartbeat_s: float = 10.0
    # Redis behind Sentinel (SPEC §11): `host:port,host:port,…` of the sentinels and the name they monitor
    # the primary under. Set together, they replace REDIS_URL's host and port (its password, database
    # number and TLS still apply); every client asks the sentinels for the primary and follows a failover.
    redis_sentinels: str = ""
    redis_sentinel_master: str = ""
    # Replicas that must hold a command (Redis WAIT) before it is answered 200/202 (SPEC §11); 0 = none.
    redis_min_replicas: int = 0
    # How long a command waits for those replicas before the answer is a 500 (the command stays in the
    # stream). A replica on the same network confirms within a millisecond; a second covers a replica busy
    # with a fork or a slow disk, yet keeps a request whose replicas are gone from hanging. It must stay
    # below the hot connection's reply timeout (ingress/multiplexed_redis.py, 5 s): the WAIT blocks the
    # connection that long at most.
    redis_wait_timeout_ms: int = 1000
    # Sport ids whose match score is the sets won (SPEC §12); comma-separated in the environment.
    set_sports: tuple[int, ...] = DEFAULT_SET_SPORTS
    # How long incidents are kept in storage for recovery, and the boards of fixtures that are over
    # (statuses 3-8) after their last change (SPEC §12).
    recovery_hours: float = 72.0
    # How long a customer console session lasts after sign-in (SPEC §13); signing out or a password change
    # ends it sooner.
    console_session_s: int = 3600
    # The console's session cookie without `Secure`, so that it works over plain http://127.0.0.1: only
    # `livescore dev` sets it. Anywhere else the console is served over HTTPS (a proxy in front).
    console_insecure_cookie: bool = False

    @property
    def redis_address(self) -> RedisAddress:
        """Where every Redis client of the service connects: the URL, or the primary the sentinels name."""
        return RedisAddress(self.redis_url, sentinel_nodes(self.redis_sentinels), self.redis_sentinel_master)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The settings named in the environment, converted to their types by msgspec (lax mode turns
        "8000" into 8000); an unset or empty variable keeps its default."""
        env = os.environ if environ is None else environ
        given = {f.name: env[_env_name(f.name)] for f in fields(cls) if env.get(_env_name(f.name))}
        try:
            typed = {name: _value_of(name, text) for name, text in given.items()}
            settings = msgspec.convert(typed, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ValueError(_explain(exc, given)) from None
        _check_redis_url(settings.redis_url)
        _check_sentinels(settings)
        _check_recovery_hours(settings.recovery_hours)
        return replace(settings, database_url=database_url_of(settings.database_url))


# What Redis URLs look like to redis-py; anything else fails later with a message about something else.
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# The drivers the service runs on: async ones only (the ingress and the worker are asyncio throughout).
_SQLITE, _POSTGRES = "sqlite+aiosqlite://", "postgresql+asyncpg://"
# Spellings an operator is likely to paste, as the same database through our driver. SQLAlchemy's own
# `sqlite:///` and `postgresql://` name synchronous drivers, which would fail inside the event loop.
_SAME_DATABASE = {"sqlite://": _SQLITE, "postgresql://": _POSTGRES, "postgres://": _POSTGRES}


def _check_redis_url(url: str) -> None:
    if not url.startswith(_REDIS_SCHEMES):
        raise ValueError(f"REDIS_URL is not a Redis URL: {redact(url)!r} (expected redis://host:6379/0)")


# Above this a WAIT would outlast the hot connection's reply timeout (ingress/multiplexed_redis.py).
MAX_WAIT_TIMEOUT_MS = 4000


def _check_sentinels(settings: "Settings") -> None:
    if bool(settings.redis_sentinels) != bool(settings.redis_sentinel_master):
        raise ValueError(
            "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together: set both (the sentinels and the name "
            "they monitor the primary under), or neither to use REDIS_URL"
        )
    sentinel_nodes(settings.redis_sentinels)
    if settings.redis_min_replicas < 0:
        raise ValueError(f"LIVESCORE_REDIS_MIN_REPLICAS must be 0 or more: {settings.redis_min_replicas}")
    if not 0 < settings.redis_wait_timeout_ms <= MAX_WAIT_TIMEOUT_MS:
        raise ValueError(
            f"LIVESCORE_REDIS_WAIT_TIMEOUT_MS must be between 1 and {MAX_WAIT_TIMEOUT_MS}: "
            f"{settings.redis_wait_timeout_ms}"
        )


def _check_recovery_hours(hours: float) -> None:
    # Kept incidents are trimmed by it: zero or less would drop every incident as it is kept.
    if not hours > 0:
        raise ValueError(f"LIVESCORE_RECOVERY_HOURS must be more than 0: {hours}")


def sentinel_nodes(text: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port,…` as (host, port) pairs; a ValueError naming REDIS_SENTINELS otherwise."""
    nodes = []
    for node in filter(None, (part.strip() for part in text.split(","))):
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"REDIS_SENTINELS is not a list of host:port: {text!r} (expected h1:26379,h2:26379)"
            )
        nodes.append((host.strip("[]"), int(port)))
    return tuple(nodes)


def database_url_of(url: str) -> str:
    """DATABASE_URL as the service opens it: `sqlite:///…` and `postgresql://…` mean our async drivers;
    a scheme we do not run on, or PostgreSQL without asyncpg installed, is a ValueError saying what to do."""
    for given, ours in _SAME_DATABASE.items():
        if url.startswith(given):
            url = ours + url.removeprefix(given)
    if not url.startswith((_SQLITE, _POSTGRES)):
        raise ValueError(
            f"DATABASE_URL is not a database URL this service knows: {redact(url)!r} "
            "(use sqlite+aiosqlite:///… or postgresql+asyncpg://…)"
        )
    if url.startswith(_POSTGRES) and importlib.util.find_spec("asyncpg") is None:
        raise ValueError(
            "DATABASE_URL names PostgreSQL, but its driver is not installed: "
            "pip install 'livescore-engage[postgres]'"
        )
    return url


# Settings that are lists: written comma-separated in the environment ("54094,154830").
_LISTS = {"set_sports"}


def _value_of(field_name: str, text: str) -> str | list[str]:
    if field_name in _LISTS:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _env_name(field_name: str) -> str:
    if field_name in {"redis_url", "database_url", "port", "redis_sentinels", "redis_sentinel_master"}:
        return field_name.upper()
    return "LIVESCORE_" + field_name.upper()


def _explain(exc: msgspec.ValidationError, given: Mapping[str, str]) -> str:
    """msgspec names the field (`… - at `$.queue_limit``); say it as the variable the operator set."""
    message, _, path = str(exc).rpartition(" - at `$.")
    # A list's element is named by its index (`$.set_sports[1]`): the variable is the list's.
    name = path.rstrip("`").partition("[")[0]
    if name in given:
        return f"{_env_name(name)} is not valid ({message.lower()}): {redact(given[name])!r}"
    return str(exc)
