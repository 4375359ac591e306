"""Loading inputs refuses bad data with one message naming the file and the field."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.config import load_config
from hindcast_assets.core.data import InputError, load_experiment_data
from hindcast_assets_tests.conftest import write_config


@pytest.fixture
def corn(input_dir):
    folder = input_dir / "us_state_corn"
    return {"yields": folder / "yields.parquet", "indices": folder / "indices.parquet"}


def _input_error(config_path) -> str:
    cfg = load_config(config_path)
    with pytest.raises(InputError) as excinfo:
        load_experiment_data(cfg)
    return str(excinfo.value)


def _rewrite(path, change) -> None:
    df = pd.read_parquet(path)
    change(df).to_parquet(path, index=False)


def _set(df: pd.DataFrame, geo: str, season: int, column: str, value) -> pd.DataFrame:
    df.loc[(df["geo_id"] == geo) & (df["season_year"] == season), column] = value
    return df


def test_clean_copy_loads_under_canonical_names(small_config, corn):
    data = load_experiment_data(load_config(small_config))
    assert list(data.yields.columns) == ["geo_id", "season_year", "target", "area"]
    assert list(data.indices.columns) == ["geo_id", "date", "variable", "value", "vintage"]  # columns.vintage
    assert data.static is None
    assert len(data.yields) == len(pd.read_parquet(corn["yields"]))


def test_missing_file(small_config, corn):
    corn["yields"].unlink()
    message = _input_error(small_config)
    assert str(corn["yields"]) in message
    assert "inputs.yields" in message and "not found" in message


def test_missing_target_column(small_config, corn):
    _rewrite(corn["yields"], lambda df: df.rename(columns={"yield_bu_per_acre": "yield"}))
    message = _input_error(small_config)
    assert str(corn["yields"]) in message
    assert "'yield_bu_per_acre'" in message and "columns.target" in message


def test_target_column_name_comes_from_the_config(tmp_path, corn):
    path = write_config(tmp_path, columns={"target": "yield_tonnes"},
                        hindcast={"first_test_year": 2009, "last_test_year": 2011})
    message = _input_error(path)
    assert "'yield_tonnes'" in message and "columns.target" in message


def test_duplicate_geo_season(small_config, corn):
    def dup(df):
        row = df[(df["geo_id"] == "US-19") & (df["season_year"] == 2005)]
        return pd.concat([df, row.assign(yield_bu_per_acre=1.0)], ignore_index=True)

    _rewrite(corn["yields"], dup)
    message = _input_error(small_config)
    assert str(corn["yields"]) in message
    assert "duplicate" in message
    assert "geo_id=US-19" in message and "season_year=2005" in message


def test_nan_target_in_a_training_season(small_config, corn):
    _rewrite(corn["yields"], lambda df: _set(df, "US-17", 2003, "yield_bu_per_acre", np.nan))
    message = _input_error(small_config)
    assert str(corn["yields"]) in message
    assert "'yield_bu_per_acre'" in message and "columns.target" in message
    assert "geo_id=US-17" in message and "season_year=2003" in message


def test_nan_target_after_the_last_test_season_is_allowed(tmp_path, corn):
    # with test seasons ending 2010, a 2011 target may still be unknown (season not yet harvested)
    _rewrite(corn["yields"], lambda df: _set(df, "US-17", 2011, "yield_bu_per_acre", np.nan))
    path = write_config(tmp_path, hindcast={"first_test_year": 2009, "last_test_year": 2010})
    data = load_experiment_data(load_config(path))
    assert data.yields["target"].isna().sum() == 1


def test_negative_area(small_config, corn):
    _rewrite(corn["yields"], lambda df: _set(df, "US-31", 1999, "harvested_acres", -5.0))
    message = _input_error(small_config)
    assert str(corn["yields"]) in message
    assert "'harvested_acres'" in message and "columns.area" in message
    assert "geo_id=US-31" in message and "season_year=1999" in message


def test_unparseable_date_in_indices(small_config, corn):
    def bad_date(df):
        df = df.assign(date=df["date"].dt.strftime("%Y-%m-%d"))
        df.loc[100, "date"] = "not-a-date"
        return df

    _rewrite(corn["indices"], bad_date)
    message = _input_error(small_config)
    assert str(corn["indices"]) in message
    assert "'date'" in message and "columns.date" in message


def test_string_dates_in_indices_are_parsed(small_config, corn):
    _rewrite(corn["indices"], lambda df: df.assign(date=df["date"].dt.strftime("%Y-%m-%d")))
    data = load_experiment_data(load_config(small_config))
    assert pd.api.types.is_datetime64_any_dtype(data.indices["date"])


def test_feature_variable_missing_from_indices(small_config, corn):
    _rewrite(corn["indices"], lambda df: df[df["variable"] != "prcp"])
    message = _input_error(small_config)
    assert str(corn["indices"]) in message
    assert "features.variables" in message and "prcp" in message


def test_feature_variable_named_in_config_but_absent(tmp_path, corn):
    path = write_config(tmp_path, features={"variables": ["tavg", "soil_moisture"]},
                        hindcast={"first_test_year": 2009, "last_test_year": 2011})
    message = _input_error(path)
    assert str(corn["indices"]) in message
    assert "features.variables" in message and "soil_moisture" in message
    assert "tavg'" not in message  # only the absent variable is named


def test_missing_indices_file(small_config, corn):
    corn["indices"].unlink()
    message = _input_error(small_config)
    assert str(corn["indices"]) in message and "inputs.indices" in message


def test_static_feature_column_missing(tmp_path, input_dir):
    static = input_dir / "us_county_corn" / "static_features.parquet"
    _rewrite(static, lambda df: df.drop(columns=["prec_mm"]))
    message = _input_error(write_config(tmp_path, "corn_usa_county"))
    assert str(static) in message
    assert "'prec_mm'" in message and "features.static" in message


def test_season_year_must_hold_whole_years(small_config, corn):
    _rewrite(corn["yields"], lambda df: df.assign(season_year=df["season_year"].astype(float)))
    message = _input_error(small_config)
    assert str(corn["yields"]) in message and "columns.season_year" in message


def test_a_regional_series_reaches_its_geos_only_as_the_latest_rating_known_in_each_month(tmp_path, input_dir):
    """The 8-state condition index (SOURCE.md: 2012 ratings 39.11 on 22 July, 36.92 on 29 July)
    listed for two states: they get it, the others do not. A month's value is the latest rating
    by its end known before the as-of day; a month not reached yet holds the latest known (a
    level persists)."""
    from hindcast_assets.core.features import season_features

    config = load_config(write_config(tmp_path, features={"regional": {"variables": ["cci"],
                                                                       "geos": ["US-17", "US-19"]}}))
    data = load_experiment_data(config)
    end = season_features(data, config, ["US-19", "US-48"], [2012]).set_index("geo_id")
    assert end.loc["US-19", "cci_jul"] == 36.92 and np.isnan(end.loc["US-48", "cci_jul"])
    early = config.model_copy(update={"features": config.features.model_copy(update={"as_of": "07-29"})})
    before = season_features(data, early, ["US-19"], [2012]).set_index("geo_id")
    assert before.loc["US-19", "cci_jul"] == 39.11 and before.loc["US-19", "cci_aug"] == 39.11
    assert np.isnan(season_features(data, config, ["US-19"], [1985])["cci_jul"]).all()  # before the series
    assert set(data.indices.loc[data.indices["variable"] == "cci", "geo_id"]) == {"US-17", "US-19"}


def test_csv_geo_ids_stay_text_so_leading_zeros_match(tmp_path, input_dir):
    """FIPS-like ids ("01", "06") in CSV yields and a CSV weights table: read as text, both match
    (as numbers they would become 1 and 6 and match nothing)."""
    yields = pd.read_parquet(input_dir / "us_state_corn" / "yields.parquet")
    yields = yields.assign(geo_id=yields["geo_id"].str.removeprefix("US-")).drop(columns="harvested_acres")
    yields.to_csv(tmp_path / "yields.csv", index=False)
    pd.DataFrame({"geo_id": sorted(yields["geo_id"].unique()), "weight": 1.0}).to_csv(tmp_path / "w.csv", index=False)
    assert (tmp_path / "w.csv").read_text().splitlines()[1] == "01,1.0"
    config = load_config(write_config(tmp_path, columns={"area": None}, geos={"min_area_share": 0.0},
                                      inputs={"yields": str(tmp_path / "yields.csv"), "weights": str(tmp_path / "w.csv"),
                                              "regional": None},
                                      features={"regional": {"variables": []}}, compare={}, ensembles={},
                                      model={"name": "lightgbm"}))
    loaded = load_experiment_data(config).yields
    assert loaded["geo_id"].iloc[0] == "01" and loaded["area"].eq(1.0).all()
