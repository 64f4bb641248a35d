"""The ingress's Prometheus metrics (served at GET /metrics)."""

from prometheus_client import Counter, Histogram

# Endpoint labels are the route paths only; anything else is "other", so no client can grow the series.
REQUESTS = Counter("livescore_http_requests_total", "HTTP requests answered", ["endpoint", "status"])
LATENCY = Histogram(
    "livescore_http_request_duration_seconds",
    "Time from request to answer",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AUTH_FAILURES = Counter("livescore_auth_failures_total", "Failed authentications")
LOCKOUTS = Counter("livescore_auth_lockouts_total", "Requests refused by the brute-force limit")
# The broker-auth process (ingress/broker_auth.py): AMQP logins RabbitMQ asked about, by answer, and
# those refused by the per-username limit without verifying.
AMQP_LOGINS = Counter("livescore_amqp_logins_total", "AMQP logins answered", ["result"])
AMQP_LOCKOUTS = Counter("livescore_amqp_auth_lockouts_total", "AMQP logins refused by the brute-force limit")
ARGON2_VERIFICATIONS = Counter("livescore_argon2_verifications_total", "Full password verifications")
COMMANDS_ENQUEUED = Counter("livescore_commands_enqueued_total", "Commands appended to the stream", ["type"])
COMMANDS_PENDING = Counter(
    "livescore_commands_answered_pending_total", "Activation requests answered 202 (no worker in time)"
)
