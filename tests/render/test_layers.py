"""Map layers without a browser: GCJ-02 shift, basemaps, offline pages, service areas, differences, figures."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point

from netplan.cli import main
from netplan.coords import from_wgs84
from netplan.errors import NetplanError
from netplan.render import analysis as an
from netplan.render import plan_map
from netplan.render.basemaps import basemap
from netplan.render.data import MapData, TierInfo, restriction_layer
from netplan.render.kpis import fmt, fmt_diff
from netplan.render.layers import Context, bounds, derive, encode_points, plan_layers

# wandergis/coordtransform README ("//result" block): wgs84togcj02(116.404, 39.915), as in tests/test_coords.py
WGS = (116.404, 39.915)
GCJ = (116.41024449916938, 39.91640428150164)


def _beijing() -> MapData:
    """A tiny sited plan around Tian'anmen: two demand points, one facility per tier, a restricted zone."""
    demand = gpd.GeoDataFrame(
        {
            "demand_id": [0, 1],
            "name": ["甲小区", None],
            "households": [120.0, 60.0],
            "kg_day": [98.4, 49.2],
            "snap_ok": [True, True],
        },
        geometry=[Point(*WGS), Point(116.409, 39.918)],
        crs="EPSG:4326",
    )
    sites = [Point(116.405, 39.916), Point(116.42, 39.93), Point(116.45, 39.95)]
    facilities = gpd.GeoDataFrame(
        {
            "site_id": [10, 20, 30],
            "tier": [1, 2, 3],
            "name": ["点", "站", "中心"],
            "status": ["candidate", "existing_fixed", "candidate"],
            "existing": [False, True, False],
            "fusion": [True, False, False],
            "load_kg_day": [147.6] * 3,
            "capacity_kg_day": [1000.0, 30000.0, 200000.0],
            "utilisation": [0.1476, 0.0049, 0.0007],
            "open_cost": [21000.0, 0.0, 5e6],
            "next_site_id": pd.array([20, 30, None], dtype="Int64"),
        },
        geometry=sites,
        crs="EPSG:4326",
    )
    assignments = gpd.GeoDataFrame(
        {
            "level": ["demand-t1", "demand-t1", "t1-t2", "t2-t3"],
            "from_tier": [0, 0, 1, 2],
            "to_tier": [1, 1, 2, 3],
            "from_id": [0, 1, 10, 20],
            "to_id": [10, 10, 20, 30],
            "kg_day": [98.4, 49.2, 147.6, 147.6],
            "distance_m": [150.0, 420.0, 2900.0, 3800.0],
        },
        geometry=[
            LineString([WGS, sites[0].coords[0]]),
            LineString([(116.409, 39.918), sites[0].coords[0]]),
            LineString([sites[0].coords[0], sites[1].coords[0]]),
            LineString([sites[1].coords[0], sites[2].coords[0]]),
        ],
        crs="EPSG:4326",
    )
    zone = {
        "name": "二环内限行",
        "hours": ["07:00-09:00", "17:00-19:00"],
        "min_weight_t": 2.0,
        "zone": {"polygon": [[116.39, 39.90], [116.42, 39.90], [116.42, 39.93], [116.39, 39.93]]},
    }
    return MapData(
        name="beijing",
        title="北京示例",
        lang="zh",
        tiers=[TierInfo(1, 500.0), TierInfo(2, 4000.0), TierInfo(3, 20000.0)],
        demand=demand,
        facilities=facilities,
        assignments=assignments,
        restrictions=restriction_layer([zone], None, None),
    )


def _coords(layer: dict) -> np.ndarray:
    data = layer["data"]
    if data.get("enc"):
        return np.asarray(data["xy"], float).reshape(-1, 2)
    out = []
    for feature in data["features"]:
        out.append(shapely.get_coordinates(shapely.geometry.shape(feature["geometry"])))
    return np.vstack(out)


def _layers(data: MapData, key: str, lang: str = "zh", token: str | None = None) -> dict[str, dict]:
    ctx = Context(lang, basemap(key, lang, token=token))
    layers, _ = plan_layers(data, ctx, derive(data))
    return {layer["id"]: layer for layer in layers}


def test_amap_overlay_point_sits_at_the_published_gcj02_position():
    frame = gpd.GeoDataFrame({"households": [1.0]}, geometry=[Point(*WGS)], crs="EPSG:4326")
    ctx = Context("zh", basemap("amap", "zh"))
    xy = encode_points(frame, {"households": 0}, ctx.shift)["xy"]
    assert xy[0] == pytest.approx(GCJ[0], abs=1e-6) and xy[1] == pytest.approx(GCJ[1], abs=1e-6)
    # about 500 m east and 300 m south of the WGS-84 position: far enough to put a point on the wrong street
    assert (xy[0] - WGS[0]) * 85_000 == pytest.approx(530, abs=20)


