"""A tiny HTTP server on loopback that plays a (misbehaving) Prometheus.

The client is the boundary to an outside system, so it is the one place a fake server is
right. Each test sets what the server answers and reads what it was sent.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.http_stub import QuietHandler


class Behaviour:
    """What the fake server answers, and what it was sent."""

    status = 200
    body = b""
    content_type = "application/json"
    hang = False
    requests = 0
    paths: list[str]
    params: list[dict[str, list[str]]]
    headers: list[dict[str, str]]


Server = tuple[str, type[Behaviour]]


def handler(behaviour: type[Behaviour], release: threading.Event) -> type[QuietHandler]:
    """A handler that answers as ``behaviour`` says; a hanging one waits for ``release``."""
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            behaviour.requests += 1
            parts = urlsplit(self.path)
            behaviour.paths.append(parts.path)
            behaviour.params.append(parse_qs(parts.query))
            behaviour.headers.append({k.lower(): v for k, v in self.headers.items()})
            if behaviour.hang:
                release.wait(10)
                return
            self.answer(behaviour.status, behaviour.body, behaviour.content_type)

    return Handler


def new_behaviour() -> type[Behaviour]:
    """A fresh behaviour: a 200 answer with an empty body, nothing sent yet."""
    return type("B", (Behaviour,), {"paths": [], "params": [], "headers": []})


def vector(*series: tuple[dict[str, str], str], warnings: list[str] | None = None) -> bytes:
    """An instant query's answer: one ``(labels, value)`` per series."""
    result = [{"metric": m, "value": [1700000000, v]} for m, v in series]
    body: dict[str, object] = {"status": "success",
                               "data": {"resultType": "vector", "result": result}}
    if warnings is not None:
        body["warnings"] = warnings
    return json.dumps(body).encode()


def matrix(*series: tuple[dict[str, str], list[tuple[float, str]]],
           warnings: list[str] | None = None) -> bytes:
    """A range query's answer: one ``(labels, [(time, value), ...])`` per series."""
    result = [{"metric": m, "values": [[t, v] for t, v in points]} for m, points in series]
    body: dict[str, object] = {"status": "success",
                               "data": {"resultType": "matrix", "result": result}}
    if warnings is not None:
        body["warnings"] = warnings
    return json.dumps(body).encode()


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key) files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opsdash test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return files
