"""The rural example end to end: a 3-tier county network, straw and pesticide networks, routes, KPIs, outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from netplan.farmland import straw_t_per_ha
from netplan.pipeline import build_plan, write_outputs
from netplan.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    scenario = load_scenario(ROOT / "scenarios" / "rural.yaml")
    scenario.outputs.maps_dir = str(tmp_path_factory.mktemp("maps"))
    plan = build_plan(scenario)
    out = write_outputs(plan, tmp_path_factory.mktemp("rural"))
    return scenario, plan, out


def _kpi(plan, key: str) -> float:
    return plan.kpi("rural", key)


def test_three_tier_county_network_by_road(run) -> None:
    scenario, plan, _ = run
    fac = plan.facilities
    assert sorted(fac["tier"].unique().tolist()) == [1, 2, 3]
    assert (fac["tier"] == 3).sum() == 1
    # tier-1 distances are road distances: the access network is the drive network
    assert plan.city.walk is plan.city.drive
    first = plan.assignments[plan.assignments["level"] == "demand-t1"]
    assert first["distance_m"].max() <= scenario.tier(1).radius_m
    assert _kpi(plan, "villages") == 71
    assert 0 < _kpi(plan, "villages_served_share") <= 1


def test_farmland_streams_match_area_times_coefficients(run) -> None:
    scenario, plan, _ = run
    cfg = scenario.rural.farmland
    ha = _kpi(plan, "farmland_ha")
    assert ha == pytest.approx(plan.rural.blocks["area_ha"].sum(), rel=1e-4)
    assert _kpi(plan, "straw_collectable_t") == pytest.approx(ha * straw_t_per_ha(cfg), rel=1e-4)
    assert _kpi(plan, "pesticide_kg_yr") == pytest.approx(ha * cfg.pesticide_kg_ha_yr, rel=1e-4)
    assert _kpi(plan, "film_kg_yr") == pytest.approx(ha * cfg.film_kg_ha_yr, rel=1e-4)
    assert _kpi(plan, "straw_collected_t") <= _kpi(plan, "straw_collectable_t") + 1e-6


def test_straw_centres_respect_capacity_and_haul(run) -> None:
    scenario, plan, _ = run
    cfg = scenario.rural.straw
    blocks, centres, harvest = plan.rural.blocks, plan.rural.straw_centres, plan.rural.harvest
    served = blocks[blocks["centre"].notna()]
    assert served["haul_m"].max() <= cfg.max_haul_m
    load = served.groupby("centre")["straw_t"].sum()
    assert (load <= cfg.capacity_t_season + 1e-6).all()
    assert set(load.index) == set(centres["site_id"])
    veh = cfg.vehicle
    for _, row in harvest.iterrows():
        mine = served[served["centre"] == row["centre"]]
        trips = np.ceil(mine["straw_t"] / veh.capacity_t - 1e-9)
        hours = (trips * (2 * mine["haul_m"] / 1000 / veh.speed_kph + (veh.load_min + veh.unload_min) / 60)).sum()
        assert row["trips"] == trips.sum()
        assert row["fleet"] == math.ceil(hours / veh.hours_per_day / cfg.window_days - 1e-9)


def test_routed_days_are_simulated(run) -> None:
    _, plan, _ = run
    summary = plan.rural.summary
    assert set(summary["stream"]) == {"straw", "pesticide"}
    assert summary["feasible"].all()
    assert summary["dropped"].sum() == 0  # every straw load of the typical day and all packaging collected
    straw = summary[summary["stream"] == "straw"]
    assert straw["vehicles"].sum() <= plan.rural.harvest["fleet"].sum()
    assert plan.routing["dropped"].sum() == 0
    pest = summary[summary["stream"] == "pesticide"]
    assert pest["served"].sum() == pest["stops"].sum()
    assert _kpi(plan, "round_truck_km_per_t") > 0


def test_outputs_hold_the_rural_layers(run) -> None:
    _, _, out = run
    for layer in ("farmland", "straw_centres", "rural_routes", "facilities", "routes"):
        assert len(gpd.read_file(out.geopackage, layer=layer)) > 0
    assert out.extra["harvest"].is_file() and out.extra["pesticide"].is_file()
    assert out.map is not None and out.map.is_file()
    page = out.extra["rural_map"].read_text(encoding="utf-8")
    for text in ("秸秆收储中心", "© OpenStreetMap contributors"):
        assert text in page or json.dumps(text)[1:-1] in page  # folium writes JSON with \\u escapes


def test_village_table_in_gcj02_runs_and_is_reproducible(run) -> None:
    scenario, plan, _ = run
    data = scenario.model_dump(mode="json")
    data["rural"]["villages"] = {
        "source": "file",
        "file": {"path": str(ROOT / "data" / "rural_villages_gcj02.csv"), "crs": "gcj02"},
    }
    data["route"]["enabled"] = False
    data["rural"]["straw"]["route_day"] = False
    from netplan.scenario import scenario_from_dict

    table = scenario_from_dict(data, ROOT / "scenarios" / "rural.yaml")
    first = build_plan(table, city=plan.city)
    assert len(first.demand) == 22 and (first.demand["source"] == "village:village").all()
    assert first.kpi("rural", "villages_served_share") > 0
    again = build_plan(table, city=plan.city)
    assert first.facilities["site_id"].tolist() == again.facilities["site_id"].tolist()
    assert first.rural.harvest.equals(again.rural.harvest)
    assert first.rural.blocks["centre"].tolist() == again.rural.blocks["centre"].tolist()


def test_blocks_beyond_the_haul_limit_are_reported(run) -> None:
    from netplan import diagnostics
    from netplan.rural import site_straw_centres

    scenario, plan, _ = run
    short = scenario.model_copy(deep=True)
    short.rural.straw.max_haul_m = 600.0
    blocks = plan.rural.blocks.drop(columns=["centre", "haul_m"])
    with diagnostics.collect() as found:
        out, centres = site_straw_centres(plan.city, short, blocks, plan.sites)
    lost = out[out["centre"].isna()]  # a block no centre serves has a null centre
    assert str(out["centre"].dtype) == "Int64"
    assert len(lost) > 0 and (out.loc[out["centre"].notna(), "haul_m"] <= 600.0).all()
    warning = [w for w in found if w.code == "straw_beyond_haul"]
    assert warning and warning[0].count == len(lost)
    assert centres["straw_t"].sum() == pytest.approx(out.loc[out["centre"].notna(), "straw_t"].sum())


def test_one_point_per_administrative_village(run) -> None:
    from netplan.scenario import scenario_from_dict

    scenario, plan, _ = run
    data = scenario.model_dump(mode="json")
    data["rural"]["point_per_village"] = ["village", "town"]
    data["route"]["enabled"] = False
    data["rural"]["straw"]["enabled"] = False
    own = build_plan(scenario_from_dict(data, ROOT / "scenarios" / "rural.yaml"), city=plan.city)
    points = own.facilities[own.facilities["tier"] == 1]
    villages = own.demand[own.demand["source"] == "village:village"]
    # every place=village has its own open point (forced open and re-checked by the independent check) ...
    assert (points["source"] == "village_point").sum() == len(villages) == 22
    # ... at the village itself, and hamlets share points within the road radius
    near = points[points["source"] == "village_point"].to_crs(own.city.crs)
    dist = villages.to_crs(own.city.crs).geometry.apply(lambda g: near.distance(g).min())
    assert dist.max() < 1.0
    assert own.kpi("network", "tier1_open") > 22


def test_an_offline_run_says_it_left_the_rural_map_out(run, tmp_path) -> None:
    import dataclasses

    _, plan, _ = run
    offline = dataclasses.replace(plan, warnings=list(plan.warnings))
    out = write_outputs(offline, tmp_path / "offline", offline=True)
    assert "rural_map" not in out.extra and not (tmp_path / "offline" / "rural_map.html").exists()
    manifest = json.loads(out.manifest.read_text(encoding="utf-8"))
    assert [w["code"] for w in manifest["warnings"]].count("write.rural_map_skipped") == 1
    assert "write.rural_map_skipped" not in [w.code for w in plan.warnings]  # the shared plan is untouched
