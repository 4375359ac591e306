"""Experiment config loading: every refusal names the file and the dotted key (DESIGN.md §3)."""
from __future__ import annotations

import shutil

import pytest
import yaml

from hindcast_assets.config import PRODUCTION, ConfigError, load_all_configs, load_config
from hindcast_assets.models import registry
from hindcast_assets.paths import BUNDLED_DATA_DIR, CONFIGS_DIR
from hindcast_assets_tests.conftest import write_config


def _raw(base: str = "corn_usa") -> dict:
    return yaml.safe_load((CONFIGS_DIR / f"{base}.yaml").read_text())


def _write_raw(path, raw: dict):
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _error(path) -> str:
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    message = str(excinfo.value)
    assert str(path) in message, f"error does not name the file: {message}"
    return message


# -- refusals -------------------------------------------------------------------------------

def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("experiment_key: corn_usa\nunit: bu/acre\ninputs:\n  yields: [unclosed\n  indices: x\n")
    message = _error(path)
    assert "malformed YAML" in message
    assert "line " in message
    line = int(message.split("line ")[1].split(":")[0])
    assert 4 <= line <= 6  # where the unclosed flow sequence breaks down


def test_unreadable_file_names_file(tmp_path):
    message = _error(tmp_path / "nope.yaml")
    assert "cannot read" in message


