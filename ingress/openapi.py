"""What /schema documents beyond the handlers' types: the request body and every other answer, with
examples. The handlers read their body themselves (to answer SPEC's messages in SPEC's order), so the
request body is described here rather than inferred."""

from dataclasses import dataclass

from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType

from domain.errors import (
    InvalidCredentials,
    InvalidPackageId,
    MalformedBody,
    MissingPassword,
    MissingUsername,
    PackageInactive,
    QueueUnavailable,
    StorageUnavailable,
    TooManyFailures,
)
from ingress.bodies import ErrorAnswer, FailureAnswer, PendingAnswer
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
        description="Storage or Redis unreachable, or anything unexpected; no internals are shown",
        examples=[
            Example(summary=m, value={"success": False, "message": m, "packageId": 123})
            for m in (StorageUnavailable.message, QueueUnavailable.message, "Unexpected error")
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


STATUS_RESPONSES = {400: _rejected(*_VALIDATION), **_COMMON}
SNAPSHOT_RESPONSES = {400: _rejected(*_VALIDATION, PackageInactive), **_COMMON}


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
    return {202: pending, **STATUS_RESPONSES}
