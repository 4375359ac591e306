"""`hindcast prune`: a dry run by default; never the current, a registry-aliased or a leased run_dir."""
from __future__ import annotations

import os
import re
import socket

from hindcast_assets.cli import main
from hindcast_assets.core.lease import Lease
from hindcast_assets.core.rundir import RunDir, set_current

STAMPS = ["20260101_000000", "20260201_000000", "20260301_000000", "20260401_000000", "20260501_000000"]


def _runs(tmp_path):
    runs = tmp_path / "runs"
    made = [RunDir(runs / f"{s}_corn_usa") for s in STAMPS]
    for rd in made:
        rd.root.mkdir(parents=True)
    other = RunDir(runs / "20250101_000000_soy_br")
    other.root.mkdir()
    set_current(str(runs), "corn_usa", made[0])  # the oldest is current
    _alias(made[1], "challenger")  # a registry alias points at the second oldest
    return runs, made, other


def _alias(rd: RunDir, alias: str) -> None:
    """A version of corn_usa in the test's own MLflow registry that points at `rd`, with `alias`."""
    from hindcast_assets.pipeline.tracking import Tracker

    tracker = Tracker()
    run = tracker.run_for("test", "corn_usa", "test", {}, {})
    tracker.client.create_registered_model("corn_usa")
    version = tracker.client.create_model_version("corn_usa", "models", run, tags={"run_dir": str(rd)})
    tracker.client.set_registered_model_alias("corn_usa", alias, version.version)


def test_prune_is_a_dry_run_unless_applied_and_spares_current_registered_and_leased(tmp_path, capsys):
    runs, made, other = _runs(tmp_path)
    capsys.readouterr()  # what making them logged
    with Lease(made[2], "a-live-run"):
        assert main(["prune", "--runs-dir", str(runs), "--keep", "1"]) == 0
        out, err = capsys.readouterr()
        assert all(rd.root.exists() for rd in made) and other.root.exists()  # dry run: nothing deleted
        reasons = [re.sub(r"heartbeat \d+ s ago", "heartbeat N s ago", line.split("  (")[1]) for line in out.splitlines()]
        assert reasons == [
            "kept)", "beyond the newest 1 of corn_usa)", f"kept: leased by run a-live-run (pid {os.getpid()} on "
            f"{socket.gethostname()}, heartbeat N s ago))", "kept: the challenger (registry version 1) of corn_usa)",
            "kept: the current run_dir of corn_usa)", "kept)"]
        assert out.splitlines()[1] == f"would delete {made[3]}  (beyond the newest 1 of corn_usa)"
        assert err.strip() == "1 of 6 run_dirs would be deleted; --apply to delete"
        assert main(["prune", "--runs-dir", str(runs), "--keep", "1", "--apply"]) == 0
        capsys.readouterr()
    assert [rd.root.exists() for rd in made] == [True, True, True, False, True]  # current, challenger, leased, -, newest
    assert other.root.exists()  # the newest of its experiment


def test_prune_by_age_and_its_usage_errors(tmp_path, capsys):
    runs, made, other = _runs(tmp_path)
    capsys.readouterr()  # what making them logged
    assert main(["prune", "--runs-dir", str(runs)]) == 2
    assert capsys.readouterr().err == ("hindcast: error: prune: --keep N or --older-than DAYS: say which run_dirs "
                                       "may go\n")
    assert main(["prune", "--runs-dir", str(runs), "--older-than", "100000", "--apply"]) == 0
    assert all(rd.root.exists() for rd in made) and other.root.exists()
    assert main(["prune", "--runs-dir", str(runs), "--older-than", "0", "--apply"]) == 0
    assert [rd.root.exists() for rd in made] == [True, True, False, False, False] and not other.root.exists()
