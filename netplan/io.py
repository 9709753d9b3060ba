"""Writing outputs: GeoPackage layers, CSV, JSON, HTML — always atomically.

Every file is written to a temporary name in its destination folder and
renamed into place, so a crash or a full disk never leaves a half-written
output behind: readers see the old file or the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path
        The final destination.

    Yields
    ------
    pathlib.Path
        Where to write. On an exception the temporary file is removed and
        ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON (UTF-8, Chinese kept readable) atomically and return the path."""
    return write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=_jsonable) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a CSV with a UTF-8 BOM (so Excel shows Chinese) atomically and return the path."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig")
    return Path(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _for_gpkg(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """GeoPackage columns must be scalars: lists and dicts become text."""
    out = frame.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        series = out[col]
        if series.dtype == object and series.map(lambda v: isinstance(v, (list, dict, tuple, set))).any():
            out[col] = series.map(lambda v: json.dumps(v, ensure_ascii=False, default=_jsonable) if isinstance(v, (list, dict, tuple, set)) else v)
    return out


def write_geopackage(path: str | Path, layers: dict[str, gpd.GeoDataFrame]) -> Path:
    """Write several layers into one GeoPackage atomically.

    Parameters
    ----------
    path
        Destination ``.gpkg``.
    layers
        Layer name -> GeoDataFrame (empty or None layers are skipped).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    with atomic_path(path) as tmp:
        for name, frame in layers.items():
            if frame is None or len(frame) == 0:
                continue
            _for_gpkg(frame).to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    return Path(path)


def write_with(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Run ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (for the run manifest)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
