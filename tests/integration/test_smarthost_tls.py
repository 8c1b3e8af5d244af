"""The gateway as the smart host of an Exchange Online outbound connector or an Exchange
send connector (deploy/microsoft-365-exchange.md): STARTTLS with a certificate the
connector validates, mutual TLS with the connector's client certificate, the stamp the
gateway puts on relayed mail, and a real Postfix playing the connector.

Exchange itself cannot run here; what the connector does on the wire (STARTTLS,
validate the server's name against a public CA, present its own certificate) is done
by ``ssl`` clients and by Postfix's smtp client with the same demands.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.smtp_support import (
    Gateway,
    SinkHandler,
    held_messages,
    outgoing,
    sink,
    start_gateway,
)
from tests.integration.support import MARK, SAFE_ADDRESS

GATEWAY_NAME = "gateway.council.test"
STAMP = f"by {GATEWAY_NAME} (Safe-Address Gateway) with ESMTP id Q".encode()
# The loop-protection stamp (gateway.stamp): header, and what its value starts with.
STAMP_HEADER = b"X-Safe-Address-Gateway: "
STAMP_VALUE = f"scanned by {GATEWAY_NAME}; id=".encode()
MAX_STAMPS = 3
SENDER = "officer@council.example.gov.uk"
PARTNER = "someone@partner.example"

Issuer = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


@dataclass(frozen=True)
class Pki:
    """Certificates for one test module: paths to PEM files."""

    server_ca: Path  # the public CA the connector trusts for the gateway's name
    server_cert: Path
    server_key: Path
    relay_ca: Path  # tls_client_ca: the CA of the connector's client certificate
    connector_cert: Path
    connector_key: Path
    stranger_cert: Path  # a client certificate from some other CA
    stranger_key: Path


def _issue(folder: Path, name: str, issuer: Issuer | None, server: bool = False) -> Issuer:
    """A certificate for ``name`` written to ``folder/name.pem|.key``: a CA when
    ``issuer`` is None, else signed by it (with the name and 127.0.0.1 as SANs for a
    server)."""
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
    if server:
        names = [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = folder / f"{name}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert, key


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    server_ca = _issue(folder, "public-ca", None)
    _issue(folder, GATEWAY_NAME, server_ca, server=True)
    relay_ca = _issue(folder, "relay-ca", None)
    _issue(folder, "exchange-connector", relay_ca)
    _issue(folder, "stranger", None)

    def pem(name: str) -> Path:
        return folder / f"{name}.pem"

    def key(name: str) -> Path:
        return folder / f"{name}.key"

    return Pki(
        pem("public-ca"),
        pem(GATEWAY_NAME),
        key(GATEWAY_NAME),
        pem("relay-ca"),
        pem("exchange-connector"),
        key("exchange-connector"),
        pem("stranger"),
        key("stranger"),
    )


def smarthost_env(pki: Pki) -> dict[str, str]:
    """gateway.toml's tls_cert, tls_key, tls_client_ca and hostname, as the guide sets them."""
    return {
        "GATEWAY_TLS_CERT": str(pki.server_cert),
        "GATEWAY_TLS_KEY": str(pki.server_key),
        "GATEWAY_TLS_CLIENT_CA": str(pki.relay_ca),
        "GATEWAY_HOSTNAME": GATEWAY_NAME,
        "GATEWAY_TRUSTED_NETWORKS": "127.0.0.0/8",
    }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def smarthost(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, SinkHandler]]:
    """One gateway for the module, set up as a connector's smart host, and its upstream."""
    with sink() as (handler, port):
        running = start_gateway(
            tmp_path_factory.mktemp("gw") / "data", port, env=smarthost_env(pki)
        )
        yield running, handler
        assert 0 == running.stop(), running.logs()[-2000:]


