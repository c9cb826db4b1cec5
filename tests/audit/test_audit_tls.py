"""Issue 2, "Plane client": TLS verification always on, with an option for a custom CA bundle.

A loopback HTTPS server presents a certificate signed by a private CA: the client refuses it
by default (verification is on) and accepts it once given that CA as ``ca_bundle``. Through
``plane.ca_bundle`` in the config, the CLI reaches it too.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from plane_sync.errors import PlaneUnreachable
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy

x509 = pytest.importorskip("cryptography.x509")
hashes = pytest.importorskip("cryptography.hazmat.primitives.hashes")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
NameOID = x509.oid.NameOID

KEY = "plane_api_" + "5" * 32


def _name(common: str) -> object:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_pki(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA certificate, and a server certificate + key for 127.0.0.1 signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("audit CA"))
               .issuer_name(_name("audit CA")).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                            crl_sign=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


class _Me(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/api/v1/users/me/" and self.headers.get("x-api-key") == KEY
        body = json.dumps({"id": "u1", "email": "a@b.c"} if ok else {"detail": "no"}).encode()
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca, cert, key = make_pki(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Me)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_an_untrusted_certificate_is_refused_and_a_ca_bundle_trusts_it(
        https_server: tuple[str, Path]) -> None:
    url, ca = https_server
    once = RetryPolicy(attempts=1)
    with PlaneClient(url, KEY, "acme", retry=once) as plain, \
            pytest.raises(PlaneUnreachable) as info:
        plain.me()
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message or \
        "certificate" in info.value.message.lower()
    with PlaneClient(url, KEY, "acme", retry=once, ca_bundle=str(ca)) as trusting:
        assert trusting.me()["id"] == "u1"
        # The storage client (presigned URLs) trusts the same bundle and verifies too.
        assert trusting.storage_client.get(f"{url}/api/v1/users/me/").status_code == 403
    with PlaneClient(url, KEY, "acme", retry=once) as plain, \
            pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        plain.storage_client.get(f"{url}/api/v1/users/me/")
