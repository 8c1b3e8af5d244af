"""Loading register files: the contract's example loads; bad files name the place."""

from pathlib import Path

import pytest

from gateway.errors import RegisterError
from gateway.register import load_register, parse_register

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
