"""The import graph of vmsbridge's packages, read from the source with the standard library's ``ast``.

Every ``import`` / ``from ... import`` in vmsbridge/, connectors/, analytics/, privacy/ and evidence/ is an
edge, tagged by where it sits: ``module`` (runs when the module loads), ``function`` (deferred) or
``type-checking`` (never runs). ``tests/test_dependency_rule.py`` checks the dependency rule on it
(README, *Layout*): no cycles between vmsbridge's subpackages, the video and evidence libraries stand
alone, services never import the composition root or the CLI, the store imports no service, the core
imports no connector (plug-ins are found by entry point), and the model layer imports nothing else.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("vmsbridge", "connectors", "analytics", "privacy", "evidence", "recording")
STANDALONE = ("analytics", "privacy", "evidence", "recording")
# Service modules/packages: may not import the composition root or the CLI.
SERVICES = (
    "vmsbridge.evidence_audit",
    "vmsbridge.event_import",
    "vmsbridge.rules",
    "vmsbridge.clery",
    "vmsbridge.health",
    "vmsbridge.evidence_service",
    "vmsbridge.masking",
    "vmsbridge.jobs",
    "vmsbridge.correlate",
    "vmsbridge.ingest",
    "vmsbridge.clips",
)
ROOTS = ("vmsbridge.runtime", "vmsbridge.cli")  # composition root(s) and the CLI
# The registry loads connectors by entry point, never by an import statement: nothing is exempt.
PLUGIN_REGISTRY: tuple[str, ...] = ()
MODEL = ("vmsbridge.model",)  # the model layer: imports nothing else of vmsbridge (but errors)
MODEL_MAY_IMPORT = ("vmsbridge.model", "vmsbridge.errors")

MODULE, FUNCTION, TYPE_CHECKING = "module", "function", "type-checking"


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # the module imported (ours resolved to a module; a third-party one to its top level)
    name: str | None  # the symbol taken from ``target`` (None: the module object itself)
    local: str  # the name it is bound to in the importer
    line: int
    where: str  # MODULE, FUNCTION or TYPE_CHECKING
    symbol: str  # the importer's top-level symbol it sits in ("<module>" at module level)
    path: str

    def at(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Module:
    name: str
    path: str
    is_package: bool
    imports: list[Import] = field(default_factory=list)
    # top-level symbol -> names it references (bare names, and "alias.attr" for attribute access)
    uses: dict[str, set[str]] = field(default_factory=dict)


def under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def unit(name: str) -> str:
    """The vmsbridge subpackage or top-level module a module belongs to (``vmsbridge.clery.cap`` ->
    ``vmsbridge.clery``); other packages are their own top level."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "vmsbridge" and len(parts) > 1 else parts[0]


