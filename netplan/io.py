"""Writing outputs: GeoPackage layers, CSV, JSON, HTML, and whole output folders (and reading layers back).

Every file is written to a temporary name in its destination folder and
renamed into place, so a crash or a full disk never leaves a half-written
output behind: readers see the old file or the new one. An output folder is
written as a whole in the same way (:func:`replace_folder`): staged beside the
target as ``<name>.tmp-<pid>`` and swapped into place in one step, so a
killed run leaves the previous complete folder or the new complete folder,
never a mix. Temporaries of killed runs are removed by the next write.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from netplan import interrupts
from netplan.errors import NetplanError


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
    _remove_stale_temporaries(path)
    # the writer's pid in the name lets a later write tell a killed writer's leftover from a live one's file
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.tmp-{os.getpid()}-", suffix="".join(path.suffixes), dir=path.parent
    )
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
            out[col] = series.map(
                lambda v: (
                    json.dumps(v, ensure_ascii=False, default=_jsonable)
                    if isinstance(v, (list, dict, tuple, set))
                    else v
                )
            )
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


def read_layer(path: str | Path, layer: str) -> gpd.GeoDataFrame:
    """Read one GeoPackage layer with its NULL integers as nulls of an integer column.

    pyogrio reads an integer field holding NULLs as float64 (ids become ``58.0``); such columns come back as
    pandas ``Int64`` (``<NA>`` for NULL), as the plan held them before writing.

    Parameters
    ----------
    path
        The ``.gpkg`` file.
    layer
        The layer name.

    Returns
    -------
    geopandas.GeoDataFrame
        The layer in its stored CRS.
    """
    frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    info = pyogrio.read_info(path, layer=layer)
    for name, dtype in zip(info["fields"], info["dtypes"]):
        if str(dtype).startswith("int") and name in frame.columns and frame[name].dtype.kind == "f":
            frame[name] = frame[name].astype("Int64")
    return frame


def write_with(path: str | Path, writer: Callable[[Path], object]) -> Path:
    """Run ``writer(tmp_path)`` and move the result onto ``path`` atomically (what ``writer`` returns is ignored)."""
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


def _alive(pid: int) -> bool:
    """Whether another process with this id is running (our own leftovers are stale)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporaries a killed writer of ``path`` left beside it."""
    ours = re.compile(rf"^\.{re.escape(path.name)}\.tmp-(\d+)-")
    # netplan before 2026-11 named them .<name>.<8 random chars>.tmp<suffixes>, without the writer's pid
    legacy = re.compile(rf"^\.{re.escape(path.name)}\.\w{{8}}\.tmp(\.|$)")
    for item in path.parent.glob(f".{glob.escape(path.name)}.*"):
        match = ours.match(item.name)
        if (match and not _alive(int(match.group(1)))) or (not match and legacy.match(item.name)):
            with contextlib.suppress(OSError):
                item.unlink()


def check_output_folder(folder: str | Path, *, where: str, whole: bool = True) -> Path:
    """Check, before any solving, that ``folder`` can be written as a whole.

    The folder itself may not exist yet; it is staged beside itself and
    swapped in, so its parent (or the nearest existing ancestor) must be a
    writable folder, and an existing ``folder`` must be a writable folder.
    Writability is tested by creating and removing a file, which also
    catches read-only file systems.

    Parameters
    ----------
    folder
        The output folder.
    where
        The option or key it came from (``--out``, ``outputs.dir``), for the error.
    whole
        The folder will be replaced as a whole (:func:`replace_folder`), so an
        existing one must be empty or an earlier output folder. False for a
        folder that only receives files (``outputs.maps_dir``).

    Returns
    -------
    pathlib.Path
        The folder as an absolute path.

    Raises
    ------
    NetplanError
        When it is a file, is read-only, its parent cannot be written, or it
        would be replaced but holds files that are not netplan's.
    """
    target = Path(folder).absolute()
    if target.name in ("", ".", ".."):
        raise NetplanError(f"{folder!s} does not name a folder of its own; give a new or existing folder", where=where)
    if target.exists() and not target.is_dir():
        raise NetplanError(f"{target} is a file, not a folder", where=where)
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NetplanError(f"cannot create {target}: {ancestor} is a file, not a folder", where=where)
    _probe_writable(ancestor, target, where, "its parent folder")
    if target.exists():
        if whole:
            _check_replaceable(target, where)
        _probe_writable(target, target, where, "the folder")
    return target


def _check_replaceable(target: Path, where: str | None = None) -> None:
    """Refuse to replace a folder that is not an earlier output folder: its other files would be lost."""
    if not target.is_dir():
        raise NetplanError(f"{target} is a file, not a folder", where=where)
    cwd = Path.cwd().resolve()
    if target.resolve() == cwd or target.resolve() in cwd.parents:
        raise NetplanError(
            f"{target} holds the working directory; the output folder is replaced as a whole, so "
            "give a folder of its own",
            where=where,
        )
    # manifest.json: a run's folder; run.json: a sweep's run folder (netplan.batch), also of a run that failed
    if any(target.iterdir()) and not any((target / name).is_file() for name in ("manifest.json", "run.json")):
        raise NetplanError(
            f"{target} is not empty and is not an output folder of netplan (no manifest.json); the "
            "output folder is replaced as a whole, so give a new folder or an earlier run's",
            where=where,
        )


def _probe_writable(folder: Path, target: Path, where: str, what: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".netplan-write-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise NetplanError(
            f"cannot write the output folder {target}: {what} {folder} is not writable ({exc.strerror})", where=where
        ) from None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # file system or kernel without the exchange
        return False
    raise OSError(code, os.strerror(code), str(b))


def _sibling(target: Path, kind: str, pid: int | None = None) -> Path:
    return target.with_name(f"{target.name}.{kind}-{os.getpid() if pid is None else pid}")


def remove_stale_folders(target: str | Path) -> None:
    """Clean up after killed writers of the output folder ``target``.

    Removes staging folders (``<name>.tmp-<pid>``) and set-aside old folders
    (``<name>.old-<pid>``) of processes that are no longer running. An old
    folder whose replacement never arrived (killed between the two renames
    where the atomic swap is unavailable) is put back as ``target``.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return
    pattern = re.compile(rf"^{re.escape(target.name)}\.(old|tmp)-(\d+)$")
    found = sorted(
        (m.group(1), item)
        for item in target.parent.iterdir()
        if (m := pattern.match(item.name)) and not _alive(int(m.group(2)))
    )
    for kind, item in found:  # "old" sorts first: restore before the leftovers are removed
        if kind == "old" and not target.exists():
            os.rename(item, target)
        else:
            shutil.rmtree(item, ignore_errors=True)


