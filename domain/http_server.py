"""Every HTTP listener of the service (the ingress, broker-auth, the worker's /health and /metrics): uvicorn
(uvloop, httptools) trusting no forwarded header, and closing connections that do not deliver a request
as they should: in time (LIVESCORE_REQUEST_TIMEOUT_S), with a head of bounded size."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import msgspec
import uvicorn
from prometheus_client import Counter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from domain.settings import Settings

# One counter per process, in that process's /metrics.
CONNECTIONS_CLOSED = Counter(
    "livescore_http_connections_closed_total",
    "Connections closed by this process's HTTP listener: request not complete within "
    "LIVESCORE_REQUEST_TIMEOUT_S, or its head too large",
    ["reason"],
)

# httptools keeps a request head of any size in memory until it is complete (one connection grew the
# process by 90 MB in 3 s); uvicorn's h11 and Node stop at 16 KiB. Ours are a few hundred bytes. Counted
# per packet read, so a pipelined request may count the end of the one before it: hence the room.
MAX_HEAD_BYTES = 64 * 1024
_HEAD_TOO_LARGE_BODY = msgspec.json.encode({"error": "Request header fields too large"})
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_HEAD_TOO_LARGE_BODY), _HEAD_TOO_LARGE_BODY)
)
_TIMED_OUT = CONNECTIONS_CLOSED.labels("request-timeout")
_TOO_LARGE = CONNECTIONS_CLOSED.labels("head-too-large")


class BoundedRequestProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request is not complete (head and body)
    within `request_timeout_s` of the connection being made or of the request's first byte, and one whose
    request head grows past MAX_HEAD_BYTES (answered 431).

    uvicorn itself closes a connection idle between requests (`timeout_keep_alive`), but stops that timer
    at the first byte of the next request and starts none before the first one: a client that sends
    nothing, or a byte now and then, would hold its connection for ever. The timer is one `call_later`
    per request, cancelled when the request is complete; between requests uvicorn's own runs.

    A request queued behind a pipelined one (uvicorn stops reading meanwhile) keeps its timer running:
    answers come within the command timeout, far below the request timeout, and clients do not pipeline.
    """

    request_timeout_s: float = 10.0
    _request_timer: asyncio.TimerHandle | None = None
    # Bytes read of the current request's head; None while no head is incomplete.
    _head_bytes: int | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_request_timer()

    def data_received(self, data: bytes) -> None:
        # Also for bytes the parser skips without starting a request (line breaks between requests).
        self._start_request_timer()
        super().data_received(data)
        if self._head_bytes is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head()

    def on_message_begin(self) -> None:
        # Also a request that starts in the same packet as the end of the one before.
        self._start_request_timer()
        self._head_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_request_timer()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_request_timer()
        super().connection_lost(exc)

    def _start_request_timer(self) -> None:
        if self._request_timer is None:
            self._request_timer = self.loop.call_later(self.request_timeout_s, self._request_timed_out)

    def _stop_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if not self.transport.is_closing():
            _TIMED_OUT.inc()
            # A request whose body is being read sees the client gone (http.disconnect) and is answered
            # to nobody. A client that is not sending gets no answer either.
            self.transport.close()

    def _refuse_head(self) -> None:
        self._head_bytes = None
        if not self.transport.is_closing():
            _TOO_LARGE.inc()
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a listener's connections may take: to deliver a request (LIVESCORE_REQUEST_TIMEOUT_S), and
    to send the next one on a kept-alive connection (LIVESCORE_KEEP_ALIVE_S)."""

    request_timeout_s: float
    keep_alive_s: int

    @classmethod
    def of(cls, settings: Settings) -> "ConnectionLimits":
        return cls(settings.request_timeout_s, settings.keep_alive_s)


def bounded_config(
    app: Any, host: str, port: int, limits: ConnectionLimits, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration for serving `app` on host:port with the limits above; `options` more of
    uvicorn's (the worker's server runs no lifespan)."""

    class Protocol(BoundedRequestProtocol):
        pass

    Protocol.request_timeout_s = limits.request_timeout_s
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # costly on the hot path (NOTES); requests are counted in /metrics
        log_config=None,
        loop="uvloop",
        http=Protocol,
        # No listener serves a WebSocket; the protocol above assumes its connections stay HTTP.
        ws="none",
        # The client address is the TCP peer's unless LIVESCORE_CLIENT_IP_HEADER names a header
        # (routes.client_address). uvicorn's own handling would believe any X-Forwarded-For sent from
        # 127.0.0.1 (its default FORWARDED_ALLOW_IPS): anyone on this host could choose an address.
        proxy_headers=False,
        timeout_keep_alive=limits.keep_alive_s,
        **options,
    )


class _TellingServer(uvicorn.Server):
    """uvicorn's server, which also calls `on_exit` when a signal asks it to exit: uvicorn waits for every
    response in progress before it stops, so responses that never end by themselves (the console's live
    streams) must be ended then."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._on_exit()


def serve(
    app: Any, host: str, port: int, limits: ConnectionLimits, on_exit: Callable[[], None] | None = None
) -> None:
    """Serve `app` on host:port until SIGINT or SIGTERM (calling `on_exit` then, from the signal handler);
    exit status 3 if it never started (its port taken), as uvicorn.run does."""
    config = bounded_config(app, host, port, limits)
    server = uvicorn.Server(config) if on_exit is None else _TellingServer(config, on_exit)
    server.run()
    if not server.started:
        raise SystemExit(3)
