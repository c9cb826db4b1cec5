"""TLS verification is always on, for Plane and for storage; ``ca_bundle`` adds trust anchors
(a private CA for Plane) without dropping the system's (a public one for S3). Real TLS
servers on loopback, certificates made by the test."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plane_sync.errors import PlaneUnreachable
from plane_sync.remote.client import PlaneClient
from plane_sync.remote.retry import RetryPolicy
from plane_sync.remote.storage import make_storage_client

Key = ec.EllipticCurvePrivateKey


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _builder(subject: str, issuer: str, key: Key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1)))


class CA:
    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (_builder(name, name, self.key)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .add_extension(x509.KeyUsage(
                         digital_signature=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                         encipher_only=False, decipher_only=False), True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                         self.key.public_key()), False)
                     .sign(self.key, hashes.SHA256()))
        self.pem_path = directory / f"{name}.pem"
        self.pem_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_files(self, directory: Path) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (_builder("127.0.0.1", self.name, key)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    ski), False)
                .sign(self.key, hashes.SHA256()))
        cert_path = directory / f"server-{self.name}.pem"
        key_path = directory / f"server-{self.name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"id": "me"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


Serve = Callable[[CA], str]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    servers: list[http.server.HTTPServer] = []

    def start(ca: CA) -> str:
        cert, key = ca.server_files(tmp_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"https://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[CA, CA, CA]:
    """(public, private, unknown): the system trusts ``public`` (SSL_CERT_FILE), the config's
    ca_bundle holds ``private``, nobody trusts ``unknown``."""
    public, private, unknown = (CA(n, tmp_path) for n in ("public", "private", "unknown"))
    monkeypatch.setenv("SSL_CERT_FILE", str(public.pem_path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return public, private, unknown


def test_ca_bundle_adds_to_the_system_trust_instead_of_replacing_it(
        cas: tuple[CA, CA, CA], serve: Serve) -> None:
    public, private, _ = cas
    plane_url, storage_url = serve(private), serve(public)
    with PlaneClient(plane_url, "plane_api_" + "0" * 32, "acme",
                     ca_bundle=str(private.pem_path)) as client:
        assert client.me() == {"id": "me"}  # Plane behind the private CA
        assert client.storage_client.get(storage_url).status_code == 200  # public S3


@pytest.mark.parametrize("bundle", [True, False])
def test_an_untrusted_certificate_is_refused_by_both_clients(
        cas: tuple[CA, CA, CA], serve: Serve, bundle: bool) -> None:
    _, private, unknown = cas
    url = serve(unknown)
    ca_bundle = str(private.pem_path) if bundle else None
    retry = RetryPolicy(attempts=1, base_delay=0.0)
    with PlaneClient(url, "plane_api_" + "0" * 32, "acme", ca_bundle=ca_bundle,
                     retry=retry) as client:
        with pytest.raises(PlaneUnreachable, match="certificate"):
            client.me()
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.storage_client.get(url)
    with make_storage_client(ca_bundle=ca_bundle) as storage, \
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        storage.get(url)
