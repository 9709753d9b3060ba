"""Drive and walk graphs from raw OSM road graphs.

The drive graph is what a collection truck may use: OSM access tags are
read with the most specific tag winning (``hgv`` over ``motor_vehicle`` over
``vehicle`` over ``access``), ways whose ``maxweight`` or ``maxheight`` is below
the truck's are removed, and one-way streets keep their direction. The walk
graph is what a resident carrying recyclables may use, in both directions.

Time-conditional tags (``hgv:conditional=no @ (07:00-19:00)``) do not remove
a way here: they stay on the edges so that restricted-traffic windows can be
applied per hour and per permit by the routing stage.

Both graphs are simplified with osmnx and get speeds and travel times from
osmnx's own functions. Simplification keeps the differing tags of merged ways
as ``list(set(values))``, whose order depends on Python's string hash seed;
:func:`normalise_edge_attributes` makes every such list canonical (``highway``
becomes its most important class, other tags a sorted list) so that speeds,
travel times and everything downstream are the same in every process.
What was dropped is reported.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx

from netplan import diagnostics
from netplan.scenario import Truck

NOT_WALKABLE = frozenset(
    {
        "motorway",
        "motorway_link",
        "construction",
        "proposed",
        "abandoned",
        "platform",
        "raceway",
        "bus_guideway",
        "cycleway",
    }
)
"""Highway classes residents do not walk on unless tagged ``foot=yes`` (as osmnx's walk filter)."""

EXCLUDED_SERVICE = frozenset({"parking_aisle", "emergency_access", "drive-through"})

HIGHWAY_RANK = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "road",
    "track",
    "busway",
    "pedestrian",
    "footway",
    "path",
    "cycleway",
    "bridleway",
    "steps",
    "corridor",
)
"""Road classes from most to least important: a way merged from several classes takes the first one it has."""

DRIVE_HIGHWAYS = frozenset(HIGHWAY_RANK[: HIGHWAY_RANK.index("road") + 1])
"""Highway classes a truck may drive on, access tags permitting (the ranking's classes up to ``road``)."""

DENIED = frozenset({"no", "private", "agricultural", "forestry", "delivery_no", "use_sidepath", "discouraged"})
ALLOWED = frozenset({"yes", "designated", "destination", "permissive", "delivery", "permit", "official", "customers"})

_NUMBER = re.compile(r"([0-9]+(?:[.,][0-9]+)?)\s*([a-zA-Z']*)")


def _values(value: Any) -> list[Any]:
    """Tags on simplified graphs may be lists; treat every tag as a list of values."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [v for v in value if v is not None]
    return [value]


def _first(data: dict[str, Any], key: str) -> str | None:
    vals = _values(data.get(key))
    return str(vals[0]).strip().lower() if vals else None


def main_highway(value: Any) -> str | None:
    """The one road class of a ``highway`` value that may be a list (a simplified edge of merged ways).

    Parameters
    ----------
    value
        A class (``"primary"``) or a list of classes.

    Returns
    -------
    str or None
        The most important class by :data:`HIGHWAY_RANK` (classes it does not
        rank come after, alphabetically), or None when there is none.
    """
    classes = {str(v) for v in _values(value)}
    if not classes:
        return None
    rank = {h: i for i, h in enumerate(HIGHWAY_RANK)}
    return min(classes, key=lambda h: (rank.get(h, len(rank)), h))


def _canonical(values: list[Any]) -> Any:
    # Sorting by type name first keeps mixed lists (e.g. ints and strings) sortable.
    unique = sorted(set(values), key=lambda v: (type(v).__name__, str(v)))
    return unique[0] if len(unique) == 1 else unique


def normalise_edge_attributes(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Make every list-valued edge attribute canonical, in place.

    osmnx's simplification stores the differing values of merged ways as
    ``list(set(values))``: the order of strings in it changes with the hash
    seed, and ``add_edge_speeds`` reads the first ``highway``. Here
    ``highway`` becomes the most important class (:func:`main_highway`) and
    every other list a sorted, de-duplicated list (a single value when only
    one is left), so nothing downstream depends on the process.

    Parameters
    ----------
    G
        A graph whose edges may carry list values.

    Returns
    -------
    networkx.MultiDiGraph
        ``G`` itself.
    """
    for _, _, data in G.edges(data=True):
        for key, value in list(data.items()):
            if key == "highway":
                if isinstance(value, (list, tuple, set)):
                    data[key] = main_highway(value)
            elif isinstance(value, (list, tuple, set)):
                try:
                    data[key] = _canonical([v for v in value if v is not None])
                except TypeError:  # unhashable values: keep them, in a stable order
                    data[key] = sorted(value, key=repr)
    return G


