"""Small fixtures (the sports kind) for tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.fixtures import Fixture, Participant, Ref

FOOTBALL, TENNIS = 6046, 54094
PREMIER_LEAGUE, ATP = 1001, 3001


def fixture(
    fixture_id: int,
    status: int = 1,
    sport: int = FOOTBALL,
    league: int = PREMIER_LEAGUE,
    last_update: datetime | None = None,
) -> Fixture:
    start = datetime(2030, 5, 1, 15, 0, tzinfo=UTC) + timedelta(hours=fixture_id)
    return Fixture(
        fixture_id=fixture_id,
        status=status,
        start_date=start,
        sport=Ref(sport, f"sport {sport}"),
        league=Ref(league, f"league {league}"),
        location=Ref(826, "England"),
        participants=[Participant(1, "Home FC", 1), Participant(2, "Away United", 2)],
        last_update=last_update or datetime(2030, 4, 1, tzinfo=UTC),
    )


def incident(incident_id: int, fixture_id: int, kind: str = "Score", **fields: Any) -> dict[str, Any]:
    """An incident body as the feed sends it (SPEC §10): a score of 1–0 unless told otherwise."""
    body: dict[str, Any] = {
        "id": incident_id,
        "fixtureId": fixture_id,
        "kind": kind,
        "confidence": 1.0,
        "name": "Goal",
        "values": [{"position": 1, "value": 1}, {"position": 2, "value": 0}],
        "period": {"id": 1, "name": "1st Half"},
        "seconds": 600,
    }
    return {**body, **fields}
