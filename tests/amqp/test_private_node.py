"""A private RabbitMQ node (servers/rabbitmq_node.py, what `livescore dev --amqp` runs) is reachable from
this machine alone, and its secrets are files of their owner's alone."""

import stat
from pathlib import Path

import pytest

from servers.rabbitmq_node import SERVICE_PASSWORD_FILE, service_password
from tests.rabbitmq_server import SessionNode
from tests.sockets import is_loopback, listening_in_group

pytestmark = pytest.mark.rabbitmq


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_socket_of_a_private_node_listens_on_loopback_alone(rabbitmq: SessionNode) -> None:
    listening = listening_in_group(rabbitmq.popen.pid)
    ports = {port for _, port in listening}
    # AMQP, AMQPS, the management API, Erlang's distribution port: all there, none beyond 127.0.0.1.
    assert {rabbitmq.amqp_port, rabbitmq.amqps_port, rabbitmq.management_port} <= ports
    assert len(ports) >= 4, listening
    assert [(str(a), port) for a, port in listening if not is_loopback(a)] == []


def test_a_private_node_s_cookie_and_service_password_are_its_owner_s_alone(rabbitmq: SessionNode) -> None:
    assert mode(rabbitmq.base / "home" / ".erlang.cookie") == 0o400
    assert mode(rabbitmq.base / SERVICE_PASSWORD_FILE) == 0o600
    assert f":{rabbitmq.service_password}@" in rabbitmq.amqp_url


def test_the_service_password_is_made_at_random_per_directory_and_kept(tmp_path: Path) -> None:
    first, second = service_password(tmp_path / "one"), service_password(tmp_path / "two")
    assert first != second
    assert len(first) >= 24
    assert service_password(tmp_path / "one") == first
    assert mode(tmp_path / "one" / SERVICE_PASSWORD_FILE) == 0o600
