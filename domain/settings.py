"""Typed settings, read from the environment once per process and passed to whatever needs them."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import msgspec

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./livescore.db"
# Only used when REDIS_URL is unset outside `livescore dev`, which starts its own embedded server instead.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


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
    queue_limit: int = 50000
    worker_port: int | None = None
    # Behind a proxy: the header it sets to the client's address (e.g. X-Forwarded-For, of which the last
    # address is the one the proxy saw). Unset: the connection's address. Only set it when every request
    # comes through that proxy, or clients could choose their own address for the brute-force limit.
    client_ip_header: str = ""
    log_format: str = "text"
    # Commands one worker reads per XREADGROUP and applies in one transaction.
    worker_batch: int = 100
    # How long a worker blocks on an empty stream before reading again; bounds shutdown latency.
    worker_poll_ms: int = 100
    # Logins remembered per ingress process (a bounded LRU), so known clients skip Argon2.
    credentials_cache_size: int = 100_000
    # How long an incident waits for its fixture to be stored before it is dead-lettered (SPEC §10).
    incident_wait_s: float = 60.0
    # How long a worker owns an incidents partition without renewing it: a dead worker's partitions are
    # taken over within this; renewed every third of it.
    incident_lease_ms: int = 5000
    # Keep-alive to every active package's fixtures queue and heartbeat to its incidents queue, once per
    # interval for the whole deployment (SPEC §10); 0 = off.
    keepalive_s: float = 30.0
    heartbeat_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The settings named in the environment, converted to their types by msgspec (lax mode turns
        "8000" into 8000); an unset or empty variable keeps its default."""
        env = os.environ if environ is None else environ
        given = {f.name: env[_env_name(f.name)] for f in fields(cls) if env.get(_env_name(f.name))}
        try:
            return msgspec.convert(given, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ValueError(_explain(exc, given)) from None


def _env_name(field_name: str) -> str:
    if field_name in {"redis_url", "database_url", "port"}:
        return field_name.upper()
    return "LIVESCORE_" + field_name.upper()


def _explain(exc: msgspec.ValidationError, given: Mapping[str, str]) -> str:
    """msgspec names the field (`… - at `$.queue_limit``); say it as the variable the operator set."""
    message, _, path = str(exc).rpartition(" - at `$.")
    name = path.rstrip("`")
    if name in given:
        return f"{_env_name(name)} is not valid ({message.lower()}): {given[name]!r}"
    return str(exc)
