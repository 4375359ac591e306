"""The delivery CSV's documented schema (docs/guide/delivery.md)."""
from __future__ import annotations

import re

import pandas as pd

from hindcast_assets.config import load_config
from hindcast_assets.core.delivery import Issue, delivery_columns, delivery_frame
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.pipeline import store
from hindcast_assets.paths import CONFIGS_DIR, PROJECT_ROOT

DOCUMENTED = ["season_year", "geo_id", "init_date", "prediction", "lower_80", "upper_80", "lower_90", "upper_90",
              "trend", "actual", "unit", "model", "interval_mode", "run_id", "created_at_utc"]


def _frames():
    geo = pd.DataFrame({"season_year": [2011, 2011, 2010], "geo_id": ["US-19", "US-17", "US-19"],
                        "prediction": [150.0, 160.0, 140.0], "trend": [148.0, 155.0, 145.0], "actual": [151.0, 158.0, 139.0],
                        "lower_absolute_80": [140.0, 150.0, 130.0], "upper_absolute_80": [160.0, 170.0, 150.0],
                        "lower_absolute_90": [135.0, 145.0, 125.0], "upper_absolute_90": [165.0, 175.0, 155.0]})
    national = geo.groupby("season_year", as_index=False).mean(numeric_only=True).assign(geo_id="NATIONAL")
    return geo, national


def test_delivery_has_the_documented_columns_and_national_rows():
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    assert delivery_columns(cfg) == DOCUMENTED
    geo, national = _frames()
    frame = delivery_frame(cfg, geo, national, "lightgbm", "20261124_120000_corn_usa", "2026-11-24T12:00:00+00:00",
                           Issue(cfg.features.as_of))
    assert list(frame.columns) == DOCUMENTED
    assert frame["init_date"].tolist() == [f"{s}-{cfg.features.as_of}" for s in (2010, 2010, 2011, 2011, 2011)]
    assert frame["trend"].tolist() == [145.0, 145.0, 155.0, 148.0, 151.5]
    assert frame[["season_year", "geo_id"]].values.tolist() == [
        [2010, "US-19"], [2010, "NATIONAL"], [2011, "US-17"], [2011, "US-19"], [2011, "NATIONAL"]]
    assert (frame["lower_80"] <= frame["prediction"]).all() and (frame["prediction"] <= frame["upper_90"]).all()
    assert set(frame["unit"]) == {"bu/acre"} and set(frame["interval_mode"]) == {"absolute"}
    path = store.HINDCAST_DELIVERY.path(RunDir("/r"), prefix=cfg.delivery_prefix, key="corn_usa",
                                        stamp="20261124_120000")
    assert str(path) == "/r/delivery/Treefera_corn_usa_Hindcast_20261124_120000.csv"


def test_a_forecast_delivery_says_its_init_date_and_the_day_it_was_made():
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    geo, national = _frames()
    frame = delivery_frame(cfg, geo[geo["season_year"] == 2011], national[national["season_year"] == 2011], "lightgbm",
                           "run", "", Issue("08-01", "2026-08-03"))
    assert list(frame.columns) == delivery_columns(cfg, forecast=True)
    assert list(frame.columns[:4]) == ["season_year", "geo_id", "init_date", "forecast_date"]
    assert set(frame["init_date"]) == {"2011-08-01"} and set(frame["forecast_date"]) == {"2026-08-03"}


def test_the_docs_document_every_delivery_column():
    page = (PROJECT_ROOT / "docs" / "guide" / "delivery.md").read_text()
    documented = re.findall(r"^\| `([a-z_0-9<>]+)` \|", page, flags=re.M)
    assert documented == ["season_year", "geo_id", "init_date", "forecast_date", "prediction", "lower_<pct>",
                          "upper_<pct>", "trend", "actual", "unit", "model", "interval_mode", "run_id", "created_at_utc"]