def test_amap_shifts_every_overlay_and_osm_none():
    data = _beijing()
    plain, shifted = _layers(data, "osm"), _layers(data, "amap")
    assert (
        set(plain)
        == set(shifted)
        >= {"fac1", "fac2", "fac3", "link1", "link2", "link3", "service", "catch2", "demand", "restricted"}
    )
    for key, layer in plain.items():
        a, b = _coords(layer), _coords(shifted[key])
        assert a.shape == b.shape, key
        lon, lat = from_wgs84(a[:, 0], a[:, 1], "gcj02")
        assert np.abs(b - np.column_stack([lon, lat])).max() < 2e-5, key
        assert np.abs(b - a).max() > 1e-3, f"{key} was not shifted"
    demand = _coords(shifted["demand"])
    assert demand[0] == pytest.approx(GCJ, abs=1e-6)
    line = _coords(shifted["link1"])
    assert line[0] == pytest.approx(GCJ, abs=1e-6), "assignment lines start at the shifted demand point"
    ctx = Context("zh", basemap("amap", "zh"))
    (south, west), _ = bounds(data, ctx)
    assert (west, south) == pytest.approx(GCJ, abs=1e-9)


def test_tianditu_needs_a_token_and_is_not_shifted(monkeypatch):
    monkeypatch.delenv("TIANDITU_TOKEN", raising=False)
    with pytest.raises(NetplanError, match="token"):
        basemap("tianditu", "zh")
    bm = basemap("tianditu", "zh", token="abc123")
    assert bm.shift is None and len(bm.tiles) == 2
    assert (
        "LAYER=vec" in bm.tiles[0]["url"]
        and "LAYER=cva" in bm.tiles[1]["url"]
        and all("tk=abc123" in t["url"] for t in bm.tiles)
    )
    assert any("天地图" in a for a in bm.attribution) and any("OpenStreetMap" in a for a in bm.attribution)
    data = _beijing()
    plain, tdt = _layers(data, "osm"), _layers(data, "tianditu", token="abc123")
    for key in plain:
        assert np.array_equal(_coords(plain[key]), _coords(tdt[key])), key
    monkeypatch.setenv("TIANDITU_TOKEN", "fromenv")
    assert "tk=fromenv" in plan_map(data, basemap="tianditu").html


def test_offline_forces_no_basemap_and_inlines_everything():
    data = _beijing()
    html = plan_map(data, basemap="amap", offline=True).html
    assert "autonavi" not in html and "tile.openstreetmap" not in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    assert "url(images/" not in html and "url(data:image/png;base64," in html
    assert "sourceMappingURL" not in html
    assert "Leaflet 1.9.4" in html
    assert '"tiles":[]' in html
    config = re.search(r'<script type="application/json" id="np-config">(.*?)</script>', html, re.S).group(1)
    assert "116.404," in config, "offline overlays are not shifted (no GCJ-02 basemap)"
    assert "甲小区" in html and "回收点" in html and "© OpenStreetMap 贡献者" in html


def test_pages_are_deterministic():
    assert plan_map(_beijing(), offline=True).html == plan_map(_beijing(), offline=True).html


def test_english_and_chinese_labels():
    data = _beijing()
    zh = {layer["id"]: layer["name"] for layer in _layers(data, "none", "zh").values()}
    en = {layer["id"]: layer["name"] for layer in _layers(data, "none", "en").values()}
    assert zh["fac1"].startswith("回收点") and zh["fac2"].startswith("中转站") and zh["fac3"].startswith("分拣中心")
    assert en["fac1"].startswith("Collection point") and en["fac3"].startswith("Sorting centre")
    assert zh["restricted"].startswith("限行区域") and en["restricted"].startswith("Restricted-traffic zones")


def test_routes_hook_draws_one_colour_per_vehicle():
    data = _beijing()
    data.routes = gpd.GeoDataFrame(
        {
            "vehicle": ["电动三轮车-1", "电动三轮车-2", "电动三轮车-1"],
            "stops": [5, 7, 3],
            "distance_km": [4.2, 6.1, 2.0],
        },
        geometry=[
            LineString([(116.40, 39.91), (116.41, 39.92), (116.42, 39.92)]),
            LineString([(116.40, 39.91), (116.43, 39.94)]),
            LineString([(116.41, 39.91), (116.40, 39.90)]),
        ],
        crs="EPSG:4326",
    )
    layer = _layers(data, "osm")["routes"]
    colours = [f["properties"]["_colour"] for f in layer["data"]["features"]]
    assert colours[0] == colours[2] != colours[1]
    assert [f[0] for f in layer["popup"]["fields"]] == ["vehicle", "stops", "distance_km"]
    assert layer["name"].startswith("收运路线")


def test_restriction_zone_keeps_name_and_hours():
    layer = _layers(_beijing(), "osm")["restricted"]
    props = layer["data"]["features"][0]["properties"]
    assert props == {"name": "二环内限行", "hours": "07:00-09:00, 17:00-19:00", "min_weight_t": 2.0}


