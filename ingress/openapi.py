"""What /schema documents beyond the handlers' types: the request body and every other answer, with
examples. The handlers read their body themselves (to answer SPEC's messages in SPEC's order), so the
request body is described here rather than inferred."""

from dataclasses import dataclass
from typing import Any

from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

from domain.errors import (
    AfterOutsideWindow,
    InvalidAfter,
    InvalidCredentials,
    InvalidPackageId,
    MalformedBody,
    MissingPassword,
    MissingUsername,
    PackageInactive,
    QueueUnavailable,
    ReplicasUnconfirmed,
    StorageUnavailable,
    TooManyFailures,
)
from ingress.bodies import (
    RECOVERY_SENT,
    SNAPSHOT_SENT,
    ChangeAnswer,
    ErrorAnswer,
    FailureAnswer,
    LiveAnswer,
    PendingAnswer,
    SnapshotAnswer,
    StatusAnswer,
)
from ingress.validation import MAX_PACKAGE_ID

_CREDENTIALS = Schema(
    type=OpenAPIType.OBJECT,
    required=["packageId", "username", "password"],
    properties={
        "packageId": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_PACKAGE_ID, examples=[123]),
        "username": Schema(type=OpenAPIType.STRING, min_length=1, examples=["user@example.com"]),
        "password": Schema(type=OpenAPIType.STRING, min_length=1, examples=["secret"]),
    },
    description="A package's credentials. Unknown fields are ignored.",
)


@dataclass
class CredentialsOperation(Operation):
    """An operation whose request body is a package's credentials."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={MediaType.JSON: OpenAPIMediaType(schema=_CREDENTIALS)}, required=True
        )


_RECOVERY = Schema(
    type=OpenAPIType.OBJECT,
    required=["packageId", "username", "password"],
    properties={
        **(_CREDENTIALS.properties or {}),
        "after": Schema(
            type=OpenAPIType.STRING,
            format=OpenAPIFormat.DATE_TIME,
            examples=["2030-01-01T15:40:00Z"],
            description=(
                "Recover the incidents appended after this time (ISO-8601 with an offset or Z), within"
                " LIVESCORE_RECOVERY_HOURS; absent: the scoreboards only"
            ),
        ),
    },
    description="A package's credentials, and optionally since when to recover. Unknown fields are ignored.",
)


@dataclass
class RecoveryOperation(Operation):
    """The recovery trigger: the credentials and an optional `after`."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={MediaType.JSON: OpenAPIMediaType(schema=_RECOVERY)}, required=True
        )


def _examples(*messages: str) -> list[Example]:
    return [Example(summary=m, value={"error": m}) for m in messages]


_VALIDATION = [MalformedBody, InvalidPackageId, MissingUsername, MissingPassword, InvalidCredentials]
_COMMON: dict[int, ResponseSpec] = {
    413: ResponseSpec(
        data_container=ErrorAnswer,
        description="Body above 16 KiB",
        examples=_examples("Request body too large"),
        generate_examples=False,
    ),
    429: ResponseSpec(
        data_container=ErrorAnswer,
        description=(
            "Too many failed authentications from this address, for this package or for all packages"
            " together (see Retry-After)"
        ),
        examples=_examples(TooManyFailures.message),
        generate_examples=False,
    ),
    500: ResponseSpec(
        data_container=FailureAnswer,
        description=(
            "Storage or Redis unreachable, too few Redis replicas confirmed the command in time (with"
            " LIVESCORE_REDIS_MIN_REPLICAS; the command stays queued), or anything unexpected; no internals"
            " are shown"
        ),
        examples=[
            Example(summary=m, value={"success": False, "message": m, "packageId": 123})
            for m in (
                StorageUnavailable.message,
                QueueUnavailable.message,
                ReplicasUnconfirmed.message,
                "Unexpected error",
            )
        ],
        generate_examples=False,
    ),
}


def _rejected(*errors: type[Exception]) -> ResponseSpec:
    return ResponseSpec(
        data_container=ErrorAnswer,
        description="The first failing check, in this order",
        examples=_examples(*(e.message for e in errors)),  # type: ignore[attr-defined]
        generate_examples=False,
    )


_WHO = {"success": True, "packageId": 123, "username": "user@example.com"}
_QUEUE = {"name": "livescore:fixtures:123", "length": 0, "pending": 0, "consumers": 0, "lag": 0}


def _done(container: type, description: str, examples: dict[str, dict[str, Any]]) -> ResponseSpec:
    """A 200 answer with its examples (Litestar would document the type of it only)."""
    return ResponseSpec(
        data_container=container,
        description=description,
        examples=[Example(summary=summary, value={**_WHO, **value}) for summary, value in examples.items()],
        generate_examples=False,
    )


