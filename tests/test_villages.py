"""Village demand: OSM place=* features of the shipped rural extract, and village tables in GCJ-02."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netplan.coords import wgs84_to_gcj02
from netplan.scenario import DemandFile, VillageConfig
from netplan.villages import (
    _number,
    village_places,
    villages_from_osm,
    villages_from_table,
)

ROOT = Path(__file__).resolve().parents[1]
EXTRACT = ROOT / "data" / "north-bayreuth.osm.bz2"


@pytest.mark.parametrize(
    "text, value",
    [("1085", 1085.0), ("1,085", 1085.0), ("ca. 400", 400.0), ("x", None), (None, None), (float("nan"), None)],
)
def test_population_tags(text: object, value: float | None) -> None:
    assert _number(text) == value


def test_villages_from_the_rural_extract() -> None:
    villages = villages_from_osm(EXTRACT, VillageConfig(), persons_per_household=2.9)
    places = village_places(villages)
    # data/README.md: 22 villages and 48 hamlets (plus one isolated dwelling) as named place=* nodes
    assert (places == "village").sum() == 22 and (places == "hamlet").sum() == 48
    assert (places == "isolated_dwelling").sum() == 1
    tagged = villages[villages["method"] == "population_tag"].set_index("name")
    assert tagged.loc["Neudrossenfeld", "households"] == pytest.approx(3959 / 2.9)
    assert tagged.loc["Harsdorf", "households"] == pytest.approx(1085 / 2.9)
    hamlets = villages[(places == "hamlet").to_numpy()]
    assert (hamlets["method"] == "place_default").all()
    assert hamlets["households"].to_numpy() == pytest.approx(np.full(len(hamlets), 60 / 2.9))
    # total residents: two tagged villages + 20 x 400 + 48 x 60 + 1 x 8
    assert villages["households"].sum() * 2.9 == pytest.approx(3959 + 1085 + 20 * 400 + 48 * 60 + 8)


def test_gcj02_village_table_is_converted_to_wgs84(tmp_path: Path) -> None:
    # villages near Chengdu, where GCJ-02 is shifted by several hundred metres
    wgs_lon, wgs_lat = np.array([103.90, 104.21]), np.array([30.95, 30.52])
    lon, lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert np.abs(lon - wgs_lon).max() > 1e-3  # the table really is shifted
    path = tmp_path / "villages.csv"
    pd.DataFrame({"村名": ["甲村", "乙村"], "lon": lon, "lat": lat, "人口": [1200, 600]}).to_csv(path, index=False)
    config = VillageConfig(
        source="file", file=DemandFile(path=str(path), crs="gcj02", name="村名", households=None, population="人口")
    )
    villages = villages_from_table(None, config, path, persons_per_household=3.0)
    assert villages["households"].tolist() == pytest.approx([400.0, 200.0])
    assert villages.geometry.x.to_numpy() == pytest.approx(wgs_lon, abs=1e-6)
    assert villages.geometry.y.to_numpy() == pytest.approx(wgs_lat, abs=1e-6)
    assert village_places(villages).tolist() == ["village", "village"]


def test_shipped_gcj02_table_reads() -> None:
    path = ROOT / "data" / "rural_villages_gcj02.csv"
    config = VillageConfig(source="file", file=DemandFile(path=str(path), crs="gcj02"))
    villages = villages_from_table(None, config, path, persons_per_household=2.9)
    assert len(villages) == 22 and villages["households"].gt(0).all()
