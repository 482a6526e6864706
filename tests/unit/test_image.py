"""The image's build context and Dockerfile carry the whole laneyard package (no engine runs here,
so this reads the files)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_image_gets_the_package_and_the_folders_its_links_point_to() -> None:
    ignore = (ROOT / "compose" / "Dockerfile.dockerignore").read_text().splitlines()
    dockerfile = (ROOT / "compose" / "Dockerfile").read_text()
    for folder in ("laneyard", "services", "shared"):
        assert f"!{folder}/" in ignore, folder
        assert f"COPY {folder} ./{folder}" in dockerfile, folder
    for link in ("services", "shared"):
        path = ROOT / "laneyard" / link
        assert path.is_symlink() and path.resolve() == (ROOT / link).resolve()
