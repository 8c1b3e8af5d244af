"""The shipped MTA configurations (deploy/postfix/milter-*.cf, deploy/sendmail/) stay
valid and keep fitting the gateway's defaults: parsed here, and checked by Postfix's
own ``postconf`` where it is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.settings import Settings, parse_hostport, parse_milter

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MAIN_CF = DEPLOY / "postfix" / "milter-main.cf"
MASTER_CF = DEPLOY / "postfix" / "milter-master.cf"
SENDMAIL_MC = DEPLOY / "sendmail" / "safe-address-gateway.mc"
GUIDE = DEPLOY / "postfix" / "milter.md"
POSTCONF = shutil.which("postconf", path=os.environ.get("PATH", "") + ":/usr/sbin")

# Seconds the MTA must wait beyond scan_timeout: committing a held message to the store.
COMMIT_MARGIN = 15.0


def _main_cf(text: str) -> dict[str, str]:
    """main.cf as name -> value (indented lines continue the one before)."""
    entries: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            entries[name] += " " + line.strip()
            continue
        name, sep, value = line.partition("=")
        assert sep, f"not name = value: {line!r}"
        name = name.strip()
        assert name not in entries, f"{name} set twice"
        entries[name] = value.strip()
    return entries


def _master_cf(text: str) -> dict[str, dict[str, str]]:
    """master.cf as service name -> its ``-o name=value`` overrides."""
    services: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if not line[0].isspace():
            assert 8 <= len(fields), f"a service needs 8 columns: {line!r}"
            current = services.setdefault(fields[0], {})
            continue
        assert ["-o"] == fields[:1], f"not -o name=value: {line!r}"
        assert 2 == len(fields), f"not -o name=value: {line!r}"
        name, _, value = fields[1].partition("=")
        current[name] = value
    return services


def _seconds(value: str) -> float:
    """A Postfix or Sendmail time (``60s``, ``5m``) in seconds."""
    number, unit = re.fullmatch(r"(\d+)([smh]?)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]


def _milters(value: str) -> list[str]:
    return [item for item in re.split(r"[\s,]+", value) if item]


def test_main_cf_fails_closed_with_protocol_6() -> None:
    """A milter down or failing tempfails the client; the protocol is version 6."""
    main = _main_cf(MAIN_CF.read_text())
    assert ("tempfail", "6") == (main["milter_default_action"], main["milter_protocol"])


def test_gateway_comes_before_dkim_and_only_on_staff_listeners() -> None:
    """sendmail(1) and submission mail: the gateway first; port 25 and the gateway's
    upstream listener (where releases come back): never the gateway."""
    main = _main_cf(MAIN_CF.read_text())
    services = _master_cf(MASTER_CF.read_text())
    assert "" == main["smtpd_milters"]
    expected = ["$safe_address_milter", "$dkim_milter"]
    assert expected == _milters(main["non_smtpd_milters"])
    assert expected == _milters(services["submission"]["smtpd_milters"])
    upstream = "{}:{}".format(*Settings().upstream)
    assert ["$dkim_milter"] == _milters(services[upstream]["smtpd_milters"])
    assert "$safe_address_milter" not in services["smtp"]["smtpd_milters"]


def test_milter_address_is_one_the_gateway_listens_on() -> None:
    """main.cf's socket, the guide's ``--listen`` and Sendmail's S= name one address."""
    address = _main_cf(MAIN_CF.read_text())["safe_address_milter"]
    assert ("127.0.0.1", 10030) == parse_milter(address)
    assert f"--listen {address}" in GUIDE.read_text()
    assert "S=inet:10030@127.0.0.1," in SENDMAIL_MC.read_text()


def test_postfix_waits_longer_than_the_gateway_scans() -> None:
    """The end-of-message time-out exceeds scan_timeout plus the commit of a held
    message; the per-command ones allow for a loaded host."""
    main = _main_cf(MAIN_CF.read_text())
    defaults = Settings()
    assert defaults.scan_budget < defaults.scan_timeout
    content = _seconds(main["milter_content_timeout"])
    assert defaults.scan_timeout + COMMIT_MARGIN <= content
    for name in ("milter_connect_timeout", "milter_command_timeout"):
        assert 5 <= _seconds(main[name]) < content, name


