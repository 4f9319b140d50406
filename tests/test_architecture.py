"""The house rules, read from the import graph of `briefing/` (ARCHITECTURE.md explains them).

- no import circles between modules;
- a package imports only the base modules and packages of lower layers;
- `bot`, `service`, `render` and `cli` hold no SQL (all of it lives in `store/`);
- no module imports a private name of another;
- no re-exports: a name is imported from the module that defines it;
- every package says in its docstring what it owns.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "briefing"
BASE = {"config", "errors", "logs", "clock", "metrics"}
# Layer of each top-level package; a package may import packages of strictly lower layers.
LAYERS = {
    "text": 1,
    "sources": 2,
    "stories": 3,
    "llm": 4,
    "briefs": 5,
    "qa": 6,
    "store": 6,
    "service": 7,
    "render": 8,
    "bot": 9,
    "evaluation": 9,
    "cli": 10,
}
NO_SQL = ("bot", "service", "render", "cli")


@dataclass(frozen=True)
class Import:
    """One `from M import name` (or `import M`, name None) found in a module."""

    module: str
    target: str
    name: str | None
    line: int


def module_name(path: Path) -> str:
    """The dotted name of a file of the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, ast.Module]:
    """Every module of the package (migrations excepted: alembic loads them by path)."""
    return {
        module_name(path): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
    }


MODULES = sources()


def imports(module: str, tree: ast.Module) -> Iterator[Import]:
    """The imports of our own modules, wherever they stand (lazy imports count too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "briefing" or node.module.startswith("briefing."):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    if sub in MODULES:  # `from briefing.qa import answer`: a module
                        yield Import(module, sub, None, node.lineno)
                    else:
                        yield Import(module, node.module, alias.name, node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("briefing."):
                    yield Import(module, alias.name, None, node.lineno)


ALL_IMPORTS = [imp for module, tree in MODULES.items() for imp in imports(module, tree)]


def top(module: str) -> str:
    """`briefing.briefs.engines.llm` -> `briefs`; base modules keep their own name, and the
    package itself (its `__version__`) counts as a base module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "config"


def defined_names(tree: ast.Module) -> set[str]:
    """Names a module defines at its top level (functions, classes, assignments)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            for target in node.targets:
                if isinstance(target, ast.Tuple):
                    names.update(e.id for e in target.elts if isinstance(e, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_the_graph_is_read() -> None:
    # A broken reader would pass every rule below: make sure it sees the real imports.
    assert "briefing.briefs.pipeline" in MODULES and "briefing.cli.app" in MODULES
    assert Import("briefing.briefs.pipeline", "briefing.briefs.citations", "verify_quotes",
                  0).target in {i.target for i in ALL_IMPORTS
                                if i.module == "briefing.briefs.pipeline"}


def test_every_package_is_placed_in_a_layer() -> None:
    packages = {top(m) for m in MODULES if m.count(".") >= 1} - BASE - {"__main__"}
    assert packages == set(LAYERS), "add the new package to LAYERS and to ARCHITECTURE.md"


def test_no_import_circles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        if imp.target in MODULES and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            cycle = [*path[path.index(node):], node]
            pytest.fail("import circle: " + " -> ".join(cycle))
        if node in done:
            return
        path.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        path.pop()
        done.add(node)

    for module in sorted(graph):
        visit(module)


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = []
    for imp in ALL_IMPORTS:
        source, target = top(imp.module), top(imp.target)
        if imp.module == "briefing.__main__" or target in BASE or target == source:
            continue
        if source in BASE or target not in LAYERS or LAYERS[target] >= LAYERS[source]:
            wrong.append(f"{imp.module}:{imp.line} imports {imp.target}")
    assert wrong == []


@pytest.mark.parametrize("package", NO_SQL)
def test_no_sql_outside_the_store(package: str) -> None:
    found = []
    for module, tree in MODULES.items():
        if top(module) != package:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                    a.name for a in node.names]
                found += [f"{module}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg")]
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "session"):
                found.append(f"{module}:{node.lineno} opens a session")
    assert found == []


def test_no_private_name_crosses_modules() -> None:
    private = [f"{i.module}:{i.line} imports {i.target}.{i.name}" for i in ALL_IMPORTS
               if i.name is not None and i.name.startswith("_")]
    for module, tree in MODULES.items():
        aliases = {a.asname or a.name for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom)
                   and (node.module or "").startswith("briefing")
                   for a in node.names if f"{node.module}.{a.name}" in MODULES}
        private += [f"{module}:{node.lineno} uses {node.value.id}.{node.attr}"
                    for node in ast.walk(tree)
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")]
    assert private == []


def test_names_come_from_the_module_that_defines_them() -> None:
    reexported = [
        f"{i.module}:{i.line} imports {i.name} from {i.target}, which does not define it"
        for i in ALL_IMPORTS
        if i.name is not None and i.target in MODULES
        and i.name not in defined_names(MODULES[i.target])
    ]
    assert reexported == []


def test_no_module_declares_all() -> None:
    # `__all__` is how a façade advertises names it only imported.
    declaring = [m for m, tree in MODULES.items() if "__all__" in defined_names(tree)]
    assert declaring == []


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_every_package_says_what_it_owns(package: str) -> None:
    doc = ast.get_docstring(MODULES[f"briefing.{package}"]) or ""
    assert len(doc.split()) >= 12, f"briefing/{package}/__init__.py needs its docstring"


def test_the_orm_and_the_pipeline_share_no_class_name() -> None:
    def classes(tree: ast.Module) -> set[str]:
        return {node.name for node in tree.body if isinstance(node, ast.ClassDef)}

    rows = classes(MODULES["briefing.store.models"])
    assert rows and all(name.endswith("Row") for name in rows - {"Base", "UTCDateTime"})
    elsewhere = {name for module, tree in MODULES.items() if module != "briefing.store.models"
                 for name in classes(tree)}
    assert rows & elsewhere == set()