def test_non_mapping_top_level_is_refused(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    assert _error(path) == f"{path}: <file>: expected a mapping of keys, got list"


def test_unknown_top_level_key(tmp_path):
    raw = _raw()
    raw["colums"] = {"target": "x"}
    message = _error(_write_raw(tmp_path / "c.yaml", raw))
    assert f"{tmp_path / 'c.yaml'}: colums:" in message


def test_unknown_nested_key(tmp_path):
    path = write_config(tmp_path, detrend={"methd": "linear"})
    message = _error(path)
    assert "detrend.methd" in message


def test_missing_required_key(tmp_path):
    raw = _raw()
    del raw["hindcast"]["first_test_year"]
    message = _error(_write_raw(tmp_path / "c.yaml", raw))
    assert "hindcast.first_test_year" in message
    assert "required" in message.lower()


def test_unknown_model_name_lists_known_models(tmp_path):
    path = write_config(tmp_path, model={"name": "no_such_model"})
    message = _error(path)
    assert "model.name" in message
    assert "no_such_model" in message
    for known in registry():
        assert known in message


@pytest.mark.parametrize("as_of", ["13-45", "02-30", "02-29", "7-1"])
def test_bad_month_day_in_features_as_of(tmp_path, as_of):
    path = write_config(tmp_path, features={"as_of": as_of})
    message = _error(path)
    assert "features.as_of" in message
    assert as_of in message


def test_last_test_year_before_first_test_year(tmp_path):
    path = write_config(tmp_path, hindcast={"first_test_year": 2000, "last_test_year": 1999})
    message = _error(path)
    assert ": hindcast" in message
    assert "last_test_year" in message and "first_test_year" in message


def test_last_test_year_before_first_test_year_names_the_dotted_key(tmp_path):
    path = write_config(tmp_path, hindcast={"first_test_year": 2000, "last_test_year": 1999})
    assert "hindcast.last_test_year" in _error(path)


def test_unset_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("HINDCAST_TEST_UNSET_VAR", raising=False)
    path = write_config(tmp_path, inputs={"indices": "${HINDCAST_TEST_UNSET_VAR}/indices.parquet"})
    message = _error(path)
    assert "inputs.indices" in message
    assert "${HINDCAST_TEST_UNSET_VAR}" in message


def test_features_variables_need_indices(tmp_path):
    raw = _raw()
    del raw["inputs"]["indices"]
    message = _error(_write_raw(tmp_path / "c.yaml", raw))
    assert "features.variables" in message and "inputs.indices" in message


def test_features_static_need_static_inputs(tmp_path):
    raw = _raw("corn_usa_county")
    del raw["inputs"]["static_features"]
    message = _error(_write_raw(tmp_path / "c.yaml", raw))
    assert "features.static" in message and "inputs.static_features" in message


def test_nothing_is_written_on_a_bad_config(tmp_path):
    path = write_config(tmp_path, model={"name": "no_such_model"})
    before = sorted(p.name for p in tmp_path.rglob("*"))
    _error(path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


# -- what a good config gives -----------------------------------------------------------------

def test_input_data_dir_interpolation_uses_the_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("INPUT_DATA_DIR", "/somewhere/else/")
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    assert cfg.inputs.yields == "/somewhere/else/us_state_corn/yields.parquet"
    assert cfg.inputs.indices == "/somewhere/else/us_state_corn/indices.parquet"


def test_input_data_dir_defaults_to_bundled_data(monkeypatch):
    monkeypatch.delenv("INPUT_DATA_DIR", raising=False)
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    assert cfg.inputs.yields == f"{BUNDLED_DATA_DIR}/us_state_corn/yields.parquet"


def test_other_env_vars_are_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HINDCAST_TEST_DIR", "/data/x")
    path = write_config(tmp_path, inputs={"indices": "${HINDCAST_TEST_DIR}/idx.parquet"})
    assert load_config(path).inputs.indices == "/data/x/idx.parquet"


def test_env_vars_expand_only_in_paths_so_a_secret_is_never_copied(tmp_path, monkeypatch):
    """`${AWS_SECRET_ACCESS_KEY}` in a text field stays as written: config_resolved.yaml, the report
    and MLflow get the reference, never the secret; in `inputs:` (paths) variables expand."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("HINDCAST_TEST_DIR", "/data/x")
    path = write_config(tmp_path, description="key ${AWS_SECRET_ACCESS_KEY}", reference_name="${HINDCAST_TEST_DIR}",
                        inputs={"indices": "${HINDCAST_TEST_DIR}/idx.parquet"})
    cfg = load_config(path)
    assert cfg.description == "key ${AWS_SECRET_ACCESS_KEY}" and cfg.reference_name == "${HINDCAST_TEST_DIR}"
    assert cfg.inputs.indices == "/data/x/idx.parquet" and "s3cr3t" not in yaml.safe_dump(cfg.resolved())


def test_yaml_aliases_are_refused_so_parsing_stays_bounded(tmp_path):
    """The "billion laughs" shape: each level multiplies the one before; refused at the first alias."""
    path = tmp_path / "laughs.yaml"
    rows = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]" for p, k in zip("abcdefgh", "bcdefghi")]
    path.write_text("\n".join(rows) + "\n")
    assert _error(path) == f"{path}: line 2: YAML aliases (*a) are not accepted in a config; write the value out"


def test_resolved_fills_defaults_and_expands_env(input_dir):
    cfg = load_config(CONFIGS_DIR / "soybeans_bra.yaml")
    resolved = cfg.resolved()
    assert resolved["inputs"]["yields"] == f"{input_dir}/br_state_soybean/yields.parquet"
    assert "${" not in yaml.safe_dump(resolved)
    assert resolved["columns"]["geo_id"] == "geo_id"
    assert resolved["columns"]["season_year"] == "season_year"
    assert resolved["columns"]["date"] == "date"
    assert resolved["detrend"] == {"method": "linear", "start_year": None, "min_seasons": 6}
    assert resolved["hindcast"]["rolling_window"] is None
    assert resolved["features"] == {"as_of": None, "months": [], "variables": [], "derived": [], "preseason": [],
                                    "static": [], "regional": {"variables": [], "geos": []}, "anomalies": True,
                                    "fill_gaps": False}
    assert resolved["model"] == {"name": "trend", "params": {}}
    assert resolved["delivery_prefix"] == "Treefera"
    # the resolved dict is itself a valid config that loads to the same thing
    from hindcast_assets.config import config_from_dict
    assert config_from_dict(resolved, "resolved") == cfg


def test_folds_end_with_production(tmp_path):
    path = write_config(tmp_path, hindcast={"first_test_year": 2009, "last_test_year": 2011})
    cfg = load_config(path)
    assert cfg.folds == ["2009", "2010", "2011", PRODUCTION]
    assert cfg.folds[-1] == "production"


def test_all_real_configs_load():
    configs = load_all_configs(CONFIGS_DIR)
    assert sorted(c.experiment_key for c in configs) == ["corn_usa", "corn_usa_county", "soybeans_bra"]
    for cfg in configs:
        assert cfg.folds[-1] == PRODUCTION
        assert cfg.model.name in registry() or cfg.model.name in cfg.ensembles


@pytest.mark.parametrize("name", ["corn_usa", "corn_usa_county", "soybeans_bra"])
def test_each_real_config_loads_with_key_matching_file_name(name):
    assert load_config(CONFIGS_DIR / f"{name}.yaml").experiment_key == name


def test_load_all_configs_rejects_duplicate_keys(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    shutil.copy(CONFIGS_DIR / "corn_usa.yaml", folder / "a.yaml")
    shutil.copy(CONFIGS_DIR / "corn_usa.yaml", folder / "b.yaml")
    shutil.copy(CONFIGS_DIR / "soybeans_bra.yaml", folder / "c.yaml")
    with pytest.raises(ConfigError) as excinfo:
        load_all_configs(folder)
    message = str(excinfo.value)
    assert str(folder) in message
    assert "experiment_key" in message and "corn_usa" in message
    assert "soybeans_bra" not in message


def test_the_model_may_be_a_compare_entry_under_its_own_name(tmp_path, input_dir):
    """`model.name: condition` runs the `compare.condition` entry (a ridge on the condition alone)."""
    from hindcast_assets_tests.conftest import write_config

    cfg = load_config(write_config(tmp_path, model={"name": "condition", "params": {"alpha": 3.0}}, ensembles={}))
    spec = cfg.model_specs["condition"]
    assert (spec.plugin, spec.features, spec.params) == ("ridge", ("cci",), {"alpha": 3.0})
