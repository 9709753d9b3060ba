"""Coverage metrics: hand-computed cases, then real plans and existing networks scored end to end."""

from __future__ import annotations

import copy
import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from netplan.city import Network
from netplan.cli import main
from netplan.errors import InputDataError
from netplan.evaluate import (
    access_metrics,
    coverage_metrics,
    gini,
    plan_metrics,
    route_metrics,
    tier_metrics,
    weighted_quantile,
)
from netplan.pipeline import write_outputs
from netplan.scoring import score


# ---------------------------------------------------------------- by hand
def test_weighted_quantile_by_hand():
    values = np.array([400.0, 100.0, 1000.0, 200.0])
    equal = np.ones(4)
    # sorted 100, 200, 400, 1000; cumulative shares 0.25, 0.5, 0.75, 1
    assert weighted_quantile(values, equal, 0.5) == 200.0
    assert weighted_quantile(values, equal, 0.25) == 100.0
    assert weighted_quantile(values, equal, 0.95) == 1000.0
    # 1000 m carries 5 of 8 households: shares 1/8, 2/8, 3/8, 1 -> the median household walks 1000 m
    assert weighted_quantile(values, np.array([1.0, 1.0, 5.0, 1.0]), 0.5) == 1000.0
    # unreachable and weightless points do not count
    assert weighted_quantile(np.array([np.inf, 50.0, 70.0]), np.array([9.0, 1.0, 0.0]), 0.5) == 50.0
    assert np.isnan(weighted_quantile(np.array([1.0]), np.array([0.0]), 0.5))
    with pytest.raises(ValueError):
        weighted_quantile(values, equal, 1.5)


