"""The season report (`reports/report.html`): one page an analyst opens offline, to see how good
the national number is for a season and how sure it is. Plotly's JavaScript is inlined once and a
content-security policy forbids every fetch, so the page draws with no network at all.

Pure: frames in, HTML out (the `season_report` stage gathers the frames from the run_dir)."""
from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from hindcast_assets.core.metrics import mape, rmse
from hindcast_assets.core.postprocess import interval_columns

# A US state tile grid (row, column), by FIPS code: a map of the states that needs no shapes.
US_TILES = {
    "02": ("AK", 0, 0), "23": ("ME", 0, 11), "50": ("VT", 1, 10), "33": ("NH", 1, 11),
    "53": ("WA", 2, 1), "16": ("ID", 2, 2), "30": ("MT", 2, 3), "38": ("ND", 2, 4), "27": ("MN", 2, 5),
    "17": ("IL", 2, 6), "55": ("WI", 2, 7), "26": ("MI", 2, 8), "36": ("NY", 2, 9), "44": ("RI", 2, 10),
    "25": ("MA", 2, 11), "41": ("OR", 3, 1), "32": ("NV", 3, 2), "56": ("WY", 3, 3), "46": ("SD", 3, 4),
    "19": ("IA", 3, 5), "18": ("IN", 3, 6), "39": ("OH", 3, 7), "42": ("PA", 3, 8), "34": ("NJ", 3, 9),
    "09": ("CT", 3, 10), "06": ("CA", 4, 1), "49": ("UT", 4, 2), "08": ("CO", 4, 3), "31": ("NE", 4, 4),
    "29": ("MO", 4, 5), "21": ("KY", 4, 6), "54": ("WV", 4, 7), "51": ("VA", 4, 8), "24": ("MD", 4, 9),
    "10": ("DE", 4, 10), "04": ("AZ", 5, 2), "35": ("NM", 5, 3), "20": ("KS", 5, 4), "05": ("AR", 5, 5),
    "47": ("TN", 5, 6), "37": ("NC", 5, 7), "45": ("SC", 5, 8), "11": ("DC", 5, 9), "40": ("OK", 6, 4),
    "22": ("LA", 6, 5), "28": ("MS", 6, 6), "01": ("AL", 6, 7), "13": ("GA", 6, 8), "15": ("HI", 7, 0),
    "48": ("TX", 7, 4), "12": ("FL", 7, 9),
}
US_PREFIX = "US-"
# Nothing is fetched: scripts and styles are inline, images data: URLs.
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:"
OURS, USDA_COLOUR, TREND_COLOUR, FINAL_COLOUR = "#1f5fa8", "#d0641c", "#7a7a7a", "#111111"


@dataclass(frozen=True)
class SeasonReport:
    """What the page shows, gathered from one run_dir: frames and the evaluation's own tables."""

    title: str  # the experiment's description
    run_name: str
    unit: str
    mode: str  # the conformal mode the bands show
    levels: list[float]
    national: pd.DataFrame  # end-of-season national hindcast, with intervals (season_year, prediction, trend, actual)
    by_init: pd.DataFrame  # national forecast by init date, with intervals (init_md, season_year, prediction, trend)
    geo: pd.DataFrame  # end-of-season geo hindcast (geo_id, season_year, prediction, trend, actual)
    names: dict[str, str]  # geo id -> name
    yardstick: pd.DataFrame | None  # another forecaster's national forecasts (season_year, init_md, forecast)
    yardstick_name: str
    reference: pd.DataFrame | None  # the official final per season (season_year, reference)
    skill: pd.DataFrame  # reports/skill.csv
    coverage: pd.DataFrame  # reports/coverage.csv
    skill_by_init: pd.DataFrame | None  # reports/skill_by_init_date.csv
    against_yardstick: pd.DataFrame | None  # reports/yardstick.csv
    facts: dict[str, str]  # what the run is


def _final(report: SeasonReport) -> pd.Series:
    """The final national figure per season: the reference where there is one, else our actual."""
    actual = report.national.set_index("season_year")["actual"]
    if report.reference is None:
        return actual
    return report.reference.set_index("season_year")["reference"].reindex(actual.index).fillna(actual)


def _md_label(md: str) -> str:
    return pd.Timestamp(f"2000-{md}").strftime("%-d %b")


