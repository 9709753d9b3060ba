"""Farmland streams: straw, pesticide packaging and film against hand-computed area x coefficient sums."""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import pytest
import shapely

from netplan.errors import ScenarioError
from netplan.farmland import (
    farmland_blocks,
    farmland_streams,
    nearest_village,
    straw_t_per_ha,
)
from netplan.scenario import FarmlandConfig, scenario_from_dict

UTM = "EPSG:32632"


def _square(x0: float, y0: float, side_m: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + side_m, y0 + side_m)


def _config() -> FarmlandConfig:
    return FarmlandConfig(
        crops={
            "rice": {"share": 0.6, "yield_t_ha": 7.0, "residue_ratio": 0.9},
            "maize": {"share": 0.4, "yield_t_ha": 6.0, "residue_ratio": 1.2},
        },
        collectable_share=0.8,
        pesticide_kg_ha_yr=1.0,
        film_kg_ha_yr=12.0,
    )


def test_default_straw_per_hectare_is_the_documented_crop_mix() -> None:
    # README: 0.5 x 6.44 x 1.2 (maize) + 0.5 x 5.86 x 1.1 (wheat) = 7.087 t/ha, x 0.85 collectable
    cfg = FarmlandConfig()
    assert straw_t_per_ha(cfg, collectable=False) == pytest.approx(7.087)
    assert straw_t_per_ha(cfg) == pytest.approx(7.087 * 0.85)


def test_streams_are_area_times_coefficients() -> None:
    # 100 m x 1000 m = 10 ha and 300 m x 850 m = 25.5 ha, in a metric CRS
    blocks = gpd.GeoDataFrame(
        {"block_id": [0, 1], "area_ha": [10.0, 25.5]},
        geometry=[shapely.box(0, 0, 100, 1000), shapely.box(500, 0, 800, 850)],
        crs=UTM,
    )
    out = farmland_streams(blocks, _config())
    # per ha: 0.6 x 7 x 0.9 + 0.4 x 6 x 1.2 = 3.78 + 2.88 = 6.66 t theoretical, x 0.8 = 5.328 t collectable
    assert out["straw_theoretical_t"].tolist() == pytest.approx([66.6, 169.83])
    assert out["straw_t"].tolist() == pytest.approx([53.28, 135.864])
    assert out["pesticide_kg_yr"].tolist() == pytest.approx([10.0, 25.5])
    assert out["film_kg_yr"].tolist() == pytest.approx([120.0, 306.0])


def test_blocks_from_features_measure_area_in_the_metric_crs() -> None:
    feats = gpd.GeoDataFrame(
        {"osm_type": ["way", "way", "way"], "osm_id": [3, 1, 2], "landuse": ["farmland", "farmland", "meadow"]},
        geometry=[
            _square(690_000, 5_540_000, 1000),
            _square(692_000, 5_540_000, 200),
            _square(694_000, 5_540_000, 500),
        ],
        crs=UTM,
    ).to_crs("EPSG:4326")
    city = SimpleNamespace(features=feats, crs=UTM)
    scenario = SimpleNamespace(rural=SimpleNamespace(farmland=FarmlandConfig()), resolve=lambda p: p)
    blocks = farmland_blocks(city, scenario)  # type: ignore[arg-type]
    assert blocks["osm_id"].tolist() == [1, 3]  # meadow left out, stable OSM order
    assert blocks["area_ha"].tolist() == pytest.approx([4.0, 100.0], rel=1e-6)
    total = farmland_streams(blocks, FarmlandConfig())["straw_t"].sum()
    assert total == pytest.approx(104.0 * 7.087 * 0.85, rel=1e-6)


def test_each_block_goes_to_its_nearest_village() -> None:
    blocks = gpd.GeoDataFrame(geometry=[_square(0, 0, 100), _square(5000, 0, 100)], crs=UTM).to_crs("EPSG:4326")
    villages = gpd.GeoDataFrame(
        {"demand_id": [7, 3]}, geometry=[shapely.Point(5200, 50), shapely.Point(150, 50)], crs=UTM
    ).to_crs("EPSG:4326")
    assert nearest_village(blocks, villages, UTM).tolist() == [3, 7]


def test_crop_shares_above_one_are_a_scenario_error() -> None:
    data = {
        "name": "x",
        "city": {"source": "a.osm"},
        "tiers": [{"tier": t, "radius_m": 1, "capacity_kg_day": 1} for t in (1, 2, 3)],
        "rural": {
            "farmland": {
                "crops": {
                    "maize": {"share": 0.7, "yield_t_ha": 6, "residue_ratio": 1.2},
                    "wheat": {"share": 0.6, "yield_t_ha": 6, "residue_ratio": 1.1},
                }
            }
        },
    }
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data)
    assert "rural.farmland" in str(err.value.where) and "1.3" in str(err.value)
