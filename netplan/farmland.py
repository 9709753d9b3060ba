"""Agricultural streams from farmland: straw (秸秆), pesticide packaging (农药包装废弃物) and film (农膜).

Farmland comes as field blocks: OSM ``landuse=farmland`` polygons of the city's
features, or a polygon layer (``rural.farmland.source: file``). For each
block of area ``A`` hectares:

* straw, t/season = ``A x sum_c(share_c x yield_c x residue_ratio_c) x collectable_share``
  (the theoretical amount is the same without the collectable share);
* pesticide packaging, kg/yr = ``A x pesticide_kg_ha_yr``;
* film, kg/yr = ``A x film_kg_ha_yr``.

Every coefficient is a ``rural.farmland`` key whose default and source are
listed in README "Rural networks". Each block is also given to its nearest
village (straight line), which collects its packaging and film.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan.city import City
from netplan.errors import InputDataError
from netplan.scenario import FarmlandConfig, Scenario


def straw_t_per_ha(config: FarmlandConfig, collectable: bool = True) -> float:
    """Straw per hectare of farmland and season from the crop mix.

    Parameters
    ----------
    config
        The ``rural.farmland`` settings.
    collectable
        Apply ``collectable_share`` (True) or give the theoretical amount.

    Returns
    -------
    float
        t/ha/season.
    """
    theoretical = sum(c.share * c.yield_t_ha * c.residue_ratio for c in config.crops.values())
    return theoretical * (config.collectable_share if collectable else 1.0)


def farmland_blocks(city: City, scenario: Scenario) -> gpd.GeoDataFrame:
    """The field blocks of the county, with their area.

    Parameters
    ----------
    city
        The loaded county (OSM features, metric CRS).
    scenario
        A scenario with a ``rural`` section.

    Returns
    -------
    geopandas.GeoDataFrame
        WGS-84 polygons with ``block_id, osm_id, landuse, area_ha``, in a stable order.
    """
    assert scenario.rural is not None
    config = scenario.rural.farmland
    if config.source == "file":
        path = scenario.resolve(config.file)
        assert path is not None
        if not path.is_file():
            raise InputDataError("farmland file not found", path, "rural.farmland.file")
        try:
            frame = gpd.read_file(path, layer=config.layer) if config.layer else gpd.read_file(path)
        except Exception as exc:  # noqa: BLE001 - pyogrio raises several kinds on malformed files
            raise InputDataError(f"cannot read the farmland layer: {exc}", path, "rural.farmland.file") from None
        if frame.crs is None:
            raise InputDataError("the farmland layer has no CRS", path, "rural.farmland.file")
        frame = frame.to_crs("EPSG:4326").assign(osm_id=pd.NA, landuse="farmland")
    else:
        feats = city.features
        if feats is None or feats.empty:
            raise InputDataError(
                "the county's OSM data has no land-use features; give rural.farmland.file",
                where="rural.farmland.source",
            )
        frame = feats[feats["landuse"].isin(config.landuse)].sort_values(["osm_type", "osm_id"], kind="stable")
    frame = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    blocks = gpd.GeoDataFrame(
        {"osm_id": pd.array(frame["osm_id"], dtype="Int64"), "landuse": frame["landuse"].values},
        geometry=frame.geometry.values,
        crs="EPSG:4326",
    )
    blocks["area_ha"] = blocks.to_crs(city.crs).area.to_numpy() / 10_000
    blocks.insert(0, "block_id", np.arange(len(blocks), dtype=np.int64))
    return blocks


def farmland_streams(blocks: gpd.GeoDataFrame, config: FarmlandConfig) -> gpd.GeoDataFrame:
    """Straw, pesticide packaging and film per field block.

    Parameters
    ----------
    blocks
        Field blocks with ``area_ha``.
    config
        Coefficients (``rural.farmland``).

    Returns
    -------
    geopandas.GeoDataFrame
        ``blocks`` plus ``straw_theoretical_t``, ``straw_t`` (collectable, t/season),
        ``pesticide_kg_yr`` and ``film_kg_yr``.
    """
    out = blocks.copy()
    area = out["area_ha"].to_numpy(dtype=float)
    out["straw_theoretical_t"] = area * straw_t_per_ha(config, collectable=False)
    out["straw_t"] = area * straw_t_per_ha(config)
    out["pesticide_kg_yr"] = area * config.pesticide_kg_ha_yr
    out["film_kg_yr"] = area * config.film_kg_ha_yr
    return out


def nearest_village(blocks: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """The ``demand_id`` of the village nearest to each block (straight line, in the metric ``crs``).

    Parameters
    ----------
    blocks
        Field blocks (WGS-84).
    villages
        Demand points with ``demand_id`` (WGS-84).
    crs
        A metric CRS.

    Returns
    -------
    numpy.ndarray
        One village id per block.
    """
    if villages.empty:
        raise InputDataError("no villages to give the farmland to", where="rural.villages")
    centres = blocks.to_crs(crs).representative_point()
    joined = gpd.sjoin_nearest(
        gpd.GeoDataFrame(geometry=centres.values, crs=crs), villages[["demand_id", "geometry"]].to_crs(crs), how="left"
    )
    # ties: keep the lowest village id so the result never depends on join order
    joined = joined.reset_index().sort_values(["index", "demand_id"]).drop_duplicates("index")
    return joined["demand_id"].to_numpy(dtype=np.int64)
