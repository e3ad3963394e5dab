"""A guard for tests that handle people's names: no name may appear in any log line.

Mark a test, or a module with ``pytestmark``, ``@pytest.mark.person_data(names=[...])``. While it
runs, every logger records at DEBUG, the chatty libraries held at the floors the command line
sets (:func:`vmsbridge.log_output.quiet_libraries`): what ``--log-level DEBUG`` would write. At
teardown each record, with its traceback, is searched for each name, in any case and also as
Python, JSON or UTF-8 bytes would escape it. Text from elsewhere (the stderr of a CLI subprocess)
is added with ``person_data_guard.watch(text)``. A name found fails the test at teardown.
"""

from __future__ import annotations

__all__ = ["MARKER", "PersonDataGuard", "leaks", "person_data_guard", "pytest_configure"]

import json
import logging
from collections.abc import Iterable, Iterator, Sequence

import pytest

from vmsbridge.log_output import FORMAT, quiet_libraries

MARKER = "person_data"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(names): the test handles these people's names; none may appear in a log line"
    )


def _spellings(name: str) -> set[str]:
    return {
        name.casefold(),
        name.encode("unicode_escape").decode("ascii").casefold(),  # repr() of a str with non-ASCII
        json.dumps(name)[1:-1].casefold(),  # JSON's \\u00eb
        repr(name.encode("utf-8"))[2:-1].casefold(),  # repr() of the UTF-8 bytes
    }


def leaks(names: Sequence[str], texts: Iterable[str]) -> list[tuple[str, str]]:
    """(name, line) for every line of ``texts`` that holds one of ``names``."""
    found = []
    spellings = {name: _spellings(name) for name in names}
    for text in texts:
        for line in text.splitlines():
            folded = line.casefold()
            found += [(name, line) for name, forms in spellings.items() if any(f in folded for f in forms)]
    return found


class PersonDataGuard:
    def __init__(self, names: Sequence[str]) -> None:
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise ValueError(f"@pytest.mark.{MARKER} needs names=[...] (non-empty strings)")
        self.names = tuple(names)
        self.watched: list[str] = []

    def watch(self, text: str) -> None:
        """Search this text too (e.g. a subprocess's stderr) at teardown."""
        self.watched.append(text)


@pytest.fixture(autouse=True)
def person_data_guard(request: pytest.FixtureRequest) -> Iterator[PersonDataGuard | None]:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        yield None
        return
    guard = PersonDataGuard(marker.kwargs.get("names", ()))
    caplog: pytest.LogCaptureFixture = request.getfixturevalue("caplog")
    caplog.set_level(logging.DEBUG)
    previous = quiet_libraries(logging.DEBUG)
    try:
        yield guard
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
    plain = logging.Formatter(FORMAT)  # as written, before any escaping could hide a name
    texts = [plain.format(r) for phase in ("setup", "call") for r in caplog.get_records(phase)]
    found = leaks(guard.names, [*texts, *guard.watched])
    if found:
        shown = "\n".join(f"  {name!r} in: {line[:300]}" for name, line in found[:10])
        pytest.fail(f"personal data in the log ({len(found)} line(s)):\n{shown}", pytrace=False)
