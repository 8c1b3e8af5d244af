"""STARTTLS and SMTP AUTH for clients: offered when configured, AUTH only over TLS."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.cli import main
from tests.integration.smtp_support import Gateway, SinkHandler, sink, start_gateway

PASSWORD = "correct horse battery staple"


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def secured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[Gateway, SinkHandler]]:
    cert, key = _certificate(tmp_path)
    users = tmp_path / "users"
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    assert 0 == main(["passwd", str(users), "relay-user"])
    assert PASSWORD not in users.read_text() + capsys.readouterr().out
    with sink() as (handler, port):
        running = start_gateway(
            tmp_path / "data",
            port,
            env={
                "GATEWAY_TLS_CERT": str(cert),
                "GATEWAY_TLS_KEY": str(key),
                "GATEWAY_AUTH_USERS": str(users),
                "GATEWAY_REQUIRE_AUTH": "true",
            },
        )
        yield running, handler
        assert 0 == running.stop(), running.logs()[-2000:]


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_auth_is_offered_only_after_starttls(secured: tuple[Gateway, SinkHandler]) -> None:
    """Before TLS: STARTTLS but no AUTH; after TLS: AUTH."""
    with smtplib.SMTP("127.0.0.1", secured[0].port, timeout=10) as client:
        client.ehlo("client.example")
        assert (True, False) == (client.has_extn("starttls"), client.has_extn("auth"))
        client.starttls(context=_unverified())
        client.ehlo("client.example")
        assert client.has_extn("auth")


def test_mail_needs_authentication_and_a_wrong_password_is_refused(
    secured: tuple[Gateway, SinkHandler],
) -> None:
    """With require_auth, MAIL before AUTH is refused; a wrong password gets 535."""
    with smtplib.SMTP("127.0.0.1", secured[0].port, timeout=10) as client:
        client.starttls(context=_unverified())
        client.ehlo("client.example")
        assert 530 == client.mail("officer@council.example.gov.uk")[0]
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("relay-user", "wrong password here")
        assert 535 == refused.value.smtp_code


def test_authenticated_client_over_tls_relays(secured: tuple[Gateway, SinkHandler]) -> None:
    """The right user and password over TLS: the message goes through."""
    with smtplib.SMTP("127.0.0.1", secured[0].port, timeout=10) as client:
        client.starttls(context=_unverified())
        client.ehlo("client.example")
        assert 235 == client.login("relay-user", PASSWORD)[0]
        client.sendmail(
            "officer@council.example.gov.uk",
            ["someone@partner.example"],
            b"Subject: hi\r\n\r\nhello\r\n",
        )
    assert 1 == len(secured[1].messages)
    assert PASSWORD not in secured[0].logs()
