"""The stamp, loop and milter socket settings: declared, coerced, refused when wrong;
and the milter's Unix socket made with the mode and group they give."""

from __future__ import annotations

import grp
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.listeners import Listeners, milter_listening
from gateway.settings import Settings, load_settings
from gateway.stamp import Stamp


def test_the_defaults_are_the_documented_ones() -> None:
    """X-Safe-Address-Gateway, 3 stamps, 50 hops, socket mode 0660, no group."""
    settings = load_settings(env={})
    assert ("X-Safe-Address-Gateway", 3, 50) == (
        settings.stamp_header,
        settings.max_stamps,
        settings.hop_count_limit,
    )
    assert ("0660", None) == (settings.milter_socket_mode, settings.milter_socket_group)
    assert Stamp() == Stamp.from_settings(Settings())


def test_settings_come_from_the_environment_and_the_file(tmp_path: Path) -> None:
    """GATEWAY_STAMP_HEADER and friends, and the same names in gateway.toml."""
    env = {
        "GATEWAY_STAMP_HEADER": "X-Council-Gateway",
        "GATEWAY_MAX_STAMPS": "2",
        "GATEWAY_HOP_COUNT_LIMIT": "30",
        "GATEWAY_MILTER_SOCKET_MODE": "660",
        "GATEWAY_MILTER_SOCKET_GROUP": "postfix",
    }
    settings = load_settings(env=env)
    assert ("X-Council-Gateway", 2, 30, "0660", "postfix") == (
        settings.stamp_header,
        settings.max_stamps,
        settings.hop_count_limit,
        settings.milter_socket_mode,
        settings.milter_socket_group,
    )
    toml = tmp_path / "gateway.toml"
    toml.write_text('max_stamps = 5\nmilter_socket_mode = 0o640\nhostname = "gw.test"\n')
    from_file = load_settings(toml, env={})
    assert (5, "0640") == (from_file.max_stamps, from_file.milter_socket_mode)
    assert Stamp("X-Safe-Address-Gateway", "gw.test", 5, 50) == Stamp.from_settings(from_file)


def test_the_example_settings_file_states_the_defaults() -> None:
    """deploy/gateway.example.toml loads, and its stamp, loop and socket values are
    the built-in defaults (the file documents them)."""
    example = Path(__file__).resolve().parents[2] / "deploy" / "gateway.example.toml"
    loaded, default = load_settings(example, env={}), Settings()
    names = ("stamp_header", "max_stamps", "hop_count_limit", "milter_socket_mode")
    assert [getattr(default, n) for n in names] == [getattr(loaded, n) for n in names]
    text = example.read_text()
    assert all(f"\n{name} = " in text for name in names)
    assert "# milter_socket_group = " in text


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("stamp_header", "X Safe", "stamp_header"),
        ("stamp_header", "X-Gateway:", "stamp_header"),
        ("stamp_header", "", "stamp_header"),
        ("max_stamps", "0", "max_stamps"),
        ("hop_count_limit", "-1", "hop_count_limit"),
        ("milter_socket_mode", "0668", "milter_socket_mode"),
        ("milter_socket_mode", "rw-rw----", "milter_socket_mode"),
        ("milter_socket_mode", "01777", "milter_socket_mode"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_setting(
    name: str, value: str, named: str
) -> None:
    """Refused at load, with the setting's name in the message."""
    with pytest.raises(ConfigError, match=named):
        load_settings(env={f"GATEWAY_{name.upper()}": value})


@settings(deadline=None)  # a loaded CI box
@given(mode=st.integers(min_value=0, max_value=0o777), digits=st.sampled_from(["{:o}", "{:04o}"]))
def test_any_mode_in_octal_text_reads_back_as_four_digits(mode: int, digits: str) -> None:
    """Every permission mode, with or without its leading zero, is kept as 4 octal digits."""
    settings = load_settings(env={"GATEWAY_MILTER_SOCKET_MODE": digits.format(mode)})
    assert f"{mode:04o}" == settings.milter_socket_mode


# ---------------------------------------------------------------- the milter's socket


@pytest.fixture
def socket_path() -> Iterator[Path]:
    """A short path (Unix socket paths are limited to about 100 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="gw-sock-"))
    yield folder / "milter.sock"
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


@pytest.mark.parametrize("mode", ["0660", "0600", "0666"])
def test_the_socket_gets_the_mode_asked_for(socket_path: Path, mode: str) -> None:
    """Bound, then chmod: the file's permission bits are the setting's, and it listens."""
    sock = milter_listening(f"unix:{socket_path}", mode)
    try:
        assert int(mode, 8) == stat.S_IMODE(socket_path.stat().st_mode)
        sock.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(socket_path))
    finally:
        sock.close()


def _givable_group() -> grp.struct_group | None:
    """A group other than the user's primary one that this process may give a file:
    any, as root; else one of the user's supplementary groups."""
    allowed = None if os.geteuid() == 0 else set(os.getgroups())
    for group in grp.getgrall():
        if group.gr_gid != os.getgid() and (allowed is None or group.gr_gid in allowed):
            return group
    return None


def test_the_current_users_group_is_accepted_by_name_or_number(socket_path: Path) -> None:
    """The user's primary group, by name and by number, works without root."""
    gid = os.getgid()
    for group in (grp.getgrgid(gid).gr_name, str(gid)):
        sock = milter_listening(f"unix:{socket_path}", "0660", group)
        try:
            assert gid == socket_path.stat().st_gid
        finally:
            sock.close()


def test_the_socket_is_given_to_the_group_asked_for(socket_path: Path) -> None:
    """Another group (as Postfix's would be): the socket file belongs to it."""
    group = _givable_group()
    if group is None:
        pytest.skip("no group other than the user's own that this user may give")
    for name in (group.gr_name, str(group.gr_gid)):
        sock = milter_listening(f"unix:{socket_path}", "0660", name)
        try:
            assert group.gr_gid == socket_path.stat().st_gid
        finally:
            sock.close()


def test_an_unknown_group_is_a_config_error_and_leaves_no_socket(socket_path: Path) -> None:
    """A group that does not exist: ConfigError naming the setting, nothing bound."""
    with pytest.raises(ConfigError, match="milter_socket_group: no group 'no-such-group-x'"):
        milter_listening(f"unix:{socket_path}", "0660", "no-such-group-x")
    assert not socket_path.exists()


def test_a_group_the_user_may_not_give_is_a_config_error(
    socket_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chown refused (not root, not a member): ConfigError naming the setting, no socket."""

    def refuse(path: object, uid: int, gid: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chown", refuse)
    with pytest.raises(ConfigError, match=r"milter_socket_group: cannot give .* \(Operation"):
        milter_listening(f"unix:{socket_path}", "0660", str(os.getgid()))
    assert not socket_path.exists()


def test_listeners_use_the_milter_socket_settings(socket_path: Path) -> None:
    """``Listeners.bind`` passes the mode and group from the settings."""
    settings = load_settings(
        env={
            "GATEWAY_MILTER": f"unix:{socket_path}",
            "GATEWAY_MILTER_SOCKET_MODE": "0640",
            "GATEWAY_MILTER_SOCKET_GROUP": str(os.getgid()),
        }
    )
    listeners = Listeners.bind(settings, smtp_proxy=False)
    try:
        assert 0o640 == stat.S_IMODE(socket_path.stat().st_mode)
    finally:
        listeners.close()
