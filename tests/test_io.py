"""Atomic writes: a failed write leaves the old file and no temporary behind."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from netplan.io import atomic_path, write_csv, write_geopackage, write_json


def test_failed_write_leaves_old_file(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half', encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8").strip() == '{\n  "v": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_geopackage_layers_and_unicode(tmp_path):
    frame = gpd.GeoDataFrame({"name": ["锦江区"], "tags": [["a", "b"]]}, geometry=[Point(104, 30)], crs="EPSG:4326")
    path = write_geopackage(tmp_path / "x.gpkg", {"one": frame, "empty": frame.iloc[:0], "none": None})
    import pyogrio

    assert [name for name, _ in pyogrio.list_layers(path)] == ["one"]
    back = gpd.read_file(path, layer="one")
    assert back["name"].iloc[0] == "锦江区" and back["tags"].iloc[0] == '["a", "b"]'


def test_csv_has_bom_for_excel(tmp_path):
    import pandas as pd

    path = write_csv(tmp_path / "k.csv", pd.DataFrame({"名称": ["回收点"]}))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "回收点".encode() in raw
