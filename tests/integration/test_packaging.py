"""The wheel holds one import package, ``laneyard``, with services/ and shared/ inside it as real files
(not the repository's symlinks), and installs into a bare virtualenv without top-level ``services``
or ``shared`` that would clash with a user's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.packaging import (
    ROOT,
    build_wheel,
    console_scripts,
    dist_info,
    find_specs,
    install_wheel,
    is_regular_file,
    make_venv,
    read_member,
    site_packages,
    top_level_names,
    wheel_members,
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_only_laneyard_with_services_and_shared_as_real_files(wheel: Path) -> None:
    names = top_level_names(wheel)
    assert names == {"laneyard", dist_info(wheel)}, names
    assert dist_info(wheel).startswith("laneyard-")
    assert not names & {"services", "shared", "tests"}

    members = wheel_members(wheel)
    for inside, source in [
        ("laneyard/services/runner/worker.py", ROOT / "services" / "runner" / "worker.py"),
        ("laneyard/shared/models.py", ROOT / "shared" / "models.py"),
    ]:
        assert inside in members, f"{inside} is not in the wheel"
        assert is_regular_file(members[inside]), f"{inside} is not stored as a regular file"
        assert read_member(wheel, inside) == source.read_bytes(), f"{inside} differs from {source}"
    for link in ("laneyard/services", "laneyard/shared"):
        assert link not in members and f"{link}/" not in members, f"{link} is stored as an entry of its own"

    scripts = console_scripts(wheel)
    assert set(scripts) == {"laneyard"}, scripts
    module, _, attr = scripts["laneyard"].partition(":")
    assert module.strip() == "laneyard.services.cli.main" and attr.strip(), scripts["laneyard"]


def test_the_wheel_ships_the_consoles_templates_and_static_files(wheel: Path) -> None:
    members = wheel_members(wheel)
    console = ROOT / "services" / "admission" / "console"
    for folder in ("templates", "static"):
        for source in sorted((console / folder).iterdir()):
            inside = f"laneyard/services/admission/console/{folder}/{source.name}"
            assert inside in members, f"{inside} is not in the wheel"


def test_installed_alone_in_a_fresh_venv_it_brings_no_top_level_services_or_shared(
    wheel: Path, tmp_path: Path
) -> None:
    python = make_venv(tmp_path / "venv")
    install_wheel(python, wheel)
    assert (tmp_path / "venv" / "bin" / "laneyard").exists(), "the console script was not installed"

    neutral = tmp_path / "elsewhere"
    neutral.mkdir()
    site = site_packages(python).resolve()
    found = find_specs(
        python,
        ["laneyard", "laneyard.services.runner", "laneyard.shared.models", "services", "shared"],
        neutral,
    )
    for name in ("laneyard", "laneyard.services.runner", "laneyard.shared.models"):
        assert found[name] is not None, f"{name} is not found in the venv"
        origin = Path(str(found[name])).resolve()
        assert origin.is_relative_to(site), f"{name} found at {origin}, not in {site}"
    assert found["services"] is None, found["services"]
    assert found["shared"] is None, found["shared"]