def test_facility_diff_matches_tier_and_ten_metres():
    a = gpd.GeoDataFrame(
        {"tier": [1, 1, 2]}, geometry=[Point(104.0, 30.0), Point(104.01, 30.0), Point(104.02, 30.0)], crs="EPSG:4326"
    )
    b = gpd.GeoDataFrame(
        {"tier": [1, 2, 1]},
        geometry=[Point(104.00005, 30.0), Point(104.01, 30.0), Point(104.0201, 30.0)],
        crs="EPSG:4326",
    )
    only_a, only_b = an.facility_diff(a, b)
    # 4.8 m apart, same tier: the same; same place, other tier: different; ~96 m apart: different
    assert only_a.tolist() == [False, True, True]
    assert only_b.tolist() == [False, True, True]


def test_service_areas_follow_the_walk_graph(helsinki_plan):
    data = MapData.from_plan(helsinki_plan)
    derived = derive(data)
    radius = data.tier(1).radius_m
    fac = data.facilities[data.facilities["tier"] == 1]
    assert len(derived.service) == len(fac) and set(derived.service["method"]) == {"walk"}
    graph = derived.graph
    crs = graph.crs
    points = fac.to_crs(crs).set_index("site_id").geometry
    by_id = fac.set_index("site_id")
    for site_id, area in zip(derived.service["site_id"], derived.service.to_crs(crs).geometry):
        assert area.contains(points[site_id])
        # walking is never shorter than the straight line: from the site's node, the area stays within the radius
        # left after the site's offset, plus the strip drawn along the streets (and the site's own link to its node)
        node = Point(graph.xy[graph.index(np.array([by_id.loc[site_id, "walk_node"]]))[0]])
        reach = radius - by_id.loc[site_id, "walk_offset_m"] + an.STRIP_M + 2
        assert area.within(node.buffer(max(reach, node.distance(points[site_id]) + an.STRIP_M)))
        assert area.area < np.pi * radius**2
    for site_id, hull in zip(derived.catchments[2]["site_id"], derived.catchments[2].to_crs(crs).geometry):
        members = fac[fac["next_site_id"] == site_id]
        assert len(members) and all(hull.buffer(1).contains(points[m]) for m in members["site_id"])


def test_nearest_distance_agrees_with_the_kpis(helsinki_plan):
    data = MapData.from_plan(helsinki_plan)
    derived = derive(data)
    share = an.coverage_curve(
        derived.nearest, data.demand["households"].to_numpy(float), np.array([data.tier(1).radius_m])
    )[0]
    assert share == pytest.approx(float(data.kpi("network", "households_covered_share")), abs=1e-4)


def test_run_writes_figures_and_coverage_curve(helsinki_out):
    folder = helsinki_out.folder
    for name in ("network.png", "coverage_curve.png"):
        head = (folder / name).read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert width >= 1000 and height >= 700
    curve = pd.read_csv(folder / "coverage_curve.csv", encoding="utf-8-sig")
    assert curve["distance_m"].tolist() == list(range(0, 1501, 10))
    assert (np.diff(curve["open"]) >= 0).all() and (np.diff(curve["candidates"]) >= 0).all()
    kpis = pd.read_csv(helsinki_out.kpis, encoding="utf-8-sig")
    kpi = lambda s, k: float(kpis[(kpis.section == s) & (kpis.key == k)]["value"].iloc[0])  # noqa: E731
    at = curve.set_index("distance_m").loc[300]
    assert at["open"] == pytest.approx(kpi("network", "households_covered_share"), abs=1e-4)
    assert at["existing"] == pytest.approx(kpi("coverage", "existing_households_share"), abs=1e-4)
    assert at["candidates"] == pytest.approx(kpi("coverage", "potential_households_share"), abs=1e-4)
    assert set(helsinki_out.extra) == {"network_png", "coverage_png", "coverage_csv", "schedule", "routing"}


def test_compare_user_errors_exit_2(tmp_path, helsinki_out, capsys, monkeypatch):
    monkeypatch.delenv("TIANDITU_TOKEN", raising=False)
    assert main(["compare", str(helsinki_out.folder), "--out", str(tmp_path / "x.html")]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["compare", str(helsinki_out.folder), str(tmp_path), "--out", str(tmp_path / "x.html")]) == 2
    assert "manifest.json not found" in capsys.readouterr().err
    assert (
        main(
            [
                "compare",
                str(helsinki_out.folder),
                str(helsinki_out.folder),
                "--basemap",
                "tianditu",
                "--out",
                str(tmp_path / "x.html"),
            ]
        )
        == 2
    )
    assert "needs a token" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_run_checks_map_options_before_solving(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TIANDITU_TOKEN", raising=False)
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "helsinki.yaml"
    assert main(["run", str(scenario), "--basemap", "tianditu", "--out", str(tmp_path / "o")]) == 2
    assert "needs a token" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_formats():
    assert fmt(0.99731, "pct1") == "99.7%" and fmt(0.0033, "pct2") == "0.33%" and fmt(2589128.35, "int") == "2,589,128"
    assert (
        fmt_diff(0.013, "pct1", "en") == "+1.3 pp"
        and fmt_diff(-1200000.0, "int", "zh") == "−1,200,000"
        and fmt_diff(0.0, "int", "en") == "±0"
    )
    assert fmt_diff(0.25, "pct1", "zh") == "+25.0 百分点"