def parse_weight_t(text: Any) -> float | None:
    """Parse an OSM ``maxweight`` value into tonnes.

    Parameters
    ----------
    text
        The tag value, e.g. ``"4.5"``, ``"7.5 t"``, ``"3500 kg"``, ``"none"``.

    Returns
    -------
    float or None
        Tonnes, or None when the value states no limit or cannot be read.
    """
    if text is None:
        return None
    match = _NUMBER.search(str(text))
    if not match:
        return None
    number = float(match.group(1).replace(",", "."))
    unit = match.group(2).lower()
    if unit in ("kg",):
        return number / 1000.0
    if unit in ("st", "lbs", "lb"):
        return number * (0.907 if unit == "st" else 0.000454)
    return number


def parse_height_m(text: Any) -> float | None:
    """Parse an OSM ``maxheight`` value into metres (``"3.5"``, ``"3.5 m"``, ``"12'6\\""``).

    Parameters
    ----------
    text
        The tag value.

    Returns
    -------
    float or None
        Metres, or None for ``none``/``default``/unreadable values.
    """
    if text is None:
        return None
    s = str(text)
    feet = re.match(r"\s*(\d+)'\s*(\d+)?", s)
    if feet:
        return int(feet.group(1)) * 0.3048 + int(feet.group(2) or 0) * 0.0254
    match = _NUMBER.search(s)
    return float(match.group(1).replace(",", ".")) if match else None


def _access(data: dict[str, Any], chain: tuple[str, ...]) -> bool | None:
    """Most specific access tag in ``chain`` that is set decides; None if none is set."""
    for key in chain:
        value = _first(data, key)
        if value is None:
            continue
        head = value.split(";")[0].strip()
        if head in DENIED:
            return False
        if head in ALLOWED:
            return True
    return None


def truck_may_use(data: dict[str, Any], truck: Truck) -> bool:
    """Whether a truck may drive on an edge at all (permits and hours aside).

    Parameters
    ----------
    data
        The edge's attributes (OSM way tags).
    truck
        The reference truck (weight and height).

    Returns
    -------
    bool
        True if the way is a drivable road open to this truck.
    """
    highways = {str(h) for h in _values(data.get("highway"))}
    if not highways & DRIVE_HIGHWAYS:
        return False
    service = _first(data, "service")
    if service in EXCLUDED_SERVICE:
        return False
    if _access(data, ("hgv", "goods", "motor_vehicle", "vehicle", "access")) is False:
        return False
    weights = [w for w in (parse_weight_t(v) for v in _values(data.get("maxweight"))) if w is not None]
    if weights and min(weights) < truck.weight_t:
        return False
    heights = [h for h in (parse_height_m(v) for v in _values(data.get("maxheight"))) if h is not None]
    return not (heights and min(heights) < truck.height_m)


def resident_may_walk(data: dict[str, Any]) -> bool:
    """Whether a pedestrian may walk along an edge.

    Parameters
    ----------
    data
        The edge's attributes (OSM way tags).

    Returns
    -------
    bool
        True if the way is walkable.
    """
    highways = {str(h) for h in _values(data.get("highway"))}
    if not highways:
        return False
    explicit = _access(data, ("foot", "access"))
    if explicit is not None:
        return explicit
    return not highways <= NOT_WALKABLE