def headline(report: SeasonReport) -> list[str]:
    """The page's first lines, in words, from the evaluation's tables: our national skill against
    the trend, against the yardstick at its first and last dates, and the intervals' coverage."""
    skill = report.skill.set_index(["level", "predictor"])["rmse"]
    level = "national vs reference" if ("national vs reference", "model") in skill.index else "national"
    if (level, "model") not in skill.index:
        return []
    ours, trend = skill[(level, "model")], skill[(level, "trend")]
    n = int(report.skill.set_index(["level", "predictor"]).loc[(level, "model"), "n"])
    seasons = report.national["season_year"]
    word = "better" if ours < trend else "worse"
    lines = [f"At the end of the season our national number missed the final by {ours:.1f} {report.unit} "
             f"(RMSE over {n} seasons, {int(seasons.min())}-{int(seasons.max())}): {abs(1 - ours / trend):.0%} "
             f"{word} than the trend's {trend:.1f}."]
    if report.against_yardstick is not None and not report.against_yardstick.empty:
        rows = report.against_yardstick.sort_values("init_md")
        for row in (rows.iloc[0], rows.iloc[-1]) if len(rows) > 1 else (rows.iloc[0],):
            lines.append(f"On {_md_label(row['init_md'])} it missed by {row['rmse']:.1f} against "
                         f"{row['rmse_yardstick']:.1f} for {report.yardstick_name} ({int(row['n_seasons'])} seasons, "
                         f"{int(row['first_season'])}-{int(row['last_season'])}).")
    national = report.coverage[(report.coverage["scope"] == "national") & (report.coverage["mode"] == report.mode)]
    for row in national.itertuples():
        lines.append(f"The {row.level:.0%} national interval held the final in {row.coverage:.0%} of seasons.")
    return lines


def init_date_table(report: SeasonReport) -> pd.DataFrame:
    """National skill at each init date: ours, the trend's and the yardstick's where it has one."""
    table = report.skill_by_init
    if table is None or table.empty:
        return pd.DataFrame()
    table = table[table["level"] == "national"][["init_md", "n", "rmse", "rmse_trend"]]
    if report.against_yardstick is not None:
        theirs = report.against_yardstick[["init_md", "n_seasons", "rmse", "rmse_yardstick"]]
        table = table.merge(theirs.rename(columns={"rmse": "rmse_same_seasons"}), on="init_md", how="left")
        table["n_seasons"] = table["n_seasons"].astype("Int64")  # a count, also where the yardstick has none
    return table.assign(init_md=table["init_md"].map(_md_label)).rename(columns={"init_md": "init date"})


def _band(fig: go.Figure, x, frame: pd.DataFrame, mode: str, level: float, visible: bool = True) -> None:
    lo, hi = interval_columns(mode, level)
    if lo not in frame.columns:
        return
    fig.add_trace(go.Scatter(x=list(x), y=frame[hi], mode="lines", line={"width": 0}, hoverinfo="skip",
                             showlegend=False, visible=visible))
    fig.add_trace(go.Scatter(x=list(x), y=frame[lo], mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor=f"rgba(31,95,168,{0.45 - 0.25 * level:.2f})", name=f"{level:.0%} interval",
                             visible=visible))


@dataclass(frozen=True)
class Bands:
    """Which intervals the charts draw."""

    mode: str
    levels: list[float]


def _season_traces(fig: go.Figure, rows: pd.DataFrame, yardstick: pd.DataFrame | None, yardstick_name: str,
                   final: float | None, bands: Bands, shown: bool) -> None:
    """One season's forecast by init date (`rows`: init_md, prediction, trend, bounds) with its
    bands, the yardstick's forecasts of the same dates, the trend and the final where known."""
    rows = rows.sort_values("init_md")
    x = [_md_label(md) for md in rows["init_md"]]
    for level in sorted(bands.levels, reverse=True):
        _band(fig, x, rows, bands.mode, level, shown)
    fig.add_trace(go.Scatter(x=x, y=rows["prediction"], mode="lines+markers", name="our forecast",
                             line={"color": OURS, "width": 3}, visible=shown))
    if yardstick is not None:
        theirs = rows[["init_md"]].merge(yardstick, on="init_md", how="left")
        fig.add_trace(go.Scatter(x=x, y=theirs["forecast"], mode="markers", name=yardstick_name,
                                 marker={"color": USDA_COLOUR, "size": 11, "symbol": "diamond"}, visible=shown))
    fig.add_trace(go.Scatter(x=x, y=rows["trend"], mode="lines", name="trend", visible=shown,
                             line={"color": TREND_COLOUR, "dash": "dot"}))
    if final is not None and not pd.isna(final):
        fig.add_trace(go.Scatter(x=x, y=[final] * len(x), mode="lines", name="final", visible=shown,
                                 line={"color": FINAL_COLOUR, "dash": "dash"}))


