"""KPIs and the independent check of sited networks."""

from __future__ import annotations

import copy

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from netplan.evaluate import (
    PlanCheckError,
    check_network,
    covered_share,
    evaluate_plan,
    reached_share,
    walk_distances,
    within_radius,
)
from netplan.evaluate.check import _pairwise
from netplan.pipeline import build_plan
from netplan.scenario import load_scenario


def test_covered_share_by_hand():
    dist = np.array([[100.0, 900.0], [700.0, 650.0], [np.inf, 20.0]])
    weights = np.array([10.0, 30.0, 60.0])
    assert covered_share(dist, weights, 500.0) == pytest.approx(0.7)
    assert covered_share(dist[:, :1], weights, 500.0) == pytest.approx(0.1)
    assert covered_share(dist, np.zeros(3), 500.0) == 0.0


@pytest.mark.parametrize("radius_m", [50.0, 300.0, 1200.0])
def test_within_radius_equals_the_dense_matrix(helsinki_plan, radius_m):
    """The bounded search that KPIs and site fillers use marks exactly the rows the unbounded matrix covers."""
    plan = helsinki_plan
    demand = plan.demand[plan.demand["snap_ok"]]
    candidates = plan.sites[plan.sites["tier1"] & plan.sites["snap_ok"]]
    dense = (walk_distances(plan.city.walk, demand, candidates) <= radius_m).any(axis=1)
    reached = within_radius(plan.city.walk, demand, candidates, radius_m)
    assert 0 < reached.sum() <= len(demand) and (reached == dense).all()
    weights = demand["households"].to_numpy()
    assert reached_share(reached, weights) == pytest.approx(weights[dense].sum() / weights.sum())
    assert not within_radius(plan.city.walk, demand, candidates.iloc[:0], radius_m).any()


def test_sited_network_passes_and_kpis_match_layers(helsinki_plan):
    plan = helsinki_plan
    costs = check_network(plan)
    assert costs["total"] == pytest.approx(plan.kpi("cost", "total"))
    assert costs["total"] == pytest.approx(plan.location[plan.location["chosen"]]["objective"], rel=1e-6)
    fac = plan.facilities
    for t in (1, 2, 3):
        assert plan.kpi("network", f"tier{t}_open") == int((fac["tier"] == t).sum()) >= 1
    # existing OSM recycling points (kept) are open collection points
    kept = plan.sites[(plan.sites["status"] == "existing_fixed") & plan.sites["snap_ok"]]
    assert set(kept["site_id"]) <= set(fac.loc[fac["tier"] == 1, "site_id"])
    # coverage recomputed from the open points on the walk graph
    open1 = fac[fac["tier"] == 1]
    demand = plan.demand[plan.demand["snap_ok"]]
    dist = walk_distances(plan.city.walk, demand, open1)
    share = covered_share(dist, demand["households"].to_numpy(), plan.scenario.tier(1).radius_m)
    assert plan.kpi("network", "households_covered_share") == pytest.approx(share, abs=1e-4)
    # the bound never exceeds the objective, and the gap is what they say
    for mode in ("integrated", "bottom_up"):
        info = plan.location[mode]
        assert info["bound"] <= info["objective"] + 1e-6
        assert info["gap"] == pytest.approx((info["objective"] - info["bound"]) / info["objective"], abs=1e-9)
    assert plan.location["bottom_up"]["objective"] >= plan.location["integrated"]["objective"] - 1e-6


def _networkx_m(graph: nx.MultiDiGraph, pairs: list[tuple[int, int]], cutoff: float | None = None) -> np.ndarray:
    """Shortest path metres node -> node by networkx's Dijkstra on the city's own graph, one search per origin."""
    out = np.empty(len(pairs))
    searched: dict[int, dict[int, float]] = {}
    for k, (u, v) in enumerate(pairs):
        if u not in searched:
            searched[u] = nx.single_source_dijkstra_path_length(graph, u, cutoff=cutoff, weight="length")
        out[k] = searched[u].get(v, np.inf)
    return out


