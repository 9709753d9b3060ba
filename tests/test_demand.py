"""Demand from OSM compounds and buildings, and from user tables."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from osm_builder import OsmBuilder, street_grid

from netplan.city import load_city
from netplan.coords import wgs84_to_gcj02
from netplan.demand import demand_from_file, demand_from_osm, estimate_demand
from netplan.errors import InputDataError
from netplan.scenario import CityConfig, DemandConfig, DemandFile, scenario_from_dict

TIERS = [
    {"tier": 1, "radius_m": 300, "capacity_kg_day": 500},
    {"tier": 2, "radius_m": 2000, "capacity_kg_day": 5000},
    {"tier": 3, "radius_m": 5000, "capacity_kg_day": 50000},
]


@pytest.fixture(scope="module")
def toy_city(tmp_path_factory):
    """Streets every 150 m, compounds A (with dense buildings), B (empty) nested in C, lone buildings."""
    b = OsmBuilder()
    street_grid(b)
    b.rect(20, 20, 130, 130, {"landuse": "residential", "name": "甲小区"})  # A
    b.rect(30, 30, 70, 70, {"building": "apartments", "building:levels": "10"})  # in A
    b.rect(80, 80, 120, 120, {"building": "apartments", "building:levels": "10"})  # in A
    b.rect(170, 20, 430, 280, {"landuse": "residential", "name": "丙小区"})  # C
    b.rect(200, 50, 280, 130, {"landuse": "residential", "name": "乙小区"})  # B inside C
    b.rect(470, 470, 480, 480, {"building": "house"})  # lone, 2 levels by default
    b.rect(500, 470, 510, 480, {"building": "yes"})  # lone, unknown use: not homes
    b.rect(320, 470, 330, 480, {"building": "school"})  # not homes
    path = b.write(tmp_path_factory.mktemp("toy") / "toy.osm")
    return load_city(CityConfig(source=str(path)))


def _area(city, geom) -> float:
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(city.crs).area.iloc[0])


def test_households_by_hand(toy_city):
    cfg = DemandConfig()
    points, areas = demand_from_osm(toy_city, cfg)
    # large compounds are split into parts: compare per compound, summed over its parts
    by_name = points.groupby("name").agg(
        households=("households", "sum"),
        method=("method", "first"),
        buildings=("buildings", "first"),
        parts=("parts", "first"),
    )
    feats = toy_city.features.set_index("name")
    # A: buildings cover >= 10 %, so households = floor area x 0.8 / 90 m2 over its two apartment blocks.
    blocks = toy_city.features[toy_city.features["building"] == "apartments"]
    floor = sum(_area(toy_city, g) * 10 for g in blocks.geometry)
    assert by_name.loc["甲小区", "method"] == "buildings"
    assert by_name.loc["甲小区", "households"] == pytest.approx(floor * 0.8 / 90, rel=1e-6)
    assert by_name.loc["甲小区", "buildings"] == 2
    # B: no buildings, FAR 2.0.
    area_b = _area(toy_city, feats.loc["乙小区", "geometry"])
    assert by_name.loc["乙小区", "method"] == "floor_area_ratio"
    assert by_name.loc["乙小区", "households"] == pytest.approx(area_b * 2.0 * 0.8 / 90, rel=1e-6)
    # C encloses B: only C's own area counts, so B's homes are not counted twice.
    area_c = _area(toy_city, feats.loc["丙小区", "geometry"])
    assert by_name.loc["丙小区", "households"] == pytest.approx((area_c - area_b) * 2.0 * 0.8 / 90, rel=1e-4)
    # 丙小区 (about 1,090 households) exceeds max_households_per_point (400): ceil(1090 / 400) = 3 equal parts
    parts = points[points["name"] == "丙小区"]
    expected_parts = int(np.ceil(by_name.loc["丙小区", "households"] / 400))
    assert expected_parts == 3
    assert len(parts) == by_name.loc["丙小区", "parts"] == expected_parts
    assert parts["households"].nunique() == 1
    own_c = areas[areas["name"] == "丙小区"].geometry.iloc[0]
    assert parts.within(own_c).all()
    # The lone house (100 m2, 2 levels) is a demand point; building=yes and the school are not.
    lone = points[points["source"] == "building"]
    assert len(lone) == 1
    house = toy_city.features[toy_city.features["building"] == "house"].geometry.iloc[0]
    assert lone["households"].iloc[0] == pytest.approx(_area(toy_city, house) * 2 * 0.8 / 90, rel=1e-6)
    # Polygons handed on are disjoint.
    projected = areas.to_crs(toy_city.crs)
    assert projected.area.sum() == pytest.approx(shapely.union_all(projected.geometry.to_numpy()).area, rel=1e-9)


def test_density_setting_replaces_floor_area_ratio(toy_city):
    points, _ = demand_from_osm(toy_city, DemandConfig(osm={"households_per_ha": 150}))
    row = points.set_index("name").loc["乙小区"]  # small: one point
    area_b = _area(toy_city, toy_city.features.set_index("name").loc["乙小区", "geometry"])
    assert row["method"] == "density"
    assert row["households"] == pytest.approx(area_b / 10_000 * 150, rel=1e-6)


def test_streams_follow_rates(toy_city, tmp_path):
    sc = scenario_from_dict(
        {
            "name": "toy",
            "city": {"source": "x.osm"},
            "tiers": TIERS,
            "demand": {"streams": {"paper": 0.5, "e_waste": 0.1}},
        }
    )
    demand, _ = estimate_demand(toy_city, sc)
    assert list(c for c in demand.columns if c.startswith("kg_day_")) == ["kg_day_paper", "kg_day_e_waste"]
    np.testing.assert_allclose(demand["kg_day_paper"], demand["households"] * 0.5)
    np.testing.assert_allclose(demand["kg_day"], demand["households"] * 0.6)
    np.testing.assert_allclose(demand["population"], demand["households"] * 2.62)
    assert demand["snap_ok"].all()


def test_chengdu_totals_and_no_double_counting(chengdu_run, chengdu):
    plan, _ = chengdu_run
    demand = plan.demand
    assert plan.kpi("demand", "households") == pytest.approx(demand["households"].sum(), rel=1e-6)
    compounds = demand[demand["source"] == "compound"]
    buildings = demand[demand["source"] == "building"]
    assert compounds["osm_id"].nunique() == 186 and len(buildings) > 0
    # split compounds: parts share the compound's households equally and no part exceeds the cap
    assert (demand["households"] <= plan.scenario.demand.osm.max_households_per_point + 1e-9).all()
    sizes = compounds.groupby("osm_id")["parts"].agg(["first", "size"])
    assert (sizes["first"] == sizes["size"]).all()
    assert demand["households"].sum() == pytest.approx(compounds["households"].sum() + buildings["households"].sum())
    # Stand-alone buildings lie outside every compound; compounds are disjoint.
    areas = plan.demand_areas[plan.demand_areas["kind"] == "compound"].to_crs(chengdu.crs)
    union = shapely.union_all(areas.geometry.to_numpy())
    assert areas.area.sum() == pytest.approx(union.area, rel=1e-6)
    lone = buildings.to_crs(chengdu.crs)
    assert not lone.within(union.buffer(-0.01)).any()
    # Chinese names survive.
    assert "泰基北锦" in set(compounds["name"])


def _csv(tmp_path, text: str):
    path = tmp_path / "compounds.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_table_with_population_and_gcj02(chengdu, tmp_path):
    lon, lat = 104.0667, 30.6667
    glon, glat = wgs84_to_gcj02(lon, lat)
    path = _csv(tmp_path, f"name,lon,lat,pop\n锦江小区,{glon},{glat},2620\n")
    frame, _ = demand_from_file(
        chengdu, DemandFile(path=str(path), crs="gcj02", households=None, population="pop"), path, 2.62
    )
    assert frame["households"].iloc[0] == pytest.approx(1000)
    pt = frame.geometry.iloc[0]
    assert pt.x == pytest.approx(lon, abs=1e-7) and pt.y == pytest.approx(lat, abs=1e-7)
    assert frame["name"].iloc[0] == "锦江小区"


def test_csv_errors_name_file_row_and_column(chengdu, tmp_path):
    path = _csv(tmp_path, "name,lon,lat,households\na,104.06,30.66,100\nb,104.07,thirty,50\n")
    with pytest.raises(InputDataError) as err:
        demand_from_file(chengdu, DemandFile(path=str(path)), path, 2.62)
    msg = str(err.value)
    assert str(path) in msg and "row 3" in msg and "'lat'" in msg and "'thirty'" in msg

    path = _csv(tmp_path, "name,lng,lat,households\na,104.06,30.66,100\n")
    with pytest.raises(InputDataError, match=r"column 'lon' not found.*\['name', 'lng', 'lat', 'households'\]"):
        demand_from_file(chengdu, DemandFile(path=str(path)), path, 2.62)

    path = _csv(tmp_path, "x,y,households\n400000,3390000,10\n")
    with pytest.raises(InputDataError, match="no CRS"):
        demand_from_file(chengdu, DemandFile(path=str(path), x="x", y="y"), path, 2.62)

    path = _csv(tmp_path, "lon,lat,households\n104.06,30.66,10\n116.40,39.90,10\n")
    with pytest.raises(InputDataError, match=r"outside the city.*first rows: \[3\]"):
        demand_from_file(chengdu, DemandFile(path=str(path)), path, 2.62)

    path = _csv(tmp_path, "lon,lat,households\n104.06,30.66,-5\n")
    with pytest.raises(InputDataError, match="row 2, column 'households'"):
        demand_from_file(chengdu, DemandFile(path=str(path)), path, 2.62)


def test_projected_csv_and_polygon_file(chengdu, tmp_path):
    pts = gpd.GeoSeries.from_xy([104.06], [30.66], crs="EPSG:4326").to_crs("EPSG:32648")
    path = _csv(tmp_path, f"x,y,households\n{pts.x.iloc[0]},{pts.y.iloc[0]},42\n")
    frame, _ = demand_from_file(chengdu, DemandFile(path=str(path), x="x", y="y", crs="EPSG:32648"), path, 2.62)
    assert frame.geometry.iloc[0].x == pytest.approx(104.06, abs=1e-7)

    poly = shapely.box(104.060, 30.660, 104.062, 30.662)
    gj = tmp_path / "compounds.geojson"
    gpd.GeoDataFrame({"name": ["测试小区"], "households": [300]}, geometry=[poly], crs="EPSG:4326").to_file(gj)
    frame, areas = demand_from_file(chengdu, DemandFile(path=str(gj)), gj, 2.62)
    assert areas is not None and frame["area_ha"].iloc[0] == pytest.approx(_area(chengdu, poly) / 10_000)
    assert frame.geometry.iloc[0].within(poly)


def test_city_without_features_needs_a_table(helsinki, tmp_path):
    import osmnx as ox

    path = tmp_path / "h.graphml"
    ox.save_graphml(helsinki.drive.graph, path)
    city = load_city(CityConfig(source=str(path)))
    with pytest.raises(InputDataError, match="demand.source: file"):
        demand_from_osm(city, DemandConfig())


@pytest.fixture(scope="module")
def chengdu_compounds(chengdu):
    """Chengdu's OSM compounds as a bureau would list them: name, WGS-84 point, households."""
    points, _ = demand_from_osm(chengdu, DemandConfig())
    return points[points["source"] == "compound"].reset_index(drop=True)


