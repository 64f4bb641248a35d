"""A certificate authority and a server certificate of one `dev` folder's own, for its RabbitMQ node's
AMQPS listener: customers are told to use AMQPS, so `dev` serves it too. Made once (kept under the
node's directory), valid for 127.0.0.1 and localhost; a client trusts the CA file to connect."""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servers.private_files import write_private

# Long enough that a developer's folder never sees one expire, short of what clients refuse (825 days).
VALID_DAYS = 800


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def listener(self, port: int) -> str:
        """The operator's lines of rabbitmq.conf: AMQPS on 127.0.0.1:port with these files; clients
        need no certificate of their own (they log in with a username and password)."""
        return "\n".join(
            [
                f"listeners.ssl.1 = 127.0.0.1:{port}",
                f"ssl_options.cacertfile = {self.ca}",
                f"ssl_options.certfile = {self.cert}",
                f"ssl_options.keyfile = {self.key}",
                "ssl_options.verify = verify_none",
                "ssl_options.fail_if_no_peer_cert = false",
                "",
            ]
        )


def tls_files(directory: Path) -> TlsFiles:
    """The CA and server certificate under `directory`, made if missing; the keys are the owner's alone
    (the CA's key is not kept: nothing else is ever signed with it)."""
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    if not all(path.exists() for path in (files.ca, files.cert, files.key)):
        directory.mkdir(parents=True, exist_ok=True)
        _make(files)
    return files


def _make(files: TlsFiles) -> None:
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "livescore dev CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        _builder(server_name, ca_name, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    # The format the tests' node is known to load (trustme's): Erlang reads it as it is.
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    write_private(files.key, key_pem.decode(), 0o600)
    files.cert.write_bytes(cert.public_bytes(pem))
    files.ca.write_bytes(ca.public_bytes(pem))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )
