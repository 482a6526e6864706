"""Laneyard as a user gets it: its wheel, built from the repository, installed into a fresh virtualenv."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Runs a command to completion; fails with its output if it does not succeed."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(
            f"{argv} exited with {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done.stdout


def _build_leftovers() -> set[Path]:
    return {p for p in (ROOT / "build", *ROOT.glob("*.egg-info")) if p.exists()}


def build_wheel(out: Path) -> Path:
    """Builds the project's wheel into ``out`` with the venv's own setuptools (no build isolation),
    then removes the build/ and *.egg-info folders the build left in the repository, unless they were
    there before it."""
    before = _build_leftovers()
    try:
        run(
            [
                sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                "--disable-pip-version-check", "-w", str(out), str(ROOT),
            ]
        )  # fmt: skip
    finally:
        for path in _build_leftovers() - before:
            shutil.rmtree(path, ignore_errors=True)
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def wheel_members(wheel: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(wheel) as zf:
        return {info.filename: info for info in zf.infolist()}


def top_level_names(wheel: Path) -> set[str]:
    return {name.split("/", 1)[0] for name in wheel_members(wheel)}


def is_regular_file(info: zipfile.ZipInfo) -> bool:
    """A file stored with its content; not a folder, nor a symbolic link (zip mode bits S_IFLNK)."""
    mode = info.external_attr >> 16
    return not info.is_dir() and not stat.S_ISLNK(mode)


def read_member(wheel: Path, name: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(name)


def dist_info(wheel: Path) -> str:
    (name,) = {n for n in top_level_names(wheel) if n.endswith(".dist-info")}
    return name


def console_scripts(wheel: Path) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(read_member(wheel, f"{dist_info(wheel)}/entry_points.txt").decode())
    return dict(parser["console_scripts"]) if parser.has_section("console_scripts") else {}


def make_venv(path: Path) -> Path:
    """A virtualenv with nothing installed, not even pip; its python."""
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    return path / "bin" / "python"


def site_packages(python: Path) -> Path:
    return Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip())


def install_wheel(python: Path, wheel: Path) -> None:
    """Installs the wheel alone (no dependencies) into the environment of ``python``, with this
    environment's pip (``pip --python``; with a pip older than 22.3, ``--target`` its site-packages)."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 and "no such option: --python" in done.stderr:
        run([*pip, "install", "--no-deps", "--no-index", "--target", str(site_packages(python)), str(wheel)])
    elif done.returncode != 0:
        raise AssertionError(f"pip install exited with {done.returncode}\n{done.stdout}\n{done.stderr}")


_PROBE = """
import importlib.machinery, importlib.util, json, sys
found = {}
for name in sys.argv[1:]:
    top, *rest = name.split(".")
    spec = importlib.util.find_spec(top)
    for i in range(len(rest)):
        if spec is None or spec.submodule_search_locations is None:
            spec = None
            break
        child = ".".join([top, *rest[: i + 1]])
        spec = importlib.machinery.PathFinder.find_spec(child, list(spec.submodule_search_locations))
    if spec is None:
        found[name] = None
    else:  # a namespace package has no origin: its folders then
        found[name] = spec.origin or "namespace:" + ",".join(spec.submodule_search_locations or [])
print(json.dumps(found))
"""


def find_specs(python: Path, names: list[str], cwd: Path) -> dict[str, str | None]:
    """The file each module is found at by ``python`` started in ``cwd`` with no PYTHONPATH (for a
    namespace package, ``namespace:`` and its folders), or None.

    A top-level name is looked up with ``importlib.util.find_spec``; a submodule in its parent's
    folders, as the import system would, but without running the parents' ``__init__``: the wheel
    is installed without its dependencies, which ``laneyard/__init__.py`` imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    out = run([str(python), "-c", _PROBE, *names], cwd=cwd, env=env)
    found: dict[str, str | None] = json.loads(out)
    return found
