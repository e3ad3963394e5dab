"""What `pip install .` ships: the demo's clip and site file, the migrations and the type marker, and
only dependencies the code uses."""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import vmsbridge
from fixtures.video.generate import generate
from vmsbridge.cli.demo import DEMO_CLIP
from vmsbridge.config import default_config_path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE_DIR = Path(vmsbridge.__file__).resolve().parent
SOURCE = ROOT / "vmsbridge"
MIGRATIONS = SOURCE / "store" / "migrations"
# Named in a database URL and loaded by SQLAlchemy, never imported by our code.
DATABASE_DRIVERS = frozenset({"aiosqlite", "asyncpg"})
BUILD_SECONDS = 300


def _packages() -> list[Path]:
    """The top-level package directories pyproject tells setuptools to ship."""
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(
        d
        for d in ROOT.iterdir()
        if (d / "__init__.py").is_file() and any(fnmatch.fnmatch(d.name, p) for p in patterns)
    )


def _build_wheel(tmp: Path) -> Path:
    # Build from a copy: setuptools builds in the source tree, and a build/ left there would put stale
    # modules (say, one since split into a package) into later wheels.
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in _packages():
        shutil.copytree(package, source / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp / "dist"
    command = [sys.executable, "-m", "pip", "--isolated", "wheel", "--quiet", "--no-deps"]
    command += ["--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_SECONDS, check=False)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout}\n{done.stderr}"
    (wheel,) = out.glob("vmsbridge-*.whl")
    return wheel


def _dist_info(names: set[str]) -> str:
    (folder,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    return folder


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_wheel_ships_the_demo_clip_site_file_migrations_and_type_marker(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = {
            "clip": archive.read("vmsbridge/data/demo/scene.mp4"),
            "site": archive.read("vmsbridge/data/campus.toml"),
        }
    versions = {f"vmsbridge/{p.relative_to(SOURCE).as_posix()}" for p in MIGRATIONS.glob("versions/*.py")}
    assert versions, "no migrations found in the source tree"
    assert versions <= names, f"migrations missing from the wheel: {sorted(versions - names)}"
    for name in ("env.py", "script.py.mako"):
        assert f"vmsbridge/store/migrations/{name}" in names
    assert "vmsbridge/py.typed" in names
    # The packaged files are the real content, not links or placeholders.
    assert _sha256(shipped["clip"]) == _sha256(DEMO_CLIP.read_bytes())
    assert _sha256(shipped["site"]) == _sha256(default_config_path().read_bytes())
    assert not [n for n in names if n.startswith(("fixtures/", "tests/", "bench/"))]
    # The connectors are found by entry point only, so a wheel without these would run none.
    entry_points = metadata.PathDistribution(zipfile.Path(wheel, f"{_dist_info(names)}/")).entry_points
    assert sorted((e.name, e.value) for e in entry_points.select(group="vmsbridge.connectors")) == [
        ("onvif", "connectors.onvif.plugin:PLUGIN"),
        ("xprotect", "connectors.xprotect.plugin:PLUGIN"),
    ]


def test_the_demo_clip_and_site_file_are_read_from_the_installed_package() -> None:
    for path in (DEMO_CLIP, default_config_path()):
        assert path.is_file(), path
        assert path.resolve().is_relative_to(PACKAGE_DIR), f"{path} is outside {PACKAGE_DIR}"
    # A small clip: it is in every wheel.
    assert DEMO_CLIP.stat().st_size < 2_000_000


def test_the_fixture_scene_is_a_link_to_the_packaged_demo_clip() -> None:
    # One copy of the binary in the repository: the tests' fixture and the demo's clip are the same file.
    fixture = ROOT / "fixtures" / "video" / "scene.mp4"
    assert fixture.is_symlink()
    assert fixture.resolve() == (ROOT / "vmsbridge" / "data" / "demo" / "scene.mp4").resolve()


def test_the_fixture_generator_writes_through_the_link(tmp_path: Path) -> None:
    packaged = tmp_path / "package" / "scene.mp4"
    packaged.parent.mkdir()
    packaged.write_bytes(b"old")
    link = tmp_path / "fixtures" / "scene.mp4"
    link.parent.mkdir()
    link.symlink_to(Path("..") / "package" / "scene.mp4")
    generate(link, width=64, height=36, seconds=1.0, tamper=False, people=1)
    assert link.is_symlink()
    assert packaged.read_bytes()[4:8] == b"ftyp"  # an MP4 now, written through the link
    assert (tmp_path / "fixtures" / "scene.json").is_file()  # the truth stays beside the link


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for package in _packages():
        for source in package.rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_runtime_dependency_is_imported_or_is_a_database_driver() -> None:
    by_module = metadata.packages_distributions()
    imported = {_canonical(d) for m in _imported_top_levels() for d in by_module.get(m, [])}
    declared = {
        _canonical(match.group(0))
        for requirement in PYPROJECT["project"]["dependencies"]
        if (match := re.match(r"[A-Za-z0-9._-]+", requirement))
    }
    unused = declared - imported - DATABASE_DRIVERS
    assert not unused, f"declared in pyproject.toml but never imported: {sorted(unused)}"
