"""The commands on `livescore:commands`, built by the ingress and decoded by the workers.

An entry holds plain string fields (readable by any Redis client and by `livescore replay`):
`commandId`, `type`, `packageId`, `requestedAt`, and `requestId` (snapshot, recovery; a recovery also
`after` when it has one) or `replyTo` (activation).
A command never carries the password nor anything derived from it.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from domain.errors import UndecodableCommand
from domain.messages import timestamp
from domain.package_status import PackageStatus

# packageId is a 32-bit signed integer upstream (SPEC §2.1); no command may name one outside 1..this.
MAX_PACKAGE_ID = 2_147_483_647


class CommandType(StrEnum):
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    SNAPSHOT = "snapshot"
    RECOVERY = "recovery"


class Outcome(StrEnum):
    """What applying an activation command did, as the worker tells the waiting ingress."""

    COMPLETED = "completed"
    ALREADY = "already"
    # The package vanished from storage between authentication and application.
    MISSING = "missing"


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeActivation:
    """Set a package's status; the latest such command in stream order decides it."""

    package_id: int
    command_id: str = field(default_factory=_new_id)
    requested_at: str = field(default_factory=timestamp)
    # Pub/Sub channel of the ingress process waiting for the outcome; empty when nobody waits.
    reply_to: str = ""
    # Why the service itself changed the status (e.g. "queue-limit"); empty for a customer's command.
    reason: str = ""

    type = CommandType.ACTIVATE
    target = PackageStatus.ACTIVE

    def to_fields(self) -> dict[str, str]:
        fields = {
            "commandId": self.command_id,
            "type": self.type.value,
            "packageId": str(self.package_id),
            "requestedAt": self.requested_at,
        }
        if self.reply_to:
            fields["replyTo"] = self.reply_to
        if self.reason:
            fields["reason"] = self.reason
        return fields


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivatePackage(ChangeActivation):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class DeactivatePackage(ChangeActivation):
    type = CommandType.DEACTIVATE
    target = PackageStatus.INACTIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSnapshot:
    """Publish every upcoming subscribed fixture to the package's fixtures queue."""

    package_id: int
    command_id: str = field(default_factory=_new_id)
    requested_at: str = field(default_factory=timestamp)
    request_id: str = field(default_factory=_new_id)

    type = CommandType.SNAPSHOT

    def to_fields(self) -> dict[str, str]:
        return {
            "commandId": self.command_id,
            "type": self.type.value,
            "packageId": str(self.package_id),
            "requestedAt": self.requested_at,
            "requestId": self.request_id,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerRecovery:
    """Send the package's live scoreboards again, after its kept incidents since `after` (SPEC §12)."""

    package_id: int
    command_id: str = field(default_factory=_new_id)
    requested_at: str = field(default_factory=timestamp)
    request_id: str = field(default_factory=_new_id)
    # ISO-8601 UTC (as `timestamp` writes it); empty: scoreboards only.
    after: str = ""

    type = CommandType.RECOVERY

    def to_fields(self) -> dict[str, str]:
        fields = {
            "commandId": self.command_id,
            "type": self.type.value,
            "packageId": str(self.package_id),
            "requestedAt": self.requested_at,
            "requestId": self.request_id,
        }
        if self.after:
            fields["after"] = self.after
        return fields


# A request whose requestId the customer holds, coalesced while one is queued or running.
Trigger = TriggerSnapshot | TriggerRecovery
Command = ActivatePackage | DeactivatePackage | TriggerSnapshot | TriggerRecovery


def from_fields(raw: Mapping[bytes, bytes] | Mapping[str, str]) -> Command:
    """Decode a stream entry; anything that is not a well-formed command raises UndecodableCommand."""
    try:
        fields = {text_of(k): text_of(v) for k, v in raw.items()}
        kind = CommandType(fields["type"])
        package_id = int(fields["packageId"])
        command_id, requested_at = fields["commandId"], fields["requestedAt"]
    except KeyError as exc:
        raise UndecodableCommand(f"Stream entry is not a valid command: no field {exc.args[0]}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        # As text: a repr would show the entry's bytes as b'…' in the dead letter and the log.
        raise UndecodableCommand(f"Stream entry is not a valid command: {exc}") from None
    if not 0 < package_id <= MAX_PACKAGE_ID:
        # Checked here, entry by entry: storage would refuse it only for the whole batch it came in.
        raise UndecodableCommand(f"Stream entry names no valid package: {fields['packageId'][:40]!r}")
    common = {"package_id": package_id, "command_id": command_id, "requested_at": requested_at}
    if kind is CommandType.SNAPSHOT:
        return TriggerSnapshot(request_id=fields.get("requestId") or _new_id(), **common)  # type: ignore[arg-type]
    if kind is CommandType.RECOVERY:
        request_id = fields.get("requestId") or _new_id()
        return TriggerRecovery(request_id=request_id, after=fields.get("after", ""), **common)  # type: ignore[arg-type]
    activation = ActivatePackage if kind is CommandType.ACTIVATE else DeactivatePackage
    return activation(reply_to=fields.get("replyTo", ""), reason=fields.get("reason", ""), **common)  # type: ignore[arg-type]


def text_of(value: bytes | str) -> str:
    """A value as redis-py returns it (bytes), or as written (str), as text."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True, order=True)
class StreamId:
    """A Redis stream entry id as two integers, so that storage can compare them in SQL."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, entry_id: bytes | str) -> "StreamId":
        ms, _, seq = text_of(entry_id).partition("-")
        return cls(int(ms), int(seq or 0))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"