def test_gini_by_hand():
    # |differences| of 100, 200, 400, 1000 summed over unordered pairs: 100+300+900+200+800+600 = 2900;
    # G = 2 * 2900 / (2 * 4^2 * 425) = 5800 / 13600
    assert gini(np.array([100.0, 200.0, 400.0, 1000.0])) == pytest.approx(5800 / 13600)
    assert gini(np.array([300.0, 300.0, 300.0])) == 0.0
    # weights act as repeats: [1, 1, 3] -> pairs 0, 2, 2 -> G = 2 * 4 / (2 * 9 * 5/3) = 8 / 30
    assert gini(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(8 / 30)
    assert gini(np.array([1.0, 1.0, 3.0])) == pytest.approx(8 / 30)
    assert gini(np.array([0.0, 0.0])) == 0.0


def test_access_metrics_by_hand():
    access = np.array([100.0, 250.0, 600.0, np.inf])
    households = np.array([10.0, 30.0, 40.0, 20.0])
    kg = np.array([5.0, 15.0, 20.0, 10.0])
    m = access_metrics(access, households, kg, [200, 500, 800])
    assert m["households_within_200m"] == pytest.approx(10 / 100)
    assert m["households_within_500m"] == pytest.approx(40 / 100)
    assert m["households_within_800m"] == pytest.approx(80 / 100)
    assert m["kg_within_200m"] == pytest.approx(5 / 50)
    assert m["kg_within_800m"] == pytest.approx(40 / 50)
    # over the 80 households that can reach a point: (100*10 + 250*30 + 600*40) / 80
    assert m["access_mean_m"] == pytest.approx(32500 / 80)
    assert m["access_median_m"] == 250.0  # cumulative shares 10/80, 40/80, 80/80
    assert m["access_p95_m"] == 600.0
    # pairs: 10*30*150 + 10*40*500 + 30*40*350 = 665,000; G = 2 * 665,000 / (2 * 80^2 * 406.25)
    assert m["access_gini"] == pytest.approx(1_330_000 / 5_200_000)
    assert m["unreachable_households_share"] == pytest.approx(0.2)


def _line_network() -> Network:
    """Nodes 1-2-3-4-5 on a straight street, 100 m apart, both directions."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n in range(1, 6):
        g.add_node(n, x=104.0 + n * 0.001, y=30.0)
    for a in range(1, 5):
        for u, v in ((a, a + 1), (a + 1, a)):
            g.add_edge(u, v, length=100.0, travel_time=10.0)
    return Network(g, "EPSG:32648", "walk")


def test_coverage_metrics_on_a_hand_made_street():
    net = _line_network()
    demand = pd.DataFrame(
        {
            "households": [10.0, 20.0, 30.0, 40.0],
            "kg_day": [5.0, 10.0, 15.0, 20.0],
            "walk_node": [1, 3, 5, 1],
            "offset_m": [10.0, 0.0, 20.0, 0.0],
            "snap_ok": [True, True, True, False],  # D did not snap: unreachable
        }
    )
    facilities = pd.DataFrame(
        {
            "tier": [1, 1, 2, 2],
            "walk_node": [2, 5, 1, 5],
            "walk_offset_m": [5.0, 0.0, 0.0, 0.0],
            "drive_node": [2, 5, 1, 5],
            "drive_offset_m": [0.0, 0.0, 0.0, 0.0],
            "capacity_kg_day": [10.0, 100.0, np.nan, np.nan],
        }
    )
    routes = pd.DataFrame(
        {
            "vehicle": ["v1", "v1", "v2"],
            "vehicle_type": ["van", "van", "truck"],
            "km": [10.5, 4.5, 20.0],
            "duration_h": [1.0, 0.5, 2.0],
        }
    )
    m = coverage_metrics(net, demand, facilities, [100, 120, 400], drive=net, routes=routes)
    # A: 10 + 100 + 5 = 115 to F1 (410 to F2); B: 100 + 5 = 105 to F1; C: 20 + 0 to F2; D: none
    assert m["households_within_100m"] == pytest.approx(30 / 100)
    assert m["households_within_120m"] == pytest.approx(60 / 100)
    assert m["households_within_400m"] == pytest.approx(60 / 100)
    assert m["kg_within_120m"] == pytest.approx(30 / 50)
    assert m["access_mean_m"] == pytest.approx((115 * 10 + 105 * 20 + 20 * 30) / 60)
    assert m["access_median_m"] == pytest.approx(20.0)  # C's 30 households are half of 60
    assert m["access_p95_m"] == pytest.approx(115.0)
    assert m["unreachable_households_share"] == pytest.approx(0.4)
    # catchments: F1 gets A + B (15 kg) against 10 kg capacity, F2 gets C (15 kg) against 100
    assert m["tier1_count"] == 2 and m["tier1_per_10k_households"] == pytest.approx(2 / 100 * 10_000)
    assert m["tier1_load_kg_day"] == pytest.approx(30.0)
    assert m["tier1_capacity_kg_day"] == pytest.approx(110.0)
    assert m["tier1_load_ratio"] == pytest.approx(30 / 110)
    assert m["tier1_utilisation_max"] == pytest.approx(1.5)
    assert m["tier1_over_capacity"] == 1
    # upward by road: F1 (node 2) -> the tier-2 site at node 1 (100 m, not 300), F2 -> the one at node 5
    assert m["tier2_load_kg_day"] == pytest.approx(30.0) and m["tier2_count"] == 2
    assert np.isnan(m["tier2_capacity_kg_day"]) and m["tier2_over_capacity"] == 0
    assert (m["routes_km"], m["routes_vehicles"], m["routes_trips"], m["routes_hours"]) == (
        pytest.approx(35.0),
        2,
        3,
        pytest.approx(3.5),
    )


def test_tier_and_route_metrics_by_hand():
    fac = pd.DataFrame(
        {
            "tier": [1, 1, 1, 2],
            "load_kg_day": [300.0, 900.0, 0.0, 1200.0],
            "capacity_kg_day": [600.0, 600.0, 600.0, 5000.0],
        }
    )
    m = tier_metrics(fac, households_total=4000.0)
    assert m["tier1_count"] == 3 and m["tier1_per_10k_households"] == pytest.approx(7.5)
    assert m["tier1_load_ratio"] == pytest.approx(1200 / 1800)
    assert m["tier1_utilisation_max"] == pytest.approx(1.5) and m["tier1_over_capacity"] == 1
    assert m["tier2_load_ratio"] == pytest.approx(0.24) and m["tier2_per_10k_households"] == pytest.approx(2.5)
    assert route_metrics(None) == {} and route_metrics(pd.DataFrame(columns=["vehicle", "km", "duration_h"])) == {}
    with pytest.raises(ValueError, match="duration_h"):
        route_metrics(pd.DataFrame({"vehicle": ["a"], "km": [1.0]}))


# ------------------------------------------------------------- real plans
def test_plan_metrics_agree_with_the_plan_kpis(helsinki_plan):
    plan = helsinki_plan
    m = plan_metrics(plan, [300])
    assert m["households_within_300m"] == pytest.approx(plan.kpi("network", "households_covered_share"), abs=1e-4)
    assert m["cost_total"] == pytest.approx(plan.kpi("cost", "total"))
    for t in (1, 2, 3):
        assert m[f"tier{t}_count"] == plan.kpi("network", f"tier{t}_open")
    assert m["tier1_load_kg_day"] == pytest.approx(
        plan.facilities.loc[plan.facilities["tier"] == 1, "load_kg_day"].sum()
    )
    assert 0 <= m["access_gini"] < 1 and m["access_median_m"] <= m["access_p95_m"]
    if plan.routes is not None and len(plan.routes):
        assert m["routes_km"] == pytest.approx(plan.routes["km"].sum())
        assert m["routes_vehicles"] == plan.routes["vehicle"].nunique() and m["routes_trips"] == len(plan.routes)
    else:
        assert "routes_km" not in m


def test_evaluate_existing_osm_points_of_helsinki(helsinki_plan, tmp_path, capsys):
    """The recycling points already mapped in OSM, scored as they are (the issue's example)."""
    out = tmp_path / "osm_eval"
    assert (
        main(
            [
                "evaluate",
                "osm",
                "--city",
                str(ROOT / "scenarios" / "helsinki.yaml"),
                "--radius",
                "300",
                "500",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "households_within_300m" in printed and "tier1_count" in printed
    table = pd.read_csv(out / "coverage_metrics.csv", encoding="utf-8-sig")
    data = json.loads((out / "coverage_metrics.json").read_text(encoding="utf-8"))
    assert data["metrics"]["tier1_count"] == 2  # the two amenity=recycling points of the extract
    # the same figure the plan reports as the coverage of the existing points
    existing = helsinki_plan.kpi("coverage", "existing_households_share")
    assert data["metrics"]["households_within_300m"] == pytest.approx(existing, abs=1e-4)
    assert (
        float(table.loc[table["key"] == "households_within_500m", "value"].iloc[0])
        >= data["metrics"]["households_within_300m"]
    )
    assert not list(out.glob(".*tmp*"))


def test_evaluate_a_facility_csv_and_a_run_folder(helsinki_plan, helsinki, tmp_path):
    plan = copy.copy(helsinki_plan)
    plan.scenario = helsinki_plan.scenario.model_copy(deep=True)
    plan.scenario.outputs.map = False
    folder = tmp_path / "run"
    write_outputs(plan, folder)
    from_folder = score(folder, radii_m=[200, 300])  # the city comes from the run's manifest
    direct = plan_metrics(helsinki_plan, [200, 300])
    for key in (
        "households_within_200m",
        "households_within_300m",
        "access_mean_m",
        "access_p95_m",
        "access_gini",
        "tier1_count",
        "tier2_load_kg_day",
    ):
        assert from_folder.metrics[key] == pytest.approx(direct[key], rel=1e-9), key

    # the open collection points as a plain CSV: same coverage, loads now from nearest-point catchments
    open1 = helsinki_plan.facilities[helsinki_plan.facilities["tier"] == 1]
    csv = tmp_path / "points.csv"
    pd.DataFrame(
        {"name": open1["name"], "lon": open1.geometry.x, "lat": open1.geometry.y, "tier": 1, "capacity_kg_day": 600}
    ).to_csv(csv, index=False)
    ev = score(csv, ROOT / "scenarios" / "helsinki.yaml", [300], city=helsinki)
    assert ev.metrics["households_within_300m"] == pytest.approx(direct["households_within_300m"], abs=1e-9)
    assert ev.metrics["tier1_load_kg_day"] == pytest.approx(helsinki_plan.demand["kg_day"].sum())
    assert ev.metrics["tier1_capacity_kg_day"] == pytest.approx(600 * len(open1))


def test_bad_facility_tables_name_file_row_and_column(helsinki, tmp_path, capsys):
    city = ROOT / "scenarios" / "helsinki.yaml"
    bad_tier = tmp_path / "bad_tier.csv"
    bad_tier.write_text("lon,lat,tier\n24.94,60.17,1\n24.941,60.171,5\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"bad_tier.csv: row 3, column 'tier': expected a tier number"):
        score(bad_tier, city, city=helsinki)
    bad_cap = tmp_path / "bad_cap.csv"
    bad_cap.write_text("lon,lat,capacity\n24.94,60.17,lots\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"row 2, column 'capacity': expected a number >= 0"):
        score(bad_cap, city, city=helsinki)
    no_lon = tmp_path / "no_lon.csv"
    no_lon.write_text("x,lat\n1,2\n", encoding="utf-8")
    assert main(["evaluate", str(no_lon), "--city", str(city)]) == 2
    err = capsys.readouterr().err
    assert "no_lon.csv" in err and "column 'lon' not found" in err and "Traceback" not in err
    assert main(["evaluate", str(tmp_path / "missing.csv"), "--city", str(city)]) == 2
    assert "missing.csv: not found" in capsys.readouterr().err
    assert main(["evaluate", str(bad_cap)]) == 2  # no city to score on
    assert "--city" in capsys.readouterr().err
