"""Fixtures for the map tests: run outputs written once, and a headless Chromium (Debian's /usr/bin/chromium)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from netplan.pipeline import write_outputs

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# a 1 x 1 transparent PNG served for every tile request of the online maps
BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _isolated(plan, tmp: Path):
    """The plan with its own copy of the scenario, whose map copy goes under ``tmp``."""
    scenario = plan.scenario.model_copy(deep=True)
    scenario.outputs.maps_dir = str(tmp / "maps")
    return dataclasses.replace(plan, scenario=scenario)


@pytest.fixture(scope="session")
def helsinki_out(helsinki_plan, tmp_path_factory):
    """The sited Helsinki plan written as an offline run (English labels)."""
    tmp = tmp_path_factory.mktemp("helsinki_out")
    return write_outputs(_isolated(helsinki_plan, tmp), tmp / "helsinki", offline=True)


@pytest.fixture(scope="session")
def helsinki_variant(helsinki_out, tmp_path_factory):
    """A copy of the Helsinki output folder with known differences.

    One new collection point is dropped and another moved 30 m east; the
    KPIs say one collection point fewer and 1,000 CNY more. The comparison
    must then show, in B, one collection point only in B (the moved one)
    and two only in A (the dropped one and the moved one's old place).
    """
    folder = tmp_path_factory.mktemp("helsinki_variant") / "helsinki_b"
    shutil.copytree(helsinki_out.folder, folder)
    gpkg = folder / "helsinki.gpkg"
    fac = gpd.read_file(gpkg, layer="facilities")
    new1 = fac.index[(fac["tier"] == 1) & ~fac["existing"].astype(bool)]
    dropped, moved = int(fac.loc[new1[0], "site_id"]), int(fac.loc[new1[1], "site_id"])
    utm = fac.estimate_utm_crs()
    geom = fac.to_crs(utm).geometry
    geom.loc[new1[1]] = geom.loc[new1[1]].__class__(geom.loc[new1[1]].x + 30.0, geom.loc[new1[1]].y)
    fac = fac.set_geometry(geom.to_crs(fac.crs))
    fac = fac.drop(index=new1[0])
    fac.to_file(gpkg, layer="facilities", driver="GPKG", engine="pyogrio")
    kpis = pd.read_csv(folder / "kpis.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for section, key, delta in (("cost", "total", 1000.0), ("network", "tier1_open", -1.0)):
        row = (kpis["section"] == section) & (kpis["key"] == key)
        kpis.loc[row, "value"] = repr(float(kpis.loc[row, "value"].iloc[0]) + delta)
    kpis.to_csv(folder / "kpis.csv", index=False, encoding="utf-8-sig")
    return {"folder": folder, "dropped": dropped, "moved": moved}


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium, or skip with the reason."""
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser tests need the playwright package (pip install '.[test]')"
    )
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@dataclasses.dataclass
class Loaded:
    """A map page opened in the browser: the page, JavaScript errors and every request that left file://."""

    page: object
    errors: list[str]
    external: list[str]
    seconds: float


@pytest.fixture
def open_map(browser):
    """Open an HTML file over file:// and wait until netplan has drawn its layers."""
    contexts = []

    def opener(path: Path, viewport: tuple[int, int] = (1400, 900), tiles: tuple[str, ...] = ()) -> Loaded:
        import time

        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        external: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on(
            "console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None
        )

        def route(r):
            url = r.request.url
            if url.startswith(("file://", "data:")):
                r.continue_()
                return
            external.append(url)
            if any(host in url for host in tiles):
                r.fulfill(status=200, content_type="image/png", body=BLANK_PNG)
            else:
                r.abort()

        page.route("**/*", route)
        start = time.perf_counter()
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.wait_for_selector("html[data-np-ready]", state="attached", timeout=30000)
        return Loaded(page, errors, external, time.perf_counter() - start)

    yield opener
    for context in contexts:
        context.close()


def save_artifact(loaded: Loaded, name: str) -> Path:
    """Save a screenshot under tests/render/artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    loaded.page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    return path


def read_kpis(path: Path) -> dict[tuple[str, str], str]:
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return {(s, k): v for s, k, v in zip(frame["section"], frame["key"], frame["value"])}


def parse_shown(text: str) -> tuple[float, float]:
    """A number as the page shows it ('52.3%', '2,589,128', '−1,200') -> (value, tolerance of its rounding)."""
    t = text.strip().replace(",", "").replace("−", "-").replace("+", "").replace("±", "")
    share = t.endswith("%")
    t = t.rstrip("%").strip()
    decimals = len(t.split(".")[1]) if "." in t else 0
    value = float(t)
    tol = 0.5 * 10**-decimals + 1e-9
    return (value / 100, tol / 100) if share else (value, tol)
