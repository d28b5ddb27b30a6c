"""Which package of hltk imports which: read from the source with :mod:`ast`, nothing imported.

The unit is the *package*: ``hltk.amplify`` for every module under ``hltk/amplify/``, and the
top-level modules on their own (``hltk.registry``, ``hltk.runner``, ...; ``hltk`` is the package
``__init__``). ``cli/`` is installed as ``hltk_cli`` and counts as one package. Every ``import``
statement counts, at module level or inside a function (a lazy import is still a dependency),
and so do imports under ``if TYPE_CHECKING:``. Imports within one package are not edges.

``tests/test_layers.py`` checks this graph has no cycles and follows the layer rules; to print
the table that docs/architecture.md shows::

    python -m tests.import_graph            # "package: the packages it imports", one a line
    python -m tests.import_graph --modules  # the same per module
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: source folder -> the name it is installed as
SOURCES = {"hltk": "hltk", "cli": "hltk_cli"}


def module_files(repo: Path = REPO) -> dict[str, Path]:
    """Every module of the installed packages: dotted name -> file."""
    modules: dict[str, Path] = {}
    for folder, name in SOURCES.items():
        root = repo / folder
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([name, *parts])] = path
    return modules


def imported_modules(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The modules ``name`` (in ``path``) imports: absolute dotted names, relative ones
    resolved; ``from package import submodule`` names the submodule when it is one."""
    known = set(known)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    found.add(f"{source}.{alias.name}")
    return found


def package_of(module: str) -> str | None:
    """The unit of the graph a module belongs to; None outside hltk and hltk_cli."""
    parts = module.split(".")
    if parts[0] == "hltk_cli":
        return "hltk_cli"
    if parts[0] != "hltk":
        return None
    return ".".join(parts[:2])


def module_graph(repo: Path = REPO) -> dict[str, set[str]]:
    """module -> the hltk / hltk_cli modules it imports (itself excluded)."""
    files = module_files(repo)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = {target for target in imported_modules(name, path, files)
                   if package_of(target) is not None and target != name}
        graph[name] = targets
    return graph


def package_graph(repo: Path = REPO) -> dict[str, set[str]]:
    """package -> the other packages it imports (see the module docstring for the units)."""
    graph: dict[str, set[str]] = {}
    for module, targets in module_graph(repo).items():
        source = package_of(module)
        assert source is not None
        edges = graph.setdefault(source, set())
        edges.update(p for p in map(package_of, targets) if p is not None and p != source)
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of the graph as ``[a, b, ..., a]``, or None when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def table(graph: Mapping[str, Iterable[str]]) -> str:
    """``name: imported, imported, ...`` one a line, sorted (``-`` for none)."""
    width = max(map(len, graph))
    return "\n".join(f"{name:<{width}}  {', '.join(sorted(targets)) or '-'}"
                     for name, targets in sorted(graph.items()))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    graph = module_graph() if "--modules" in argv else package_graph()
    print(table(graph))
    cycle = find_cycle(package_graph())
    if cycle:
        print("cycle: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
