"""A sweep's results: the tidy table (CSV and Parquet) and the PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netplan.batch.spec import TIMING_COLUMNS, RunSpec
from netplan.io import write_csv, write_with

_FIXED = ("run_id", "city", "status", "error", *TIMING_COLUMNS)
"""Table columns that are not metrics."""


def _empty(value: object) -> bool:
    """An empty cell: None or a float NaN."""
    return value is None or (isinstance(value, float) and bool(np.isnan(value)))


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
            table[col] = table[col].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
            )
    for col in [*params, *metrics]:
        # judged on the rows themselves: the frame has already turned integers beside empty cells into floats
        values = [row.get(col) for row in ordered if not _empty(row.get(col))]
        if not values:
            continue
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
            table[col] = table[col].map(
                lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            )
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


def write_plots(
    table: pd.DataFrame,
    folder: str | Path,
    radii_m: list[float],
    group_by: str | None = None,
    coverage_radius_m: float | None = None,
    title: str = "",
) -> tuple[dict[str, Path], list[str]]:
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
        ax.plot(
            radii,
            values.mean(axis=0),
            color=colour,
            marker="o",
            lw=2,
            label=f"{name} ({len(sub)} run{'s' if len(sub) > 1 else ''})",
        )
    ax.set_xlabel("walking distance to the nearest collection point (m)")
    ax.set_ylabel("households within that distance (%)")
    ax.set_ylim(0, 101)
    ax.set_title(
        f"{title}: coverage vs radius (line: mean, band: min-max)" if title else "coverage vs radius", fontsize=11
    )
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
        ax.scatter(
            sub[xcol].astype(float) * 100,
            sub["cost_total"].astype(float) / 1e6,
            color=colours[i % len(colours)],
            s=28,
            label=name,
            zorder=3,
        )
    # the cheapest run for at least each coverage: the front a policy maker chooses from
    pts = (
        sited[[xcol, "cost_total"]].astype(float).sort_values([xcol, "cost_total"], ascending=[False, True]).to_numpy()
    )
    front, best = [], np.inf
    for x, y in pts:
        if y < best:
            front.append((x, y))
            best = y
    if len(front) > 1:
        fx, fy = zip(*sorted(front))
        ax.plot(
            np.array(fx) * 100,
            np.array(fy) / 1e6,
            color="#424242",
            lw=1,
            ls="--",
            label="cheapest for its coverage",
            zorder=2,
        )
    ax.set_xlabel(f"households within {r:g} m walk of a collection point (%)")
    ax.set_ylabel("network cost (million CNY / year)")
    ax.set_title(f"{title}: cost vs coverage" if title else "cost vs coverage", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out["cost_vs_coverage"] = _save_png(fig, folder / "cost_vs_coverage.png")
    return out, notes
