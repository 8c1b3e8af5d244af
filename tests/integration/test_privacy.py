"""No output of ``gateway`` carries a protected value unless ``--show-evidence`` asks for it."""

# STYLE.md asks for `expected == actual`, which ruff reads as a Yoda condition.

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import LANDLORD, REGISTER, CliRun, Mail, build_message

Gateway = Callable[..., CliRun]

UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}$", re.IGNORECASE)
KINDS_COVERED = {
    "address",
    "postcode",
    "phone",
    "email",
    "name",
    "date_of_birth",
    "protected_location",
}


def register_data() -> dict[str, Any]:
    """The example register as plain data."""
    data: dict[str, Any] = yaml.safe_load(REGISTER.read_text(encoding="utf-8"))
    return data


def as_date(value: object) -> dt.date:
    """A register date of birth, whether YAML read it as a date or a string."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def date_forms(day: dt.date) -> list[str]:
    """The ways a date of birth is commonly written (ISO and day-first)."""
    return [
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        day.strftime("%d.%m.%Y"),
        day.strftime("%d-%m-%Y"),
        f"{day.day} {day.strftime('%B %Y')}",
    ]


def phone_forms(phone: str) -> list[str]:
    """A phone as written, as bare digits, and in international form."""
    digits = re.sub(r"\D", "", phone)
    forms = [phone, digits]
    if digits.startswith("0"):
        forms += [f"+44{digits[1:]}", f"44{digits[1:]}", digits[1:]]
    return forms


def address_forms(address: str) -> list[str]:
    """An address whole, each comma-separated part, and a postcode with and without space."""
    parts = [p.strip() for p in address.split(",") if p.strip()]
    forms = [address, *parts]
    forms += [p.replace(" ", "") for p in parts if UK_POSTCODE.match(p)]
    return forms


def restricted_words(data: dict[str, Any]) -> set[str]:
    """Words of restricted contacts' names and emails: they may appear as recipients."""
    words: set[str] = set()
    for case in data["cases"]:
        for contact in case.get("restricted", []):
            for text in [contact["name"], *contact.get("aliases", []), *contact.get("emails", [])]:
                words.update(w.lower() for w in re.split(r"[^A-Za-z0-9]+", text) if w)
    return words


def forbidden_values(data: dict[str, Any]) -> set[str]:
    """Every protected person's and protected location's value, in its common forms."""
    values: set[str] = set()
    shared = restricted_words(data)
    for case in data["cases"]:
        for person in case["protected"]:
            names = [person["name"], *person.get("aliases", [])]
            values.update(names)
            values.update(w for n in names for w in n.split() if w.lower() not in shared)
            if person.get("date_of_birth"):
                values.update(date_forms(as_date(person["date_of_birth"])))
            for address in person.get("addresses", []):
                values.update(address_forms(address))
            for phone in person.get("phones", []):
                values.update(phone_forms(str(phone)))
            for email in person.get("emails", []):
                values.update([email, email.split("@")[0]])
    for location in data.get("protected_locations", []):
        values.update(address_forms(location["address"]))
        if location.get("label"):
            values.add(location["label"])
    return {v for v in values if v.strip()}


def leaked(text: str, values: set[str]) -> list[str]:
    """The values found in ``text``, compared case-insensitively."""
    lowered = text.lower()
    return sorted(v for v in values if v.lower() in lowered)


def leak_sentences(person: dict[str, Any]) -> Iterator[str]:
    """One sentence per protected value of ``person``, as a caseworker might write it."""
    yield f"I met {person['name']} today."
    for alias in person.get("aliases", []):
        yield f"She also goes by {alias}."
    if person.get("date_of_birth"):
        born = as_date(person["date_of_birth"])
        yield f"Date of birth: {born.strftime('%d/%m/%Y')} ({born.isoformat()})."
    for address in person.get("addresses", []):
        yield f"Her new address is {address}."
        yield f"The postcode is {address.rsplit(',', 1)[-1].strip()}."
    for phone in person.get("phones", []):
        yield f"Call her on {phone}."
    for email in person.get("emails", []):
        yield f"Write to {email}."


def write_leaks(folder: Path, data: dict[str, Any]) -> list[Path]:
    """Messages carrying every protected value to restricted and external recipients."""
    mails: list[Mail] = []
    for case in data["cases"]:
        contacts = [c["emails"][0] for c in case.get("restricted", []) if c.get("emails")]
        for person in case["protected"]:
            sentences = list(leak_sentences(person))
            for sentence in sentences:
                mails += [Mail(to=[rcpt], body=sentence) for rcpt in [*contacts, LANDLORD]]
            everything = " ".join(sentences)
            for rcpt in [*contacts, LANDLORD]:
                mails.append(
                    Mail(
                        to=[rcpt],
                        subject=sentences[0],
                        body=everything,
                        attachments={"notes.txt": everything},
                    )
                )
            mails.append(Mail(to=[f'"{person["name"]}" <{LANDLORD}>'], body=sentences[-1]))
    for location in data.get("protected_locations", []):
        mails.append(Mail(to=[LANDLORD], body=f"Drop the boxes at {location['address']}."))
        mails.append(
            Mail(
                to=[LANDLORD],
                subject=location["address"],
                body="See subject.",
                attachments={"directions.txt": location["address"]},
            )
        )
    folder.mkdir()
    paths = []
    for number, mail in enumerate(mails, start=1):
        path = folder / f"leak-{number:03d}.eml"
        path.write_bytes(build_message(mail))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def values() -> set[str]:
    """The protected values no output may carry."""
    return forbidden_values(register_data())


