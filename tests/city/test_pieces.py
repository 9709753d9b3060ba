"""A city in several pieces: a river crossed only by bridges and a tunnel closed to pedestrians.

The test city (built with tests/osm_builder.py, coordinates in metres):

- the north bank, a 600 m street grid at y = 0..600, and the south bank, the same at y = 1800..2400;
- between them a 1.2 km river crossed by two ``foot=no`` bridges and a ``foot=no`` tunnel that trucks use, so the
  walk graph has two pieces and the truck graph one;
- a site in the middle of a bridge (600 m from any footway) offered for tiers 1-3;
- far to the east, a 200 m lane joined to nothing, and a compound beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from osm_builder import OsmBuilder, lonlat, street_grid

from netplan.city import load_city
from netplan.pipeline import build_plan
from netplan.scenario import load_scenario

SOUTH_Y = 1800.0
ISLE = (2000.0, 300.0)

SCENARIO = """name: river
seed: 5
city: {source: river.osm, snap_limit_m: 500}
demand:
  source: file
  file: {path: compounds.csv, households: households, name: name}
sites:
  landuse_tiers: {}
  files: [{path: sites.csv, tiers: tiers, status: status, name: name}]
tiers:
  - {tier: 1, radius_m: 400, capacity_kg_day: 1000, open_cost: 20000}
  - {tier: 2, radius_m: 5000, capacity_kg_day: 30000, open_cost: 500000}
  - {tier: 3, radius_m: 20000, capacity_kg_day: 200000, open_cost: 2000000, max_count: 1}
