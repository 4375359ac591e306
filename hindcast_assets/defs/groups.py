"""The UI's asset groups of an experiment: its stages (`<key>`), its forecasts (`<key>_forecast`)
and its external inputs (`<key>_inputs`). The inputs have a group of their own because each feeds
most stages: in the stages' group their edges buried the pipeline's own shape."""
from __future__ import annotations

from enum import Enum

from hindcast_assets.config import ExperimentConfig


class Group(Enum):
    HINDCAST = ""
    FORECAST = "_forecast"
    INPUTS = "_inputs"


def group_name(cfg: ExperimentConfig, group: Group) -> str:
    return f"{cfg.experiment_key}{group.value}"


STAGE_GROUPS = {"hindcast": Group.HINDCAST, "forecast": Group.FORECAST}  # by the stage table's `Stage.group`