def _connector(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """What the connector does: verify the gateway's certificate and name against the
    public CA, and present ``cert`` if given."""
    context = ssl.create_default_context(cafile=str(pki.server_ca))
    if cert:
        context.load_cert_chain(cert, key)
    return context


def _send(port: int, context: ssl.SSLContext, data: bytes, to: str = PARTNER) -> dict[str, object]:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.starttls(context=context)
        return dict(client.sendmail(SENDER, [to], data))


def test_the_connector_validates_the_gateway_certificate(
    pki: Pki, smarthost: tuple[Gateway, SinkHandler]
) -> None:
    """A client checking name and chain against the public CA completes the handshake;
    one trusting only another CA refuses the gateway's certificate."""
    context = _connector(pki, pki.connector_cert, pki.connector_key)
    with smtplib.SMTP("127.0.0.1", smarthost[0].port, timeout=20) as client:
        assert 220 == client.starttls(context=context)[0]
        peer = client.sock.getpeercert()  # type: ignore[union-attr]
    assert ((("commonName", GATEWAY_NAME),),) == peer["subject"]
    wrong = ssl.create_default_context(cafile=str(pki.relay_ca))
    with (
        smtplib.SMTP("127.0.0.1", smarthost[0].port, timeout=20) as client,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        client.starttls(context=wrong)


def test_only_the_connector_certificate_may_relay(
    pki: Pki, smarthost: tuple[Gateway, SinkHandler]
) -> None:
    """No STARTTLS: 530; no client certificate or one from another CA: refused; the
    connector's certificate from tls_client_ca: relayed, exactly once."""
    gateway, handler = smarthost
    before = handler.counter
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=20) as client:
        client.ehlo("exchange.test")
        assert 530 == client.mail(SENDER)[0]
    for cert, key in ((None, None), (pki.stranger_cert, pki.stranger_key)):
        with pytest.raises((ssl.SSLError, smtplib.SMTPException, OSError)):
            _send(gateway.port, _connector(pki, cert, key), outgoing(PARTNER, "Tuesday."))
    context = _connector(pki, pki.connector_cert, pki.connector_key)
    assert {} == _send(gateway.port, context, outgoing(PARTNER, "Tuesday."))
    assert before + 1 == handler.counter


def test_relayed_mail_carries_one_stamp_with_the_gateway_name(
    pki: Pki, smarthost: tuple[Gateway, SinkHandler]
) -> None:
    """The trace header names the gateway (hostname), so a transport rule can see that
    a message came back from it."""
    gateway, handler = smarthost
    data = outgoing(PARTNER, "The bins go out on Tuesday.", subject="Stamp check")
    _send(gateway.port, _connector(pki, pki.connector_cert, pki.connector_key), data)
    content = handler.messages[-1].content
    assert content.endswith(b"\r\n" + data)
    assert 1 == content.count(STAMP)
    assert content.startswith(b"Received: from ")


def test_a_message_already_stamped_is_scanned_again(
    pki: Pki, smarthost: tuple[Gateway, SinkHandler]
) -> None:
    """A message carrying the gateway's stamp (looped back, or forged by a sender) gets
    no pass: a leak is held; a clean one is relayed with a second stamp."""
    gateway, handler = smarthost
    context = _connector(pki, pki.connector_cert, pki.connector_key)
    stamp = (
        b"Received: from exchange.test ([127.0.0.1])\r\n\t"
        + STAMP
        + b"0123456789abcdef0123456789;\r\n\tSat, 05 Dec 2026 14:00:00 +0000\r\n"
    )
    held_before, relayed_before = len(held_messages(gateway.data_dir)), handler.counter
    _send(gateway.port, context, stamp + outgoing(MARK, f"She lives at {SAFE_ADDRESS}."), MARK)
    assert relayed_before == handler.counter
    assert held_before + 1 == len(held_messages(gateway.data_dir))
    _send(gateway.port, context, stamp + outgoing(PARTNER, "See you Tuesday."))
    assert relayed_before + 1 == handler.counter
    assert 2 == handler.messages[-1].content.count(STAMP)


def _stamps(content: bytes) -> list[bytes]:
    """The values of the stamp headers in ``content``'s header block."""
    head = content.split(b"\r\n\r\n", 1)[0]
    return [
        line.removeprefix(STAMP_HEADER)
        for line in head.split(b"\r\n")
        if line.startswith(STAMP_HEADER)
    ]


def _prestamped(count: int, host: str = GATEWAY_NAME) -> bytes:
    """``count`` stamps as the gateway ``host`` writes them, as a loop would leave them."""
    line = (
        STAMP_HEADER
        + f"scanned by {host}; id=0123456789abcdef; Sat, 05 Dec 2026 14:00:00 +0000\r\n".encode()
    )
    return line * count


def test_delivered_mail_carries_exactly_one_loop_stamp(
    pki: Pki, smarthost: tuple[Gateway, SinkHandler]
) -> None:
    """One ``X-Safe-Address-Gateway: scanned by <hostname>; id=<id>; <date>`` line,
    the id the one the client was given, below the Received line, above the message."""
    gateway, handler = smarthost
    data = outgoing(PARTNER, "The bins go out on Tuesday.", subject="Loop stamp")
    context = _connector(pki, pki.connector_cert, pki.connector_key)
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=20) as client:
        client.starttls(context=context)
        client.ehlo("exchange.test")
        client.mail(SENDER)
        client.rcpt(PARTNER)
        code, reply = client.data(data)
    assert 250 == code
    message_id = reply.decode().rsplit(" ", 1)[1]
    content = handler.messages[-1].content
    (stamp,) = _stamps(content)
    assert stamp.startswith(STAMP_VALUE + message_id.encode() + b"; ")
    assert content.startswith(b"Received: from ")
    assert content.endswith(b"\r\n" + data)


