"""The stream format of commands: what goes in comes out, and nothing else is a command."""

import pytest

from domain.commands import (
    ActivatePackage,
    DeactivatePackage,
    StreamId,
    TriggerSnapshot,
    from_fields,
)
from domain.errors import UndecodableCommand


@pytest.mark.parametrize(
    "command",
    [
        ActivatePackage(package_id=1, reply_to="livescore:replies:x"),
        DeactivatePackage(package_id=2147483647),
        TriggerSnapshot(package_id=3),
    ],
)
def test_a_command_survives_the_stream_format(command: object) -> None:
    fields = command.to_fields()  # type: ignore[attr-defined]
    assert from_fields({k.encode(): v.encode() for k, v in fields.items()}) == command


def test_a_command_carries_exactly_the_documented_fields() -> None:
    assert set(TriggerSnapshot(package_id=3).to_fields()) == {
        "commandId",
        "type",
        "packageId",
        "requestedAt",
        "requestId",
    }
    assert set(ActivatePackage(package_id=3).to_fields()) == {"commandId", "type", "packageId", "requestedAt"}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {b"type": b"explode", b"packageId": b"1", b"commandId": b"c", b"requestedAt": b"t"},
        {b"type": b"activate", b"packageId": b"one", b"commandId": b"c", b"requestedAt": b"t"},
        {b"type": b"activate", b"commandId": b"c", b"requestedAt": b"t"},
        {b"type": b"\xff", b"packageId": b"1", b"commandId": b"c", b"requestedAt": b"t"},
    ],
)
def test_anything_else_is_undecodable(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(UndecodableCommand):
        from_fields(fields)


def test_stream_ids_order_numerically_not_as_text() -> None:
    assert StreamId.parse(b"10-0") > StreamId.parse("9-5")
    assert StreamId.parse("1700000000000-12") == StreamId(1700000000000, 12)
    assert str(StreamId(5, 1)) == "5-1"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({b"type": b"\xff"}, "Stream entry is not a valid command: 'utf-8' codec can't decode byte 0xff"),
        ({b"type": b"activate"}, "Stream entry is not a valid command: no field packageId"),
    ],
)
def test_why_an_entry_is_not_a_command_reads_as_text_not_bytes(
    fields: dict[bytes, bytes], error: str
) -> None:
    with pytest.raises(UndecodableCommand) as raised:
        from_fields(fields)
    assert raised.value.message.startswith(error)
    assert "b'" not in raised.value.message
