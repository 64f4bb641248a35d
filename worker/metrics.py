"""The worker's Prometheus metrics (served at /metrics on LIVESCORE_WORKER_PORT), beside FastStream's own."""

from faststream.redis.prometheus import RedisPrometheusMiddleware
from prometheus_client import REGISTRY, Counter, Gauge

# FastStream's own message metrics; one instance per process, since its metrics register once.
FASTSTREAM_METRICS = RedisPrometheusMiddleware(registry=REGISTRY)

COMMANDS_APPLIED = Counter(
    "livescore_commands_applied_total", "Commands applied to storage", ["type", "outcome"]
)
SNAPSHOT_FIXTURES = Counter(
    "livescore_snapshot_fixtures_published_total", "Fixture messages sent by snapshots"
)
SNAPSHOTS = Counter("livescore_snapshots_total", "Snapshots handled", ["result"])
FIXTURE_UPDATES = Counter("livescore_fixture_updates_total", "Fixture updates read", ["result"])
DEAD_LETTERS = Counter("livescore_dead_letters_total", "Commands moved to the dead-letter stream")
COMMAND_FAILURES = Counter("livescore_command_failures_total", "Command deliveries that failed")
# Refreshed every few seconds from XINFO GROUPS, per stream.
PENDING = Gauge(
    "livescore_stream_pending", "Entries delivered to the workers' group and not acknowledged", ["stream"]
)
LAG = Gauge("livescore_stream_lag", "Entries not yet delivered to the workers' group", ["stream"])
CONSUMERS = Gauge("livescore_stream_consumers", "Consumers in the workers' group", ["stream"])
STORAGE_RETRIES = Counter(
    "livescore_storage_retries_total", "Tries that found the storage unreachable and will be repeated"
)
INCIDENTS = Counter(
    "livescore_incidents_total",
    "Incidents handled: forwarded, refused (a package's full queue refused it), dead (dead-lettered), "
    "already-delivered (skipped on a takeover)",
    ["result"],
)
INCIDENTS_WAITING = Gauge(
    "livescore_incidents_waiting",
    "Incidents waiting for their fixture that this worker keeps in memory (all of them are parked in Redis)",
)
INCIDENT_PARTITIONS = Gauge("livescore_incident_partitions", "Incident partitions this worker owns")
BEATS = Counter(
    "livescore_beats_total", "Keep-alive and heartbeat rounds this worker sent (once per interval)", ["kind"]
)
SCOREBOARDS = Counter(
    "livescore_scoreboard_writes_total",
    "Scoreboards written to storage, by what changed them: incidents, fixture updates",
    ["cause"],
)
LIVE_STATE_TRIMMED = Counter(
    "livescore_live_state_trimmed_total",
    "Kept incidents and scoreboards dropped by housekeeping, past the recovery window",
    ["kind"],
)