def test_mail_already_carrying_the_loop_stamp_is_scanned_again(
    pki: Pki, smarthost: tuple[Gateway, SinkHandler]
) -> None:
    """The stamp is no pass: below max_stamps, a leak with our stamp is held; a clean
    one is relayed with one stamp more."""
    gateway, handler = smarthost
    context = _connector(pki, pki.connector_cert, pki.connector_key)
    prior = _prestamped(MAX_STAMPS - 1)
    held_before, relayed_before = len(held_messages(gateway.data_dir)), handler.counter
    _send(gateway.port, context, prior + outgoing(MARK, f"She lives at {SAFE_ADDRESS}."), MARK)
    assert relayed_before == handler.counter
    assert held_before + 1 == len(held_messages(gateway.data_dir))
    _send(gateway.port, context, prior + outgoing(PARTNER, "See you Tuesday."))
    assert relayed_before + 1 == handler.counter
    assert MAX_STAMPS == len(_stamps(handler.messages[-1].content))


def test_mail_stamped_max_stamps_times_is_refused_as_a_loop_and_never_relayed(
    pki: Pki, smarthost: tuple[Gateway, SinkHandler]
) -> None:
    """max_stamps of ours: 554 5.4.6, nothing relayed or held, one log line with counts
    and no content; other gateways' stamps do not count."""
    gateway, handler = smarthost
    context = _connector(pki, pki.connector_cert, pki.connector_key)
    held_before, relayed_before = len(held_messages(gateway.data_dir)), handler.counter
    body = outgoing(PARTNER, "Looping round.", subject="Loop")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(gateway.port, context, _prestamped(MAX_STAMPS) + body)
    assert (554, b"5.4.6 Routing loop detected") == (
        refused.value.smtp_code,
        refused.value.smtp_error,
    )
    assert relayed_before == handler.counter
    assert held_before == len(held_messages(gateway.data_dir))
    logs = gateway.logs()
    assert "routing loop refused" in logs
    assert "Looping round" not in logs
    others = _prestamped(MAX_STAMPS, host="gateway.other.test")
    assert {} == _send(gateway.port, context, others + body)
    assert relayed_before + 1 == handler.counter


# --------------------------------------------------------------- Postfix as the connector


@pytest.mark.slow
@pytest.mark.parametrize("with_certificate", [True, False])
def test_postfix_relay_playing_the_connector(tmp_path: Path, with_certificate: bool) -> None:
    """Postfix relaying to the gateway with smtp_tls_security_level = secure (the name
    checked against the public CA): with the connector's certificate the message
    arrives stamped; without it the gateway refuses and the message waits in Postfix's
    queue (nothing lost, nothing relayed)."""
    from tests.integration.postfix.harness import (
        Postfix,
        free_ports,
        make_workdir,
        require_postfix,
        wait_until,
    )

    require_postfix()
    workdir = make_workdir("gw-smarthost-")
    try:
        pki = make_pki(workdir / "pki")
        (listen,) = free_ports(1)
        with sink() as (handler, sink_port):
            gateway = start_gateway(tmp_path / "data", sink_port, env=smarthost_env(pki))
            postfix = Postfix(workdir / "pf", "plain", listen, gateway.port)
            (workdir / "pf").mkdir()
            postfix.create()
            tls = [
                "smtp_tls_security_level = secure",
                f"smtp_tls_secure_cert_match = {GATEWAY_NAME}",
                f"smtp_tls_CAfile = {pki.server_ca}",
                "smtp_tls_loglevel = 1",
            ]
            if with_certificate:
                tls += [
                    f"smtp_tls_cert_file = {pki.connector_cert}",
                    f"smtp_tls_key_file = {pki.connector_key}",
                ]
            with (postfix.config_dir / "main.cf").open("a") as main_cf:
                main_cf.write("\n".join(tls) + "\n")
            try:
                postfix.start()
                with smtplib.SMTP("127.0.0.1", listen, timeout=30) as client:
                    client.sendmail(SENDER, [PARTNER], outgoing(PARTNER, "Tuesday."))
                if with_certificate:
                    wait_until(lambda: 1 == handler.counter, 30, "the message at the sink")
                    postfix.wait_queue_empty(30)
                    assert postfix.log_lines("Verified TLS connection established")
                    assert 1 == handler.messages[0].content.count(STAMP)
                else:
                    wait_until(
                        lambda: bool(postfix.log_lines("status=deferred")),
                        30,
                        f"a deferral\n{postfix.log_text()}",
                    )
                    assert (0, 1) == (handler.counter, len(postfix.queue()))
            finally:
                postfix.stop()
                assert 0 == gateway.stop(), gateway.logs()[-2000:]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
