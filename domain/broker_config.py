"""The RabbitMQ configuration the service needs (SPEC §9), as `livescore amqp config` writes it.

Customers' logins go to the broker-auth process through RabbitMQ's HTTP auth backend, uncached; the
service's own account stays in RabbitMQ's internal user database. Listeners, ports and TLS are the
operator's: they append them below `OPERATOR_MARKER`, and writing the file again keeps what is there.
"""

import re

from domain.settings import Settings

# RabbitMQ's own Erlang term: the management API (`livescore amqp setup`) and the HTTP auth backend. Not
# its cache: a cached `allow` would answer the right password at once and a wrong one after a
# verification, telling a guesser which is which (ingress/amqp_logins.py).
ENABLED_PLUGINS = "[rabbitmq_management,rabbitmq_auth_backend_http].\n"

# Everything below this line of rabbitmq.conf is the operator's, and kept when the file is written again.
OPERATOR_MARKER = (
    "# ---- the operator's settings: listeners, ports, TLS (kept by `livescore amqp config`) ----"
)

# The broker-auth process's paths, one per question RabbitMQ asks (ingress/broker_routes.py).
AUTH_PATHS = ("user", "vhost", "resource", "topic")

_HEAD = """\
# RabbitMQ configuration for livescore-engage, written by `livescore amqp config` (SPEC §9).
#
# The service's own account is an internal user (`livescore amqp setup` creates it). Customers log in
# with their packages' usernames and passwords, which only the service holds: RabbitMQ asks the
# broker-auth process (`python -m ingress.broker_auth`) over HTTP: the password when a connection logs in,
# then whether it may enter the vhost from its address, then each queue it reads. Uncached, so that every
# login is decided afresh (no answer faster for the right password) and a changed password bites at once.
auth_backends.1 = internal
auth_backends.2 = http
auth_http.http_method = post
{paths}
# `status` shows each package's queue figures from the management API, no older than a second (SPEC §9);
# RabbitMQ refreshes them every 5 s by default.
collect_statistics_interval = 1000
#
# Listeners, ports and TLS are left to the operator, who appends them below the next line, e.g.
#   listeners.tcp.default = 5672          (the service's own account, on a private network)
#   listeners.ssl.default = 5671          (customers: AMQPS)
#   ssl_options.cacertfile = /etc/rabbitmq/ca.pem
#   ssl_options.certfile = /etc/rabbitmq/cert.pem
#   ssl_options.keyfile = /etc/rabbitmq/key.pem
#   ssl_options.verify = verify_none
#   ssl_options.fail_if_no_peer_cert = false
#   management.tcp.port = 15672
"""


def rabbitmq_conf(settings: Settings) -> str:
    """The file's part that the service writes, up to and including `OPERATOR_MARKER`."""
    base = settings.broker_auth_url.rstrip("/")
    paths = "\n".join(f"auth_http.{name}_path = {base}/auth/{name}" for name in AUTH_PATHS)
    return _HEAD.format(paths=paths) + OPERATOR_MARKER + "\n"


def operators_part(existing: str) -> str | None:
    """What the operator appended to a rabbitmq.conf this service wrote; None when the service did not
    write it (no marker)."""
    _, marker, tail = existing.partition(OPERATOR_MARKER)
    return tail.removeprefix("\n") if marker else None


def enabled_plugins(existing: str | None) -> str:
    """The plugins the service needs, plus any others an existing file enables (say, the operator's
    rabbitmq_prometheus). ValueError when the file is not a list of plugin names."""
    needed = ENABLED_PLUGINS.strip().removeprefix("[").removesuffix("].").split(",")
    if existing is None:
        return ENABLED_PLUGINS
    term = existing.strip()
    if not (term.startswith("[") and term.endswith("].")):
        raise ValueError("not a list of plugins")
    others = [name.strip() for name in term[1:-2].split(",") if name.strip()]
    if not all(_PLUGIN_NAME.fullmatch(name) for name in others):
        raise ValueError("not a list of plugins")
    plugins = needed + [name for name in others if name not in needed]
    return f"[{','.join(plugins)}].\n"


# An Erlang atom as plugin names are written: lower case, digits and underscores.
_PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]*")