@dataclass
class GraphReport:
    """What building one graph kept and dropped.

    ``pieces`` is the number of separate parts kept (always 1 for the truck
    graph, which keeps its largest strongly connected component; the walk
    graph keeps every part above ``city.walk_min_component_km``) and
    ``km_dropped`` the road length left out by that step.
    """

    mode: str
    nodes: int
    edges: int
    edges_denied: int
    nodes_dropped: int
    edges_dropped: int
    km: float
    pieces: int = 1
    km_dropped: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a plain dict."""
        return dict(self.__dict__)


def _filtered(G: nx.MultiDiGraph, keep: Callable[[dict[str, Any]], bool]) -> tuple[nx.MultiDiGraph, int]:
    H = G.copy()
    drop = [(u, v, k) for u, v, k, d in H.edges(keys=True, data=True) if not keep(d)]
    H.remove_edges_from(drop)
    H.remove_nodes_from([n for n in list(H.nodes) if H.degree(n) == 0])
    return H, len(drop)


def _road_km(G: nx.MultiDiGraph, edges: list[tuple[Any, Any, Any]] | None = None) -> float:
    """Length of road in km, a two-way road counted once (its two directed edges are one road)."""
    seen: dict[tuple[Any, Any, float], float] = {}
    for u, v, k in G.edges(keys=True) if edges is None else edges:
        length = float(G.edges[u, v, k].get("length", 0.0))
        a, b = (u, v) if u <= v else (v, u)
        seen[(a, b, round(length, 1))] = length
    return sum(seen.values()) / 1000.0


def _simplify(G: nx.MultiDiGraph, simplified: bool) -> nx.MultiDiGraph:
    import osmnx as ox  # imported where used: a run on a cached city never needs it

    if not simplified:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G = ox.simplify_graph(G)
    return normalise_edge_attributes(G)


def _describe(G: nx.MultiDiGraph, nodes: set[Any]) -> str:
    """Where a piece of a graph lies, in words: a coordinate and the names of its roads."""
    xs = sorted(G.nodes[n]["x"] for n in nodes)
    ys = sorted(G.nodes[n]["y"] for n in nodes)
    where = f"near {xs[len(xs) // 2]:.5f}, {ys[len(ys) // 2]:.5f}"
    names: set[str] = set()
    for _u, _v, name in G.subgraph(nodes).edges(data="name"):
        names.update(str(x) for x in _values(name))
    named = sorted(names)
    if named:
        where += " (" + ", ".join(named[:3]) + (", ..." if len(named) > 3 else "") + ")"
    return where


def _finish_drive(
    G: nx.MultiDiGraph, denied: int, simplified: bool, truck: Truck
) -> tuple[nx.MultiDiGraph, GraphReport]:
    """Simplify and keep the largest strongly connected component; say in words what was cut off."""
    if G.number_of_edges() == 0:
        return G, GraphReport("drive", 0, 0, denied, 0, 0, 0.0)
    import osmnx as ox

    G = _simplify(G, simplified)
    n0, e0 = G.number_of_nodes(), G.number_of_edges()
    kept = ox.truncate.largest_component(G, strongly=True)
    cut_nodes = set(G.nodes) - set(kept.nodes)
    cut_edges = [(u, v, k) for u, v, k in G.edges(keys=True) if u in cut_nodes or v in cut_nodes]
    km_cut = _road_km(G, cut_edges)
    if cut_nodes:
        # Pieces as a planner sees them: roads joined to each other, whichever way they may be driven.
        pieces = sorted(nx.weakly_connected_components(G.subgraph(cut_nodes)), key=lambda c: (-len(c), min(c)))
        diagnostics.warn(
            "city",
            "city.truck_component_cut",
            f"the truck network is not all connected: {len(cut_nodes):,} node(s) and {km_cut:,.1f} km of road that the "
            f"{truck.weight_t:g} t truck cannot both reach and leave from the rest are cut off, in {len(pieces)} "
            f"piece(s); the largest has {len(pieces[0])} node(s), {_describe(G, pieces[0])}. Usually these are roads "
            "cut at the edge of the data, one-way dead ends or roads closed to the truck; demand and sites there "
            "are served from the rest of the network or reported by the stages that use them.",
            ids=sorted(cut_nodes),
        )
    return kept, _kept_report("drive", kept, denied, n0, e0, 1, km_cut)


def _finish_walk(
    G: nx.MultiDiGraph, denied: int, simplified: bool, min_component_km: float
) -> tuple[nx.MultiDiGraph, GraphReport]:
    """Simplify and keep every piece of at least ``min_component_km`` (and always the largest)."""
    if G.number_of_edges() == 0:
        return G, GraphReport("walk", 0, 0, denied, 0, 0, 0.0, 0)
    G = _simplify(G, simplified)
    n0, e0 = G.number_of_nodes(), G.number_of_edges()
    # Every walk edge has its reverse, so weak and strong components coincide.
    comps = [(c, _road_km(G, list(G.subgraph(c).edges(keys=True)))) for c in nx.weakly_connected_components(G)]
    comps.sort(key=lambda ck: (-ck[1], min(ck[0])))
    keep = [c for i, (c, km) in enumerate(comps) if i == 0 or km >= min_component_km]
    drop = [(c, km) for i, (c, km) in enumerate(comps) if not (i == 0 or km >= min_component_km)]
    kept = G.copy()
    kept.remove_nodes_from([n for c, _ in drop for n in c])
    km_dropped = sum(km for _, km in drop)
    if len(keep) > 1:
        sizes = ", ".join(f"{km:,.1f} km" for _, km in comps[: len(keep)][:5]) + (", ..." if len(keep) > 5 else "")
        diagnostics.warn(
            "city",
            "city.walk_pieces",
            f"the walk network is in {len(keep)} separate pieces ({sizes}) joined only by ways closed to "
            "pedestrians (foot=no bridges or tunnels, motorways); every piece is kept and walking distances are "
            f"measured within each, so a compound is served only by collection points on its own piece. Pieces: "
            + "; ".join(_describe(G, c) for c in keep[:5]),
            count=len(keep),
        )
    if drop:
        dropped_nodes = sorted(set().union(*(c for c, _ in drop)))
        diagnostics.warn(
            "city",
            "city.walk_fragments_dropped",
            f"{len(drop)} fragment(s) of the walk network shorter than {min_component_km:g} km each "
            f"({len(dropped_nodes):,} node(s), {km_dropped:,.1f} km in all, e.g. ways cut at the edge of the data) "
            "are not connected to the rest and are left out; points near them attach to the nearest kept way "
            "(city.walk_min_component_km sets the size).",
            ids=dropped_nodes,
        )
    return kept, _kept_report("walk", kept, denied, n0, e0, len(keep), km_dropped)


def _kept_report(
    mode: str, kept: nx.MultiDiGraph, denied: int, n0: int, e0: int, pieces: int, km_dropped: float
) -> GraphReport:
    """The report of a finished graph: what is kept, and what was cut from the ``n0`` nodes and ``e0`` edges."""
    km = float(sum(d for _, _, d in kept.edges(data="length"))) / 1000.0
    return GraphReport(
        mode,
        kept.number_of_nodes(),
        kept.number_of_edges(),
        denied,
        n0 - kept.number_of_nodes(),
        e0 - kept.number_of_edges(),
        km,
        pieces,
        km_dropped,
    )


def build_drive_graph(
    raw: nx.MultiDiGraph, truck: Truck, simplified: bool = False
) -> tuple[nx.MultiDiGraph, GraphReport]:
    """Build the truck graph: access-filtered, simplified, timed, strongly connected.

    What the component step cuts off is reported with
    :func:`netplan.diagnostics.warn` (code ``city.truck_component_cut``).

    Parameters
    ----------
    raw
        Raw directed road graph (one-way streets in their legal direction).
    truck
        The reference truck (weight, height, speeds by road class).
    simplified
        Whether ``raw`` is already simplified.

    Returns
    -------
    tuple
        The graph (edge attributes ``length`` in m, ``speed_kph``,
        ``travel_time`` in s) and its :class:`GraphReport`.
    """
    import osmnx as ox

    G, denied = _filtered(raw, lambda d: truck_may_use(d, truck))
    G, report = _finish_drive(G, denied, simplified, truck)
    if G.number_of_edges():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            G = ox.routing.add_edge_speeds(G, hwy_speeds=dict(truck.speeds_kph), fallback=truck.fallback_speed_kph)
        for _, _, data in G.edges(data=True):
            data["speed_kph"] = min(float(data["speed_kph"]), truck.max_speed_kph)
        G = ox.routing.add_edge_travel_times(G)
    return G, report


def build_walk_graph(
    raw: nx.MultiDiGraph, walk_speed_kph: float, simplified: bool = False, *, min_component_km: float = 1.0
) -> tuple[nx.MultiDiGraph, GraphReport]:
    """Build the walk graph: walkable ways in both directions, at walking speed.

    A city can fall into pieces for pedestrians (a river crossed only by
    ``foot=no`` bridges and tunnels): every piece with at least
    ``min_component_km`` of road is kept, and walking distances between
    pieces are infinite. Smaller fragments are left out and reported.

    Parameters
    ----------
    raw
        Raw road graph with every way present in both directions.
    walk_speed_kph
        Walking speed used for travel times.
    simplified
        Whether ``raw`` is already simplified.
    min_component_km
        Smallest piece kept besides the largest, in km of road.

    Returns
    -------
    tuple
        The graph and its :class:`GraphReport`.
    """
    import osmnx as ox

    G, denied = _filtered(raw, resident_may_walk)
    G, report = _finish_walk(G, denied, simplified, min_component_km)
    for _, _, data in G.edges(data=True):
        data["speed_kph"] = float(walk_speed_kph)
    if G.number_of_edges():
        G = ox.routing.add_edge_travel_times(G)
    return G, report
