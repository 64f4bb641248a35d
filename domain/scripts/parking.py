"""Incident partitions' rounds settled in one script (domain/partitions.py: commit; SPEC §10)."""

from collections.abc import Callable, Sequence

import msgspec

from domain.dead_letters import DEAD_LETTERS_MAXLEN, incident_letter
from domain.incident_order import Action, Commit, DeadLetter, ForgetDelivered, Park, Unpark
from domain.messages import MESSAGE_FIELD
from domain.scripts.runner import Arg, LuaScript, ScriptCall, no_reply
from domain.streams import (
    INCIDENT_DEAD_LETTERS_STREAM,
    INCIDENT_OFFSETS,
    incidents_delivered,
    incidents_parked,
    incidents_parked_fixtures,
)

SETTLE_INCIDENTS = LuaScript.load("settle_incidents")
_MESSAGE = MESSAGE_FIELD.encode()
# A partition's first key among the script's KEYS (its parked stream; the next two follow it).
KeyOf = Callable[[int], int]


def settle_incidents(actions: Sequence[Action]) -> ScriptCall[None]:
    """The writes of these actions, in their order, at once (the deliveries are done by then)."""
    keys: list[Arg] = [INCIDENT_DEAD_LETTERS_STREAM, INCIDENT_OFFSETS]
    first_key: dict[int, int] = {}

    def k(partition: int) -> int:
        if partition not in first_key:
            first_key[partition] = len(keys) + 1  # Lua counts from 1
            keys.extend(
                [
                    incidents_parked(partition),
                    incidents_parked_fixtures(partition),
                    incidents_delivered(partition),
                ]
            )
        return first_key[partition]

    # A delivery writes nothing here (it was published already): it has no operation.
    operations = [operation for action in actions if (operation := _operation(action, k))]
    return ScriptCall(SETTLE_INCIDENTS, keys, [DEAD_LETTERS_MAXLEN, _pack(operations)], no_reply)


def _operation(action: Action, k: KeyOf) -> list[Arg | msgspec.Raw]:
    match action:
        case DeadLetter(entry_id=entry_id, message=message, detail=detail):
            letter = incident_letter(str(entry_id), {_MESSAGE: message}, detail)
            strings = (_string(x) if isinstance(x, bytes) else x for pair in letter.items() for x in pair)
            return ["D", *strings]
        case Park(partition=partition, parked=parked):
            return [
                "P",
                k(partition),
                str(parked.entry_id),
                str(parked.fixture_id),
                str(parked.since_ms),
                _string(parked.message),
            ]
        case Unpark(partition=partition, entry_id=entry_id, fixture_id=fixture_id):
            return ["U", k(partition), str(entry_id), str(fixture_id)]
        case Commit(partition=partition, offset=offset):
            return ["O", str(partition), str(offset)]
        case ForgetDelivered(partition=partition):
            return ["F", k(partition)]
    return []


_encoder = msgspec.msgpack.Encoder()


def _pack(operations: list[list[Arg | msgspec.Raw]]) -> bytes:
    return _encoder.encode(operations)


def _string(value: bytes) -> msgspec.Raw:
    """Bytes as a MessagePack string (str 32), as they are: Redis's cmsgpack reads no binary type, and
    decoding them to text first would cost the time this packing saves."""
    return msgspec.Raw(b"\xdb" + len(value).to_bytes(4, "big") + value)
