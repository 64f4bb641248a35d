"""The rule that decides an activation command's outcome (`decide`), branch by branch, without storage."""

from domain.activation import Applied, PackageRow, decide
from domain.commands import ActivatePackage, DeactivatePackage, Outcome, StreamId
from domain.package_status import PackageStatus

ACTIVE, INACTIVE = PackageStatus.ACTIVE, PackageStatus.INACTIVE
EARLIER, READ, LATER = StreamId(100, 0), StreamId(200, 0), StreamId(300, 0)


def row(
    status: PackageStatus = INACTIVE, outcome: Outcome = Outcome.COMPLETED, reason: str | None = None
) -> PackageRow:
    """A package as storage holds it: last changed by the command at READ."""
    return PackageRow(status, READ, outcome, READ, reason)


def test_a_command_for_a_missing_package_answers_missing() -> None:
    assert decide(None, LATER, ActivatePackage(package_id=1)) == Applied(Outcome.MISSING, ACTIVE, LATER)


def test_a_newer_command_that_changes_the_status_completes_and_wins() -> None:
    package = row(INACTIVE)
    applied = decide(package, LATER, ActivatePackage(package_id=1))
    assert applied == Applied(Outcome.COMPLETED, ACTIVE, LATER)
    assert (package.status, package.applied, package.outcome, package.changed) == (
        ACTIVE,
        LATER,
        Outcome.COMPLETED,
        True,
    )
    assert package.read == READ  # the write is checked against what was read


def test_a_newer_command_for_the_status_the_package_has_answers_already_and_still_wins() -> None:
    package = row(ACTIVE)
    applied = decide(package, LATER, ActivatePackage(package_id=1))
    assert applied == Applied(Outcome.ALREADY, ACTIVE, LATER)
    # Its stream id is recorded all the same, so that its redelivery answers "already" again.
    assert (package.applied, package.outcome, package.changed) == (LATER, Outcome.ALREADY, True)


def test_the_service_s_reason_is_recorded_and_a_customer_command_clears_it() -> None:
    package = row(ACTIVE)
    by_service = decide(package, LATER, DeactivatePackage(package_id=1, reason="queue-limit"))
    by_customer = decide(package, StreamId(400, 0), ActivatePackage(package_id=1))
    assert by_service == Applied(Outcome.COMPLETED, INACTIVE, LATER, "queue-limit")
    assert by_customer.reason is None
    assert package.reason is None


def test_a_redelivered_command_answers_as_the_first_time_and_changes_nothing() -> None:
    """The activation at READ made the package active ("completed"). Delivered again, it answers
    "completed" again, though deciding it anew against the active package would say "already"."""
    package = row(ACTIVE, outcome=Outcome.COMPLETED)
    applied = decide(package, READ, ActivatePackage(package_id=1))
    assert applied == Applied(Outcome.COMPLETED, ACTIVE, READ)
    assert not package.changed


def test_a_superseded_command_changes_nothing_and_answers_as_if_applied_just_before_the_newer() -> None:
    """An older command, overtaken by one a racing worker applied: the status stays the newer one's; the
    answer says "already" when the package has the status the older command asked for."""
    package = row(ACTIVE)
    same = decide(package, EARLIER, ActivatePackage(package_id=1))
    other = decide(package, EARLIER, DeactivatePackage(package_id=1))
    assert same == Applied(Outcome.ALREADY, ACTIVE, READ)
    assert other == Applied(Outcome.COMPLETED, ACTIVE, READ)
    assert (package.status, package.applied, package.changed) == (ACTIVE, READ, False)


def test_a_batch_s_commands_are_decided_one_after_the_other_in_stream_order() -> None:
    package = row(INACTIVE)
    commands = [
        (StreamId(300, 0), ActivatePackage(package_id=1)),
        (StreamId(300, 1), ActivatePackage(package_id=1)),
        (StreamId(300, 2), DeactivatePackage(package_id=1)),
    ]
    outcomes = [decide(package, entry, command).outcome for entry, command in commands]
    assert outcomes == [Outcome.COMPLETED, Outcome.ALREADY, Outcome.COMPLETED]
    assert (package.status, package.applied) == (INACTIVE, StreamId(300, 2))
