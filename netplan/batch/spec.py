"""The sweep file: its model, key paths into a scenario, and the expansion into runs."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from netplan.errors import ScenarioError
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
        raise ScenarioError(_describe(dict(first)), path, _key_path(first["loc"])) from None
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
        city = {
            k: v
            for k, v in (data.get("city") or {}).items()
            if k not in ("source", "place", "bbox", "name", "features")
        }
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
    text = json.dumps(
        {"city": city, "scenario": scenario, "radii_m": list(radii_m)}, sort_keys=True, ensure_ascii=False, default=str
    )
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
                culprit = next(
                    (
                        (o, k)
                        for o, k, _ in [("set", k, v) for k, v in sweep.set.items()] + variant
                        if where == k
                        or where.startswith(k + ".")
                        or where.startswith(k + "[")
                        or k.startswith(where + ".")
                        or k.startswith(where + "[")
                    ),
                    None,
                )
                if culprit is None:
                    raise
                values = ", ".join(f"{k}={v!r}" for _, k, v in variant)
                raise ScenarioError(
                    f"{where}: {exc.message} (in the run with {values})", sweep_file, f"{culprit[0]}.{culprit[1]}"
                ) from None
            dumped = scenario.model_dump(mode="json")
            run_id = run_id_of(city, dumped, radii)
            params = {k: _jsonable(v) for _, k, v in variant}
            if run_id in seen:
                raise ScenarioError(
                    f"two runs have the same settings ({params}); each combination must differ", sweep_file, "grid/runs"
                )
            seen[run_id] = len(specs)
            specs.append(
                RunSpec(
                    run_id=run_id,
                    index=len(specs),
                    city=city,
                    params=params,
                    scenario=data,
                    scenario_file=str(base_file),
                    radii_m=radii,
                    out_dir=str(out_dir / "runs" / run_id),
                    per_run=sweep.outputs.per_run,
                )
            )
    return specs
