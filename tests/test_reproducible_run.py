"""The default scenario, run whole in five fresh processes with different hash seeds, gives one plan (issues 13, 14).

Each process builds the city from the shipped OSM file itself (a cache folder of its own, so nothing is shared
between them), then sites, routes and writes the outputs without the map. Facilities, assignments, the KPIs apart
from timings, ``schedule.csv`` and ``routing.csv`` must agree between all five. Five whole runs take about 2.5
minutes on an idle 2-core machine, so the test is marked ``slow`` (``pytest -m slow tests/test_reproducible_run.py``);
the default suite checks each stage on its own in fresh processes (``tests/city/test_graph.py``,
``tests/locate/test_reproducible.py``, ``tests/route/test_reproducible.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

ROOT = Path(__file__).resolve().parents[1]
HASH_SEEDS = ("0", "1", "2", "77", "12345")

_RUN = """
import sys
from netplan.pipeline import build_plan, write_outputs
from netplan.scenario import load_scenario
scenario = load_scenario(sys.argv[1])
scenario.city.cache_dir = sys.argv[2]
scenario.outputs.map = False
write_outputs(build_plan(scenario), sys.argv[3])
"""


def _kpis(folder: Path) -> pd.DataFrame:
    """The KPI table without the rows that time the run."""
    table = pd.read_csv(folder / "kpis.csv", encoding="utf-8-sig")
    timing = table["key"].astype(str).str.contains(r"seconds|runtime|_s$", regex=True)
    return table[~timing].reset_index(drop=True)


def _layer(folder: Path, name: str, columns: list[str]) -> pd.DataFrame:
    frame = pyogrio.read_dataframe(next(folder.glob("*.gpkg")), layer=name, read_geometry=False)
    return frame[columns].sort_values(columns, kind="stable").reset_index(drop=True)


@pytest.mark.slow
def test_the_default_scenario_gives_one_plan_in_five_fresh_processes(tmp_path: Path):
    outputs = []
    for seed in HASH_SEEDS:
        out = tmp_path / f"run{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _RUN,
                str(ROOT / "scenarios" / "chengdu.yaml"),
                str(tmp_path / f"cache{seed}"),
                str(out),
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(out)
    first = outputs[0]
    facilities = _layer(first, "facilities", ["tier", "site_id", "next_site_id", "load_kg_day"])
    assignments = _layer(first, "assignments", ["from_tier", "from_id", "to_id", "kg_day"])
    kpis = _kpis(first)
    # a whole plan: every tier open, the collection day routed, nothing stopped by the clock
    assert set(facilities["tier"]) == {1, 2, 3} and len(assignments) > len(facilities)
    routing = pd.read_csv(first / "routing.csv", encoding="utf-8-sig")
    assert (routing["stopped_by"] == "iterations").all() and routing["served"].sum() > 100
    hit = kpis.loc[kpis["key"] == "time_limit_hit", "value"]
    assert len(hit) and hit.isna().all()
    for other in outputs[1:]:
        pd.testing.assert_frame_equal(_layer(other, "facilities", list(facilities.columns)), facilities)
        pd.testing.assert_frame_equal(_layer(other, "assignments", list(assignments.columns)), assignments)
        pd.testing.assert_frame_equal(_kpis(other), kpis)
        for name in ("schedule.csv", "routing.csv"):
            assert (other / name).read_bytes() == (first / name).read_bytes(), f"{name} differs in {other.name}"
