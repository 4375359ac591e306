"""The model lifecycle on the tiny experiment (tiny.py), a real Dagster instance and a real MLflow registry: the first
run promotes, a better challenger is promoted and a worse one is not, a manual promotion records
its reason, the current pointer moves only on promotion, a corrupt champion is a failure."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from dagster import build_sensor_context, DagsterInstance, RunRequest, SkipReason

from hindcast_assets.cli import main
from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import RunDir, read_current
from hindcast_assets.definitions import build_definitions
from hindcast_assets.pipeline.lifecycle import ChampionUnusable, load_champion, retraining_flow
from hindcast_assets.pipeline.registry import CHALLENGER, CHAMPION, Registry
from hindcast_assets.launch.hindcast import run_experiment
from hindcast_assets_tests.tiny import write_config

def _config(tmp_path, model: str):
    return load_config(write_config(tmp_path, model={"name": model, "params": {}}))


def _launcher(runs: str):
    return lambda cfg: run_experiment(cfg, "hindcast", runs).run_dir


def _yields_through(tiny_input_dir, last: int) -> None:
    path = tiny_input_dir / "us_state_corn" / "yields.parquet"
    yields = pd.read_parquet(path)
    yields[yields["season_year"] <= last].to_parquet(path, index=False)


@pytest.mark.long_running
def test_first_run_promotes_then_only_a_better_challenger(tmp_path, tiny_input_dir):
    _yields_through(tiny_input_dir, 2012)  # a challenger tests through the newest season: 2009-2012, four folds
    runs = str(tmp_path / "runs")
    trend = _config(tmp_path, "trend")
    first = run_experiment(trend, "hindcast", runs)
    assert first.registered.aliases == (CHAMPION,) and first.registered.reason.startswith("first run")
    assert read_current(runs, "corn_usa").root == first.run_dir.root

    # the config now names ridge: forced, its hindcast beats the trend champion on 2009-2011 (the
    # tiny experiment's yields fall linearly with July's heat)
    better, _ = retraining_flow(_config(tmp_path, "ridge"), True, _launcher(runs))
    assert better.retrained and better.promoted, better.reason
    champ, chall = better.metrics["champion"], better.metrics["challenger"]
    assert better.metrics["compared_seasons"] == [2009, 2010, 2011] and chall["rmse"] < champ["rmse"] * 0.98
    assert read_current(runs, "corn_usa").root == RunDir(better.run_dir).root
    assert Registry().alias("corn_usa", CHAMPION).run_dir == better.run_dir

    # back to the trend model: the challenger is worse, registered as challenger, not promoted
    worse, _ = retraining_flow(trend, True, _launcher(runs))
    assert worse.retrained and not worse.promoted and "not promoted" in worse.reason
    assert worse.metrics["challenger"]["rmse"] > worse.metrics["champion"]["rmse"]
    assert read_current(runs, "corn_usa").root == RunDir(better.run_dir).root  # the pointer did not move
    registry = Registry()
    assert registry.alias("corn_usa", CHALLENGER).run_dir == worse.run_dir
    assert registry.alias("corn_usa", CHAMPION).run_dir == better.run_dir

    # unforced, with no season newer than the champion: nothing to retrain on
    idle, _ = retraining_flow(trend, False, _launcher(runs))
    assert not idle.retrained and "no season with yields after the champion's training (through 2012)" in idle.reason


def test_a_second_hindcast_is_registered_and_a_manual_promotion_records_its_reason(tmp_path, tiny_input_dir, capsys):
    runs = tmp_path / "runs"
    config = write_config(tmp_path, model={"name": "trend", "params": {}})
    first = run_experiment(load_config(config), "hindcast", str(runs))
    second = run_experiment(load_config(config), "hindcast", str(runs))
    assert second.registered.aliases == () and "not promoted" in second.summary()
    assert read_current(str(runs), "corn_usa").root == first.run_dir.root  # completion order does not move it

    assert main(["promote", str(second.run_dir), "--reason", "reviewed with the desk"]) == 0
    assert read_current(str(runs), "corn_usa").root == second.run_dir.root
    champion = Registry().alias("corn_usa", CHAMPION)
    assert champion.run_dir == str(second.run_dir) and champion.reason.endswith(": reviewed with the desk")
    capsys.readouterr()
    assert main(["champion", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == str(second.run_dir) and "version 2" in out[0] and "reviewed with the desk" in out[2]


def test_a_corrupt_champion_is_a_failure_not_no_champion(tmp_path, tiny_input_dir, capsys):
    runs = tmp_path / "runs"
    config = write_config(tmp_path, model={"name": "trend", "params": {}})
    assert main(["champion", "--config", str(config)]) == 2
    assert "corn_usa: no champion in the MLflow registry" in capsys.readouterr().err

    made = run_experiment(load_config(config), "hindcast", str(runs)).run_dir
    card = made.root / "models" / "corn_usa" / "production" / "model_card.json"
    card.write_text(card.read_text().replace("trend", "tr3nd"))
    with pytest.raises(ChampionUnusable, match="model_card.json"):
        load_champion("corn_usa")
    capsys.readouterr()  # (the hindcast's progress, where an earlier CLI call in this process set it up)
    assert main(["retrain", "--config", str(config), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is unusable" in err[0] and "model_card.json" in err[0]
    assert len(list(runs.glob("2*_corn_usa"))) == 1  # no challenger was minted


def test_the_retrain_sensor_asks_once_per_season_newer_than_the_champion(tmp_path, tiny_input_dir):
    """The champion trains on yields through 2011; then 2012's final yields land."""
    runs = tmp_path / "runs"
    cfg = _config(tmp_path, "trend")
    path = tiny_input_dir / "us_state_corn" / "yields.parquet"
    yields = pd.read_parquet(path)
    yields[yields["season_year"] <= 2011].to_parquet(path, index=False)
    run_experiment(cfg, "hindcast", str(runs))
    sensor = build_definitions([cfg]).get_sensor_def("corn_usa__retrain_on_new_yields")
    instance = DagsterInstance.get()
    assert isinstance(sensor(build_sensor_context(instance=instance)), SkipReason)

    yields[yields["season_year"] <= 2012].to_parquet(path, index=False)
    context = build_sensor_context(instance=instance)
    request = sensor(context)
    assert isinstance(request, RunRequest) and request.run_key == "corn_usa-yields-2012"
    again = sensor(build_sensor_context(instance=instance, cursor=context.cursor))
    assert isinstance(again, SkipReason) and "already requested" in again.skip_message


