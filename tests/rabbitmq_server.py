"""The tests' RabbitMQ node: the service's own private node (servers/rabbitmq_node.py, configured by
`livescore amqp config` and set up by `livescore amqp setup`), plus what only the tests need: an AMQPS
listener with a certificate made for the test (trustme), as customers connect (SPEC §9), and an auth
cache of a second, so that a password change bites within a test. The machine's own broker on 5672 is
never touched.
"""

import ssl
from dataclasses import dataclass, fields
from pathlib import Path

import trustme

from domain.settings import Settings
from servers.rabbitmq_node import RABBITMQ_SERVER, RabbitMQNode, free_port
from servers.rabbitmq_node import start_node as start_private_node

__all__ = ["RABBITMQ_SERVER", "SessionNode", "start_node"]


@dataclass
class SessionNode(RabbitMQNode):
    """A running node, the URLs to reach it, and the CA that signed its TLS certificate."""

    amqps_port: int = 0
    ca: trustme.CA | None = None

    def client_tls(self) -> ssl.SSLContext:
        """What a customer's client needs to trust the node's certificate."""
        context = ssl.create_default_context()
        assert self.ca is not None
        self.ca.configure_trust(context)
        return context


def start_node(base: Path) -> SessionNode:
    ca, amqps_port = trustme.CA(), free_port()
    config_dir = base / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    listeners = _tls_listener(config_dir, ca, amqps_port)
    node = start_private_node(base, Settings(), listeners)
    plain = {f.name: getattr(node, f.name) for f in fields(RabbitMQNode)}
    return SessionNode(**plain, amqps_port=amqps_port, ca=ca)


def _tls_listener(config_dir: Path, ca: trustme.CA, amqps_port: int) -> str:
    """The operator's TLS lines: AMQPS for customers, with a certificate for 127.0.0.1 and localhost."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(config_dir / "ca.pem"))
    cert.private_key_pem.write_to_path(str(config_dir / "key.pem"))
    (config_dir / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return "\n".join(
        [
            f"listeners.ssl.1 = 127.0.0.1:{amqps_port}",
            f"ssl_options.cacertfile = {config_dir / 'ca.pem'}",
            f"ssl_options.certfile = {config_dir / 'cert.pem'}",
            f"ssl_options.keyfile = {config_dir / 'key.pem'}",
            "ssl_options.verify = verify_none",
            "ssl_options.fail_if_no_peer_cert = false",
            "",
        ]
    )