def _of_season(yardstick: pd.DataFrame | None, season: int) -> pd.DataFrame | None:
    return None if yardstick is None else yardstick.loc[yardstick["season_year"] == season, ["init_md", "forecast"]]


def fan_chart(report: SeasonReport) -> go.Figure | None:
    """Our national forecast at each init date with its bands, beside the yardstick's forecasts,
    the trend and the final, for one season; a menu picks the season."""
    if report.by_init.empty:
        return None
    fig, final, seasons = go.Figure(), _final(report), sorted(report.by_init["season_year"].unique())
    spans = []
    for i, season in enumerate(seasons):
        start = len(fig.data)
        _season_traces(fig, report.by_init[report.by_init["season_year"] == season],
                       _of_season(report.yardstick, season), report.yardstick_name, final.get(season),
                       Bands(report.mode, report.levels), i == len(seasons) - 1)
        spans.append((season, start, len(fig.data)))
    buttons = [{"label": str(season), "method": "update",
                "args": [{"visible": [start <= k < end for k in range(len(fig.data))]},
                         {"title": f"{season}: national forecast by init date"}]} for season, start, end in spans]
    fig.update_layout(title=f"{seasons[-1]}: national forecast by init date", yaxis_title=report.unit,
                      updatemenus=[{"buttons": buttons, "active": len(buttons) - 1, "x": 1.0, "y": 1.15,
                                    "xanchor": "right"}], height=460)
    return fig


def hindcast_chart(report: SeasonReport) -> go.Figure:
    """The end-of-season national hindcast over every test season, with its bands."""
    nat, fig = report.national.sort_values("season_year"), go.Figure()
    for level in sorted(report.levels, reverse=True):
        _band(fig, nat["season_year"], nat, report.mode, level)
    fig.add_trace(go.Scatter(x=nat["season_year"], y=nat["prediction"], mode="lines+markers", name="our hindcast",
                             line={"color": OURS, "width": 2}))
    fig.add_trace(go.Scatter(x=nat["season_year"], y=nat["trend"], mode="lines", name="trend",
                             line={"color": TREND_COLOUR, "dash": "dot"}))
    fig.add_trace(go.Scatter(x=nat["season_year"], y=nat["season_year"].map(_final(report)), mode="markers",
                             name="final", marker={"color": FINAL_COLOUR, "size": 7}))
    fig.update_layout(title="National hindcast, end of season", yaxis_title=report.unit, height=420)
    return fig


def state_table(report: SeasonReport) -> pd.DataFrame:
    """Per geo, by name: seasons, our RMSE and bias against the trend's RMSE, largest first."""
    rows = []
    for geo, g in report.geo.groupby("geo_id"):
        ours, trend = rmse(g["actual"], g["prediction"]), rmse(g["actual"], g["trend"])
        rows.append({"geo_id": geo, "name": report.names.get(geo, geo), "seasons": len(g),
                     "rmse": ours, "rmse_trend": trend, "vs_trend": ours / trend - 1,
                     "bias": float((g["prediction"] - g["actual"]).mean()), "mape": mape(g["actual"], g["prediction"])})
    return pd.DataFrame(rows).sort_values("rmse", ascending=False).reset_index(drop=True)


def state_map(table: pd.DataFrame) -> go.Figure | None:
    """US states as tiles coloured by our RMSE against the trend's; None for other countries."""
    codes = table["geo_id"].str.removeprefix(US_PREFIX)
    if not (table["geo_id"].str.startswith(US_PREFIX).all() and codes.isin(list(US_TILES)).all()):
        return None
    tiles = [US_TILES[c] for c in codes]
    hover = [f"{r.name}: RMSE {r.rmse:.1f} vs trend {r.rmse_trend:.1f}" for r in table.itertuples()]
    fig = go.Figure(go.Scatter(
        x=[t[2] for t in tiles], y=[-t[1] for t in tiles], mode="markers+text", text=[t[0] for t in tiles],
        hovertext=hover, hoverinfo="text", textfont={"color": "#222"},
        marker={"symbol": "square", "size": 40, "color": table["vs_trend"] * 100, "colorscale": "RdBu_r", "cmid": 0,
                "colorbar": {"title": "RMSE vs trend, %"}}))
    fig.update_layout(title="Where the model beats the trend (blue) and where it does not (red)", height=420,
                      xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"})
    return fig


def _figure(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _table(frame: pd.DataFrame, digits: int = 2) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.{digits}f}", border=0, classes="t", na_rep="")


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}.headline{font-size:1.15em;line-height:1.5}
table.t{border-collapse:collapse;font-size:.9em}table.t td,table.t th{padding:.25em .6em;border-bottom:1px solid #eee;
text-align:right}table.t td:first-child,table.t th:first-child{text-align:left}.chart{min-height:400px}"""


def _page(title: str, body: str) -> str:
    """A whole self-contained page: plotly's JavaScript inline, nothing fetched."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{html.escape(title)}</title><style>{STYLE}</style>