_STATUS_DONE = _done(
    StatusAnswer,
    "The package's status and its queue's figures (`pending` is null over AMQP while the broker's "
    "management API is unreachable; the other figures come from the queue itself)",
    {
        "active": {"status": "active", "queue": _QUEUE},
        "deactivated by the service (its queue overflowed)": {
            "status": "inactive",
            "queue": {**_QUEUE, "lag": 50000},
            "reason": "queue-limit",
        },
    },
)
_SNAPSHOT_DONE = _done(
    SnapshotAnswer,
    "The snapshot is enqueued; its fixtures follow on the package's queue, then a completion message",
    {"enqueued": {"message": SNAPSHOT_SENT, "requestId": "e7a0245e-3c1f-4d55-8a0e-2f5f3e6a7b10"}},
)
_SCOREBOARD = {
    "fixtureId": 900001001,
    "status": 2,
    "fixture": {
        "startDate": "2030-01-01T15:00:00Z",
        "sport": {"id": 6046, "name": "Football"},
        "league": {"id": 67, "name": "Premier League"},
        "location": {"id": 243, "name": "England"},
        "participants": [
            {"id": 52, "name": "Arsenal", "position": 1},
            {"id": 48, "name": "Chelsea", "position": 2},
        ],
    },
    "period": {"id": 20, "name": "2nd Half"},
    "seconds": 3120,
    "results": [{"position": 1, "value": "2"}, {"position": 2, "value": "1"}],
    "periods": [
        {
            "id": 10,
            "name": "1st Half",
            "finished": True,
            "results": [{"position": 1, "value": "1"}, {"position": 2, "value": "1"}],
        },
        {
            "id": 20,
            "name": "2nd Half",
            "finished": False,
            "results": [{"position": 1, "value": "1"}, {"position": 2, "value": "0"}],
        },
    ],
    "statistics": [
        {
            "kind": "Statistic",
            "name": "Corners",
            "values": [{"position": 1, "value": 5}, {"position": 2, "value": 3}],
        }
    ],
    "lastIncidentId": 40017,
    "updated": "2030-01-01T15:52:00.000Z",
}
_LIVE_DONE = _done(
    LiveAnswer,
    "The scoreboards of the package's subscribed fixtures in progress (the same as the initial image's"
    " MessageType 4 bodies), whether the package is active or not",
    {"one match in play": {"fixtures": [_SCOREBOARD]}, "none in play": {"fixtures": []}},
)
_RECOVERY_DONE = _done(
    SnapshotAnswer,
    "The recovery is enqueued: on the package's incidents queue, per subscribed fixture in progress, its"
    " incidents since `after` (marked Recovered, with this RequestId), then its scoreboard (MessageType 4);"
    " last a completion message (MessageType 101). A trigger while the package's recovery is queued or"
    " running answers that recovery's requestId",
    {"enqueued": {"message": RECOVERY_SENT, "requestId": "5d1c7f0a-2b3e-4c55-9a0e-2f5f3e6a7b10"}},
)
STATUS_RESPONSES = {200: _STATUS_DONE, 400: _rejected(*_VALIDATION), **_COMMON}
LIVE_RESPONSES = {200: _LIVE_DONE, 400: _rejected(*_VALIDATION), **_COMMON}
SNAPSHOT_RESPONSES = {200: _SNAPSHOT_DONE, 400: _rejected(*_VALIDATION, PackageInactive), **_COMMON}
RECOVERY_RESPONSES = {
    200: _RECOVERY_DONE,
    400: _rejected(*_VALIDATION, PackageInactive, InvalidAfter, AfterOutsideWindow),
    **_COMMON,
}


def change_responses(change: str) -> dict[int, ResponseSpec]:
    """activate/deactivate: also 202 when no worker applied the change within the command timeout."""
    pending = ResponseSpec(
        data_container=PendingAnswer,
        description="No worker answered in time; the command is safe in the stream and applies later",
        examples=[
            Example(
                summary="pending",
                value={
                    "success": True,
                    "message": f"Package {change} accepted and pending",
                    "packageId": 123,
                    "username": "user@example.com",
                    "commandId": "0b9d4c1e-8f1a-4c55-9a0e-2f5f3e6a7b10",
                },
            )
        ],
        generate_examples=False,
    )
    done = _done(
        ChangeAnswer,
        "The change is applied: a status read now sees it",
        {
            "applied": {"message": f"Package {change} completed successfully"},
            "already so": {
                "message": "Package is already " + ("active" if change == "activation" else "inactive")
            },
        },
    )
    return {200: done, 202: pending, 400: _rejected(*_VALIDATION), **_COMMON}


_REQUEST_ID = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=64),
    description="The caller's X-Request-ID when it sent one of 1-64 visible ASCII characters, else ours",
    required=True,
)
_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    description="Seconds until this address may try again",
    required=True,
)


def declare_headers(openapi: OpenAPI) -> None:
    """The headers of every answer, which no route declares: X-Request-ID on all of them (added by the
    observing middleware), Retry-After on 429."""
    for path in (openapi.paths or {}).values():
        for operation in (path.get, path.post):
            for code, response in ((operation.responses or {}) if operation else {}).items():
                if isinstance(response, OpenAPIResponse):
                    headers = {**(response.headers or {}), "X-Request-ID": _REQUEST_ID}
                    response.headers = headers | ({"Retry-After": _RETRY_AFTER} if code == "429" else {})
