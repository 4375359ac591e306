"""The season report as a reader opens it: in headless Chromium (Debian's, which `make test`
installs), from the file, with the network unused. Every chart must be drawn; screenshots go to
$HINDCAST_SCREENSHOTS where it is set."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hindcast_assets.core.metrics import rmse

CHROMIUM = "/usr/bin/chromium"
# as the machine's notes advise: no background fetches of Chromium's own, no sandbox as root
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


def opened(page_file: Path, charts: int) -> dict:
    """Open `page_file` and wait until `charts` plotly charts are drawn: what the browser asked for,
    what it complained of, each chart's drawn traces and the headline's text."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        requests, errors = [], []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_function(f"document.querySelectorAll('.chart .main-svg').length >= {charts}", timeout=30_000)
        drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.chart > div > div[id^=chart-]')).map(
            d => [d.id, d.querySelectorAll('.scatterlayer .trace').length])""")
        headline = page.inner_text(".headline")
        traces = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot'))
            .map(d => [d.id, d._fullData.filter(t => t.visible === true)
                                 .map(t => [t.name, Array.from(t.x ?? []), Array.from(t.y ?? [])])]))""")
        if os.environ.get("HINDCAST_SCREENSHOTS"):
            page.screenshot(path=str(Path(os.environ["HINDCAST_SCREENSHOTS"]) / f"{page_file.stem}.png"), full_page=True)
        browser.close()
    return {"requests": requests, "errors": errors, "drawn": dict(drawn), "headline": headline, "traces": traces}


@pytest.fixture(scope="module")
def report(tiny_hindcast):
    return opened(tiny_hindcast.root / "reports" / "report.html", charts=3)


def test_the_season_report_draws_every_chart_offline(tiny_hindcast, report):
    assert report["requests"] == [(tiny_hindcast.root / "reports" / "report.html").as_uri()]
    assert report["errors"] == []
    assert set(report["drawn"]) == {"chart-fan", "chart-hindcast", "chart-states"}
    assert all(traces > 0 for traces in report["drawn"].values()), report["drawn"]


def test_the_headline_gives_the_national_skill_against_the_trend(tiny_hindcast, report):
    """By hand: the final is the reference file's figure (USDA's, on real data) of each season."""
    resolved = yaml.safe_load((tiny_hindcast.root / "config_resolved.yaml").read_text())
    final = pd.read_parquet(resolved["inputs"]["references"]).set_index("season_year")["yield_bu_per_acre"]
    national = pd.read_parquet(tiny_hindcast.root / "postprocessed" / "national.parquet")
    truth = national["season_year"].map(final)
    ours, trend = rmse(truth, national["prediction"]), rmse(truth, national["trend"])
    assert f"missed the final by {ours:.1f} bu/acre (RMSE over 3 seasons, 2009-2011)" in report["headline"]
    assert f"than the trend's {trend:.1f}." in report["headline"]


def test_a_forecast_page_shows_its_number_and_the_season_so_far(tiny_hindcast, tmp_path):
    from hindcast_assets.cli import main

    copy = tmp_path / tiny_hindcast.root.name
    shutil.copytree(tiny_hindcast.root, copy)
    for date in ("2012-07-01", "2012-08-01", "2012-09-01"):  # a season no other test forecasts
        assert main(["run", "forecast", "--run-dir", str(copy), "--season-year", "2012", "--init-date", date]) == 0
    page = copy / "forecast" / "2012" / "2012-09-01" / "reports" / "forecast.html"
    shown = opened(page, charts=1)
    assert shown["requests"] == [page.as_uri()] and shown["errors"] == []
    national = pd.read_parquet(page.parents[1] / "postprocessed" / "national.parquet").iloc[0]
    assert (f"National forecast for 2012 as of 2012-09-01: {national['prediction']:.1f} bu/acre "
            f"(trend {national['trend']:.1f}).") in shown["headline"]
    assert f"80% interval: {national['lower_absolute_80']:.1f} to {national['upper_absolute_80']:.1f}." \
        in shown["headline"]
    traces = {name: pd.Series(y, index=x, dtype=float) for name, x, y in shown["traces"]["chart-season"]}
    assert list(traces["our forecast"].index) == ["1 Jul", "1 Aug", "1 Sep"]  # the season so far
    # USDA's August report was out by 1 September; its September one (out mid-month) was not
    resolved = yaml.safe_load((copy / "config_resolved.yaml").read_text())
    usda = pd.read_csv(resolved["inputs"]["yardstick"]).query("season_year == 2012").set_index("init_md")["forecast"]
    drawn = traces[resolved["yardstick_name"]]
    assert drawn["1 Aug"] == usda["08-01"] and pd.isna(drawn["1 Sep"])
