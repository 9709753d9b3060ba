"""The key figures maps show: which rows of ``kpis.csv``, their names and formats.

The plan map's KPI panel and the comparison table show the same rows. Every
number is written into the page twice: formatted for reading, and raw in a
``data-value`` attribute (with ``data-section``/``data-key``), so tests can
check the panel against ``kpis.csv``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from netplan.render.labels import label, tier_name


@dataclass
class KpiRow:
    """One figure: where it is in the KPI table, its name and how to print it."""

    section: str
    key: str
    name: str
    fmt: str
    group: str


def _has(kpis: pd.DataFrame | None, section: str, key: str) -> bool:
    return kpis is not None and bool(((kpis["section"] == section) & (kpis["key"] == key)).any())


def value(kpis: pd.DataFrame | None, section: str, key: str) -> Any:
    """A KPI value, or None."""
    if kpis is None:
        return None
    row = kpis[(kpis["section"] == section) & (kpis["key"] == key)]
    return None if row.empty else row["value"].iloc[0]


def number(v: Any) -> float | None:
    """A KPI value as a float (None when it is text or missing)."""
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def kpi_rows(kpis: pd.DataFrame | None, tiers: list[int], lang: str, everything: bool = False) -> list[KpiRow]:
    """The rows shown (only those present in ``kpis``; ``everything`` adds what tables of several plans need)."""
    L = lambda key: label(lang, key)  # noqa: E731
    rows = [
        KpiRow("demand", "points", L("demand_points"), "int", "demand"),
        KpiRow("demand", "households", L("total_households"), "int", "demand"),
        KpiRow("demand", "kg_day", L("total_kg_day"), "int", "demand"),
        KpiRow("network", "households_covered_share", L("network_coverage"), "pct1", "coverage"),
        KpiRow("coverage", "existing_households_share", L("coverage_existing"), "pct1", "coverage"),
        KpiRow("coverage", "potential_households_share", L("coverage_potential"), "pct1", "coverage"),
        KpiRow("network", "excluded_households", L("excluded_households"), "int", "coverage"),
    ]
    for t in tiers:
        rows.append(
            KpiRow("network", f"tier{t}_open", f"{tier_name(lang, t)} · {L('open_count')}", "int", "facilities")
        )
        rows.append(KpiRow("network", f"tier{t}_new", f"{tier_name(lang, t)} · {L('new_count')}", "int", "facilities"))
        rows.append(
            KpiRow(
                "network",
                f"tier{t}_utilisation_mean",
                f"{tier_name(lang, t)} · {L('utilisation_mean')}",
                "pct1",
                "facilities",
            )
        )
    rows.append(KpiRow("cost", "total", L("total_cost"), "int", "cost"))
    for t in tiers:
        rows.append(
            KpiRow("cost", f"open_t{t}", L("cost_open_tier").format(name=tier_name(lang, t)), "int", "cost_detail")
        )
    for t in tiers[:-1]:
        rows.append(
            KpiRow(
                "cost",
                f"haul_t{t}",
                L("haul_link").format(a=tier_name(lang, t), b=tier_name(lang, t + 1)),
                "int",
                "cost_detail",
            )
        )
    rows.append(KpiRow("cost", "access", L("cost_access"), "int", "cost_detail"))
    chosen = value(kpis, "locate", "chosen")
    mode = f"locate_{chosen}" if isinstance(chosen, str) and chosen else "locate_integrated"
    rows.append(KpiRow(mode, "gap", L("gap"), "pct2", "solver"))
    rows.append(KpiRow("routing", "vehicles", L("routing_vehicles"), "int", "routing"))
    rows.append(KpiRow("routing", "km", L("routing_km"), "f1", "routing"))
    # vehicle-hours (driving, service, turnaround, waiting) when the evaluate stage writes them
    rows.append(KpiRow("routing", "vehicle_hours", L("routing_vehicle_hours"), "f1", "routing"))
    rows.append(KpiRow("routing", "driving_hours", L("routing_hours"), "f1", "routing"))
    rows.append(KpiRow("routing", "dropped_stops", L("routing_dropped"), "int", "routing"))
    if everything:
        rows.append(KpiRow(mode, "solve_time_s", L("solve_time_s"), "f1", "solver"))
        rows.append(KpiRow("city", "walk_km", L("walk_km"), "f1", "city"))
        rows.append(KpiRow("city", "drive_km", L("drive_km"), "f1", "city"))
    return [r for r in rows if _has(kpis, r.section, r.key)]


def fmt(v: Any, kind: str) -> str:
    """Format a value for reading: ``int`` (thousands separators), ``f1``, ``pct1``, ``pct2`` (share as %)."""
    x = number(v)
    if x is None:
        return "" if v is None else str(v)
    if kind == "pct1":
        return f"{x * 100:.1f}%"
    if kind == "pct2":
        return f"{x * 100:.2f}%"
    if kind == "f1":
        return f"{x:,.1f}"
    return f"{x:,.0f}"


def fmt_diff(d: float | None, kind: str, lang: str) -> str:
    """Format a difference with its sign; shares as percentage points."""
    if d is None:
        return "—"
    if abs(d) < 1e-12:
        return "±0"
    sign = "+" if d > 0 else "−"
    a = abs(d)
    if kind.startswith("pct"):
        digits = 1 if kind == "pct1" else 2
        return f"{sign}{a * 100:.{digits}f} {label(lang, 'pp')}"
    if kind == "f1":
        return f"{sign}{a:,.1f}"
    return f"{sign}{a:,.0f}"


def _cell(row: KpiRow, kpis: pd.DataFrame | None, tag: str = "td", plan: int | None = None) -> str:
    v = value(kpis, row.section, row.key)
    raw = "" if v is None else str(v)
    plan_attr = "" if plan is None else f' data-plan="{plan}"'
    return (
        f'<{tag} class="np-kpi" data-section="{html.escape(row.section)}" data-key="{html.escape(row.key)}" '
        f'data-value="{html.escape(raw)}" data-fmt="{row.fmt}"{plan_attr}>'
        f'<span class="np-v">{html.escape(fmt(v, row.fmt))}</span></{tag}>'
    )


def panel_html(
    kpis: pd.DataFrame | None,
    tiers: list[int],
    lang: str,
    title: str,
    icons: dict[str, str],
    warnings: Sequence[dict] | None = None,
) -> str:
    """The plan map's KPI panel: demand and coverage, facilities per tier, cost (with a breakdown), gap; then the
    run's warnings (see :func:`warnings_html`)."""
    L = lambda key: label(lang, key)  # noqa: E731
    rows = kpi_rows(kpis, tiers, lang)
    main = [r for r in rows if r.group in ("demand", "coverage", "cost", "solver", "routing")]
    body = "".join(f"<tr><th>{html.escape(r.name)}</th>{_cell(r, kpis)}</tr>" for r in main)
    fac = ""
    if any(r.group == "facilities" for r in rows):
        head = (
            f"<tr><th>{html.escape(L('facilities'))}</th><th>{html.escape(L('open_count'))}</th>"
            f"<th>{html.escape(L('new_count'))}</th><th>{html.escape(L('utilisation_mean'))}</th></tr>"
        )
        lines = []
        for t in tiers:
            cells = []
            for key in (f"tier{t}_open", f"tier{t}_new", f"tier{t}_utilisation_mean"):
                match = [r for r in rows if r.key == key]
                cells.append(_cell(match[0], kpis) if match else "<td></td>")
            if any(c != "<td></td>" for c in cells):
                lines.append(
                    f"<tr><th><span class='np-ico'>{icons.get(f'{t}-n', '')}</span>"
                    f"{html.escape(tier_name(lang, t))}</th>{''.join(cells)}</tr>"
                )
        fac = f"<table class='np-fac'>{head}{''.join(lines)}</table>"
    detail = [r for r in rows if r.group == "cost_detail"]
    details = ""
    if detail:
        inner = "".join(f"<tr><th>{html.escape(r.name)}</th>{_cell(r, kpis)}</tr>" for r in detail)
        details = f"<details><summary>{html.escape(L('cost_breakdown'))}</summary><table>{inner}</table></details>"
    return (
        f"<div class='np-kpis'><div class='np-kpi-title' title='{html.escape(L('kpis'))}'>{html.escape(title)}</div>"
        f"<table class='np-main'>{body}</table>{fac}{details}{warnings_html(warnings, lang)}</div>"
    )