@pytest.mark.parametrize(
    ("parameter", "macros"),
    [
        ("milter_connect_macros", {"{client_addr}"}),
        ("milter_mail_macros", {"{auth_authen}", "{mail_addr}"}),
        ("milter_rcpt_macros", {"{rcpt_addr}"}),
        ("milter_end_of_data_macros", {"i"}),
    ],
)
def test_postfix_sends_the_macros_the_gateway_reads(parameter: str, macros: set[str]) -> None:
    """Each macro the gateway reads is asked for at the stage it belongs to."""
    assert macros <= set(_main_cf(MAIN_CF.read_text())[parameter].split())


def test_sendmail_filter_fails_closed_and_waits_for_the_scan() -> None:
    """Sendmail's filter has F=T and read/end time-outs beyond scan_timeout, and asks
    for the same macros."""
    text = SENDMAIL_MC.read_text()
    (spec,) = re.findall(r"^INPUT_MAIL_FILTER\(`safe-address-gateway', `([^']*)'\)dnl$", text, re.M)
    fields = dict(item.strip().split("=", 1) for item in spec.split(","))
    assert "T" == fields["F"]
    timeouts = dict(item.split(":") for item in fields["T"].split(";"))
    assert {"C", "S", "R", "E"} == set(timeouts)
    limit = Settings().scan_timeout + COMMIT_MARGIN
    assert limit <= min(_seconds(timeouts["R"]), _seconds(timeouts["E"]))
    for macro in ("{client_addr}", "{auth_authen}", "{mail_addr}", "{rcpt_addr}"):
        assert macro in text
    assert re.search(r"^define\(`confMILTER_MACROS_EOM', `i,", text, re.M)


def test_upstream_listener_matches_the_example_settings() -> None:
    """The re-injection listener is where gateway.example.toml sends clean mail."""
    (upstream,) = re.findall(
        r'^upstream = "([^"]+)"', (DEPLOY / "gateway.example.toml").read_text(), re.M
    )
    assert parse_hostport(upstream, "upstream") == Settings().upstream
    assert upstream in _master_cf(MASTER_CF.read_text())


def _postconf(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    assert POSTCONF is not None
    return subprocess.run(
        [POSTCONF, "-c", str(folder), *options],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _config_dir(folder: Path, main_extra: str = "", master_extra: str = "") -> Path:
    (folder / "main.cf").write_text(MAIN_CF.read_text() + main_extra)
    (folder / "master.cf").write_text(MASTER_CF.read_text() + master_extra)
    return folder


needs_postconf = pytest.mark.skipif(POSTCONF is None, reason="Postfix's postconf not installed")


@needs_postconf
def test_postconf_knows_every_parameter(tmp_path: Path) -> None:
    """Postfix's own postconf reads both files without a warning (an unknown or unused
    parameter, in main.cf or in a master.cf -o, is one)."""
    folder = _config_dir(tmp_path)
    for options in (["-n"], ["-M"], ["-P"]):
        result = _postconf(folder, *options)
        assert (0, "") == (result.returncode, result.stderr), options
    expanded = _postconf(folder, "-x", "-h", "non_smtpd_milters").stdout.split()
    assert ["inet:127.0.0.1:10030,", "inet:127.0.0.1:8891"] == expanded


@needs_postconf
def test_postconf_check_would_catch_a_misspelt_parameter(tmp_path: Path) -> None:
    """The check above can fail: a misspelt name in either file draws a warning."""
    folder = _config_dir(
        tmp_path, "milter_content_timeot = 60s\n", "  -o smtpd_milter=$dkim_milter\n"
    )
    warnings = _postconf(folder, "-n").stderr
    assert "unused parameter: milter_content_timeot=60s" in warnings
    assert "unused parameter: smtpd_milter=$dkim_milter" in warnings