<script>{get_plotlyjs()}</script></head><body>
<h1>{html.escape(title)}</h1>
{body}
</body></html>
"""


def _chart(fig: go.Figure | None, name: str) -> str:
    return f'<div class="chart">{_figure(fig, f"chart-{name}")}</div>' if fig is not None else ""


def _lines(lines: list[str]) -> str:
    return '<div class="headline">' + "".join(f"<p>{html.escape(line)}</p>" for line in lines) + "</div>"


def _facts(facts: dict[str, str]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items())
    return f'<table class="t">{rows}</table>'


def season_report_html(report: SeasonReport) -> str:
    """The run_dir's page."""
    states = state_table(report)
    shown = states.assign(vs_trend=(states["vs_trend"] * 100).round(0)).rename(columns={"vs_trend": "vs_trend_%"})
    return _page(report.title or report.run_name, f"""{_lines(headline(report))}
<h2>The season, init date by init date</h2>
<p>Our national forecast as it stood at each init date, with its {", ".join(f"{lv:.0%}" for lv in report.levels)}
intervals, beside {html.escape(report.yardstick_name or "the yardstick")}, the trend and the final.
Pick a season in the menu.</p>{_chart(fan_chart(report), "fan")}
<h2>Skill by init date</h2><p>National RMSE in {html.escape(report.unit)} of the forecast as it stood at each
init date, against the trend's, and on the seasons both have against {html.escape(report.yardstick_name or "-")}.
</p>{_table(init_date_table(report))}
<h2>Every season</h2>{_chart(hindcast_chart(report), "hindcast")}
<h2>States</h2>{_chart(state_map(states), "states")}{_table(shown.drop(columns="geo_id"))}
<h2>Interval coverage</h2>{_table(report.coverage)}
<h2>What this run is</h2>{_facts(report.facts)}""")


@dataclass(frozen=True)
class ForecastReport:
    """What one forecast's page shows."""

    title: str
    unit: str
    season_year: int
    init_date: str  # YYYY-MM-DD
    bands: Bands
    so_far: pd.DataFrame  # this season's national forecasts up to this one (init_md, prediction, trend, bounds)
    geo: pd.DataFrame  # this forecast's geo rows with bounds
    names: dict[str, str]
    yardstick: pd.DataFrame | None  # the yardstick's forecasts of this season (init_md, forecast)
    yardstick_name: str
    drift: str  # the drift check's sentence
    facts: dict[str, str]


def forecast_headline(report: ForecastReport) -> list[str]:
    now = report.so_far.sort_values("init_md").iloc[-1]
    lines = [f"National forecast for {report.season_year} as of {report.init_date}: {now['prediction']:.1f} "
             f"{report.unit} (trend {now['trend']:.1f})."]
    for level in report.bands.levels:
        lo, hi = (now.get(c) for c in interval_columns(report.bands.mode, level))
        if lo is not None and not pd.isna(lo):
            lines.append(f"{level:.0%} interval: {lo:.1f} to {hi:.1f}.")
    if all(pd.isna(now.get(c)) for level in report.bands.levels for c in interval_columns(report.bands.mode, level)):
        lines.append("No interval: the run_dir has no calibration for this init date.")
    return lines + [report.drift]


def forecast_report_html(report: ForecastReport) -> str:
    """One forecast's page: the number and its intervals, the season so far, drift, the states."""
    fig = go.Figure()
    _season_traces(fig, report.so_far, report.yardstick, report.yardstick_name, None, report.bands, True)
    fig.update_layout(title=f"{report.season_year} so far: national forecast by init date", yaxis_title=report.unit,
                      height=440)
    lo, hi = interval_columns(report.bands.mode, max(report.bands.levels))
    states = report.geo.assign(name=report.geo["geo_id"].map(report.names))
    states = states[["name", "prediction", "trend", *(c for c in (lo, hi) if c in states.columns)]]
    return _page(report.title, f"""{_lines(forecast_headline(report))}
<h2>The season so far</h2>{_chart(fig, "season")}
<h2>States</h2>{_table(states.sort_values("prediction", ascending=False), 1)}
<h2>What this forecast is</h2>{_facts(report.facts)}""")