def compare_html(
    plans: list[tuple[str, pd.DataFrame | None]],
    tiers: list[int],
    lang: str,
    extra_rows: list[tuple[str, list[float | None]]] | None = None,
) -> str:
    """The comparison table: one column per plan, then each plan's difference from the first (B − A, ...)."""
    L = lambda key: label(lang, key)  # noqa: E731
    # one row order for all plans: the rows of any plan, in the panel's order (a 4-tier plan adds its rows in place)
    frames = [k for _, k in plans if k is not None]
    union = pd.concat(frames, ignore_index=True) if frames else None
    # each plan's gap and solve time come from the location mode it chose (A integrated, B bottom-up, ...)
    chosen = [value(k, "locate", "chosen") for _, k in plans]
    own_modes = [f"locate_{c}" if isinstance(c, str) and c else None for c in chosen]
    if union is not None:
        union = union[~((union["section"] == "locate") & (union["key"] == "chosen"))]
        solver = union["section"].isin([m for m in own_modes if m])
        union = pd.concat([union[~solver], union[solver].assign(section="locate_chosen")], ignore_index=True)
        first = pd.DataFrame([{"section": "locate", "key": "chosen", "value": "chosen", "unit": ""}])
        union = pd.concat([first, union], ignore_index=True)
    rows = kpi_rows(union, tiers, lang, everything=True)

    def own(row: KpiRow, i: int) -> KpiRow:
        if row.section != "locate_chosen":
            return row
        return KpiRow(own_modes[i] or row.section, row.key, row.name, row.fmt, row.group)

    letters = [chr(ord("A") + i) for i in range(len(plans))]
    head = "".join(f"<th title='{html.escape(name)}'>{letters[i]}</th>" for i, (name, _) in enumerate(plans))
    head += "".join(f"<th>{letters[i]} − A</th>" for i in range(1, len(plans)))
    body = []
    for r in rows:
        cells = "".join(_cell(own(r, i), kpis, plan=i) for i, (_, kpis) in enumerate(plans))
        base = number(value(plans[0][1], own(r, 0).section, r.key))
        for i in range(1, len(plans)):
            other = number(value(plans[i][1], own(r, i).section, r.key))
            d = None if base is None or other is None else other - base
            raw = "" if d is None else repr(round(d, 10))
            cls = "np-diff" + (" np-nz" if d not in (None, 0) and abs(d) > 1e-12 else "")
            cells += (
                f'<td class="{cls}" data-section="{html.escape(r.section)}" data-key="{html.escape(r.key)}" '
                f'data-plan="{i}" data-value="{raw}">{html.escape(fmt_diff(d, r.fmt, lang))}</td>'
            )
        body.append(f"<tr class='np-g-{r.group}'><th>{html.escape(r.name)}</th>{cells}</tr>")
    for name, values in extra_rows or []:
        cells = "".join(f"<td>{'' if v is None else f'{v:,.0f}'}</td>" for v in values)
        cells += "<td></td>" * (len(plans) + (len(plans) - 1) - len(values))
        body.append(f"<tr class='np-g-diff'><th>{html.escape(name)}</th>{cells}</tr>")
    legend = "".join(f"<div><b>{letters[i]}</b> {html.escape(name)}</div>" for i, (name, _) in enumerate(plans))
    return (
        f"<div class='np-plans'>{legend}</div><table class='np-compare-table'>"
        f"<thead><tr><th>{html.escape(L('indicator'))}</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _warning_items(warnings: Sequence[dict]) -> str:
    items = []
    for w in warnings:
        code = str(w.get("code") or "")
        stage = str(w.get("stage") or "")
        items.append(
            f"<li class='np-warning' data-code='{html.escape(code)}' data-stage='{html.escape(stage)}'>"
            f"{html.escape(str(w.get('message') or ''))}</li>"
        )
    return "".join(items)


def warnings_html(warnings: Sequence[dict] | None, lang: str) -> str:
    """The run's warnings under the KPI panel: a heading with their number, then each warning's message.

    Parameters
    ----------
    warnings
        :meth:`netplan.diagnostics.RunWarning.as_dict` dicts (``stage, code, message, ids, count``), as in
        ``plan.warnings`` and ``manifest.json``; None when the run predates warnings (nothing is shown).
    lang
        ``"zh"`` or ``"en"`` (the heading).
    """
    if warnings is None:
        return ""
    L = lambda key: label(lang, key)  # noqa: E731
    head = f"{html.escape(L('warnings'))} ({len(warnings)})"
    if not warnings:
        return f"<div class='np-warnings np-warnings-none'><b>{head}</b> {html.escape(L('warnings_none'))}</div>"
    return (
        f"<details class='np-warnings' open><summary><b>{head}</b> · {html.escape(L('warnings_note'))}</summary>"
        f"<ol>{_warning_items(warnings)}</ol></details>"
    )


def compare_warnings_html(plans: Sequence[tuple[str, Sequence[dict] | None]], lang: str) -> str:
    """The comparison's warnings section: per plan (A, B, ...) its number of warnings and each message."""
    L = lambda key: label(lang, key)  # noqa: E731
    blocks = []
    for i, (name, warnings) in enumerate(plans):
        letter = chr(ord("A") + i)
        if warnings is None:
            continue
        if not warnings:
            blocks.append(
                f"<div class='np-warnings-plan' data-plan='{i}'><b>{letter}</b> · "
                f"{html.escape(L('warnings_none'))}</div>"
            )
            continue
        blocks.append(
            f"<details class='np-warnings-plan' data-plan='{i}'><summary><b>{letter}</b> · "
            f"{len(warnings)} · "
            f"{html.escape(name)}</summary><ol>{_warning_items(warnings)}</ol></details>"
        )
    if not blocks:
        return ""
    return (
        f"<div class='np-warnings'><b>{html.escape(L('warnings'))}</b> · {html.escape(L('warnings_note'))}"
        f"{''.join(blocks)}</div>"
    )
