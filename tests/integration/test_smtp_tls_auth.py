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
    """A self-signed server certificate and its key (clients here do not verify it)."""
    _, _, cert_path, key_path = _issue(folder, "gateway.test", None)
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


def _issue(
    folder: Path, name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path, Path]:
    """A certificate for ``name``: self-signed (a CA) without ``issuer``, else signed by it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key, cert_path, key_path


def _mail_over_tls(port: int, context: ssl.SSLContext) -> int:
    """STARTTLS with ``context``, then MAIL; the reply code (TLS 1.3 reports a refused
    client certificate only at the first read after the handshake)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.starttls(context=context)
        client.ehlo("client.test")
        return int(client.mail("a@council.example.gov.uk")[0])


def test_client_certificates_from_the_ca_are_required(tmp_path: Path) -> None:
    """With tls_client_ca: no STARTTLS gets 530, no or a foreign certificate fails the
    handshake, a certificate from the CA relays the message."""
    server_cert, server_key = _certificate(tmp_path)
    ca = _issue(tmp_path, "relay-ca", None)
    _, _, good_cert, good_key = _issue(tmp_path, "postfix", ca[:2])
    _, _, own_cert, own_key = _issue(tmp_path, "stranger", None)
    env = {
        "GATEWAY_TLS_CERT": str(server_cert),
        "GATEWAY_TLS_KEY": str(server_key),
        "GATEWAY_TLS_CLIENT_CA": str(ca[2]),
    }
    with sink() as (handler, port):
        running = start_gateway(tmp_path / "data", port, env=env)
        try:
            with smtplib.SMTP("127.0.0.1", running.port, timeout=20) as client:
                client.ehlo("client.test")
                assert 530 == client.mail("a@council.example.gov.uk")[0]
            for cert, key in ((None, None), (own_cert, own_key)):
                context = _unverified()
                if cert:
                    context.load_cert_chain(cert, key)
                with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, OSError)):
                    _mail_over_tls(running.port, context)
            context = _unverified()
            context.load_cert_chain(good_cert, good_key)
            with smtplib.SMTP("127.0.0.1", running.port, timeout=20) as client:
                client.starttls(context=context)
                refused = client.sendmail(
                    "a@council.example.gov.uk",
                    ["b@partner.example"],
                    b"Subject: bins\r\n\r\nTuesday.\r\n",
                )
            assert ({}, 1) == (refused, handler.counter)
        finally:
            running.stop()
