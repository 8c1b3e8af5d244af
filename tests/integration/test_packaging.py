"""The package as users install it: a wheel (not the checkout) carries the shipped
policies and the licence, and the Dockerfile passes hadolint."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [built] = out.glob("*.whl")
    return built


def test_an_installed_package_finds_its_default_policies(wheel: Path, tmp_path: Path) -> None:
    """Unpacked from the wheel, away from the checkout, the default policy loads from
    the package's own copy."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    code = (
        "from gateway.policy import default_policy_dir, load_policy;"
        "d = default_policy_dir(); p = load_policy(d);"
        "print(d); print(len([r for r in p.rules if r.enabled]))"
    )
    shown = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    ).stdout.split()
    assert str(site / "gateway" / "policies") == shown[0]
    assert int(shown[1]) > 0


def test_the_wheel_declares_the_mit_licence(wheel: Path) -> None:
    """The metadata names the licence and ships its text."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    assert "License-Expression: MIT" in text
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_the_dockerfile_passes_hadolint() -> None:
    """hadolint (pinned in the dev extras) finds nothing in the Dockerfile."""
    linted = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(ROOT / "Dockerfile")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ("", 0) == (linted.stdout, linted.returncode)
