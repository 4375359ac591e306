"""What real data needs the config to say (issue 14): a panel without areas (geo skill, no
NATIONAL row; Brazil's real soybean panel), QC rules that exclude rows from training and scoring,
the reference's name, gaps filled, and another forecaster's figures as a yardstick (on the tiny
experiment, tiny.py)."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from hindcast_assets.config import load_config
from hindcast_assets.core.aggregate import NATIONAL, NO_NATIONAL
from hindcast_assets.core.data import InputError, load_yields
from hindcast_assets.core.skill_by_init import against_yardstick
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.launch.hindcast import run_experiment
from hindcast_assets_tests import tiny
from hindcast_assets_tests.conftest import write_config

TREND = {"model": {"name": "trend", "params": {}}}
YIELDS = "us_state_corn/yields.parquet"


def _csv(rd, name: str) -> pd.DataFrame:
    return pd.read_csv(rd.root / "reports" / f"{name}.csv")


def test_a_panel_without_area_gets_geo_skill_and_no_national_row(tmp_path, input_dir):
    config = write_config(tmp_path, "soybeans_bra", columns={"area": None})
    rd = run_experiment(load_config(config), "hindcast", str(tmp_path / "runs")).run_dir

    # no national file, chart or line (issue 29): not an empty one
    assert not (rd.root / "postprocessed" / "national.parquet").exists()
    assert sorted(p.name for p in (rd.root / "reports").glob("*.png")) == ["coverage.png"]
    assert "national" not in ExperimentResult.from_run_dir(rd).summary()
    assert set(_csv(rd, "skill")["level"]) == {"geo"} and set(_csv(rd, "coverage")["scope"]) == {"geo"}
    (delivery,) = (rd.root / "delivery").glob("*.csv")
    assert NATIONAL not in set(pd.read_csv(delivery)["geo_id"])
    assert f"No national figures: {NO_NATIONAL}; geo skill only." in (rd.root / "reports" / "report.md").read_text()


def _flag(input_dir, rows: list[tuple[str, int]], nan_target: bool) -> None:
    path = input_dir / YIELDS
    frame = pd.read_parquet(path).assign(qc_suspect=False)
    hit = pd.MultiIndex.from_frame(frame[["geo_id", "season_year"]]).isin(rows)
    frame.loc[hit, "qc_suspect"] = True
    if nan_target:
        frame.loc[hit, "yield_bu_per_acre"] = float("nan")
    frame.to_parquet(path, index=False)


def test_a_qc_rule_excludes_rows_from_training_and_scoring_and_the_report_lists_them(tmp_path, tiny_input_dir):
    suspect = [("US-19", 1995), ("US-17", 2010)]  # a training season of every fold, a test season
    _flag(tiny_input_dir, suspect, nan_target=True)
    with pytest.raises(InputError, match=r"is NaN in a training season at geo_id=US-17, season_year=2010 \(2 rows\)"):
        load_yields(load_config(tiny.write_config(tmp_path, **TREND)))  # the default is unchanged

    cfg = load_config(tiny.write_config(tmp_path, **TREND, qc={"column": "qc_suspect", "geos": ["US-01"]}))
    rd = run_experiment(cfg, "hindcast", str(tmp_path / "runs")).run_dir
    train = pd.read_parquet(rd.root / "preds/corn_usa/2011/train_preds.parquet")
    assert ("US-19", 1995) not in set(zip(train["geo_id"], train["season_year"]))
    assert 1995 in set(train["season_year"]) and "US-01" not in set(train["geo_id"])
    scored = pd.read_parquet(rd.root / "postprocessed" / "geo.parquet")
    assert "US-17" not in set(scored.loc[scored["season_year"] == 2010, "geo_id"])
    assert len(scored[scored["season_year"] == 2010]) == len(scored[scored["season_year"] == 2011]) - 1

    report = (rd.root / "reports" / "report.md").read_text()
    excluded = report.split("## Excluded rows")[1]
    assert "rows excluded from training and scoring by the QC rule" in excluded
    assert "40 rows excluded" in excluded  # 2 flagged, 38 seasons (1975-2012) of US-01
    for geo, season in suspect:
        assert re.search(rf"\| {geo} +\| +{season} \| +\| qc_suspect is true +\|", excluded), geo  # no target
    assert len(re.findall(r"\| US-01 .*\| qc.geos +\|", excluded)) == 38


def test_the_report_names_the_reference_the_config_gives(tmp_path, tiny_input_dir):
    cfg = load_config(tiny.write_config(tmp_path, **TREND, reference_name="USDA NASS final estimate"))
    rd = run_experiment(cfg, "hindcast", str(tmp_path / "runs")).run_dir
    report = (rd.root / "reports" / "report.md").read_text()
    assert "`national vs reference` scores them against USDA NASS final estimate" in report
    assert "official" not in report
    assert "national vs reference" in set(_csv(rd, "skill")["level"])


def test_the_yardstick_is_scored_beside_ours_on_the_seasons_both_have():
    national = pd.DataFrame({"init_md": ["08-01", "08-01", "08-01", "09-01"], "season_year": [2009, 2010, 2011, 2010],
                             "prediction": [150.0, 160.0, 140.0, 155.0]})
    yardstick = pd.DataFrame({"season_year": [2010, 2011, 2012, 2010], "init_md": ["08-01", "08-01", "08-01", "09-01"],
                              "forecast": [165.0, 153.0, 123.4, 162.5]})
    reference = pd.DataFrame({"season_year": [2009, 2010, 2011], "reference": [164.7, 152.8, 147.2]})
    table = against_yardstick(national, yardstick, reference).set_index("init_md")
    aug = table.loc["08-01"]  # 2010 and 2011 only: 2009 has no yardstick, 2012 no forecast of ours
    assert (aug.n_seasons, aug.first_season, aug.last_season) == (2, 2010, 2011)
    assert aug.rmse == pytest.approx((((160 - 152.8) ** 2 + (140 - 147.2) ** 2) / 2) ** 0.5)
    assert aug.rmse_yardstick == pytest.approx((((165 - 152.8) ** 2 + (153 - 147.2) ** 2) / 2) ** 0.5)
    assert table.loc["09-01"].rmse_yardstick == pytest.approx(162.5 - 152.8)


def test_a_panel_without_area_gets_national_figures_from_a_weights_table(tmp_path, input_dir):
    yields = pd.read_parquet(input_dir / "br_state_soybean/yields.parquet")
    geos = sorted(yields["geo_id"].unique())
    weights = pd.DataFrame({"geo_id": geos, "weight": [float(i + 1) for i in range(len(geos))]})
    weights.to_csv(tmp_path / "weights.csv", index=False)
    config = write_config(tmp_path, "soybeans_bra", columns={"area": None},
                          inputs={"weights": str(tmp_path / "weights.csv")})
    rd = run_experiment(load_config(config), "hindcast", str(tmp_path / "runs")).run_dir

    national = pd.read_parquet(rd.root / "postprocessed" / "national.parquet").set_index("season_year")
    geo = pd.read_parquet(rd.root / "postprocessed" / "geo.parquet")
    season = geo[geo["season_year"] == 2020].merge(weights, on="geo_id")
    expected = (season["actual"] * season["weight"]).sum() / season["weight"].sum()  # by hand
    assert national.loc[2020, "actual"] == pytest.approx(expected)
    assert len(national) == 11 and "national" in set(_csv(rd, "coverage")["scope"])
    assert f"weighted by the weights in `{tmp_path / 'weights.csv'}`" in (rd.root / "reports" / "report.md").read_text()


def test_with_fill_gaps_a_geo_season_without_weather_is_filled_and_listed(tmp_path, tiny_input_dir):
    """Iowa's 1995 weather removed: refused by default (test_bad_inputs); with `features.fill_gaps`
    the hindcast runs and the report lists the 20 values (4 variables x May-Sep) it filled."""
    path = tiny_input_dir / "us_state_corn" / "indices.parquet"
    indices = pd.read_parquet(path)
    indices[~((indices["geo_id"] == "US-19") & (indices["date"].dt.year == 1995))].to_parquet(path, index=False)
    config = tiny.write_config(tmp_path, features={"fill_gaps": True})
    rd = run_experiment(load_config(config), "hindcast", str(tmp_path / "runs")).run_dir
    report = (rd.root / "reports" / "report.md").read_text()
    gaps = report.split("## Gaps filled")[1]
    assert "20 missing feature values in 1 geo-seasons took the geo's training climatology" in gaps
    assert "| US-19    |          1995 | tavg_may  |" in gaps and "| US-19    |          1995 | prcp_sep  |" in gaps
