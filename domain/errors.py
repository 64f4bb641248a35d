"""The one error hierarchy of the service.

    LivescoreError
    ├── RequestRejected            a customer's request cannot be served as asked (HTTP 400)
    │   ├── MalformedBody
    │   ├── InvalidPackageId
    │   ├── MissingUsername
    │   ├── MissingPassword
    │   ├── InvalidCredentials
    │   ├── PackageInactive
    │   ├── InvalidAfter           a recovery's `after` is not an ISO-8601 time with an offset (SPEC §12)
    │   └── AfterOutsideWindow     …or older than the recovery window
    ├── TooManyFailures            brute-force limit reached (HTTP 429)
    ├── NotSignedIn                no console session, or it expired, was signed out or its password
    │                              changed (HTTP 401)
    ├── ForeignOrigin              a console change sent from another origin (HTTP 403)
    ├── Unavailable                storage, Redis or the broker cannot be reached (HTTP 500, worker waits)
    │   ├── StorageUnavailable
    │   ├── QueueUnavailable
    │   ├── ReplicasUnconfirmed    too few Redis replicas confirmed a command in time (it stays in the stream)
    │   └── BrokerUnavailable      RabbitMQ (delivery over AMQP) cannot be reached
    ├── UndecodableCommand         a stream entry is not a command (worker dead-letters it)
    ├── ConcurrentChange           another worker changed a package of the batch (worker decides again)
    ├── PackageNotFound            an operator named a package that does not exist (CLI)
    ├── NoSuchDeadLetter           an operator named a dead letter that does not exist (CLI)
    ├── BadFixture                 a fixture of an import file cannot be stored (CLI; names where)
    ├── BrokerSetupFailed          the broker's configuration cannot be written, or its management API
    │                              cannot be reached or refuses (CLI; says what to do)
    └── NotOverThisBroker          a queue read this delivery cannot do as asked (CLI; says what instead)

The ingress maps this tree to HTTP in one table (ingress/errors.py); the worker maps it to
acknowledge / retry / dead-letter in one place (worker/handlers.py), after waiting out storage that
cannot be reached (worker/outages.py; which driver errors mean that: domain.storage.unreachable); the
CLI turns it into one line on standard error (cli/runner.py).
Messages of RequestRejected are the published contract (SPEC §2.1) and must not change.
"""


class LivescoreError(Exception):
    """Anything the service itself reports."""

    message = "Unexpected error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message is not None:
            self.message = message


class RequestRejected(LivescoreError):
    """A request that is answered with 400 and `{"error": message}`."""


class MalformedBody(RequestRejected):
    message = "Request body must be a JSON object"


class InvalidPackageId(RequestRejected):
    message = "PackageId must be a positive integer"


class MissingUsername(RequestRejected):
    message = "Username is required"


class MissingPassword(RequestRejected):
    message = "Password is required"


class InvalidCredentials(RequestRejected):
    """One message for unknown package, wrong username and wrong password, so ids cannot be probed."""

    message = "Invalid package credentials"


class PackageInactive(RequestRejected):
    message = "Package is inactive"


class InvalidAfter(RequestRejected):
    message = "After must be an ISO-8601 time"


class AfterOutsideWindow(RequestRejected):
    message = "After is outside the recovery window"


class TooManyFailures(LivescoreError):
    message = "Too many failed attempts; retry later"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__()
        self.retry_after_s = retry_after_s


class NotSignedIn(LivescoreError):
    """The console's session is missing, expired, signed out, or proved a password no longer current."""

    message = "Not signed in"


class ForeignOrigin(LivescoreError):
    """A console change (a POST) from a page of another origin: refused before anything is read."""

    message = "Request from another origin refused"


class Unavailable(LivescoreError):
    """A dependency is unreachable; the request may succeed later."""


class StorageUnavailable(Unavailable):
    message = "Package storage is unavailable"


class QueueUnavailable(Unavailable):
    message = "Command queue is unavailable"


class ReplicasUnconfirmed(Unavailable):
    """LIVESCORE_REDIS_MIN_REPLICAS replicas did not confirm a command within the wait (SPEC §11)."""

    message = "Command queue replicas did not confirm the command; retry"


class BrokerUnavailable(Unavailable):
    message = "Message broker is unavailable"


class UndecodableCommand(LivescoreError):
    message = "Stream entry is not a valid command"


class PackageNotFound(LivescoreError):
    message = "No such package"


class ConcurrentChange(LivescoreError):
    message = "Another writer changed a package of the batch after it was read"


class NoSuchDeadLetter(LivescoreError):
    message = "No such dead letter"


class BadFixture(LivescoreError):
    message = "Not a valid fixture"


class BrokerSetupFailed(LivescoreError):
    message = "The broker cannot be set up"


class NotOverThisBroker(LivescoreError):
    message = "Not possible over this delivery"