def test_checker_distances_equal_networkx_shortest_paths(helsinki_plan):
    """An oracle independent of the scipy matrices the solver and the checker share: networkx on the same graphs."""
    plan = helsinki_plan
    sc, fac, asg = plan.scenario, plan.facilities, plan.assignments
    days = sc.locate.days_per_year
    costs = check_network(plan)
    demand = plan.demand.set_index("demand_id")
    by_tier = {t.tier: fac[fac["tier"] == t.tier].set_index("site_id") for t in sc.tiers}

    first = asg[asg["level"] == "demand-t1"]
    d_rows, f_rows = demand.loc[first["from_id"]], by_tier[1].loc[first["to_id"]]
    pairs = list(zip(d_rows["walk_node"].astype(int), f_rows["walk_node"].astype(int), strict=True))
    walked = (
        _networkx_m(plan.city.walk.graph, pairs, cutoff=sc.tier(1).radius_m)
        + d_rows["offset_m"].to_numpy()
        + f_rows["walk_offset_m"].to_numpy()
    )
    assert len(walked) > 10 and np.isfinite(walked).all() and (walked <= sc.tier(1).radius_m + 1e-6).all()
    checker = _pairwise(
        plan.city.walk, d_rows, "walk_node", "offset_m", f_rows, "walk_node", "walk_offset_m", limit=sc.tier(1).radius_m
    )
    assert checker == pytest.approx(walked, abs=1e-6)
    access = (first["kg_day"].to_numpy() * walked).sum() / 1e6 * sc.locate.access_cost_per_t_km * days
    assert costs["access"] == pytest.approx(access, rel=1e-9)

    for tier in sc.tiers[1:]:
        src = by_tier[tier.tier - 1]
        dst = by_tier[tier.tier].loc[src["next_site_id"]]
        pairs = list(zip(src["drive_node"].astype(int), dst["drive_node"].astype(int), strict=True))
        driven = (
            _networkx_m(plan.city.drive.graph, pairs)
            + src["drive_offset_m"].to_numpy()
            + dst["drive_offset_m"].to_numpy()
        )
        assert np.isfinite(driven).all() and (driven <= tier.radius_m + 1e-6).all()
        haul = (src["load_kg_day"].to_numpy() * driven).sum() / 1e6 * sc.locate.haul_cost_per_t_km[tier.tier - 2] * days
        assert costs[f"haul_t{tier.tier - 1}"] == pytest.approx(haul, rel=1e-9)


def _tampered(plan, how: str):
    bad = copy.copy(plan)
    bad.facilities = plan.facilities.copy()
    bad.assignments = plan.assignments.copy()
    if how == "drop_assignment":
        bad.assignments = bad.assignments.drop(bad.assignments.index[0])
    elif how == "overload":
        idx = bad.facilities.index[bad.facilities["tier"] == 1][0]
        bad.facilities.loc[idx, "capacity_kg_day"] = 1.0
    elif how == "wrong_load":
        idx = bad.facilities.index[bad.facilities["tier"] == 2][0]
        bad.facilities.loc[idx, "load_kg_day"] += 50.0
    elif how == "dangling_link":
        idx = bad.facilities.index[bad.facilities["tier"] == 1][0]
        bad.facilities.loc[idx, "next_site_id"] = pd.NA
    elif how == "wrong_link":
        idx = bad.facilities.index[bad.facilities["tier"] == 1][0]
        bad.facilities.loc[idx, "next_site_id"] = int(bad.facilities["site_id"].max()) + 1000
    elif how == "top_sends":
        top = bad.facilities.index[bad.facilities["tier"] == 3][0]
        bad.facilities.loc[top, "next_site_id"] = int(bad.facilities.loc[top, "site_id"])
    elif how == "closed_target":
        first = bad.assignments.index[bad.assignments["level"] == "demand-t1"][0]
        closed = set(plan.sites.loc[plan.sites["tier1"], "site_id"]) - set(plan.facilities["site_id"])
        bad.assignments.loc[first, "to_id"] = sorted(closed)[0]
    elif how == "far_assignment":
        # the open collection point farthest from the first demand point, as the crow flies
        first = bad.assignments.index[bad.assignments["level"] == "demand-t1"][0]
        point = plan.demand.set_index("demand_id").geometry.loc[bad.assignments.loc[first, "from_id"]]
        open1 = bad.facilities[bad.facilities["tier"] == 1]
        bad.assignments.loc[first, "to_id"] = int(open1.loc[open1.geometry.distance(point).idxmax(), "site_id"])
    elif how == "short_link_radius":
        # a 1 m link radius: every tier-1 -> tier-2 link breaks it, and the bounded search finds none of them
        bad.scenario = plan.scenario.model_copy(deep=True)
        bad.scenario.tiers[1].radius_m = 1.0
    elif how == "objective":
        bad.location = {
            **plan.location,
            plan.location["chosen"]: {**plan.location[plan.location["chosen"]], "objective": 1.0},
        }
    return bad