locate: {mode: bottom_up, node_limit: 1, time_limit_s: 120}
route: {enabled: false}
outputs: {map: false}
"""


def _river_city(folder: Path) -> Path:
    b = OsmBuilder()
    north = street_grid(b, size_m=600.0, step_m=150.0, x0_m=0.0, y0_m=0.0)
    south = street_grid(b, size_m=600.0, step_m=150.0, x0_m=0.0, y0_m=SOUTH_Y)
    # Two bridges and a tunnel: trucks cross, pedestrians may not.
    for i in (0, 4):
        mid = b.node(i * 150.0, (600.0 + SOUTH_Y) / 2)
        b.link(
            [north[(i, 4)], mid, south[(i, 0)]],
            {"highway": "primary", "bridge": "yes", "foot": "no", "name": f"{i}号大桥"},
        )
    b.link([north[(2, 4)], south[(2, 0)]], {"highway": "trunk", "tunnel": "yes", "foot": "no", "name": "过江隧道"})
    # A lane joined to nothing, far east: cut off from both graphs.
    b.way([(ISLE[0] - 100, ISLE[1]), (ISLE[0] + 100, ISLE[1])], {"highway": "residential", "name": "孤巷"})
    b.write(folder / "river.osm")

    compounds = [
        ("北岸一区", 100, 100, 350),
        ("北岸二区", 480, 450, 300),
        ("南岸一区", 120, SOUTH_Y + 150, 320),
        ("南岸二区", 500, SOUTH_Y + 480, 280),
        ("孤巷小区", ISLE[0], ISLE[1] + 30, 120),
    ]
    rows = [{"name": n, "lon": lonlat(x, y)[0], "lat": lonlat(x, y)[1], "households": h} for n, x, y, h in compounds]
    pd.DataFrame(rows).to_csv(folder / "compounds.csv", index=False, encoding="utf-8")
    sites = [
        ("桥中用地", 20, (600.0 + SOUTH_Y) / 2, "1,2,3"),
        ("北岸物流园", 300, -40, "2,3"),
        ("南岸转运地", 300, SOUTH_Y + 640, "2"),
    ]
    srows = [
        {"name": n, "lon": lonlat(x, y)[0], "lat": lonlat(x, y)[1], "tiers": t, "status": "candidate"}
        for n, x, y, t in sites
    ]
    pd.DataFrame(srows).to_csv(folder / "sites.csv", index=False, encoding="utf-8")
    (folder / "river.yaml").write_text(SCENARIO, encoding="utf-8")
    return folder / "river.yaml"


@pytest.fixture(scope="module")
def river(tmp_path_factory):
    scenario = load_scenario(_river_city(tmp_path_factory.mktemp("river")))
    return scenario, build_plan(scenario)


def _codes(plan) -> dict[str, object]:
    return {w.code: w for w in plan.warnings}


def test_walk_graph_keeps_both_banks_and_truck_graph_crosses(river):
    scenario, plan = river
    city = plan.city
    assert city.reports["walk"].pieces == 2
    ys = np.array([d["y"] for _, d in city.walk.graph.nodes(data=True)])
    assert (ys < lonlat(0, 700)[1]).any() and (ys > lonlat(0, SOUTH_Y - 100)[1]).any()
    # walking from one bank to the other is impossible; driving is not
    north, south = plan.demand.iloc[0], plan.demand.iloc[2]
    assert np.isinf(city.walk.matrix([north["walk_node"]], [south["walk_node"]])[0, 0])
    dn = city.drive.snap(plan.demand.iloc[[0, 2]], 500)
    assert np.isfinite(city.drive.matrix(dn.node[:1], dn.node[1:])[0, 0])
    codes = _codes(plan)
    assert "city.walk_pieces" in codes and "2 separate pieces" in codes["city.walk_pieces"].message
    # the lane joined to nothing is cut off the truck graph and reported in words, with its name
    cut = codes["city.truck_component_cut"]
    assert "孤巷" in cut.message and "km of road" in cut.message
    assert "city.walk_fragments_dropped" in codes


def test_both_banks_get_collection_points(river):
    _, plan = river
    f = plan.facilities
    t1 = f[f["tier"] == 1]
    lat_mid = lonlat(0, (600.0 + SOUTH_Y) / 2)[1]
    assert (t1.geometry.y < lat_mid).any(), "the north bank has no collection point"
    assert (t1.geometry.y > lat_mid).any(), "the south bank has no collection point"
    # every compound that a walkable way reaches walks to a collection point on its own bank
    a = plan.assignments
    walks = a[a["from_tier"] == 0].set_index("from_id")
    sites = plan.sites.set_index("site_id")
    for _, row in plan.demand[plan.demand["snap_ok"]].iterrows():
        cp = sites.loc[walks.loc[row["demand_id"], "to_id"]]
        assert (cp.geometry.y > lat_mid) == (row.geometry.y > lat_mid), row["name"]
        assert walks.loc[row["demand_id"], "distance_m"] <= 400


def test_no_demand_silently_lost(river):
    _, plan = river
    d = plan.demand
    lost = d[~d["snap_ok"]]
    assert lost["name"].tolist() == ["孤巷小区"]
    warning = _codes(plan)["demand.far_from_network"]
    assert "孤巷小区" in warning.message and warning.ids == (str(int(lost["demand_id"].iloc[0])),)
    # what the plan serves plus what it says it left out is all the demand
    assert d.loc[d["snap_ok"], "kg_day"].sum() + lost["kg_day"].sum() == pytest.approx(d["kg_day"].sum())


def test_site_on_the_truck_network_stays_a_higher_tier_candidate(river):
    _, plan = river
    s = plan.sites.set_index("name")
    bridge = s.loc["桥中用地"]
    assert bridge["walk_snap_m"] > 500 and bridge["drive_snap_m"] < 50
    assert bool(bridge["snap_ok"]) and bool(bridge["tier2"]) and bool(bridge["tier3"])
    assert not bool(bridge["tier1"]), "a collection point no resident can walk to must not be offered"
    codes = _codes(plan)
    assert "桥中用地" in codes["sites.tier1_far_from_footway"].message


def test_outside_is_judged_against_all_the_data(river, tmp_path):
    scenario, plan = river
    # the compound by the cut-off lane is inside the city's data: a warning (above), not a "check the crs" error
    assert plan.city.extent().contains(plan.demand.geometry[plan.demand["name"] == "孤巷小区"].iloc[0])
    # far beyond every road it is still an error
    folder = Path(scenario.file).parent
    far = pd.read_csv(folder / "compounds.csv")
    far.loc[0, "lon"] += 0.5
    far.to_csv(tmp_path / "compounds.csv", index=False)
    from netplan.demand import demand_from_file
    from netplan.errors import InputDataError

    with pytest.raises(InputDataError, match="outside"):
        demand_from_file(plan.city, scenario.demand.file, tmp_path / "compounds.csv", 2.62)


def test_walk_pieces_size_is_a_setting(tmp_path):
    scenario = load_scenario(_river_city(tmp_path))
    config = scenario.city.model_copy(update={"walk_min_component_km": 50.0})
    city = load_city(config, scenario.base_dir)
    assert city.reports["walk"].pieces == 1