def module_files(root: Path) -> Iterator[tuple[str, Path, bool]]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            yield ".".join(parts), path, is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Walker(ast.NodeVisitor):
    def __init__(self, module: Module, known: set[str]) -> None:
        self.m = module
        self.known = known
        self.depth_fn = 0
        self.depth_tc = 0
        self.symbol = "<module>"

    # -- where are we
    def _where(self) -> str:
        return TYPE_CHECKING if self.depth_tc else FUNCTION if self.depth_fn else MODULE

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.depth_tc += 1
            for stmt in node.body:
                self.visit(stmt)
            self.depth_tc -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def _function(self, node: ast.AST) -> None:
        self.depth_fn += 1
        self.generic_visit(node)
        self.depth_fn -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    # -- imports
    def _resolve(self, dotted: str) -> str:
        """Longest prefix that is one of our modules, else the top-level name (third party)."""
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in self.known:
                return candidate
        return parts[0]

    def _add(self, target: str, name: str | None, local: str, line: int) -> None:
        self.m.imports.append(
            Import(self.m.name, target, name, local, line, self._where(), self.symbol, self.m.path)
        )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            target = self._resolve(alias.name)
            local = alias.asname or alias.name.split(".")[0]
            # ``import a.b.c`` binds ``a`` but loads a.b.c: the edge is to the deepest module of ours
            # (attribute chains through it are not followed; the code base has no such import).
            self._add(target, None, local, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            pkg = self.m.name.split(".")
            if not self.m.is_package:
                pkg = pkg[:-1]
            pkg = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
            base = ".".join([*pkg, base] if base else pkg)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            local = alias.asname or alias.name
            if sub in self.known:  # ``from pkg import submodule``
                self._add(sub, None, local, node.lineno)
            else:
                self._add(self._resolve(base), alias.name, local, node.lineno)


def _names_used(node: ast.AST) -> set[str]:
    used: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            used.add(sub.id)
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            used.add(f"{sub.value.id}.{sub.attr}")
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value.isidentifier():
            used.add(sub.value)  # string annotations, __all__
    return used


def _top_level_symbols(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield stmt.name, stmt
        elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets):
                continue  # a list of names, not a use of them
            for t in stmt.targets:
                assert isinstance(t, ast.Name)
                yield t.id, stmt
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            yield stmt.target.id, stmt
        elif not isinstance(stmt, ast.Import | ast.ImportFrom | ast.If) or (
            isinstance(stmt, ast.If) and not _is_type_checking(stmt.test)
        ):
            yield "<module>", stmt


def collect(root: Path) -> dict[str, Module]:
    files = list(module_files(root))
    known = {name for name, _, _ in files}
    modules: dict[str, Module] = {}
    for name, path, is_package in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        module = Module(name, str(path.relative_to(root)), is_package)
        walker = _Walker(module, known)
        # Visit symbol by symbol so each import knows the top-level symbol it sits in.
        for stmt in tree.body:
            symbol = "<module>"
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                symbol = stmt.name
            walker.symbol = symbol
            walker.visit(stmt)
        for symbol, node in _top_level_symbols(tree):
            module.uses.setdefault(symbol, set()).update(_names_used(node))
        modules[name] = module
    return modules


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    where: str
    at: str
    what: str  # the symbol(s) behind it


def edges(modules: dict[str, Module]) -> list[Edge]:
    """Module -> module edges among our packages."""
    out: list[Edge] = []
    for m in modules.values():
        by_local: dict[str, list[Import]] = defaultdict(list)
        for imp in m.imports:
            if imp.where != FUNCTION:
                by_local[imp.local].append(imp)
        # Imports inside a function belong to that function's symbol.
        for imp in m.imports:
            if imp.where == FUNCTION and imp.target.split(".")[0] in PACKAGES:
                out.append(Edge(m.name, imp.target, imp.where, imp.at(), f"{imp.symbol}"))
        for symbol, used in m.uses.items():
            for ref in used:
                base, _, attr = ref.partition(".")
                for imp in by_local.get(base, []) if attr else by_local.get(ref, []):
                    if imp.target.split(".")[0] not in PACKAGES:
                        continue
                    if imp.target != m.name:
                        out.append(Edge(m.name, imp.target, imp.where, imp.at(), f"{symbol} uses {ref}"))
        # Re-exported or unused imports at module level still run: keep them.
        used_locals = {r.partition(".")[0] for refs in m.uses.values() for r in refs} | {
            r for refs in m.uses.values() for r in refs
        }
        for imp in m.imports:
            if imp.where == MODULE and imp.local not in used_locals and imp.target.split(".")[0] in PACKAGES:
                out.append(Edge(m.name, imp.target, imp.where, imp.at(), "unused/re-export"))
    return out


# ----------------------------------------------------------------------------------------- SCCs


def sccs(nodes: Iterable[str], succ: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one node (or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in succ.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(found, key=lambda c: (-len(c), c))


def unit_sccs(all_edges: list[Edge], kinds: tuple[str, ...]) -> list[tuple[list[str], list[Edge]]]:
    """Cycles between vmsbridge subpackages/top-level modules, with the edges inside each."""
    succ: dict[str, set[str]] = defaultdict(set)
    inner: list[Edge] = []
    for e in all_edges:
        a, b = unit(e.src), unit(e.dst)
        if e.where in kinds and a != b and a.startswith("vmsbridge.") and b.startswith("vmsbridge."):
            succ[a].add(b)
            inner.append(e)
    nodes = set(succ) | {b for bs in succ.values() for b in bs}
    return [(c, [e for e in inner if unit(e.src) in c and unit(e.dst) in c]) for c in sccs(nodes, succ)]


def module_sccs(all_edges: list[Edge], kinds: tuple[str, ...]) -> list[list[str]]:
    succ: dict[str, set[str]] = defaultdict(set)
    for e in all_edges:
        if e.where in kinds and e.src != e.dst:
            succ[e.src].add(e.dst)
    nodes = set(succ) | {b for bs in succ.values() for b in bs}
    return sccs(nodes, succ)


# ----------------------------------------------------------------------------------------- rules


def violations(all_edges: list[Edge]) -> dict[str, list[Edge]]:
    """The dependency rule of issue 14 (item 2), one list per clause; every kind of import counts."""
    ours = [e for e in all_edges if e.dst.split(".")[0] in PACKAGES]

    def service(module: str) -> bool:
        return under(module, SERVICES)

    return {
        "b: analytics/privacy/evidence import vmsbridge": [
            e for e in ours if under(e.src, STANDALONE) and under(e.dst, ("vmsbridge",))
        ],
        "b': analytics/privacy/evidence import connectors": [
            e for e in ours if under(e.src, STANDALONE) and under(e.dst, ("connectors",))
        ],
        "c: service module imports the composition root or the CLI": [
            e for e in ours if service(e.src) and under(e.dst, ROOTS)
        ],
        "d: store/ imports a service package (or the root/CLI)": [
            e for e in ours if under(e.src, ("vmsbridge.store",)) and (service(e.dst) or under(e.dst, ROOTS))
        ],
        "e: vmsbridge core imports connectors (outside the plug-in registry)": [
            e
            for e in ours
            if under(e.src, ("vmsbridge",))
            and not under(e.src, PLUGIN_REGISTRY)
            and under(e.dst, ("connectors",))
        ],
        "f: the model layer imports other vmsbridge modules": [
            e
            for e in ours
            if under(e.src, MODEL) and under(e.dst, ("vmsbridge",)) and not under(e.dst, MODEL_MAY_IMPORT)
        ],
        "g: anything but entry points imports the composition root": [
            e
            for e in ours
            if under(e.dst, ("vmsbridge.runtime",))
            and not under(e.src, ("vmsbridge.runtime", "vmsbridge.cli"))
        ],
    }
