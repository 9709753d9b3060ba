"""City GIS road layers as bureaus export them: directed rows, one-way codes, Chinese grades, nodes files."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point

from netplan.city import load_city
from netplan.city.sources import CHINESE_ROAD_GRADES, read_source
from netplan.errors import CityError
from netplan.scenario import CityConfig, GisRoads, OnewayMap, RoadNodes, load_scenario

# OSM class -> the grade a Chinese bureau would record; classes without a grade keep an own code mapped by class_map.
GRADE = {
    "motorway": "快速路",
    "trunk": "快速路",
    "primary": "主干路",
    "secondary": "次干路",
    "tertiary": "支路",
    "residential": "支路",
    "unclassified": "四级公路",
    "motorway_link": "匝道",
    "trunk_link": "匝道",
    "primary_link": "主干路",
    "secondary_link": "次干路",
    "tertiary_link": "支路",
}
LOCAL = {"service": "单位内部路", "living_street": "小区道路", "road": "小区道路"}

DIRECTED = GisRoads(
    layer="roads",
    directed=True,
    class_field="道路等级",
    class_map={"单位内部路": "service", "小区道路": "living_street"},
    speed_field="设计车速",
    name_field="道路名称",
    truck_field="货车通行",
)


def _line(G: nx.MultiDiGraph, u: int, v: int, d: dict) -> LineString:
    return d.get("geometry") or LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])


def _export_directed(G: nx.MultiDiGraph, path) -> gpd.GeoDataFrame:
    """Write a truck graph as a bureau's directed layer: one row per direction of travel, Chinese grades."""
    rows = []
    for u, v, d in G.edges(data=True):
        hw = d["highway"]
        rows.append(
            {
                "道路等级": GRADE.get(hw, LOCAL.get(hw, hw)),
                "道路名称": d.get("name") if isinstance(d.get("name"), str) else None,
                "设计车速": round(float(d["speed_kph"]), 6),
                "货车通行": "是",
                "geometry": _line(G, u, v, d),
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_crs(
        "EPSG:4544"
    )  # CGCS2000 / 3-degree GK 105E
    frame.to_file(path, layer="roads", driver="GPKG")
    return frame


@pytest.fixture(scope="module")
def directed_layer(chengdu, tmp_path_factory):
    path = tmp_path_factory.mktemp("gis") / "roads.gpkg"
    frame = _export_directed(chengdu.drive.graph, path)
    return path, frame


def _truck():
    from conftest import ROOT

    return load_scenario(ROOT / "scenarios" / "chengdu.yaml").city.truck


def _matched_nodes(a: nx.MultiDiGraph, b: nx.MultiDiGraph, nodes: list[int]) -> list[int]:
    ids = list(b.nodes)
    tree = cKDTree(np.array([(b.nodes[n]["x"], b.nodes[n]["y"]) for n in ids]))
    dist, idx = tree.query(np.array([(a.nodes[n]["x"], a.nodes[n]["y"]) for n in nodes]))
    assert dist.max() < 1e-6, "a node moved in the round trip through the GIS layer"
    return [ids[i] for i in idx]


def test_directed_layer_gives_the_osm_truck_distances(chengdu, directed_layer):
    path, frame = directed_layer
    assert set(frame["道路等级"]) & {"快速路", "主干路", "次干路", "支路"}
    city = load_city(CityConfig(source=str(path), roads=DIRECTED, truck=_truck()))
    rng = np.random.default_rng(12)
    osm_nodes = [int(n) for n in rng.choice(np.array(list(chengdu.drive.graph.nodes)), 50, replace=False)]
    gis_nodes = _matched_nodes(chengdu.drive.graph, city.drive.graph, osm_nodes)
    want = chengdu.drive.matrix(osm_nodes, osm_nodes, "length")
    got = city.drive.matrix(gis_nodes, gis_nodes, "length")
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0.05)
    # the speed field carries the speeds over, so the times agree too
    np.testing.assert_allclose(
        city.drive.matrix(gis_nodes, gis_nodes, "travel_time"),
        chengdu.drive.matrix(osm_nodes, osm_nodes, "travel_time"),
        rtol=1e-5,
        atol=0.05,
    )
    one_way = sum(1 for u, v, d in city.drive.graph.edges(data=True) if d["oneway"])
    assert one_way > 100


def test_the_same_layer_read_as_undirected_makes_one_way_roads_two_way(chengdu, directed_layer):
    """What went wrong before: a directed layer read as roads gives shorter truck distances."""
    path, _ = directed_layer
    city = load_city(
        CityConfig(source=str(path), roads=DIRECTED.model_copy(update={"directed": False}), truck=_truck())
    )
    rng = np.random.default_rng(12)
    osm_nodes = [int(n) for n in rng.choice(np.array(list(chengdu.drive.graph.nodes)), 50, replace=False)]
    gis_nodes = _matched_nodes(chengdu.drive.graph, city.drive.graph, osm_nodes)
    want = chengdu.drive.matrix(osm_nodes, osm_nodes, "length")
    got = city.drive.matrix(gis_nodes, gis_nodes, "length")
    assert (got <= want + 0.05).all() and (got < want - 1.0).mean() > 0.05


def _layer(tmp_path, rows: list[dict], name: str = "roads.gpkg", crs: str | None = "EPSG:4326"):
    path = tmp_path / name
    gpd.GeoDataFrame(rows, geometry="geometry", crs=crs).to_file(path)
    return path


def _seg(x0: float, x1: float, y: float = 0.0) -> LineString:
    return LineString([(104.0 + x0 * 1e-3, 30.0 + y * 1e-3), (104.0 + x1 * 1e-3, 30.0 + y * 1e-3)])


def _pairs(G: nx.MultiDiGraph) -> set[tuple[float, float]]:
    return {(round(G.nodes[u]["x"], 6), round(G.nodes[v]["x"], 6)) for u, v in G.edges()}


def test_oneway_codes_map_to_directions(tmp_path):
    rows = [
        {"DIR": 1, "geometry": _seg(0, 1)},
        {"DIR": 2, "geometry": _seg(1, 2)},
        {"DIR": 0, "geometry": _seg(2, 3)},
        {"DIR": 0, "geometry": _seg(3, 0, 1)},
    ]
    rows[3]["geometry"] = LineString([(104.003, 30.0), (104.003, 30.001), (104.0, 30.001), (104.0, 30.0)])
    path = _layer(tmp_path, rows)
    mapping = GisRoads(oneway=OnewayMap(field="DIR", forward=[1, "正向"], backward=[2], both=[0]))
    raw = read_source(CityConfig(source=str(path), roads=mapping), tmp_path)
    edges = _pairs(raw.directed)
    assert (104.0, 104.001) in edges and (104.001, 104.0) not in edges  # forward only
    assert (104.002, 104.001) in edges and (104.001, 104.002) not in edges  # backward only
    assert {(104.002, 104.003), (104.003, 104.002)} <= edges  # both ways
    assert raw.bidirectional.number_of_edges() == 8
    rows.append({"DIR": 9, "geometry": _seg(5, 6)})
    with pytest.raises(CityError, match=r"one-way field 'DIR' has values .*'9' \(1 row\)"):
        read_source(CityConfig(source=str(_layer(tmp_path, rows, "bad.gpkg")), roads=mapping), tmp_path)


def test_directed_rows_keep_both_copies_of_a_two_way_road(tmp_path):
    road = _seg(0, 1)
    rows = [{"geometry": road}, {"geometry": road.reverse()}, {"geometry": _seg(1, 2)}, {"geometry": _seg(1, 2)}]
    path = _layer(tmp_path, rows)
    raw = read_source(CityConfig(source=str(path), roads=GisRoads(directed=True)), tmp_path)
    # the two-way road keeps both directions; the exact repeat of the one-way row is read once
    assert _pairs(raw.directed) == {(104.0, 104.001), (104.001, 104.0), (104.001, 104.002)}
    assert raw.directed.number_of_edges() == 3
    # rows that are roads with a one-way field: a road drawn once each way, each row one-way, is still two-way
    rows = [
        {"DIR": "FT", "geometry": road},
        {"DIR": "FT", "geometry": road.reverse()},
        {"DIR": "N", "geometry": _seg(1, 2)},
    ]
    raw = read_source(
        CityConfig(source=str(_layer(tmp_path, rows, "oneway.gpkg")), roads=GisRoads(oneway_field="DIR")), tmp_path
    )
    assert _pairs(raw.directed) == {(104.0, 104.001), (104.001, 104.0), (104.001, 104.002), (104.002, 104.001)}
    assert raw.directed.number_of_edges() == 4 and raw.bidirectional.number_of_edges() == 4


def test_chinese_grades_by_default_and_unknown_values_named(tmp_path):
    rows = [
        {"GRADE": g, "geometry": _seg(i, i + 1)}
        for i, g in enumerate(["快速路", "主干路", "次干路", "支路", "二级公路"])
    ]
    raw = read_source(CityConfig(source=str(_layer(tmp_path, rows)), roads=GisRoads(class_field="GRADE")), tmp_path)
    classes = {
        round(raw.directed.nodes[u]["x"], 6): d["highway"]
        for u, v, d in raw.directed.edges(data=True)
        if not d["reversed"]
    }
    assert [classes[round(104.0 + i * 1e-3, 6)] for i in range(5)] == [
        "motorway",
        "primary",
        "secondary",
        "residential",
        "primary",
    ]
    assert CHINESE_ROAD_GRADES["高速公路"] == "motorway" and CHINESE_ROAD_GRADES["四级公路"] == "tertiary"
    rows += [
        {"GRADE": "村道", "geometry": _seg(7, 8)},
        {"GRADE": "村道", "geometry": _seg(8, 9)},
        {"GRADE": None, "geometry": _seg(9, 10)},
    ]
    bad = _layer(tmp_path, rows, "bad.gpkg")
    with pytest.raises(
        CityError, match=r"field 'GRADE' holds road classes .*'村道' \(2 rows\), '\(empty\)' \(1 row\)"
    ) as err:
        read_source(CityConfig(source=str(bad), roads=GisRoads(class_field="GRADE")), tmp_path)
    assert err.value.where == "city.roads.class_field"
    fixed = GisRoads(class_field="GRADE", class_map={"村道": "unclassified", "": "road"})
    raw = read_source(CityConfig(source=str(bad), roads=fixed), tmp_path)  # the key "" maps rows with no value
    assert {d["highway"] for _, _, d in raw.directed.edges(data=True)} >= {"unclassified", "road"}
    with pytest.raises(CityError, match="not a road class"):
        read_source(
            CityConfig(source=str(bad), roads=GisRoads(class_field="GRADE", class_map={"村道": "dirt"})), tmp_path
        )


def test_speed_truck_and_limit_fields(tmp_path):
    rows = [
        {"限速": 30, "货车": "是", "限重": None, "geometry": _seg(0, 1)},
        {"限速": 30, "货车": "禁止", "限重": None, "geometry": _seg(1, 2)},
        {"限速": 30, "货车": "是", "限重": 3.0, "geometry": _seg(2, 3)},
        {"限速": 20, "货车": "是", "限重": None, "geometry": _seg(1, 1, 1)},
    ]
    rows[3]["geometry"] = LineString([(104.001, 30.0), (104.001, 30.001), (104.0, 30.001), (104.0, 30.0)])
    mapping = GisRoads(speed_field="限速", truck_field="货车", weight_limit_field="限重")
    city = load_city(CityConfig(source=str(_layer(tmp_path, rows)), roads=mapping))
    xs = {round(city.drive.graph.nodes[n]["x"], 6) for n in city.drive.graph.nodes}
    assert xs == {104.0, 104.001}, "the truck-banned and weight-limited rows must leave the truck graph"
    assert {round(city.walk.graph.nodes[n]["x"], 6) for n in city.walk.graph.nodes} >= {104.002, 104.003}
    speeds = sorted({d["speed_kph"] for _, _, d in city.drive.graph.edges(data=True)})
    assert speeds == [20.0, 30.0]


def test_separate_nodes_file_with_from_and_to_ids(tmp_path):
    nodes = gpd.GeoDataFrame(
        {"NID": [11, 12, 13]},
        geometry=[Point(104.0, 30.0), Point(104.001, 30.0), Point(104.002, 30.0)],
        crs="EPSG:4326",
    ).to_crs("EPSG:4544")
    nodes.to_file(tmp_path / "nodes.shp")
    # lines drawn a little off their nodes (digitised separately): the ids, not the end points, give the topology
    rows = [
        {"FNODE": 11, "TNODE": 12, "geometry": LineString([(104.0, 30.00001), (104.001, 30.00001)])},
        {"FNODE": 12, "TNODE": 13, "geometry": LineString([(104.00101, 30.0), (104.002, 30.0)])},
    ]
    path = _layer(tmp_path, rows, "roads.shp")
    mapping = GisRoads(nodes=RoadNodes(path="nodes.shp", id_field="NID"), from_field="FNODE", to_field="TNODE")
    raw = read_source(CityConfig(source=str(path), roads=mapping), tmp_path)
    assert raw.directed.number_of_nodes() == 3 and raw.directed.number_of_edges() == 4
    assert nx.is_strongly_connected(raw.directed)
    rows.append({"FNODE": 13, "TNODE": 99, "geometry": LineString([(104.002, 30.0), (104.003, 30.0)])})
    with pytest.raises(CityError, match="node id '99' is not in the nodes file") as err:
        read_source(CityConfig(source=str(_layer(tmp_path, rows, "bad.shp")), roads=mapping), tmp_path)
    assert err.value.where == "row 3"
    with pytest.raises(CityError, match="road nodes file not found"):
        read_source(
            CityConfig(source=str(path), roads=mapping.model_copy(update={"nodes": RoadNodes(path="none.shp")})),
            tmp_path,
        )


def test_gcj02_layer_is_shifted_to_wgs84(tmp_path):
    from netplan.coords import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(np.array([104.06, 104.07]), np.array([30.66, 30.66]))
    path = _layer(tmp_path, [{"geometry": LineString(list(zip(lon, lat)))}])
    raw = read_source(CityConfig(source=str(path), roads=GisRoads(crs="gcj02")), tmp_path)
    xs = sorted((d["x"], d["y"]) for _, d in raw.directed.nodes(data=True))
    np.testing.assert_allclose(xs, [(104.06, 30.66), (104.07, 30.66)], atol=1e-7)


def test_info_reads_a_layer_without_crs(tmp_path):
    shp = tmp_path / "roads.shp"
    gpd.GeoDataFrame(
        {"a": [1, 2]},
        geometry=[
            LineString([(500000, 3390000), (500300, 3390000)]),
            LineString([(500300, 3390000), (500300, 3390400)]),
        ],
    ).to_file(shp)
    run = [sys.executable, "-m", "netplan.cli", "info", str(shp)]
    bad = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--crs" in bad.stderr and "Traceback" not in bad.stderr
    good = subprocess.run(run + ["--crs", "EPSG:4544"], capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr
    assert "drive_nodes" in good.stdout


@pytest.mark.parametrize(
    "text",
    ["", "<?xml version='1.0'?>\n<osm version='0.6'>\n<node id='1' lat='30' lon='104'/>\n<way id='2'><nd ref='1'/>"],
)
def test_truncated_or_empty_osm_is_a_city_error(tmp_path, text):
    path = tmp_path / "cut.osm"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CityError, match="truncated") as err:
        load_city(CityConfig(source=str(path)), tmp_path)
    assert str(path) in str(err.value)
