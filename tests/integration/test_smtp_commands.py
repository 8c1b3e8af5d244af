"""``gateway serve`` answered every command with malformed arguments: each reply is one
of a fixed list of texts (never an exception's text, never the client's argument
echoed), no traceback is logged, and the null sender is relayed like any sender."""

from __future__ import annotations

import re
import smtplib

from tests.integration.smtp_support import (
    Gateway,
    RawClient,
    SinkHandler,
    held_messages,
    outgoing,
)
from tests.integration.support import MARK, SAFE_ADDRESS

COMMANDS = (
    *(b"HELO", b"EHLO", b"MAIL", b"RCPT", b"DATA", b"RSET", b"NOOP", b"VRFY", b"EXPN"),
    *(b"HELP", b"AUTH", b"STARTTLS", b"BDAT", b"XYZZY", b"mail"),
)
ARGUMENTS = (
    *(b"", b" ", b"x", b"<>", b"<<>>", b"FROM:", b"FROM:<>", b"FROM:<> SIZE=1"),
    *(b"FROM:<a@b.example> SIZE=abc", b"FROM:<a@b.example> SIZE=99999999999999"),
    *(b"FROM:<a@b.example> BODY=9BIT", b"FROM:<a@b.example> SMTPUTF8"),
    *(b"FROM:<a@b.example> FOO=bar", b"FROM:<\xff@b.example>", b"FROM:a@b.example"),
    *(b"FROM:<a@b.example> NOTIFY=NEVER", b'FROM:<"a b"@[1.2.3.4]>', b"FROM:<@r:a@b>"),
    *(b"TO:", b"TO:<>", b"TO:<\xc3\xa4@b.example>", b"TO:<postmaster>"),
    *(b"TO:<m@example.com> ORCPT=rfc822;\xff", b"TO:<m@example.com> NOTIFY=BOGUS"),
    *(b"PLAIN", b"PLAIN ===", b"LOGIN", b"CRAM-MD5", b"\x00", b"%s%s%n", b"\xff\xfe"),
    *(b"A" * 600, b"x" * 5000),
)
STATES = ("fresh", "greeted", "in a transaction")
# Every text the gateway (or aiosmtpd under it, or the test's upstream) may answer.
FIXED = {
    *("250 2.0.0 OK", "250 2.1.5 Ok", "250 OK", "250 gateway.localdomain"),
    "250 Supported commands: AUTH DATA EHLO HELO HELP MAIL NOOP QUIT RCPT RSET VRFY",
    "501 Supported commands: AUTH DATA EHLO HELO HELP MAIL NOOP QUIT RCPT RSET VRFY",
    "250-gateway.localdomain\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    "250-DSN\r\n250 HELP",
    "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
    *("354 End data with <CR><LF>.<CR><LF>", "454 TLS not available"),
    *("500 Command line too long", '500 Error: command "BDAT" not recognized'),
    '500 Error: command "XYZZY" not recognized',
    *("501 5.1.3 Bad recipient address syntax", "501 5.5.4 Bad parameter syntax"),
    "501 Error: BODY can only be one of 7BIT, 8BITMIME",
    *("501 Syntax: EHLO hostname", "501 Syntax: HELO hostname", "501 Syntax: RSET"),
    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]",
    "501 Syntax: RCPT TO: <address> [SP <mail-parameters>]",
    *("501 Syntax: STARTTLS", "501 Syntax: VRFY <address>", "502 EXPN not implemented"),
    *("503 Error: need MAIL command", "503 Error: need RCPT command"),
    *("503 Error: nested MAIL command", "503 Error: send EHLO first"),
    "503 Error: send HELO first",
    "538 5.7.11 Encryption required for requested authentication mechanism",
    "552 Error: message size exceeds fixed maximum message size",
    "553 5.6.7 Non-ASCII address needs SMTPUTF8",
    "555 MAIL FROM parameters not recognized or not implemented",
    "451 4.3.0 Temporary failure, try again later",  # the fixed reply to any failure
}
QUEUED = re.compile(r"250 (?:2\.0\.0 Ok: queued as [0-9A-Za-z]+|OK)")
SENDER = "officer@council.example.gov.uk"


def _reply(port: int, state: str, line: bytes) -> str:
    """The reply to ``line`` on a new connection in ``state`` (and to its message, if
    the line opened one)."""
    with RawClient(port) as client:
        if state != "fresh":
            client.ehlo()
        if state == "in a transaction":
            assert 250 == client.command(f"MAIL FROM:<{SENDER}>".encode())[0]
        code, text = client.command(line)
        if code == 354:
            client.send(b"Subject: x\r\n\r\nhello\r\n.\r\n")
            code, text = client.reply()
    return text.decode("latin-1").strip()


def test_no_reply_to_any_malformed_command_carries_text_outside_the_fixed_list(
    served: Gateway,
) -> None:
    """Every command with every malformed argument, in every session state."""
    unexpected = {}
    for command in COMMANDS:
        for state in STATES:
            for argument in ARGUMENTS:
                line = command + (b" " + argument if argument else b"")
                text = _reply(served.port, state, line)
                if text not in FIXED and not QUEUED.fullmatch(text):
                    unexpected[text] = line[:60]
    assert {} == unexpected
    logs = served.logs()
    assert "Traceback" not in logs
    assert "b.example" not in logs  # no address the client sent is quoted in the log


def test_the_null_sender_is_relayed_and_scanned_like_any_other(
    served: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """``MAIL FROM:<>`` (a receipt, a bounce): a clean one reaches the upstream with
    the null sender; one that carries a protected address to a restricted contact
    is held."""
    handler, _port = upstream
    with smtplib.SMTP("127.0.0.1", served.port, timeout=30) as client:
        client.ehlo("client.example")
        client.sendmail(
            "", ["someone@partner.example"], outgoing("someone@partner.example", "Read.")
        )
        client.sendmail("", [MARK], outgoing(MARK, f"Your letter reached {SAFE_ADDRESS}."))
    # the upstream (aiosmtpd) records the null sender as "<>"
    assert [("<>", ["someone@partner.example"])] == [
        (m.mail_from, m.rcpt_tos) for m in handler.messages
    ]
    assert 1 == len(held_messages(served.data_dir))
