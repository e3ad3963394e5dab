"""Installing a plug-in the way pip would, without pip: a package and its ``*.dist-info`` in a folder
that goes on ``sys.path`` (or ``PYTHONPATH``), where ``importlib.metadata`` finds its entry points."""

from __future__ import annotations

from pathlib import Path

from vmsbridge.plugins import GROUP


def write_distribution(
    root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str], version: str = "0.1"
) -> Path:
    """``root/<module>.py`` for each of ``modules`` and ``root/<name>-<version>.dist-info`` declaring
    ``entry_points`` (kind -> "module:attribute") in the connector group; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = "".join(f"{kind} = {target}\n" for kind, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}", encoding="utf-8")
    return root
