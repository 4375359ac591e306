"""A process's thread budget: its usable CPUs (affinity, cgroup quota) over the hindcast processes
sharing the host, applied to OpenMP and BLAS while a stage runs."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info

from hindcast_assets.pipeline import cpu_share


@pytest.fixture
def host(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_share, "SHARE_DIR", tmp_path / "share")
    monkeypatch.setattr(cpu_share, "CGROUP_CPU_MAX", tmp_path / "cpu.max")
    monkeypatch.delenv(cpu_share.THREADS_ENV, raising=False)
    return tmp_path


@pytest.mark.parametrize("cpu_max, expected", [(None, "affinity"), ("max 100000", "affinity"),
                                                ("100000 100000", 1), ("50000 100000", 1), ("800000 100000", "affinity")])
def test_usable_cpus_follow_affinity_and_the_cgroup_quota(host, cpu_max, expected):
    if cpu_max:
        (host / "cpu.max").write_text(cpu_max + "\n")
    affinity = len(os.sched_getaffinity(0))
    assert cpu_share.usable_cpus() == (affinity if expected == "affinity" else min(expected, affinity))


def test_live_processes_share_the_cpus_and_dead_ones_are_forgotten(host):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    share = host / "share"
    share.mkdir()
    (share / dead.stdout.strip()).touch()  # a process that died without unregistering
    (share / "1").touch()  # pid 1 lives
    assert cpu_share.sharing_processes() == 2  # pid 1 and this one
    assert sorted(p.name for p in share.iterdir()) == sorted(["1", str(os.getpid())])
    assert cpu_share.thread_budget() == max(1, len(os.sched_getaffinity(0)) // 2)


def _openmp_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}


def test_a_stage_runs_with_openmp_and_blas_at_the_budget(host, monkeypatch):
    import sklearn.ensemble  # noqa: F401 - loads scikit-learn's OpenMP runtime

    (host / "share").mkdir()
    (host / "share" / "1").touch()
    (host / "cpu.max").write_text("100000 100000\n")  # one CPU
    with cpu_share.threads_within_budget() as budget:
        assert budget == 1 and _openmp_threads() == {1}
    monkeypatch.setenv(cpu_share.THREADS_ENV, "0")  # leave the libraries alone
    with cpu_share.threads_within_budget() as budget:
        assert budget is None
