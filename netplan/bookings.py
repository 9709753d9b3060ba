"""Door-to-door pickup bookings: read a day's bookings table, or generate one from a city's demand.

A booking is one household's request for a pickup at its door (online booking through an app or a WeChat
mini-program): where, which stream (bulky waste, e-waste, an appliance traded in, or any scenario stream), how many
items, their kg and m³, the slot the resident chose (``09:00-11:00``), the service minutes at the door, and for a
trade-in the new appliance delivered in the same visit, loaded at a named store or warehouse.

Both paths give the same table (:data:`BOOKING_COLUMNS`, WGS-84 points), which
:mod:`netplan.route.bookings` turns into the day's routing problem.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan.city import City
from netplan.demand import read_points
from netplan.errors import InputDataError, ScenarioError, check_cells
from netplan.scenario import BookingsConfig, Scenario, parse_interval

if TYPE_CHECKING:
    from netplan.route.bookings import BookingPlan

BOOKING_COLUMNS = [
    "booking_id",
    "stream",
    "items",
    "kg",
    "m3",
    "slot",
    "service_min",
    "trade_in",
    "delivery_kg",
    "delivery_m3",
    "store",
    "geometry",
]
"""Columns of a bookings table, in order."""

#: Extra items per booking when generating: items = 1 + Poisson(EXTRA_ITEMS_MEAN). An assumption (most bookings
#: are for one sofa, one fridge, one bag of small electronics), to be replaced by the operator's own records.
EXTRA_ITEMS_MEAN = 0.3
#: Door time per extra item (minutes): carrying a second wardrobe down the stairs.
EXTRA_ITEM_MIN = 5.0


def _cell_error(message: str, path: Path, row: int, column: str) -> InputDataError:
    return InputDataError(message, path, f"row {row}, column {column!r}")


def _optional_numbers(
    attrs: pd.DataFrame, column: str, defaults: np.ndarray, path: Path, offset: int, *, positive: bool
) -> np.ndarray:
    """A numeric column whose blank cells take the stream's default; anything else must be a number in range."""
    if column not in attrs.columns:
        return defaults.astype(float)
    raw = attrs[column]
    blank = raw.isna() | raw.astype(str).str.strip().isin(["", "nan", "None"])
    values = pd.to_numeric(raw.where(~blank), errors="coerce")
    check_cells(values.isna() & ~blank, raw, expected="expected a number", path=path, column=column, offset=offset)
    out = np.where(blank.to_numpy(), defaults, values.to_numpy(dtype=float))
    wrong = out <= 0 if positive else out < 0
    expected = f"expected a value {'> 0' if positive else '>= 0'}"
    check_cells(wrong, raw, expected=expected, path=path, column=column, offset=offset)
    return out