@pytest.fixture
def leaks(tmp_path: Path) -> Path:
    """A folder of leak messages covering every protected value of the example register."""
    folder = tmp_path / "leaks"
    write_leaks(folder, register_data())
    return folder


def test_the_forbidden_list_covers_the_forms_of_each_kind_of_value(values: set[str]) -> None:
    """The checker looks for parts and variants, not only whole register entries."""
    lowered = {v.lower() for v in values}
    expected = {
        "27 kingfisher road",
        "ls6 3qt",
        "ls63qt",
        "07700900461",
        "+447700900461",
        "sarah.w.safe@example.net",
        "1988-04-17",
        "17/04/1988",
        "sarah davies",
        "priya raman",
        "12 example street",
        "s12ab",
        "2016-09-02",
        "02/09/2016",
    }
    assert expected <= lowered
    assert "whitmore" not in lowered


def test_the_leak_messages_produce_every_kind_of_finding(gateway: Gateway, leaks: Path) -> None:
    """The leak set really trips the matchers, so a clean output means redaction works."""
    result = gateway("scan", "--register", REGISTER, "--json", leaks)
    assert 0 == result.status, result.err
    kinds = {f["kind"] for r in result.records for f in r["findings"]}
    assert KINDS_COVERED <= kinds
    assert "quarantine" in {r["action"] for r in result.records}


@pytest.mark.parametrize(
    "options",
    [
        pytest.param([], id="text"),
        pytest.param(["--json"], id="json"),
        pytest.param(["--explain"], id="explain"),
        pytest.param(["--json", "--explain"], id="json-explain"),
    ],
)
@pytest.mark.parametrize("log_level", ["warning", "debug"])
def test_scan_output_carries_no_protected_value(
    gateway: Gateway, leaks: Path, values: set[str], options: list[str], log_level: str
) -> None:
    """Neither stdout nor stderr names a protected person's or location's details."""
    result = gateway("--log-level", log_level, "scan", "--register", REGISTER, *options, leaks)
    assert 0 == result.status, result.err
    assert result.out.strip()
    assert [] == leaked(result.out, values), "stdout leaks"
    assert [] == leaked(result.err, values), "stderr leaks"


def test_unreadable_input_report_carries_no_protected_value(
    gateway: Gateway, leaks: Path, values: set[str], tmp_path: Path
) -> None:
    """The error line and warning log for a missing file stay free of protected values."""
    missing = tmp_path / "missing.eml"
    result = gateway(
        "--log-level",
        "debug",
        "scan",
        "--register",
        REGISTER,
        "--json",
        "--explain",
        leaks,
        missing,
    )
    assert 1 == result.status
    assert [] == leaked(result.out + result.err, values)


def test_show_evidence_does_print_matched_text(
    gateway: Gateway, leaks: Path, values: set[str]
) -> None:
    """With ``--show-evidence`` matched values appear, so the checks above can fail."""
    result = gateway("scan", "--register", REGISTER, "--json", "--show-evidence", leaks)
    assert 0 == result.status, result.err
    assert leaked(result.out, values)


def test_attachment_file_name_with_a_protected_value_is_not_echoed(
    gateway: Gateway, values: set[str], tmp_path: Path
) -> None:
    """A finding's location does not repeat an attachment name that holds a protected value."""
    message = tmp_path / "attachment.eml"
    address = "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"
    message.write_bytes(
        build_message(
            Mail(
                body="Please see the attached letter.",
                attachments={"Sarah Davies - LS6 3QT.txt": f"Her address is {address}."},
            )
        )
    )
    result = gateway("scan", "--register", REGISTER, "--json", "--explain", message)
    assert 0 == result.status, result.err
    assert "quarantine" == result.record["action"]
    assert [] == leaked(result.out + result.err, values)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("sarah.w.safe@example.net", "sarah.w.safe@@example.net", id="bad-email"),
        pytest.param('["07700 900461"]', '["07700 900461 ext"]', id="bad-phone"),
        pytest.param("1988-04-17", "1988-04-77", id="bad-date"),
        pytest.param(
            "      - name: Sarah Jane Whitmore\n",
            "      - name: Sarah Jane Whitmore\n        Sarah Davies: alias\n",
            id="value-as-key",
        ),
    ],
)
def test_register_errors_carry_no_protected_value(
    gateway: Gateway, values: set[str], tmp_path: Path, old: str, new: str
) -> None:
    """An invalid register is reported by place and field, never by the value."""
    text = REGISTER.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "register.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    message = tmp_path / "m.eml"
    message.write_bytes(build_message(Mail()))
    result = gateway("scan", "--register", bad, "--json", message)
    assert 2 == result.status
    assert str(bad) in result.err
    assert [] == leaked(
        result.out + result.err,
        values | {"sarah.w.safe@@example.net", "07700 900461 ext", "1988-04-77"},
    )