@pytest.mark.parametrize("datum, shift", [("gcj02", wgs84_to_gcj02), ("bd09", None)])
def test_a_table_in_another_datum_declared_wgs84_warns(chengdu, chengdu_compounds, tmp_path, datum, shift):
    from netplan import diagnostics
    from netplan.coords import wgs84_to_bd09

    shift = shift or wgs84_to_bd09
    lon, lat = shift(chengdu_compounds.geometry.x.to_numpy(), chengdu_compounds.geometry.y.to_numpy())
    households = chengdu_compounds["households"]
    rows = [f"c{i},{x:.7f},{y:.7f},{h:.0f}" for i, (x, y, h) in enumerate(zip(lon, lat, households))]
    path = _csv(tmp_path, "name,lon,lat,households\n" + "\n".join(rows) + "\n")
    with diagnostics.collect() as log:
        demand_from_file(chengdu, DemandFile(path=str(path)), path, 2.62)
    found = [w for w in log if w.code == "demand.datum_suspect"]
    assert len(found) == 1 and found[0].stage == "demand", [str(w) for w in log]
    assert f"set demand.file.crs: {datum}" in found[0].message and "compounds.csv" in found[0].message
    # declared right: no doubt, and the points come back where OSM has them
    with diagnostics.collect() as log:
        frame, _ = demand_from_file(chengdu, DemandFile(path=str(path), crs=datum), path, 2.62)
    assert not [w for w in log if w.code == "demand.datum_suspect"]
    assert np.allclose(frame.geometry.x, chengdu_compounds.geometry.x, atol=1e-6)
    # and the true WGS-84 table declared as such is not doubted either
    rows = [f"c{i},{p.x:.7f},{p.y:.7f},100" for i, p in enumerate(chengdu_compounds.geometry)]
    path = _csv(tmp_path, "name,lon,lat,households\n" + "\n".join(rows) + "\n")
    with diagnostics.collect() as log:
        demand_from_file(chengdu, DemandFile(path=str(path)), path, 2.62)
    assert not [w for w in log if w.code == "demand.datum_suspect"]