def read_bookings(
    path: str | Path,
    config: BookingsConfig,
    *,
    city: City | None = None,
    layer: str | None = None,
    crs: str | None = None,
    lon: str = "lon",
    lat: str = "lat",
    x: str | None = None,
    y: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a bookings table (CSV, GeoPackage or GeoJSON; WGS-84, GCJ-02, BD-09 or any EPSG CRS).

    Columns: ``id`` and ``stream`` (required), ``slot`` (required, ``HH:MM-HH:MM``), ``kg`` and ``m3`` (booking
    totals; blank cells take the stream's per-item default times ``items``; ``service_min`` blank: the stream's plus
    ``EXTRA_ITEM_MIN`` per extra item), and optionally ``items``, ``service_min``, ``delivery_kg``, ``delivery_m3``
    and ``store`` (trade-in streams: blank takes the stream's default). Locations are ``lon``/``lat`` (or
    ``x``/``y`` with ``crs``) in a CSV, the geometry in a spatial file.

    Parameters
    ----------
    path
        The table.
    config
        The scenario's ``bookings`` section (streams, depots).
    city
        If given, bookings outside the city's road network are an error.
    layer, crs, lon, lat, x, y
        As for demand tables (``crs`` defaults to WGS-84 for lon/lat columns).

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`BOOKING_COLUMNS`, one row per booking, WGS-84.

    Raises
    ------
    InputDataError
        Naming the file, the row (as a spreadsheet numbers it) and the column of the first bad cell.
    """
    path = Path(path)

    spec = SimpleNamespace(layer=layer, crs=crs, lon=lon, lat=lat, x=x, y=y)  # the attributes read_points looks for
    attrs, points, _, offset = read_points(spec, path, city)
    for column in ("id", "stream", "slot"):
        if column not in attrs.columns:
            raise InputDataError(f"column {column!r} not found; the table has columns {list(attrs.columns)}", path)
    ids = attrs["id"].astype(str).str.strip()
    empty = attrs["id"].isna() | ids.isin(["", "nan", "None"])
    if empty.any():
        raise _cell_error("booking without an id", path, int(np.flatnonzero(empty.to_numpy())[0]) + offset, "id")
    repeated = ids.duplicated()
    if repeated.any():
        i = int(np.flatnonzero(repeated.to_numpy())[0])
        raise _cell_error(f"booking id {ids.iloc[i]!r} appears twice", path, i + offset, "id")
    streams = attrs["stream"].astype(str).str.strip()
    unknown = ~streams.isin(list(config.streams))
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise _cell_error(
            f"unknown stream {streams.iloc[i]!r} (the scenario's booking streams: {sorted(config.streams)})",
            path,
            i + offset,
            "stream",
        )
    slots = attrs["slot"].astype(str).str.strip().str.replace(" ", "")
    for i, slot in enumerate(slots):
        try:
            parse_interval(slot)
        except ValueError as exc:
            raise _cell_error(f"{exc} (a slot is HH:MM-HH:MM)", path, i + offset, "slot") from None
    spec_of = [config.streams[s] for s in streams]

    def default(attr: str) -> np.ndarray:
        return np.array([float(getattr(s, attr)) for s in spec_of])

    items = _optional_numbers(attrs, "items", default("items"), path, offset, positive=True)
    if (items != np.round(items)).any():
        i = int(np.flatnonzero(items != np.round(items))[0])
        raise _cell_error(
            f"expected a whole number of items, got {attrs['items'].iloc[i]!r}", path, i + offset, "items"
        )
    kg = _optional_numbers(attrs, "kg", default("kg") * items, path, offset, positive=True)
    m3 = _optional_numbers(attrs, "m3", default("m3") * items, path, offset, positive=True)
    service = _optional_numbers(
        attrs, "service_min", default("service_min") + EXTRA_ITEM_MIN * (items - 1), path, offset, positive=True
    )
    trade_in = np.array([s.trade_in for s in spec_of])
    delivery_kg = _optional_numbers(attrs, "delivery_kg", default("delivery_kg"), path, offset, positive=False)
    delivery_m3 = _optional_numbers(attrs, "delivery_m3", default("delivery_m3"), path, offset, positive=False)
    depots = {d.name for d in config.depots}
    stores: list[str | None] = []
    for i, s in enumerate(spec_of):
        cell = attrs["store"].iloc[i] if "store" in attrs.columns else None
        name = str(cell).strip() if cell is not None and not pd.isna(cell) and str(cell).strip() else s.store
        if not s.trade_in:
            if (delivery_kg[i] > 0 or delivery_m3[i] > 0) and "delivery_kg" in attrs.columns:
                raise _cell_error(
                    f"stream {streams.iloc[i]!r} is not a trade-in stream (trade_in: false) but the "
                    "booking has a delivery",
                    path,
                    i + offset,
                    "delivery_kg",
                )
            stores.append(None)
            continue
        if name not in depots:
            raise _cell_error(f"unknown store {name!r} (booking depots: {sorted(depots)})", path, i + offset, "store")
        stores.append(name)
    frame = pd.DataFrame(
        {
            "booking_id": ids.to_numpy(),
            "stream": streams.to_numpy(),
            "items": items.astype(int),
            "kg": kg,
            "m3": m3,
            "slot": slots.to_numpy(),
            "service_min": service,
            "trade_in": trade_in,
            "delivery_kg": np.where(trade_in, delivery_kg, 0.0),
            "delivery_m3": np.where(trade_in, delivery_m3, 0.0),
            "store": stores,
        }
    )
    return gpd.GeoDataFrame(frame, geometry=points.to_numpy(), crs="EPSG:4326")[BOOKING_COLUMNS]


def generate_bookings(demand: gpd.GeoDataFrame, config: BookingsConfig, *, seed: int) -> gpd.GeoDataFrame:
    """A day of bookings drawn from a city's demand points.

    Each demand point books each stream a Poisson number of times with mean ``households *
    rate_per_1000_households / 1000``; each booking has ``1 + Poisson(0.3)`` items (:data:`EXTRA_ITEMS_MEAN`) of
    the stream's kg and m³, ``EXTRA_ITEM_MIN`` more door minutes per extra item, and a slot drawn with
    ``slot_weights`` (uniform when absent). Each stream is drawn from its own generator, seeded by the scenario seed
    and the stream's name, so adding a stream does not change the others' bookings.

    Parameters
    ----------
    demand
        Demand points (``households``, point geometry, WGS-84), as :func:`netplan.demand.estimate_demand` gives.
    config
        The scenario's ``bookings`` section.
    seed
        The scenario seed.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`BOOKING_COLUMNS`; ids are ``<stream>-<n>``.
    """
    households = demand["households"].to_numpy(dtype=float)
    points = demand.geometry.to_crs("EPSG:4326").representative_point().to_numpy()
    weights = np.asarray(config.slot_weights or [1.0] * len(config.slots), dtype=float)
    weights = weights / weights.sum()
    rows: list[dict] = []
    geoms: list = []
    for name in sorted(config.streams):
        stream = config.streams[name]
        # seeded by the stream's name (a stable checksum, not hash()), so streams do not shift one another's draws
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        counts = rng.poisson(households * stream.rate_per_1000_households / 1000.0)
        where = np.repeat(np.arange(len(households)), counts)
        items = 1 + rng.poisson(EXTRA_ITEMS_MEAN, size=len(where))
        slots = rng.choice(len(config.slots), size=len(where), p=weights)
        for n, (i, q, s) in enumerate(zip(where, items, slots)):
            rows.append(
                {
                    "booking_id": f"{name}-{n + 1}",
                    "stream": name,
                    "items": int(q),
                    "kg": stream.kg * q,
                    "m3": stream.m3 * q,
                    "slot": config.slots[s],
                    "service_min": stream.service_min + EXTRA_ITEM_MIN * (q - 1),
                    "trade_in": stream.trade_in,
                    "delivery_kg": stream.delivery_kg * q if stream.trade_in else 0.0,
                    "delivery_m3": stream.delivery_m3 * q if stream.trade_in else 0.0,
                    "store": stream.store if stream.trade_in else None,
                }
            )
            geoms.append(points[i])
    frame = pd.DataFrame(rows, columns=BOOKING_COLUMNS[:-1])
    return gpd.GeoDataFrame(
        frame, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326").to_numpy() if geoms else [], crs="EPSG:4326"
    )[BOOKING_COLUMNS]


# --- the bookings stage: one day, planned and written ---------------------------------------------------------------


def day_bookings(
    scenario: Scenario,
    city: City,
    *,
    file: str | Path | None = None,
    crs: str | None = None,
    demand: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """The day's bookings: ``file`` if given, else the scenario's ``bookings.file``, else generated from demand.

    Parameters
    ----------
    scenario
        A scenario with a ``bookings`` section.
    city
        The loaded city (extent check; demand for generation).
    file, crs
        A bookings table and its CRS (overriding the scenario's).
    demand
        The city's demand points, if already estimated (else estimated here when generating).

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`BOOKING_COLUMNS`.
    """
    config = bookings_config(scenario)
    if file is not None:
        return read_bookings(Path(file), config, city=city, crs=crs)
    if config.file is not None:
        spec = config.file
        path = scenario.resolve(spec.path)
        assert path is not None
        return read_bookings(
            path,
            config,
            city=city,
            layer=spec.layer,
            crs=crs or spec.crs,
            lon=spec.lon,
            lat=spec.lat,
            x=spec.x,
            y=spec.y,
        )
    if demand is None:
        from netplan.demand import estimate_demand

        demand, _ = estimate_demand(city, scenario)
    return generate_bookings(demand, config, seed=scenario.seed)


def bookings_config(scenario: Scenario) -> BookingsConfig:
    """The scenario's ``bookings:`` section; a :class:`ScenarioError` when it has none."""
    if scenario.bookings is None:
        raise ScenarioError(
            'the scenario has no bookings: section (see README "Door-to-door bookings")', scenario.file, "bookings"
        )
    return scenario.bookings


def run_bookings(
    scenario: Scenario,
    *,
    city: City | None = None,
    file: str | Path | None = None,
    crs: str | None = None,
    demand: gpd.GeoDataFrame | None = None,
    offer_sample: int = 10,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[BookingPlan, pd.DataFrame]:
    """Plan the scenario's booking day and the slots still open (the ``netplan bookings plan`` stage).

    Returns
    -------
    tuple
        The :class:`~netplan.route.bookings.BookingPlan` and :func:`~netplan.route.bookings.open_slot_table`.
    """
    from netplan.city import load_city
    from netplan.route.bookings import open_slot_table, plan_bookings

    config = bookings_config(scenario)
    if city is None:
        progress("[1/3] loading the city")
        city = load_city(scenario.city, scenario.base_dir)
    bookings = day_bookings(scenario, city, file=file, crs=crs, demand=demand)
    progress(f"[2/3] routing {len(bookings)} bookings")
    plan = plan_bookings(city, bookings, config, seed=scenario.seed, progress=progress)
    if config.stations is not None:  # siting the bulky-waste stations for the same day (bookings.stations)
        from netplan.bulky_stations import plan_bulky_stations

        plan.bulky_stations = plan_bulky_stations(scenario, city, bookings)
    progress("[3/3] slots still open")
    return plan, open_slot_table(plan, config, sample=offer_sample)


def schedule_on_the_clock(visits: pd.DataFrame) -> pd.DataFrame:
    """The simulated visits as planners read them: ``arrive``, ``start``, ``end`` as ``HH:MM``, ``wait_min``.

    Parameters
    ----------
    visits
        The simulator's visits (``arrive_s``, ``start_s``, ``end_s``, ``wait_s`` in seconds after midnight).

    Returns
    -------
    pandas.DataFrame
        The same rows without the seconds columns and the problem's internal ``index`` and ``location``.
    """
    from netplan.route.problem import clock

    out = visits.drop(columns=["index", "location"], errors="ignore").copy()
    for col in ("arrive", "start", "end"):
        if f"{col}_s" in out.columns:
            out.insert(out.columns.get_loc(f"{col}_s"), col, out.pop(f"{col}_s").map(clock))
    if "wait_s" in out.columns:
        out.insert(out.columns.get_loc("wait_s"), "wait_min", (out.pop("wait_s") / 60).round(1))
    return out


def write_bookings(
    plan: BookingPlan, open_slots: pd.DataFrame, folder: str | Path, *, config: BookingsConfig, map_: bool = True
) -> dict[str, Path]:
    """Write ``bookings.csv``, ``booking_schedule.csv``, ``open_slots.csv``, ``booking_kpis.json``,
    ``bookings.gpkg`` (layers ``bookings``, ``booking_routes``, ``booking_depots``) and ``bookings_map.html``.

    Returns
    -------
    dict
        Output name -> path.
    """
    from netplan.io import write_csv, write_geopackage, write_json
    from netplan.route.bookings import depot_points

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = plan.bookings
    flat = pd.DataFrame(table.drop(columns="geometry"))
    flat["lon"], flat["lat"] = table.geometry.x.round(6), table.geometry.y.round(6)
    depots = gpd.GeoDataFrame(
        {
            "name": [d.name for d in config.depots],
            "kind": [d.kind for d in config.depots],
            "hours": [d.hours for d in config.depots],
        },
        geometry=depot_points(config).to_numpy(),
        crs="EPSG:4326",
    )
    out = {
        "bookings": write_csv(folder / "bookings.csv", flat),
        "schedule": write_csv(folder / "booking_schedule.csv", schedule_on_the_clock(plan.schedule)),
        "open_slots": write_csv(folder / "open_slots.csv", open_slots),
        "kpis": write_json(folder / "booking_kpis.json", plan.kpis),
        "geopackage": write_geopackage(
            folder / "bookings.gpkg",
            {
                "bookings": table,
                "booking_routes": plan.routes,
                "booking_depots": depots,
                "bulky_stations": None if plan.bulky_stations is None else plan.bulky_stations.stations,
            },
        ),
    }
    if plan.bulky_stations is not None:
        from netplan.bulky_stations import write_bulky_stations

        out.update(write_bulky_stations(plan.bulky_stations, folder))
    if map_:
        out["map"] = _write_map(table, plan.routes, depots, folder / "bookings_map.html")
    return out


STREAM_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _write_map(table: gpd.GeoDataFrame, routes: gpd.GeoDataFrame, depots: gpd.GeoDataFrame, path: Path) -> Path:
    """A folium map: one layer per stream (bookings and their routes in the stream's colour), slot in each popup."""
    import folium

    from netplan.io import write_with

    centre = table.geometry.union_all().centroid if len(table) else depots.geometry.union_all().centroid
    fmap = folium.Map(location=[centre.y, centre.x], zoom_start=12, tiles="OpenStreetMap")
    colour = {s: STREAM_COLOURS[i % len(STREAM_COLOURS)] for i, s in enumerate(sorted(table["stream"].unique()))}
    for stream, c in colour.items():
        layer = folium.FeatureGroup(name=f"{stream}")
        for _, b in table[table["stream"] == stream].iterrows():
            served = b["served"] == "yes"
            popup = f"{b['booking_id']} · {stream}<br>slot {b['slot']}<br>" + (
                f"{b['vehicle']} arrives {b['arrival']}, starts {b['start']}" if served else f"refused: {b['why_not']}"
            )
            folium.CircleMarker(
                [b.geometry.y, b.geometry.x],
                radius=5,
                color=c,
                fill=served,
                fill_opacity=0.8,
                popup=folium.Popup(popup, max_width=300),
            ).add_to(layer)
        mine = routes[routes["group"].str.split("+").map(lambda g, s=stream: s in g)] if len(routes) else routes
        for _, r in mine.iterrows():
            tip = f"{r['vehicle']} trip {r['trip']}: {r['bookings']} bookings, {r['start']}-{r['end']}"
            folium.PolyLine([(y, x) for x, y in r.geometry.coords], color=c, weight=2, opacity=0.6, tooltip=tip).add_to(
                layer
            )
        layer.add_to(fmap)
    depot_layer = folium.FeatureGroup(name="depots")
    for _, d in depots.iterrows():
        folium.Marker([d.geometry.y, d.geometry.x], tooltip=f"{d['name']} ({d['kind']}, {d['hours']})").add_to(
            depot_layer
        )
    depot_layer.add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return write_with(path, lambda tmp: fmap.save(str(tmp)))


def service_level_sweep(
    scenario: Scenario,
    *,
    city: City | None = None,
    multipliers: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    target: float = 0.95,
    max_iterations: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> pd.DataFrame:
    """For a range of booking rates, the fewest vans and crews that serve ``target`` of the bookings in their slot.

    Each multiplier scales every stream's ``rate_per_1000_households``; the day is generated from the city's demand
    with the scenario's seed and each group of streams gets :func:`~netplan.route.bookings.fewest_vans` (its van types
    shared as configured), checked by the simulator on the road graph.

    Returns
    -------
    pandas.DataFrame
        One row per multiplier and group: bookings, fewest vans (empty when the configured fleet falls short), crew
        members, share served in slot, vans used, km and crew-hours of that plan.
    """
    from netplan.city import load_city
    from netplan.demand import estimate_demand
    from netplan.route.bookings import _replay, fewest_vans, group_problems
    from netplan.route.simulate import simulate

    config = bookings_config(scenario)
    city = city or load_city(scenario.city, scenario.base_dir)
    demand, _ = estimate_demand(city, scenario)
    rows = []
    for m in multipliers:
        scaled = config.model_copy(deep=True)
        for stream in scaled.streams.values():
            stream.rate_per_1000_households *= m
        bookings = generate_bookings(demand, scaled, seed=scenario.seed)
        for name, vans, mine, problem, travel in group_problems(city, bookings, scaled):
            n, share, fleet, solution = fewest_vans(
                problem,
                target=target,
                seed=scenario.seed,
                max_iterations=max_iterations or config.max_iterations,
                time_limit_s=config.time_limit_s,
            )
            assert solution is not None  # the group has bookings
            schedule = simulate(fleet, solution, roads=_replay(travel))
            schedule.raise_if_violations()
            r = schedule.routes
            crew = {config.vehicles[v].name: config.vehicles[v].crew for v in vans}
            rows.append(
                {
                    "rate_multiplier": m,
                    "group": name,
                    "bookings": len(mine),
                    "vans_available": problem.num_vehicles,
                    "fewest_vans": n,
                    "share_in_slot": round(share, 4),
                    "vans_used": len(r),
                    "crew_members": int(sum(crew[t] for t in r["vehicle_type"])) if len(r) else 0,
                    "km": round(float(r["distance"].sum()) / 1000, 1) if len(r) else 0.0,
                    "crew_hours": round(float(sum(h * crew[t] for h, t in zip(r["duration_h"], r["vehicle_type"]))), 1)
                    if len(r)
                    else 0.0,
                }
            )
            progress(
                f"      x{m:g} {name}: {len(mine)} bookings -> {n if n is not None else 'more than'} "
                f"{'' if n is not None else problem.num_vehicles} vans ({share:.1%} in slot)"
            )
    return pd.DataFrame(rows)


def plot_sweep(frame: pd.DataFrame, path: str | Path, *, target: float = 0.95) -> Path:
    """Fewest vans against bookings per day, one line per group (hollow markers: the fleet falls short)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from netplan.io import write_with

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for group, rows in frame.groupby("group", sort=True):
        vans = rows["fewest_vans"].where(rows["fewest_vans"].notna(), rows["vans_available"])
        ax.plot(rows["bookings"], vans, marker="o", label=group)
        short = rows["fewest_vans"].isna()
        if short.any():
            ax.scatter(
                rows.loc[short, "bookings"],
                rows.loc[short, "vans_available"],
                s=120,
                facecolors="none",
                edgecolors="black",
                label=f"{group}: fleet falls short",
            )
    ax.set_xlabel("bookings per day")
    ax.set_ylabel(f"fewest vans serving ≥ {target:.0%} in slot")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = write_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return out
