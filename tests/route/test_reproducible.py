"""The route stage of the default scenario gives byte-identical tables in fresh processes, whatever the hash seed.

The sited plan is fixed (``data/chengdu_sited.csv``: two of the default run's transfer stations, one of them inside
the ring-road ban, their collection points and the sorting centre) and the road graph is pickled once, so that
only the route stage runs in each process: it must not depend on hash order, set order or the clock.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from netplan.city import City
from netplan.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
SITED = Path(__file__).with_name("data") / "chengdu_sited.csv"

_RUN = """
import json, pickle, sys
from netplan import diagnostics
from netplan.io import write_csv
from netplan.route.collection import route_day
from netplan.scenario import load_scenario
city, facilities = pickle.load(open(sys.argv[1], "rb"))
scenario = load_scenario(sys.argv[2])
with diagnostics.collect() as warnings:
    day = route_day(city, facilities, scenario)
write_csv(sys.argv[3] + "/schedule.csv", day.schedule)
write_csv(sys.argv[3] + "/routing.csv", day.summary)
json.dump([w.as_dict() for w in warnings], open(sys.argv[3] + "/warnings.json", "w"))
"""


def sited_plan(city: City) -> gpd.GeoDataFrame:
    """The fixed sited plan, snapped to the city's drive graph as the locate stage does."""
    table = pd.read_csv(SITED)
    frame = gpd.GeoDataFrame(
        table.drop(columns=["lon", "lat"]), crs="EPSG:4326", geometry=gpd.points_from_xy(table["lon"], table["lat"])
    )
    frame["drive_node"] = city.network("drive").snap(frame.geometry).node
    return frame


def test_route_stage_is_identical_in_fresh_processes(chengdu: City, chengdu_scenario: Scenario, tmp_path: Path):
    bundle = tmp_path / "sited.pkl"
    with open(bundle, "wb") as fh:
        pickle.dump((chengdu, sited_plan(chengdu)), fh)
    outputs = []
    # two hash seeds in the default suite; the whole run in five processes is tests/test_reproducible_run.py (slow)
    for hash_seed in ("0", "12345"):
        out = tmp_path / f"run{hash_seed}"
        out.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        subprocess.run(
            [sys.executable, "-c", _RUN, str(bundle), str(chengdu_scenario.file), str(out)],
            env=env,
            check=True,
            cwd=ROOT,
            timeout=900,
        )
        outputs.append(out)
    first = outputs[0]
    schedule = pd.read_csv(first / "schedule.csv")
    routing = pd.read_csv(first / "routing.csv")
    # Something real was routed: both stations and the hauls, every stop served, the budget (not the clock) decided.
    assert len(routing) == 3 and routing["served"].sum() == routing["stops"].sum() > 30
    assert (routing["stopped_by"] == "iterations").all()
    assert (schedule["kind"] == "stop").sum() == routing["served"].sum()
    codes = [w["code"] for w in json.loads((first / "warnings.json").read_text())]
    assert "route.time_limit" not in codes
    for other in outputs[1:]:
        for name in ("schedule.csv", "routing.csv"):
            assert (other / name).read_bytes() == (first / name).read_bytes(), f"{name} differs from {other.name}"


@pytest.mark.parametrize("engine", ["pyvrp", "ortools"])
def test_unknown_engine_options_are_refused(engine):
    import numpy as np

    from netplan.route.engines import solve
    from netplan.route.problem import Depot, Location, Profile, RoutingProblem, Stop, VehicleType

    mat = np.array([[0, 10], [10, 0]])
    problem = RoutingProblem(
        [Location("d", 0, 0), Location("s", 10, 0)],
        {"default": Profile("default", mat, mat)},
        [Stop("s", 1, (1,))],
        [Depot("d", 0)],
        [VehicleType("v", 1, (5,))],
    ).validate()
    with pytest.raises(ValueError, match="max_iterationz"):
        solve(problem, engine, time_limit_s=1, max_iterationz=5)
