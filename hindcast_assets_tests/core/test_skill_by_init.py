"""Hindcast rows at an init date are what a forecast on that date would have been given."""
from __future__ import annotations

import pandas as pd

from hindcast_assets.config import load_config
from hindcast_assets.core.data import load_experiment_data
from hindcast_assets.core.forecast import forecast_features, indices_known_at
from hindcast_assets.core.season_dates import ForecastDate, MonthDay
from hindcast_assets.core.skill_by_init import features_by_init_date


def test_every_seasons_rows_at_an_init_date_are_a_forecasts_rows_from_what_was_known_then(tiny_config):
    """All seasons are built in one pass; each season's rows at each init date must equal the
    forecast's own features from the values dated before that day, cell for cell."""
    cfg = load_config(tiny_config)
    data = load_experiment_data(cfg)
    geos = sorted(data.yields["geo_id"].unique())[:3]
    for season in sorted(data.yields["season_year"].unique()):
        rows = features_by_init_date(cfg, data, geos, season)
        present = sorted(set(data.yields.loc[data.yields["season_year"] == season, "geo_id"]) & set(geos))
        for md in cfg.forecast.init_dates:
            at = ForecastDate(int(season), MonthDay.parse(md))
            alone = forecast_features(cfg, indices_known_at(data.indices, present, at), present, at)
            got = rows[rows["init_md"] == md].drop(columns="init_md").reset_index(drop=True)
            pd.testing.assert_frame_equal(got, alone, check_exact=True)
    assert len(rows) == len(cfg.forecast.init_dates) * 3 and features_by_init_date(cfg, data, geos, 1800).empty
