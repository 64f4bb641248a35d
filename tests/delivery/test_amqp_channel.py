"""The pipelined publisher (delivery/amqp_channel.py) against a scripted peer at the socket: what a real
broker does not do on demand — go silent, block publishing — is played here. The rest is in
tests/amqp/test_amqp_channel.py, on the real broker."""

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pamqp import commands, encode, frame
from pamqp.base import Frame
from pamqp.heartbeat import Heartbeat

from delivery.amqp_channel import ConnectionLost, Content, Outcome
from delivery.amqp_connect import open_channel
from delivery.amqp_properties import _field_table, _random_uuid

# Everything here happens on this machine within a second or two; longer means it went wrong.
TIMEOUT_S = 10

Peer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_frame(reader: asyncio.StreamReader) -> object:
    head = await reader.readexactly(7)
    rest = await reader.readexactly(struct.unpack(">BHI", head)[2] + 1)
    return frame.unmarshal(head + rest)[2]


async def read_method(reader: asyncio.StreamReader) -> object:
    """The next method frame; content headers, bodies and heartbeats skipped."""
    while not isinstance(value := await read_frame(reader), Frame):
        pass
    return value


def send(writer: asyncio.StreamWriter, value: Frame, channel: int = 0) -> None:
    writer.write(frame.marshal(value, channel))


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heartbeat_s: int) -> None:
    """A broker's side of opening a connection and a channel in confirm mode."""
    await reader.readexactly(8)  # the protocol header
    send(writer, commands.Connection.Start(mechanisms="PLAIN", locales="en_US"))
    await read_method(reader)
    send(writer, commands.Connection.Tune(channel_max=2047, frame_max=131072, heartbeat=heartbeat_s))
    await read_method(reader)  # TuneOk
    await read_method(reader)  # Open
    send(writer, commands.Connection.OpenOk())
    await read_method(reader)
    send(writer, commands.Channel.OpenOk(), 1)
    await read_method(reader)
    send(writer, commands.Confirm.SelectOk(), 1)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Peer], Awaitable[str]]]:
    """Serves a scripted peer on a free port; its URL."""
    servers: list[asyncio.Server] = []

    async def start(peer: Peer) -> str:
        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        servers.append(server)
        return f"amqp://guest:guest@127.0.0.1:{server.sockets[0].getsockname()[1]}/?heartbeat=1"

    yield start
    for server in servers:
        server.close()


MESSAGE = Content(b"\x00\x00", b"{}", "m-1")


async def test_a_broker_silent_for_two_heartbeat_intervals_is_lost(
    serve: Callable[[Peer], Awaitable[str]],
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer, heartbeat_s=1)
        await asyncio.sleep(TIMEOUT_S)  # reads nothing, says nothing: a host gone from the network

    channel = await open_channel(await serve(silent), "/", 10, TIMEOUT_S)
    with pytest.raises(ConnectionLost, match="silent"):
        await asyncio.wait_for(channel.publish("", "q", [MESSAGE]), TIMEOUT_S)
    assert channel.lost


async def test_heartbeats_keep_a_quiet_connection_and_a_blocked_one_publishes_once_unblocked(
    serve: Callable[[Peer], Awaitable[str]],
) -> None:
    published = asyncio.Event()
    said: list[str] = []

    async def blocking(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer, heartbeat_s=1)
        send(writer, commands.Connection.Blocked(reason="low on memory"))
        for _ in range(3):  # three seconds of heartbeats both ways, nothing published meanwhile
            await asyncio.sleep(1)
            writer.write(Heartbeat.marshal())
        said.append("unblocked")
        send(writer, commands.Connection.Unblocked())
        publish = await read_method(reader)
        assert isinstance(publish, commands.Basic.Publish)
        published.set()
        send(writer, commands.Basic.Ack(delivery_tag=1), 1)
        await asyncio.sleep(TIMEOUT_S)

    channel = await open_channel(await serve(blocking), "/", 10, TIMEOUT_S)
    await asyncio.sleep(0.2)  # the Blocked frame read
    outcome = await asyncio.wait_for(channel.publish("", "q", [MESSAGE]), TIMEOUT_S)
    assert said == ["unblocked"]
    assert published.is_set()
    assert outcome == [Outcome.CONFIRMED]
    assert not channel.lost
    await channel.close()


def test_the_headers_table_is_encoded_byte_for_byte_as_pamqp_encodes_it() -> None:
    """amqp_properties' direct encoding of the headers' integers and strings, against pamqp's general
    one, over every integer range pamqp distinguishes and a few other types (which it hands to pamqp)."""
    tables: list[dict[str, Any]] = [
        {"MessageType": 1, "FixtureId": 900001001, "SportId": 6046, "LeagueId": 67, "RequestId": "r-é"},
        {"MessageType": 32},
        {},
        {"a": -128, "b": 127, "c": -32768, "d": 32767, "e": 65535, "f": -(2**31), "g": 2**31 - 1},
        {"h": 2**31, "i": 2**32 - 1, "j": 2**32, "k": -(2**40), "l": True, "m": 1.5, "n": None},
    ]
    for table in tables:
        assert _field_table(table) == encode.field_table(table), table


def test_a_correlation_id_is_a_random_version_4_uuid() -> None:
    drawn = {_random_uuid() for _ in range(1000)}
    assert len(drawn) == 1000
    for encoded in drawn:
        text = encoded[1:].decode()
        assert encoded[0] == len(text) == 36
        assert str(uuid.UUID(text)) == text
        assert uuid.UUID(text).version == 4