@pytest.mark.parametrize(
    "how, message",
    [
        ("drop_assignment", "not assigned"),
        ("overload", "over capacity"),
        ("wrong_load", "loads differ"),
        ("dangling_link", "not linked to an open tier-2"),
        ("wrong_link", "not linked to an open tier-2"),
        ("top_sends", "top-tier facilities send to a further site"),
        ("closed_target", "not open collection points"),
        ("objective", "differs from the solver's objective"),
        ("far_assignment", r"assignment\(s\) walked longer than"),
        ("short_link_radius", r"tier-1 -> tier-2 link\(s\) longer than 1 m \(none found within the search; \d+ not"),
    ],
)
def test_check_catches_tampering(helsinki_plan, how, message):
    with pytest.raises(PlanCheckError, match=message):
        check_network(_tampered(helsinki_plan, how))


def test_top_tier_sends_nowhere_as_null(helsinki_plan, tmp_path):
    """The top tier's next_site_id is a null everywhere: the plan, the GeoPackage (NULL) and the map's reader."""
    import sqlite3

    from netplan.io import read_layer, write_geopackage

    fac = helsinki_plan.facilities
    assert str(fac["next_site_id"].dtype) == "Int64"
    assert fac.loc[fac["tier"] == 3, "next_site_id"].isna().all()
    assert fac.loc[fac["tier"] < 3, "next_site_id"].notna().all()
    gpkg = write_geopackage(tmp_path / "plan.gpkg", {"facilities": fac})
    with sqlite3.connect(gpkg) as db:
        stored = db.execute("SELECT tier, next_site_id FROM facilities").fetchall()
    assert {t for t, n in stored if n is None} == {3}
    assert all(isinstance(n, int) and n >= 0 for t, n in stored if t < 3)
    back = read_layer(gpkg, "facilities")
    assert str(back["next_site_id"].dtype) == "Int64"
    assert back["next_site_id"].isna().tolist() == fac["next_site_id"].isna().tolist()
    assert back["next_site_id"].dropna().tolist() == fac["next_site_id"].dropna().tolist()


def test_four_tier_scenario_runs(helsinki):
    scenario = load_scenario(ROOT / "scenarios" / "helsinki_4tier.yaml")
    plan = build_plan(scenario, city=helsinki)
    assert plan.kpi("network", "tier4_open") == 1
    fac = plan.facilities
    for _, row in fac[fac["tier"] < 4].iterrows():
        # a site may be open in two tiers (e.g. a sorting centre beside the city centre): match on both keys
        assert ((fac["site_id"] == row["next_site_id"]) & (fac["tier"] == row["tier"] + 1)).any()
    top = plan.facilities[plan.facilities["tier"] == 4]
    assert top["load_kg_day"].sum() == pytest.approx(plan.demand.loc[plan.demand["snap_ok"], "kg_day"].sum(), rel=1e-6)
    evaluate_plan(plan)  # re-check passes again from the layers


def test_driving_hours_by_hand() -> None:
    import pandas as pd

    from netplan.evaluate.kpis import driving_hours

    # one van: leaves the depot at 06:15, arrives 06:30 (waits 5 min, serves to 06:45), back at 07:00; a second van
    # drives 20 min each way
    schedule = pd.DataFrame(
        {
            "depot": ["A"] * 5,
            "vehicle": ["v1", "v1", "v1", "v2", "v2"],
            "trip": [1, 1, 1, 1, 1],
            "seq": [0, 1, 2, 0, 1],
            "start_s": [6 * 3600, 6 * 3600 + 35 * 60, 7 * 3600, 8 * 3600, 8 * 3600 + 20 * 60],
            "end_s": [6 * 3600 + 15 * 60, 6 * 3600 + 45 * 60, 7 * 3600, 8 * 3600, 8 * 3600 + 30 * 60],
            "wait_min": [0.0, 5.0, 0.0, 0.0, 0.0],
        }
    )
    assert driving_hours(schedule) == pytest.approx((15 + 15 + 20) / 60)


def test_routing_kpis_split_loads_and_count_whole_vehicle_hours(helsinki_plan) -> None:
    plan = helsinki_plan
    routing = plan.routing
    hauls = routing["depot"].astype(str).str.endswith("(hauls)")
    assert plan.kpi("routing", "collection_kg") == pytest.approx(routing.loc[~hauls, "kg"].sum(), abs=0.1)
    assert plan.kpi("routing", "haul_kg") == pytest.approx(routing.loc[hauls, "kg"].sum(), abs=0.1)
    # what the stations collect is what the trucks haul, never both added up
    if hauls.any():
        assert plan.kpi("routing", "haul_kg") == pytest.approx(plan.kpi("routing", "collection_kg"), rel=1e-6)
    assert 0 < plan.kpi("routing", "driving_hours") < plan.kpi("routing", "vehicle_hours")
