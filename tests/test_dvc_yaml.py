"""dvc.yaml against the code: each stage depends on exactly the Python modules it runs,
and on single params keys that exist, so that a change re-runs what it affects."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "pipeline")
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _file(module: str) -> Path:
    path = ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _runs(graph: grimp.ImportGraph, entry: str) -> set[str]:
    """The files of every project module that running ``python -m entry`` may import:
    its imports, theirs, and so on, with the ``__init__`` of every package on the way
    (importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py``)."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += graph.find_modules_directly_imported_by(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
    files = {_file(m) for m in seen if m.split(".")[0] in PACKAGES}
    return {f.relative_to(ROOT).as_posix() for f in files
            if f.exists() and f.read_text(encoding="utf-8").strip()}


def _python_deps(stage: dict) -> list[str]:
    deps = [d for d in stage.get("deps", []) if isinstance(d, str)]
    return [d for d in deps if d.split("/")[0] in PACKAGES]


def _covers(deps: list[str], file: str) -> bool:
    return any(file == d or file.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stage_depends_on_every_module_it_runs(graph, name):
    stage = STAGES[name]
    entry = stage["cmd"].split()[-1]
    assert stage["cmd"] == f"python -m {entry}", stage["cmd"]
    deps = _python_deps(stage)
    missing = sorted(f for f in _runs(graph, entry) if not _covers(deps, f))
    assert not missing, f"dvc.yaml stage {name!r} lacks deps: {missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stage_depends_on_no_module_it_does_not_run(graph, name):
    stage = STAGES[name]
    runs = _runs(graph, stage["cmd"].split()[-1])
    stale = [d for d in _python_deps(stage) if not any(_covers([d], f) for f in runs)]
    assert not stale, f"dvc.yaml stage {name!r} depends on modules it does not run: {stale}"


def _exists(tree: dict, dotted: str) -> bool:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stage_depends_on_params_keys_that_exist(name):
    keys = [k for k in STAGES[name].get("params", []) if isinstance(k, str)]
    unknown = [k for k in keys if not _exists(PARAMS, k)]
    assert not unknown, f"dvc.yaml stage {name!r} names params keys not in params.yaml: {unknown}"
    sections = [k for k in keys if "." not in k]
    assert not sections, (f"dvc.yaml stage {name!r} depends on whole params sections "
                          f"{sections}: name the keys it reads")


def test_the_deps_finder_sees_function_level_imports(graph):
    # pipeline.cli imports each stage inside its command function.
    assert "pipeline/train.py" in _runs(graph, "pipeline.cli")
