"""Typed settings, read from the environment once per process and passed to whatever needs them."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

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
    # Seconds a client has to deliver a complete request (head and body), counted from its connection or
    # from the request's first byte; then the connection is closed. Silent or trickling clients would
    # otherwise hold a connection each for ever. 10 s sends a 16 KiB body at 1.6 KB/s: any real client.
    request_timeout_s: int = 10
    log_format: str = "text"
    # Commands one worker reads per XREADGROUP and applies in one transaction.
    worker_batch: int = 100
    # How long a worker blocks on an empty stream before reading again; bounds shutdown latency.
    worker_poll_ms: int = 100
    # Logins remembered per ingress process (a bounded LRU), so known clients skip Argon2.
    credentials_cache_size: int = 100_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(_env_name(field.name))
            if raw is None or raw == "":
                continue
            values[field.name] = _convert(field.name, raw, str(field.type))
        return cls(**values)  # type: ignore[arg-type]


def _env_name(field_name: str) -> str:
    if field_name in {"redis_url", "database_url", "port"}:
        return field_name.upper()
    return "LIVESCORE_" + field_name.upper()


def _convert(name: str, raw: str, type_name: str) -> object:
    if "int" not in type_name:
        return raw
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{_env_name(name)} must be an integer, got {raw!r}") from None
