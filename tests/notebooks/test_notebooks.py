"""The notebooks in ``notebooks/``: committed without outputs, and run top to bottom on
the tiny trained and scored project so that they never rot.

The kernel is the Python that runs the tests (the project's virtualenv): a
kernelspec naming ``sys.executable`` is written to a temporary folder put first
on ``JUPYTER_PATH``, so no kernel installed on the machine is used. Connection
files and IPython's profile go to temporary folders too: nothing is registered
or written in the user's Jupyter or IPython folders.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from pipeline import score
from pipeline.config import load_params

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"1.0-explore-inputs.ipynb", "2.0-features-and-stages.ipynb",
            "3.0-model-evaluation.ipynb", "4.0-scored-customers.ipynb"}
KERNEL = "lifecycle-churn-tests"
STRIP = "nbstripout notebooks/*.ipynb"


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_the_notebooks_are_there_and_numbered():
    names = set(ids(NOTEBOOKS))
    assert names >= EXPECTED, f"missing from notebooks/: {sorted(EXPECTED - names)}"
    unnumbered = [n for n in names
                  if not re.fullmatch(r"\d+\.\d+-[a-z0-9]+(-[a-z0-9]+)*\.ipynb", n)]
    assert not unnumbered, f"name notebooks like 1.0-explore-inputs.ipynb: {unnumbered}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; "
                       f"clear them with `{STRIP}`")
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: the kernelspec must be the default 'python3' (the reader's environment)")
    first_code = next(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "CHURN_PROJECT_DIR" in first_code, (
        f"{path.name}: the first code cell must find the project through CHURN_PROJECT_DIR")


@pytest.fixture(scope="module")
def scored_project(trained_project):
    """The tiny trained project, scored once, with the ``params.yaml`` it ran with."""
    params, paths, *_, uri = trained_project
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        summary = score.main(params, paths)
    file = paths.root / "params.yaml"
    file.write_text(yaml.safe_dump(params.model_dump(mode="json", by_alias=True),
                                   sort_keys=False))
    assert load_params(file) == params
    assert summary["customers"] > 0 and paths.scores_db.exists()
    return paths.root, uri


@pytest.fixture(scope="module")
def jupyter_env(tmp_path_factory) -> dict[str, str]:
    """Environment variables for a kernel of this Python, in temporary folders."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "path" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lifecycle-churn (tests)",
        "language": "python",
    }))
    for folder in ("runtime", "ipython"):
        (root / folder).mkdir()
    return {"JUPYTER_PATH": str(root / "path"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
            "IPYTHONDIR": str(root / "ipython")}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(path, scored_project, jupyter_env, monkeypatch):
    root, uri = scored_project
    for name, value in jupyter_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CHURN_PROJECT_DIR", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    nb = nbformat.read(path, as_version=4)
    # One more cell, to check which Python the notebook ran in.
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=300,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on failure

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert not errors
    assert code[-1].outputs[0]["text"].strip() == sys.executable
