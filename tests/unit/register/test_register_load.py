"""Loading register files: the contract's example loads; bad files name the place."""

import codecs
import datetime as dt
from pathlib import Path

import pytest

from gateway.errors import ConfigError, RegisterError, RegisterErrors
from gateway.register import load_register, parse_register
from gateway.register.load import read_register_file

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
EXAMPLE = SHARED / "contracts" / "register.example.yaml"


def _broken(old: str, new: str) -> str:
    text = EXAMPLE.read_text()
    assert old in text
    return text.replace(old, new)


def test_the_contract_example_loads() -> None:
    """The shared example register is valid, with both cases and the refuge."""
    register = load_register(EXAMPLE)
    assert ["DA-2025-0142", "CL-2025-0007"] == [c.id for c in register.cases]
    assert ["refuge-north"] == [p.id for p in register.protected_locations]


def test_json_register_with_the_same_structure_loads(tmp_path: Path) -> None:
    """JSON is accepted as well as YAML."""
    path = tmp_path / "r.json"
    path.write_text('{"version": 1, "cases": [{"id": "C1", "protected": [{"name": "A B"}]}]}')
    assert "C1" == load_register(path).cases[0].id


def test_bad_email_names_file_line_case_and_field() -> None:
    """A malformed email fails with file:line, the case id and the field path."""
    text = _broken("[dan.cole@example.com]", "[dan.cole.example.com]")
    with pytest.raises(RegisterError) as caught:
        parse_register(text, "reg.yaml")
    message = str(caught.value)
    assert message.startswith("reg.yaml:34: case CL-2025-0007: ")
    assert "cases[1].restricted[0].emails[0]" in message
    assert "dan.cole" not in message


def test_unknown_field_is_refused_with_its_line() -> None:
    """A misspelt field would leave someone unprotected, so it is an error."""
    text = _broken("        addresses:", "        adresses:")
    with pytest.raises(RegisterError) as caught:
        parse_register(text, "reg.yaml")
    assert "reg.yaml:14: case DA-2025-0142: cases[0].protected[0].adresses: unknown field" == str(
        caught.value
    )


def test_impossible_date_is_refused() -> None:
    """Month 14 is not a date of birth."""
    text = _broken("date_of_birth: 1988-04-17", "date_of_birth: 1988-14-17")
    with pytest.raises(RegisterError, match=r"reg.yaml:13: .*date_of_birth"):
        parse_register(text, "reg.yaml")


def test_bad_phone_is_refused_without_echoing_it() -> None:
    """A phone that cannot be a number fails, and the error does not repeat it."""
    text = _broken('phones: ["07700 900461"]', 'phones: ["07"]')
    with pytest.raises(RegisterError) as caught:
        parse_register(text, "reg.yaml")
    assert "phones[0]" in str(caught.value)
    assert '"07"' not in str(caught.value)


def test_duplicate_case_ids_are_refused() -> None:
    """Two cases with one id would make findings ambiguous."""
    text = _broken("id: CL-2025-0007", "id: DA-2025-0142")
    with pytest.raises(RegisterError, match="duplicate id"):
        parse_register(text, "reg.yaml")


def test_invalid_yaml_names_the_line() -> None:
    """A syntax error reports where it is."""
    with pytest.raises(RegisterError, match=r"^reg.yaml:3: not valid YAML"):
        parse_register("version: 1\ncases:\n  - id: [unclosed\n", "reg.yaml")


def test_wrong_version_is_refused() -> None:
    """Only format version 1 exists."""
    with pytest.raises(RegisterError, match="version"):
        parse_register("version: 2\ncases: []\n", "reg.yaml")


def test_missing_file_is_a_register_error(tmp_path: Path) -> None:
    """A register that is not there fails cleanly."""
    with pytest.raises(RegisterError, match="cannot read register"):
        load_register(tmp_path / "none.yaml")


def test_every_error_of_a_yaml_register_is_reported_at_its_line() -> None:
    """Several mistakes in one file are all reported, in file order, each at its line."""
    text = _broken("[dan.cole@example.com]", "[dan.cole.example.com]")
    text = text.replace("        addresses:", "        adresses:")
    text = text.replace('phones: ["07700 900461"]', 'phones: ["07"]')
    with pytest.raises(RegisterErrors) as caught:
        parse_register(text, "reg.yaml")
    assert [14, 16, 34] == [e.line for e in caught.value.errors]
    assert 3 == len(str(caught.value).splitlines())
    assert "dan.cole" not in str(caught.value)


