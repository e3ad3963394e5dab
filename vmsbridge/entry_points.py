"""Objects that installed distributions offer in an entry-point group.

Shared by :mod:`vmsbridge.plugins` (which runs connectors) and :mod:`vmsbridge.config` (which reads
their ``[[connectors.<kind>]]`` tables) so that neither imports the other. Standard library only.
"""

from __future__ import annotations

__all__ = ["CONNECTORS", "load_group"]

from importlib.metadata import EntryPoint, entry_points

from vmsbridge.errors import ConfigError, ConfigProblem

CONNECTORS = "vmsbridge.connectors"  # entry point name = connector kind, object = its plug-in


def _distribution(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unnamed distribution"


def load_group(group: str) -> dict[str, object]:
    """Every object offered in ``group`` by name, sorted; each must carry ``kind`` equal to its name.

    A name two distributions offer, an object that fails to load or one naming another kind is a
    ConfigError naming the distribution that ships it.
    """
    loaded: dict[str, tuple[object, str]] = {}
    problems: list[ConfigProblem] = []
    for entry in sorted(entry_points(group=group), key=lambda e: (e.name, _distribution(e))):
        where = f"{group}: {entry.name}"
        shipped_by = _distribution(entry)
        if entry.name in loaded:
            problems.append(ConfigProblem(where, f"offered by both {loaded[entry.name][1]} and {shipped_by}"))
            continue
        try:
            found = entry.load()
        except Exception as exc:  # a third party's import error must name its package, not crash us
            problems.append(
                ConfigProblem(
                    where, f"{entry.value} from {shipped_by} failed to load: {type(exc).__name__}: {exc}"
                )
            )
            continue
        if getattr(found, "kind", None) != entry.name:
            problems.append(
                ConfigProblem(
                    where,
                    f"{entry.value} from {shipped_by} says its kind is {getattr(found, 'kind', None)!r}, "
                    f"not {entry.name!r}",
                )
            )
            continue
        loaded[entry.name] = (found, shipped_by)
    if problems:
        raise ConfigError("connector plug-ins", problems)
    return {name: found for name, (found, _) in loaded.items()}
