"""Opening the pipelined publisher's channel (delivery/amqp_channel.py): a connection to a node, the AMQP
handshake (PLAIN login, tune, the channel in confirm mode).

The URL is read as aiormq reads it (the connection this replaces): `amqps://` for TLS, and the query
parameters `heartbeat` (seconds, default 60; 0 none), `cafile`, `capath`, `cadata` (base64), `certfile`,
`keyfile`, `no_verify_ssl=1` and `name` (the connection's name in the management UI).
"""

import asyncio
import base64
import ssl
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from pamqp import commands, constants, frame, header
from pamqp.base import Frame

from delivery.amqp_channel import CHANNEL, FRAME_HEAD, ConfirmChannel, ConnectionLost

# What a heartbeat is, when the URL says nothing (aiormq's default: the same connection as before).
DEFAULT_HEARTBEAT_S = 60
# The largest frame this client takes or sends when the broker sets no limit (RabbitMQ's default).
DEFAULT_FRAME_MAX = 131072

F = TypeVar("F", bound=Frame)


def _marshal(value: Frame, channel: int = CHANNEL) -> bytes:
    return frame.marshal(value, channel)


@dataclass(frozen=True, slots=True)
class _Target:
    host: str
    port: int
    user: str
    password: str
    heartbeat_s: int
    name: str | None
    tls: ssl.SSLContext | None

    @classmethod
    def of(cls, url: str) -> "_Target":
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        secure = parts.scheme == "amqps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (5671 if secure else 5672),
            user=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            heartbeat_s=_heartbeat(query.get("heartbeat")),
            name=query.get("name"),
            tls=_tls_context(query) if secure else None,
        )


def _heartbeat(value: str | None) -> int:
    """aiormq's reading: an integer of 0…65534 seconds, anything else none at all."""
    try:
        seconds = int(value) if value is not None else DEFAULT_HEARTBEAT_S
    except ValueError:
        return 0
    return seconds if 0 <= seconds < 65535 else 0


def _tls_context(query: dict[str, str]) -> ssl.SSLContext:
    """As aiormq builds it from the same URL parameters."""
    cadata = query.get("cadata")
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH,
        cafile=query.get("cafile"),
        capath=query.get("capath"),
        cadata=base64.b64decode(cadata) if cadata else None,
    )
    if query.get("certfile"):
        context.load_cert_chain(query["certfile"], query.get("keyfile"))
    if query.get("no_verify_ssl", "0") != "0":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def open_channel(url: str, vhost: str, window: int, timeout_s: float) -> "ConfirmChannel":
    """A connection to the node of `url` (its path is ignored: `vhost` is the virtual host), logged in
    with PLAIN, its channel in confirm mode; all of it within `timeout_s`."""
    target = _Target.of(url)
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(target.host, target.port, ssl=target.tls)
        try:
            frame_max, heartbeat_s = await _handshake(reader, writer, target, vhost)
        except BaseException:
            writer.close()
            raise
    return ConfirmChannel(reader, writer, window, frame_max, heartbeat_s)


async def _handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: _Target, vhost: str
) -> tuple[int, int]:
    writer.write(header.ProtocolHeader().marshal())
    await _expect(reader, commands.Connection.Start)
    properties: dict[str, Any] = {
        "product": "livescore-engage",
        "capabilities": {
            "authentication_failure_close": True,
            "basic.nack": True,
            "connection.blocked": True,
            "publisher_confirms": True,
        },
    }
    if target.name:
        properties["connection_name"] = target.name
    response = f"\0{target.user}\0{target.password}"
    writer.write(_marshal(commands.Connection.StartOk(properties, "PLAIN", response), 0))
    tune = await _expect(reader, commands.Connection.Tune)
    frame_max = min(tune.frame_max or DEFAULT_FRAME_MAX, DEFAULT_FRAME_MAX)
    # The lower of the two asked for; none when this side asks for none.
    heartbeat_s = min(target.heartbeat_s, tune.heartbeat or target.heartbeat_s)
    writer.write(_marshal(commands.Connection.TuneOk(tune.channel_max, frame_max, heartbeat_s), 0))
    writer.write(_marshal(commands.Connection.Open(virtual_host=vhost), 0))
    await _expect(reader, commands.Connection.OpenOk)
    writer.write(_marshal(commands.Channel.Open()))
    await _expect(reader, commands.Channel.OpenOk)
    writer.write(_marshal(commands.Confirm.Select()))
    await _expect(reader, commands.Confirm.SelectOk)
    return frame_max, heartbeat_s


async def _expect(reader: asyncio.StreamReader, kind: type[F]) -> F:
    """The next method frame of `kind`, anything else meanwhile (a heartbeat) skipped; a close is a
    refusal (a wrong password, a vhost not allowed)."""
    while True:
        try:
            head = await reader.readexactly(constants.FRAME_HEADER_SIZE)
            rest = await reader.readexactly(FRAME_HEAD.unpack(head)[2] + 1)
        except asyncio.IncompleteReadError as exc:
            raise ConnectionLost("the broker closed the connection during the handshake") from exc
        _, _, value = frame.unmarshal(head + rest)
        if isinstance(value, commands.Connection.Close | commands.Channel.Close):
            raise ConnectionLost(f"refused by the broker: {value.reply_code} {value.reply_text}")
        if isinstance(value, kind):
            return value