def test_a_duplicate_case_id_is_reported_at_the_duplicate() -> None:
    """The second use of an id is the error, at its own line, with the first's line."""
    text = _broken("id: CL-2025-0007", "id: DA-2025-0142")
    with pytest.raises(RegisterErrors) as caught:
        parse_register(text, "reg.yaml")
    assert ["reg.yaml:28: case DA-2025-0142: cases[1].id: duplicate id, first used at line 9"] == [
        str(e) for e in caught.value.errors
    ]


def test_duplicates_are_reported_together_with_other_errors() -> None:
    """A duplicate id does not wait for the rest of the file to be valid."""
    text = _broken("id: CL-2025-0007", "id: DA-2025-0142").replace("        adresses", "")
    text = text.replace("        addresses:", "        adresses:")
    with pytest.raises(RegisterErrors) as caught:
        parse_register(text, "reg.yaml")
    assert [14, 28] == [e.line for e in caught.value.errors]


def test_case_dates_are_optional_and_must_be_in_order() -> None:
    """valid_from and valid_to may be given (day first too); an end before the start fails."""
    text = _broken("  - id: CL-2025-0007", "  - id: CL-2025-0007\n    valid_from: 01/02/2025")
    assert dt.date(2025, 2, 1) == parse_register(text, "reg.yaml").cases[1].valid_from
    text = text.replace(
        "valid_from: 01/02/2025", "valid_from: 2025-02-01\n    valid_to: 2025-01-31"
    )
    with pytest.raises(
        RegisterError, match=r"reg.yaml:28: case CL-2025-0007: cases\[1\]: valid_to"
    ):
        parse_register(text, "reg.yaml")


@pytest.mark.parametrize(
    ("name", "fmt"), [("r.json", None), ("r.txt", "json"), ("r.yaml", None), ("r", "YAML")]
)
def test_read_register_file_takes_the_format_from_the_suffix_or_the_option(
    tmp_path: Path, name: str, fmt: str | None
) -> None:
    """JSON and YAML are read as such, a BOM or not, and their text kept as it was."""
    path = tmp_path / name
    text = '{"version": 1, "cases": [{"id": "C1", "protected": [{"name": "A B"}]}]}'
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    source = read_register_file(path, fmt=fmt)
    assert ("C1", text) == (source.register.cases[0].id, source.text)
    assert ("json" if "json" in (name + str(fmt)) else "yaml") == source.format


def test_a_csv_needs_a_mapping_and_a_mapping_needs_a_csv(tmp_path: Path) -> None:
    """Without its mapping a CSV cannot be read; a mapping for YAML is a usage error."""
    with pytest.raises(ConfigError, match="needs --mapping"):
        read_register_file(tmp_path / "export.csv")
    with pytest.raises(ConfigError, match="--mapping is for a CSV"):
        read_register_file(EXAMPLE, mapping=tmp_path / "map.yaml")


def test_a_register_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    """A YAML file in another encoding fails at the line of the first bad byte."""
    path = tmp_path / "r.yaml"
    path.write_bytes(b"version: 1\ncases:\n  - id: C\xe91\n")
    with pytest.raises(RegisterError, match=r"r.yaml:3: cannot read register: not UTF-8"):
        read_register_file(path)


@pytest.mark.parametrize(
    ("key", "shown"),
    [("emails", "duplicate key 'emails'"), ("Sarah Davies", "duplicate key (a key)")],
)
def test_a_key_given_twice_is_refused_at_its_line(key: str, shown: str) -> None:
    """YAML forbids a key twice in one mapping; a loader that kept the last would lose
    the first list without a word.  A key that may be a value is not echoed."""
    text = (
        "version: 1\ncases:\n  - id: A-1\n    protected:\n      - name: Ann Smith\n"
        f"        {key}: [ann@example.net]\n        {key}: [other@example.net]\n"
    )
    with pytest.raises(RegisterError) as caught:
        parse_register(text, "r.yaml")
    assert f"r.yaml:7: {shown}" in str(caught.value)
    assert "example.net" not in str(caught.value)
