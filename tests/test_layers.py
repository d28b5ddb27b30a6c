"""The layers of hltk, read from the source (:mod:`tests.import_graph`, ast, nothing imported).

Data flows one way: the command (``hltk_cli``) -> ``hltk.pipelines`` -> the runner -> the
processors (``simulate``, ``amplify``, ``denoise``, ``remix``) -> ``dsp`` / ``nn`` / ``io``.
The package-level import graph has no cycles; metrics never import a processor's package;
processors never import the pipelines; nothing in the library imports the command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import find_cycle, module_graph, package_graph, package_of

PROCESSORS = {"hltk.simulate", "hltk.amplify", "hltk.denoise", "hltk.remix"}
#: (importer, imported packages it must never import)
RULES = [
    ({"hltk.metrics"}, PROCESSORS),
    (PROCESSORS, {"hltk.pipelines"}),
    ({"hltk.dsp", "hltk.nn", "hltk.io"},
     PROCESSORS | {"hltk.pipelines", "hltk.train", "hltk.runner", "hltk.metrics"}),
]


def violations(graph: dict[str, set[str]]) -> list[str]:
    """The layer rules a module graph breaks, one line each (empty when it follows them)."""
    found = []
    for module, targets in sorted(graph.items()):
        source = package_of(module)
        for target in sorted(targets):
            package = package_of(target)
            if source != "hltk_cli" and package == "hltk_cli":
                found.append(f"{module} imports the command ({target})")
            for importers, forbidden in RULES:
                if source in importers and package in forbidden:
                    found.append(f"{module} imports {target}")
    return found


def test_the_package_graph_has_no_cycle() -> None:
    assert find_cycle(package_graph()) is None


def test_the_layer_rules_hold() -> None:
    assert violations(module_graph()) == []


def test_the_graph_sees_every_package_and_the_known_edges() -> None:
    graph = package_graph()
    assert {"hltk", "hltk.amplify", "hltk.nn", "hltk.pipelines", "hltk_cli"} <= set(graph)
    assert "hltk.nn" in graph["hltk.amplify"]  # amplify/neuroamp.py: checkpoints, networks
    assert "hltk.pipelines" in graph["hltk_cli"]
    assert "hltk.amplify" in graph["hltk.train"]


@pytest.mark.parametrize("module, line, rule", [
    ("hltk/metrics/stats.py", "from hltk.amplify.nalr import nalr_fir", "imports hltk.amplify"),
    ("hltk/simulate/msbg.py", "import hltk.pipelines.simulate", "imports hltk.pipelines"),
    ("hltk/runner.py", "from hltk_cli.common import GLOBAL_OPTIONS", "imports the command"),
    ("hltk/dsp/stft.py", "    from hltk.train import data", "imports hltk.train"),
    ("hltk/nn/checkpoint.py", "from ..amplify import neuroamp", "imports hltk.amplify"),
])
def test_an_added_import_breaks_a_rule(tmp_path: Path, module: str, line: str,
                                       rule: str) -> None:
    repo = copy_sources(tmp_path)
    with (repo / module).open("a") as handle:
        handle.write(("\ndef _late() -> None:\n" if line.startswith(" ") else "\n") + line + "\n")
    assert any(rule in problem for problem in violations(module_graph(repo)))


def test_an_added_import_makes_a_cycle(tmp_path: Path) -> None:
    repo = copy_sources(tmp_path)
    assert find_cycle(package_graph(repo)) is None
    # the cycle this layout removed: a backend reading checkpoints through the trainers
    with (repo / "hltk/amplify/neuroamp.py").open("a") as handle:
        handle.write("\nfrom hltk.train.loop import TrainSettings\n")
    assert find_cycle(package_graph(repo)) == ["hltk.amplify", "hltk.train", "hltk.amplify"]


def copy_sources(tmp_path: Path) -> Path:
    """A copy of hltk/ and cli/ (the Python files) to edit."""
    repo = Path(__file__).resolve().parent.parent
    for folder in ("hltk", "cli"):
        for path in (repo / folder).rglob("*.py"):
            target = tmp_path / path.relative_to(repo)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    return tmp_path


def test_test_modules_share_factories_through_tests_helpers_only() -> None:
    """A test module imports shared factories from ``tests.helpers`` (or ``hltk.synth``),
    never from ``conftest.py`` or from another test module."""
    import ast

    tests = Path(__file__).resolve().parent
    found = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name} imports {name}" for name in names
                      if name == "tests.conftest" or name.startswith("tests.test_")
                      or name.startswith("conftest") or name.startswith("test_")]
    assert found == []


def test_every_package_is_installed() -> None:
    """pyproject.toml lists hltk's packages by name (``cli/`` is installed as ``hltk_cli``):
    a package folder missing from that list is left out of a wheel, and the command fails
    on a machine that installs hltk instead of running it from the checkout."""
    import tomllib

    repo = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(repo).parts)
             for init in (repo / "hltk").rglob("__init__.py")} | {"hltk_cli"}
    assert found - listed == set(), f"add to pyproject.toml's packages: {sorted(found - listed)}"
