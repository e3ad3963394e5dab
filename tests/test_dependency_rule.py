"""The dependency rule (README, *Layout*), checked on the installed packages' source."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.depgraph import FUNCTION, MODULE, PACKAGES, TYPE_CHECKING, collect, edges, unit_sccs, violations

ALL_IMPORTS = (MODULE, FUNCTION, TYPE_CHECKING)


def installed_root() -> Path:
    """The folder holding the installed packages (the checkout itself for an editable install)."""
    roots = set()
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        assert spec is not None, f"{package} is not installed"
        assert spec.submodule_search_locations, f"{package} is not a package"
        roots.add(Path(next(iter(spec.submodule_search_locations))).parent)
    assert len(roots) == 1, f"the packages are installed in different places: {sorted(roots)}"
    return roots.pop()


def test_the_installed_packages_keep_the_dependency_rule() -> None:
    all_edges = edges(collect(installed_root()))
    cycles = unit_sccs(all_edges, ALL_IMPORTS)
    assert not cycles, "import cycles between vmsbridge subpackages: " + "; ".join(
        f"{' -> '.join(units)} ({', '.join(e.at for e in inner[:4])})" for units, inner in cycles
    )
    broken = {clause: found for clause, found in violations(all_edges).items() if found}
    assert not broken, "\n".join(
        f"{clause}: " + ", ".join(f"{e.src} -> {e.dst} at {e.at}" for e in found)
        for clause, found in broken.items()
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for package in PACKAGES:
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"evidence/hashing.py": "from vmsbridge.model import Event\nx = Event\n"},
            "b: analytics/privacy/evidence import vmsbridge",
        ),
        (
            {
                "vmsbridge/cli/__init__.py": "def main() -> None: ...\n",
                "vmsbridge/clery/__init__.py": "",
                "vmsbridge/clery/log.py": "from vmsbridge.cli import main\nx = main\n",
            },
            "c: service module imports the composition root or the CLI",
        ),
        (
            {
                "vmsbridge/rules/__init__.py": "",
                "vmsbridge/store/__init__.py": "",
                "vmsbridge/store/rows.py": "import vmsbridge.rules\n",
            },
            "d: store/ imports a service package (or the root/CLI)",
        ),
        (
            {"vmsbridge/plugins.py": "def load():\n    import connectors.onvif\n"},
            "e: vmsbridge core imports connectors (outside the plug-in registry)",
        ),
        (
            {"vmsbridge/model/__init__.py": "from vmsbridge.config import SiteConfig\nx = SiteConfig\n"},
            "f: the model layer imports other vmsbridge modules",
        ),
    ],
)
def test_the_checker_names_each_kind_of_violation(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    _write(tmp_path, files)
    found = violations(edges(collect(tmp_path)))
    assert [clause for clause, es in found.items() if es] == [expected]


def test_the_checker_finds_a_cycle_even_through_a_deferred_import(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "vmsbridge/config.py": "def check():\n    from vmsbridge.rules import spec\n",
            "vmsbridge/rules.py": "from vmsbridge.config import check\nx = check\n",
        },
    )
    cycles = unit_sccs(edges(collect(tmp_path)), ALL_IMPORTS)
    assert [units for units, _ in cycles] == [["vmsbridge.config", "vmsbridge.rules"]]