def test_retrain_cli_prints_its_json_result_last(tmp_path, tiny_input_dir, capsys):
    runs = tmp_path / "runs"
    config = write_config(tmp_path, model={"name": "trend", "params": {}})
    assert main(["retrain", "--config", str(config), "--runs-dir", str(runs)]) == 0  # no champion: first run
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["retrained"] and first["promoted"] and first["champion_version"] == "1"
    assert main(["retrain", "--config", str(config), "--runs-dir", str(runs)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) >= {"retrained", "promoted", "drift_summary", "run_dir", "mlflow_run_id", "metrics", "reason"}
    assert not result["retrained"] and result["run_dir"] == first["run_dir"]
    drift = result["drift_summary"]
    # four states are too few values to test the weather (MIN_VALUES); the condition's June-September
    assert drift["total"] == 4 and 0 <= drift["dataset_drift_score"] <= 1
    assert (RunDir(drift["report_path"]).root).exists()
    run = Registry().client.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["decision"] == result["reason"]


def test_replay_seasons_lands_each_season_and_the_flow_decides(tmp_path, tiny_input_dir, capsys):
    """A champion on yields through 2004, then 2005 and 2006 land one at a time: the sensor asks
    for the flow each time (each season is newer than the champion's training) and it decides."""
    config = write_config(tmp_path, model={"name": "trend", "params": {}},
                          hindcast={"first_test_year": 2001, "last_test_year": 2011})
    before = (tiny_input_dir / "us_state_corn" / "yields.parquet").read_bytes()
    folder = tmp_path / "replay"
    assert main(["replay-seasons", "--config", str(config), "--first", "2004", "--last", "2006",
                 "--folder", str(folder)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(folder) and len(lines) == 4
    assert lines[0].startswith("2004: champion v1 (trained through 2004") and "first run" in lines[0]
    for season, line in zip((2005, 2006), lines[1:3]):
        assert line.startswith(f"{season} lands: ") and f"season {season}: " in line and "features drifted" in line
    assert pd.read_parquet(folder / "yields.parquet")["season_year"].max() == 2006
    assert (tiny_input_dir / "us_state_corn" / "yields.parquet").read_bytes() == before  # the real input is untouched
    assert Registry().alias("corn_usa_replay", CHAMPION) is not None


def test_registration_logs_only_the_recorded_production_files_each_checked(tmp_path, tiny_input_dir):
    import shutil

    from hindcast_assets.pipeline.registry import ARTEFACT_PATH
    from hindcast_assets.pipeline.store import IntegrityError

    cfg = _config(tmp_path, "trend")
    made = run_experiment(cfg, "hindcast", str(tmp_path / "runs")).run_dir
    copy = RunDir(str(tmp_path / "elsewhere" / made.root.name))  # another run_dir: registered anew
    shutil.copytree(made.root, copy.root)
    production = copy.root / "models" / "corn_usa" / "production"
    (production / "stray.txt").write_text("no stage wrote me")
    registry = Registry()
    version = registry.register(cfg, copy, None, 2011, {})
    run_id = registry.client.get_model_version("corn_usa", version.version).run_id
    logged = {a.path.rsplit("/", 1)[-1] for a in registry.client.list_artifacts(run_id, ARTEFACT_PATH)}
    recorded = {p.name for p in production.iterdir()} - {"stray.txt"}  # files and member folders
    assert logged == recorded and "stray.txt" not in logged

    tampered = RunDir(str(tmp_path / "third" / made.root.name))
    shutil.copytree(made.root, tampered.root)
    (tampered.root / "models" / "corn_usa" / "production" / "detrender.pkl").write_bytes(b"changed")
    with pytest.raises(IntegrityError, match="detrender.pkl"):
        registry.register(cfg, tampered, None, 2011, {})
