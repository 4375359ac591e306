"""The artefact store: paths from templates, writes through RunDir, reads by format."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from hindcast_assets.core.bias import BiasCorrector
from hindcast_assets.core.detrend import LinearTrend
from hindcast_assets.core.rundir import RunDir, UnsafeArtefactError
from hindcast_assets.core.season_dates import ForecastDate
from hindcast_assets.pipeline import store


def test_templates_give_the_design_layout(tmp_path):
    rd = RunDir(str(tmp_path / "run"))
    at = ForecastDate.parse("2011-08-01")
    paths = {store.DETRENDER.path(rd, key="k", fold="2005"): "models/k/2005/detrender.pkl",
             store.WALK_FORWARD_PREDS.path(rd, key="k", fold="2005", member=store.member("xgboost")):
                 "preds/k/2005/xgboost/walk_forward_preds.parquet",
             store.MODEL_CARD.path(rd, key="k", fold="production", member=store.member(None)):
                 "models/k/production/model_card.json",
             store.FORECAST_DELIVERY.path(rd, prefix="Treefera", key="k", **store.forecast_fields(at)):
                 "forecast/2011/2011-08-01/delivery/Treefera_k_Forecast_2011_2011-08-01.csv"}
    for path, relative in paths.items():
        assert str(path) == f"{rd}/{relative}"


def _recorded(rd: RunDir, *written) -> None:
    """A manifest listing `written` (as a finished stage's record would): reads check against it."""
    artefacts = [{"path": w.path[len(str(rd.root)) + 1:], "sha256": w.sha256} for w in written]
    (rd.root / store.MANIFEST_FILE).write_text(json.dumps({"artefacts": artefacts}))


def test_each_format_round_trips(tmp_path):
    rd = RunDir(str(tmp_path / "run"))
    frame = pd.DataFrame({"geo_id": ["A"], "fill_value": [1.5]})
    trend = LinearTrend({"A": 1.0}, {"A": 0.5}, {"A": 20}, 0.5, 1970, (1990, 1991))
    _recorded(rd, store.FILL_VALUES.write(rd, frame, key="k", fold="2005"), store.INCLUDED_GEOS.write(rd, ["A", "B"]),
              store.DETRENDER.write(rd, trend, key="k", fold="2005"))
    pd.testing.assert_frame_equal(store.FILL_VALUES.read(rd, key="k", fold="2005"), frame)
    assert store.INCLUDED_GEOS.read(rd) == ["A", "B"] and (rd.root / "included_geo_identifiers.txt").read_text() == "A\nB\n"
    assert store.DETRENDER.read(rd, key="k", fold="2005") == trend


def test_a_read_is_checked_against_the_manifest(tmp_path):
    """Recorded and unchanged: read. Changed after it was recorded, or never recorded, or no
    manifest at all: an IntegrityError naming the file, and the content is never parsed."""
    rd = RunDir(str(tmp_path / "run"))
    geos = store.INCLUDED_GEOS.write(rd, ["A", "B"])
    with pytest.raises(store.IntegrityError, match="manifest.json: missing; without it nothing read"):
        store.INCLUDED_GEOS.read(rd)
    _recorded(rd)
    with pytest.raises(store.IntegrityError, match="included_geo_identifiers.txt: not recorded in"):
        store.INCLUDED_GEOS.read(rd)
    _recorded(rd, geos)
    assert store.INCLUDED_GEOS.read(rd) == ["A", "B"]
    (rd.root / "included_geo_identifiers.txt").write_text("A\nB\nC\n")
    with pytest.raises(store.IntegrityError, match="included_geo_identifiers.txt: sha256 differs from"):
        store.INCLUDED_GEOS.read(rd)


def test_a_pickle_of_the_wrong_class_or_a_missing_artefact_is_one_clear_error(tmp_path):
    """The allow-list behind the manifest: even a recorded pickle of the wrong class is refused."""
    rd = RunDir(str(tmp_path / "run"))
    corrector = store.BIAS_CORRECTOR.write(rd, BiasCorrector(0.0, {}, 0), key="k", fold="2005")
    (rd.root / "models/k/2006").mkdir(parents=True)
    (rd.root / "models/k/2006/detrender.pkl").write_bytes((rd.root / "models/k/2005/bias_corrector.pkl").read_bytes())
    copied = type(corrector)(str(rd.root / "models/k/2006/detrender.pkl"), corrector.sha256, corrector.n_bytes)
    _recorded(rd, corrector, copied)
    with pytest.raises(UnsafeArtefactError, match="detrender.pkl: holds a BiasCorrector, not a LinearTrend"):
        store.DETRENDER.read(rd, key="k", fold="2006")
    with pytest.raises(FileNotFoundError, match="models/k/2007/detrender.pkl: missing"):
        store.DETRENDER.read(rd, key="k", fold="2007")
    assert store.BIAS_CORRECTOR.read_optional(rd, key="k", fold="2007") is None


def test_a_parquet_artefact_is_verified_and_parsed_once_while_it_stays_the_same(tmp_path, monkeypatch):
    """Read again: a copy of what was verified, without hashing or parsing the file again. Changed
    (its time moves): verified again, so the change is an IntegrityError as on a first read."""
    rd = RunDir(str(tmp_path / "run"))
    frame = pd.DataFrame({"geo_id": ["A", "B"], "prediction": [1.0, 2.0]})
    _recorded(rd, store.POSTPROCESSED.write(rd, frame, scope="geo"))
    fetched = []  # each fetch of the artefact is hashed against the manifest before it is parsed
    monkeypatch.setattr(store, "fetch_bytes", lambda path, real=store.fetch_bytes:
                        (path.name == "geo.parquet" and fetched.append(path)) or real(path))
    first = store.POSTPROCESSED.read(rd, scope="geo")
    first.loc[0, "prediction"] = 99.0  # a caller's change stays its own
    second = store.POSTPROCESSED.read(rd, scope="geo")
    assert len(fetched) == 1 and second.equals(frame)
    path = rd.root / "postprocessed" / "geo.parquet"
    path.write_bytes(store.parquet_bytes(frame.assign(prediction=[1.0, 3.0])))
    with pytest.raises(store.IntegrityError, match="geo.parquet: sha256 differs from"):
        store.POSTPROCESSED.read(rd, scope="geo")


def test_parquet_artefacts_are_kept_to_a_byte_budget_the_least_recently_read_dropped_first(tmp_path, monkeypatch):
    """Three 8 kB artefacts under a 20 kB budget: reading the third drops the first (read again:
    fetched and verified again), the second stays; one over the budget alone is never kept."""
    rd = RunDir(str(tmp_path / "run"))
    frames = {scope: pd.DataFrame({"prediction": [float(i)] * 1000}) for i, scope in enumerate(["a", "b", "c"])}
    frames["big"] = pd.DataFrame({"prediction": [1.0] * 3000})
    _recorded(rd, *[store.POSTPROCESSED.write(rd, frame, scope=scope) for scope, frame in frames.items()])
    fetched = []
    monkeypatch.setattr(store, "fetch_bytes", lambda path, real=store.fetch_bytes:
                        (path.suffix == ".parquet" and fetched.append(path.stem)) or real(path))
    monkeypatch.setattr(store, "_FRAMES", store.KeptBySize(20_000))
    for scope in ["a", "b", "c", "b", "a", "big", "big"]:
        assert store.POSTPROCESSED.read(rd, scope=scope).equals(frames[scope])
    assert fetched == ["a", "b", "c", "a", "big", "big"]
    assert store._FRAMES.total <= 20_000 and list(store._FRAMES.kept) == [str(rd.root / "postprocessed" / f"{s}.parquet")
                                                                          for s in ("b", "a")]


def test_an_artefacts_partitions_are_what_the_manifest_records(tmp_path):
    """Forecasts are found from the manifest, not by listing folders: a forecast folder no stage
    recorded is not one (and `ExperimentResult` never reads it)."""
    from hindcast_assets.pipeline.result import _forecasts

    rd = RunDir(str(tmp_path / "run"))
    geo = pd.DataFrame({"geo_id": ["A"], "prediction": [1.0]})
    dates = [ForecastDate.parse("2011-08-01"), ForecastDate.parse("2010-09-01"), ForecastDate.parse("2011-07-01")]
    written = [store.FORECAST_PREDS.write(rd, geo, **store.forecast_fields(at)) for at in dates]
    store.FORECAST_PREDS.write(rd, geo, **store.forecast_fields(ForecastDate.parse("2012-07-01")))  # not recorded
    _recorded(rd, *written)
    assert store.FORECAST_PREDS.recorded(rd) == [{"season": "2010", "date": "2010-09-01"},
                                                 {"season": "2011", "date": "2011-07-01"},
                                                 {"season": "2011", "date": "2011-08-01"}]
    assert store.FORECAST_NATIONAL.recorded(rd) == []
    assert list(_forecasts(rd)) == [(2010, "2010-09-01"), (2011, "2011-07-01"), (2011, "2011-08-01")]
