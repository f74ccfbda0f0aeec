"""The plan of the house (docs/architecture.md) as checked contracts.

* The import contracts of ``pyproject.toml`` (``[tool.importlinter]``): the layers
  ``pipeline`` -> ``models`` -> ``features``, the rooms inside ``pipeline`` and the
  independence of the stage entry points, checked by import-linter.
* No import cycle among the project's modules, function-level imports included.
* MLflow is spoken to from ``pipeline.tracking`` only (and the pyfunc class that
  registered models name, ``models.scorer.ChurnScorer``).
* No module over about 400 lines, unless its opening docstring says why it is one piece.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "pipeline")

#: Past this many lines a module must say, in its opening docstring, why it is one piece
#: (a paragraph starting "One piece:").
MAX_LINES = 420


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)


def test_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                        no_logo=True)
    assert code == 0, capsys.readouterr().out


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            for j in range(i, len(edges[node])):
                nxt = edges[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return found


def test_no_import_cycle_among_project_modules(graph):
    modules = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    cycles = _cycles(graph, modules)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_cycle():
    g = grimp.ImportGraph()
    for m in ("p.a", "p.b", "p.c", "p.d"):
        g.add_module(m)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.c")
    g.add_import(importer="p.c", imported="p.a")
    g.add_import(importer="p.d", imported="p.a")
    assert _cycles(g, {"p.a", "p.b", "p.c", "p.d"}) == [["p.a", "p.b", "p.c"]]


def test_mlflow_is_reached_through_tracking_only(graph):
    importers = {m for m in graph.find_modules_that_directly_import("mlflow")
                 if m.split(".")[0] in PACKAGES}
    allowed = {m for m in importers if m == "pipeline.tracking"
               or m.startswith("pipeline.tracking.")} | {"models.scorer"}
    assert importers <= allowed, f"MLflow imported outside pipeline.tracking: {importers - allowed}"


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_long_module_says_why_it_is_one_piece(path):
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    if lines <= MAX_LINES:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert "One piece:" in doc, (
        f"{path.relative_to(ROOT)} has {lines} lines: split it by concern, or say in its "
        "opening docstring why it is one piece (a paragraph starting 'One piece:')")
