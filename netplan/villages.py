"""Rural demand: villages from OSM ``place=*`` features or from a village table.

A county planner's demand points are villages, not compounds. Two sources:

* **OSM** (:func:`villages_from_osm`): ``place=town/village/hamlet/isolated_dwelling``
  nodes or areas (an area stands at its representative point). Residents are
  the ``population`` tag where it is a number, otherwise the scenario's
  default for the place type (``rural.villages.place_population``, an
  assumption: see README "Rural networks").
* **A village table** (:func:`villages_from_table`): names, lon/lat in WGS-84,
  GCJ-02 or BD-09 and households or population, read as any demand table
  (:func:`netplan.demand.demand_from_file`). This is the usual Chinese input,
  since rural China is thinly mapped.

Households are residents / ``demand.persons_per_household``; the demand
stage turns them into kg/day per stream with the scenario's (rural) rates.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmnx as ox
import pandas as pd

from netplan.city import City
from netplan.demand import demand_from_file
from netplan.errors import InputDataError
from netplan.scenario import Scenario, VillageConfig


def _number(value: object) -> float | None:
    """A population tag as a number (``"1,085"``, ``"ca. 400"`` -> 1085, 400); None if it is not one."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    match = re.search(r"\d[\d,]*(?:\.\d+)?", str(value).split(";")[0])
    if match is None:
        return None
    number = float(match.group(0).replace(",", ""))
    return number if number >= 0 else None


def read_places(path: Path, places: list[str]) -> gpd.GeoDataFrame:
    """Read the ``place=*`` features of the given types from an OSM XML file.

    Parameters
    ----------
    path
        An ``.osm`` or ``.osm.bz2`` file.
    places
        Place types to keep (``village``, ``hamlet``, ...).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``osm_type, osm_id, name, place, population, geometry`` (WGS-84),
        sorted by OSM type and id.
    """
    if not path.is_file():
        raise InputDataError("OSM file with the villages (place=*) not found", path, "rural.villages.osm")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = ox.features_from_xml(path, tags={"place": list(places)})
    except ox._errors.InsufficientResponseError:
        found = gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs="EPSG:4326")
    except (OSError, EOFError, ValueError, KeyError) as exc:
        raise InputDataError(f"cannot read OSM XML: {exc}", path, "rural.villages.osm") from None
    frame = found.reset_index()
    frame = frame.rename(columns={"element": "osm_type", "element_type": "osm_type", "id": "osm_id", "osmid": "osm_id"})
    for col in ("osm_type", "osm_id", "name", "place", "population"):
        if col not in frame.columns:
            frame[col] = None
    frame = frame[frame["place"].isin(places)]
    frame = frame.sort_values(["osm_type", "osm_id"], kind="stable").reset_index(drop=True)
    return gpd.GeoDataFrame(
        frame[["osm_type", "osm_id", "name", "place", "population", "geometry"]], geometry="geometry", crs="EPSG:4326"
    )


def villages_from_osm(path: Path, config: VillageConfig, persons_per_household: float) -> gpd.GeoDataFrame:
    """Villages as demand points from OSM ``place=*`` features.

    Parameters
    ----------
    path
        OSM XML file holding the places.
    config
        ``rural.villages`` settings (place types, default residents per type).
    persons_per_household
        Residents per household (``demand.persons_per_household``).

    Returns
    -------
    geopandas.GeoDataFrame
        WGS-84 points with ``name, source, method, osm_id, place, households, population``;
        ``method`` is ``population_tag`` or ``place_default``; ``source`` is ``village:<place>``.
    """
    places = read_places(path, config.places)
    if places.empty:
        raise InputDataError(
            f"no place={'/'.join(config.places)} features in the OSM file; use a village table "
            "(rural.villages.source: file)",
            path,
            "rural.villages",
        )
    tagged = [_number(v) for v in places["population"]]
    residents = [t if t is not None else config.place_population[p] for t, p in zip(tagged, places["place"])]
    points = places.geometry.representative_point() if (places.geom_type != "Point").any() else places.geometry
    return gpd.GeoDataFrame(
        {
            "name": places["name"].where(places["name"].notna(), None),
            "source": "village:" + places["place"],
            "method": ["population_tag" if t is not None else "place_default" for t in tagged],
            "osm_id": places["osm_id"].astype("int64"),
            "place": places["place"],
            "area_ha": np.nan,
            "buildings": 0,
            "households": np.asarray(residents, dtype=float) / persons_per_household,
        },
        geometry=points.values,
        crs="EPSG:4326",
    )


def villages_from_table(
    city: City | None, config: VillageConfig, path: Path, persons_per_household: float
) -> gpd.GeoDataFrame:
    """Villages from a table (CSV lon/lat in WGS-84/GCJ-02/BD-09, or a point layer).

    Parameters
    ----------
    city
        For the extent check (None skips it).
    config
        ``rural.villages`` settings; ``file`` names the columns and CRS.
    path
        Resolved path of the table.
    persons_per_household
        Used when the table gives population instead of households.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`villages_from_osm`, with ``method = table`` and ``place = village``.
    """
    assert config.file is not None
    points, _ = demand_from_file(city, config.file, path, persons_per_household)
    return points.assign(source="village:village", place="village")


def estimate_villages(city: City, scenario: Scenario) -> gpd.GeoDataFrame:
    """The rural demand source: villages as the scenario's ``rural.villages`` says.

    Parameters
    ----------
    city
        The loaded county (for the extent check of a table).
    scenario
        A scenario with a ``rural`` section.

    Returns
    -------
    geopandas.GeoDataFrame
        Village points with households, before stream rates and snapping.
    """
    assert scenario.rural is not None
    config = scenario.rural.villages
    pph = scenario.demand.persons_per_household
    if config.source == "file":
        assert config.file is not None
        path = scenario.resolve(config.file.path)
        assert path is not None
        return villages_from_table(city, config, path, pph)
    source = config.osm or scenario.city.source or scenario.city.features
    path = scenario.resolve(source)
    if path is None:
        raise InputDataError("no OSM file to read villages from; set rural.villages.osm", where="rural.villages.osm")
    return villages_from_osm(path, config, pph)


def village_places(demand: pd.DataFrame) -> pd.Series:
    """Place type of each demand point (``village`` where the source did not say)."""
    kind = demand["source"].astype(str).str.partition(":")[2]
    return kind.where(kind != "", "village")