@contextlib.contextmanager
def replace_folder(target: str | Path) -> Iterator[Path]:
    """Yield a fresh staging folder beside ``target``; swap it in as ``target`` on success.

    Parameters
    ----------
    target
        The output folder to write as a whole.

    Yields
    ------
    pathlib.Path
        The staging folder (``<target>.tmp-<pid>``) to write every output
        into. When the block ends normally it replaces ``target`` in one
        atomic exchange (``renameat2``; elsewhere two renames that a Ctrl-C
        cannot separate) and the old folder is deleted. On an exception
        (including Ctrl-C) the staging folder is deleted and ``target`` is
        left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_folders(target)
    if target.exists():
        _check_replaceable(target)
    stage = _sibling(target, "tmp")
    stage.mkdir()
    try:
        yield stage
        _swap_in(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # the new folder if it failed, the old one after the swap


def _swap_in(stage: Path, target: Path) -> None:
    if not target.exists():
        os.rename(stage, target)
    elif not _exchange(stage, target):
        aside = _sibling(target, "old")
        with interrupts.deferred():
            os.rename(target, aside)
            os.rename(stage, target)
        shutil.rmtree(aside, ignore_errors=True)


def folder_files(folder: str | Path, *, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every file under ``folder`` with its SHA-256 and size, for a manifest.

    Parameters
    ----------
    folder
        The folder.
    exclude
        Relative paths to leave out (the manifest itself).

    Returns
    -------
    list of dict
        ``{"path": relative POSIX path, "sha256": ..., "bytes": ...}``, sorted by path.
    """
    root = Path(folder)
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel not in exclude:
            out.append({"path": rel, "sha256": file_sha256(path), "bytes": path.stat().st_size})
    return out
