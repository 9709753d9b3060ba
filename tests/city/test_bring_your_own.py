"""The shipped bring-your-own example: bureau road layer (directed, Chinese grades, GCJ-02), compound register and
candidate land, written from the Chengdu extract by scenarios/bring_your_own/make_data.py and planned with 4 tiers."""

from __future__ import annotations

import importlib.util
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy.spatial import cKDTree

from netplan.pipeline import build_plan, write_outputs
from netplan.scenario import load_scenario

EXAMPLE = ROOT / "scenarios" / "bring_your_own"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("byo")
    spec = importlib.util.spec_from_file_location("make_data", EXAMPLE / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(folder)
    shutil.copy(EXAMPLE / "bring_your_own.yaml", folder)
    scenario = load_scenario(folder / "bring_your_own.yaml")
    scenario.outputs.maps_dir = str(folder / "maps")
    plan = build_plan(scenario)
    return folder, scenario, plan


def test_inputs_are_as_bureaus_keep_them(example):
    folder, _, _ = example
    roads = gpd.read_file(folder / "roads.gpkg", layer="道路中心线")
    assert set(roads["道路等级"]) >= {"快速路", "主干路", "次干路", "支路"}
    compounds = pd.read_csv(folder / "compounds.csv")
    assert list(compounds.columns) == ["小区名称", "经度", "纬度", "户数"]
    assert (compounds["户数"] > 400).sum() >= 10, "the register holds whole compounds, some far above 400 households"
    land = pd.read_csv(folder / "land.csv", dtype={"层级": str})
    assert {t for ts in land["层级"] for t in ts.split(",")} == {"2", "3", "4"}


def test_gcj02_roads_land_on_the_osm_roads(example, chengdu):
    """The layer is in GCJ-02 (hundreds of metres off); read with crs: gcj02 its nodes sit on the OSM nodes."""
    _, _, plan = example
    G, ref = plan.city.drive.graph, chengdu.drive.graph
    xy = np.array([(d["x"], d["y"]) for _, d in G.nodes(data=True)])
    dist, _ = cKDTree(np.array([(d["x"], d["y"]) for _, d in ref.nodes(data=True)])).query(xy)
    assert dist.max() < 1e-6  # about 10 cm
    assert G.number_of_nodes() == ref.number_of_nodes()


def test_the_example_plans_every_tier(example, tmp_path):
    folder, scenario, plan = example
    f = plan.facilities
    assert sorted(f["tier"].unique().tolist()) == [1, 2, 3, 4]
    compounds = pd.read_csv(folder / "compounds.csv")
    assert plan.demand["households"].sum() == pytest.approx(compounds["户数"].sum())
    # every compound is either walked to a collection point or named in the warnings
    walked = set(plan.assignments.loc[plan.assignments["from_tier"] == 0, "from_id"])
    left = set(plan.demand.loc[~plan.demand["demand_id"].isin(walked), "demand_id"])
    warned = {int(i) for w in plan.warnings for i in w.ids if w.stage == "demand"}
    assert left <= warned | set(plan.excluded_demand)
    out = write_outputs(plan, tmp_path / "out")
    assert out.geopackage.is_file() and out.kpis.is_file()
