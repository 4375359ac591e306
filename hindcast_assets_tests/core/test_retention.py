"""`hindcast prune`: a dry run by default; never the current, the champion or a leased run_dir."""
from __future__ import annotations

import os
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
    (runs / "corn_usa.champion").write_text(f"{made[1]}\n")
    return runs, made, other


def test_prune_is_a_dry_run_unless_applied_and_spares_current_champion_and_leased(tmp_path, capsys):
    runs, made, other = _runs(tmp_path)
    with Lease(made[2], "a-live-run"):
        assert main(["prune", "--runs-dir", str(runs), "--keep", "1"]) == 0
        out, err = capsys.readouterr()
        assert all(rd.root.exists() for rd in made) and other.root.exists()  # dry run: nothing deleted
        assert [line.split("  (")[1] for line in out.splitlines()] == [
            "kept)", "beyond the newest 1 of corn_usa)", f"kept: leased by run a-live-run (pid {os.getpid()} on "
            f"{socket.gethostname()}, heartbeat 0 s ago))", "kept: the champion run_dir of corn_usa)",
            "kept: the current run_dir of corn_usa)", "kept)"]
        assert out.splitlines()[1] == f"would delete {made[3]}  (beyond the newest 1 of corn_usa)"
        assert err.strip() == "1 of 6 run_dirs would be deleted; --apply to delete"
        assert main(["prune", "--runs-dir", str(runs), "--keep", "1", "--apply"]) == 0
        capsys.readouterr()
    assert [rd.root.exists() for rd in made] == [True, True, True, False, True]  # current, champion, leased, -, newest
    assert other.root.exists()  # the newest of its experiment


def test_prune_by_age_and_its_usage_errors(tmp_path, capsys):
    runs, made, other = _runs(tmp_path)
    assert main(["prune", "--runs-dir", str(runs)]) == 2
    assert capsys.readouterr().err == ("hindcast: error: prune: --keep N or --older-than DAYS: say which run_dirs "
                                       "may go\n")
    assert main(["prune", "--runs-dir", str(runs), "--older-than", "100000", "--apply"]) == 0
    assert all(rd.root.exists() for rd in made) and other.root.exists()
    assert main(["prune", "--runs-dir", str(runs), "--older-than", "0", "--apply"]) == 0
    assert [rd.root.exists() for rd in made] == [True, True, False, False, False] and not other.root.exists()
