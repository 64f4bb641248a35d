"""A message's AMQP properties (SPEC §9) encoded once, byte for byte as FastStream's publish encoded them:
the content properties, the header table and the random correlation id."""

import random
import struct
import time
from typing import Any

from faststream.__about__ import SERVICE_NAME as FASTSTREAM_APP_ID
from pamqp import encode

from delivery.amqp_channel import Content
from domain.messages import Outgoing

# The properties of a message (SPEC §9) as FastStream's publish encoded them before (its flags and order:
# content_type, content_encoding, headers, delivery_mode 2 (persistent), priority 0, correlation_id,
# message_id, timestamp, type, app_id), so that customers see the same bytes:
# tests/amqp/test_amqp_channel.py compares them on the wire.
_PROPERTY_FLAGS = struct.pack(">H", 0xFCE8)
_CONTENT = encode.short_string("application/json") + encode.short_string("utf-8")
_PERSISTENT_PRIORITY_0 = b"\x02\x00"
# FastStream's broker named itself in every message's app_id ("faststream-0.7.8"): kept as it was.
_APP_ID = encode.short_string(FASTSTREAM_APP_ID)


def message_content(message: Outgoing) -> Content:
    """The message as SPEC §9 has it, byte for byte as FastStream's publish encoded it: properties
    content_type, content_encoding, headers (MessageType and the message's own), persistent, priority 0,
    a fresh correlation_id (as FastStream set one; now one a message, which its copies to several packages
    share: each customer sees one copy, a random id either way), message_id, timestamp (seconds), type,
    app_id."""
    headers: dict[str, Any] = {"MessageType": int(message.message_type), **message.headers}
    properties = b"".join(
        (
            _PROPERTY_FLAGS,
            _CONTENT,
            _field_table(headers),
            _PERSISTENT_PRIORITY_0,
            _random_uuid(),
            encode.short_string(message.message_id),
            encode.long_long_int(int(time.time())),
            encode.short_string(str(int(message.message_type))),
            _APP_ID,
        )
    )
    return Content(properties, message.body, message.message_id)


def _field_table(headers: dict[str, Any]) -> bytes:
    """pamqp's `encode.field_table`, byte for byte, without its general dispatch for the values the
    service's headers hold (integers and strings): that dispatch was a third of a snapshot's worker time."""
    data = []
    for key, value in sorted(headers.items()):
        data.append(_KEYS.get(key) or _key(key))
        if type(value) is int:
            data.append(_table_integer(value))
        elif type(value) is str:
            encoded = value.encode()
            data.append(b"S" + _LONG.pack(len(encoded)) + encoded)
        else:
            data.append(encode.encode_table_value(value))
    table = b"".join(data)
    return _LONG.pack(len(table)) + table


def _key(key: str) -> bytes:
    encoded = _KEYS[key] = encode.short_string(key)
    return encoded


def _table_integer(value: int) -> bytes:
    """The smallest of pamqp's integer types that holds the value, as `encode.table_integer` chooses."""
    if -128 <= value <= 127:
        return b"b" + _BYTE.pack(value)
    if -32768 <= value <= 32767:
        return b"s" + _SHORT.pack(value)
    if 0 <= value <= 65535:
        return b"u" + _USHORT.pack(value)
    if -2147483648 <= value <= 2147483647:
        return b"I" + _INT.pack(value)
    return encode.table_integer(value)


def _random_uuid() -> bytes:
    """A random (version 4) UUID as a short string, as FastStream's correlation_id was: drawn from Python's
    own generator, several times cheaper than `uuid.uuid4()`; the id names nothing and guards nothing."""
    n = (_random.getrandbits(128) & _UUID_CLEAR) | _UUID_SET
    h = f"{n:032x}"
    return encode.short_string(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")


# Header names seen so far, encoded (a handful: MessageType, FixtureId, SportId, LeagueId, RequestId, …).
_KEYS: dict[str, bytes] = {}
_LONG, _BYTE, _SHORT, _USHORT, _INT = (struct.Struct(f) for f in (">I", ">b", ">h", ">H", ">i"))
# Version 4 and the RFC 4122 variant, as uuid4 sets them.
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)
_random = random.Random()
