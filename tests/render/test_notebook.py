"""The example notebook (docs/notebook.ipynb) executed from start to end with nbclient, and what it shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import netplan

from .conftest import ARTIFACTS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return data.get("text/html") or data.get("text/plain") or ""


def test_example_notebook_runs_and_shows_the_maps(monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (pip install '.[test]')")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (pip install '.[test]')")
    pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (pip install '.[test]')")
    # the kernel is a new process: it must import this checkout's netplan
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    ARTIFACTS.mkdir(exist_ok=True)
    nbformat.write(nb, ARTIFACTS / "notebook_executed.ipynb")

    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = ["\n".join(_text(o) for o in c.get("outputs", [])) for c in code]
    assert all(o.get("output_type") != "error" for c in code for o in c.get("outputs", []))
    assert netplan.__version__ in outputs[0]
    assert "refused:" in outputs[1] and "radius_m" in outputs[1]
    assert "households_covered_share" in outputs[2] and "warning(s)" in outputs[2]
    assert "site_id" in outputs[3]
    # the map cell shows the folium map inline (an iframe holding the whole page), with the user's own layer on it
    map_html = outputs[5]
    assert "<iframe srcdoc=" in map_html and "map_np0" in map_html and "netplan.attach" in map_html
    assert "5 largest demand points (my layer)" in map_html or "geo_json" in map_html
    # the changed radius and the comparison page
    assert "300 m" in outputs[6] and "450 m" in outputs[6]
    assert "compare.html" in outputs[7] and "map_np1" in outputs[7]
