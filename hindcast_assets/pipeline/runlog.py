"""Run records: `logs/events.jsonl`, `metrics/<stage>.csv` and `manifest.json` (issue 11).

Every stage partition, whoever runs it (a Dagster asset, the plain loop, a resume), goes through
`run_recorded`: one event when it starts and one when it ends, its metrics appended for
charting, and, once it has succeeded, its outputs and their sha256 in the manifest. The
manifest is what completeness and resume rest on: a partition is complete when the manifest
says so and its files still hash to what it recorded; a resume skips exactly those.

Records are not artefacts: they grow as runs go on. The manifest is rewritten whole, aside and
renamed over, under a lock per run_dir, so a reader never sees half of it and a kill leaves
the last complete one. Event and metric lines are appended; a kill can cut only the last line,
which readers skip.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from upath import UPath
from upath.implementations.local import LocalPath

from hindcast_assets.core.errors import UserError
from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import configured_inputs, file_version
from hindcast_assets.core.rundir import RunDir, Written, content_hash, put_object
from hindcast_assets.paths import PROJECT_ROOT
from hindcast_assets.pipeline import reuse, store
from hindcast_assets.pipeline.cpu_share import threads_within_budget
from hindcast_assets.pipeline.records import StageRecord
from hindcast_assets.pipeline.store import RunDirView
from hindcast_assets.pipeline.table import (CONFIG_STAGE, Partitioning, Stage, partition_id, stage_partitions,
                                            stage_table)
from hindcast_assets.pipeline.tracking import host_lock
from hindcast_assets.pipeline.versions import PACKAGES, installed


ManifestMismatchError = store.IntegrityError  # a recorded file missing or changed, or a damaged manifest


@dataclass(frozen=True)
class RunIds:
    """Who is writing: the orchestrator's run id (a Dagster run, or `plain-<hex>` for the plain
    loop) and its MLflow run, where tracked."""

    run_id: str
    mlflow_run_id: str | None = None

    @classmethod
    def plain(cls) -> RunIds:
        return cls(f"plain-{uuid.uuid4().hex[:12]}")


def plan_of(stages: list[Stage], folds: list[str]) -> list[str]:
    """The stage partitions a job over `stages` and `folds` makes: what a complete run_dir holds."""
    return [partition_id(s.name, p) for s in stages for p in stage_partitions(s, folds)]


@cache
def git_sha() -> str:
    """The checkout's commit ('' outside a git checkout, e.g. an installed wheel)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


@cache
def environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "git_sha": git_sha(),
            "packages": {p: installed(p) for p in PACKAGES}}


@dataclass
class Manifest:
    """`manifest.json`. `plan` is what the launcher asked for (empty for a run_dir only the UI
    wrote); `completed` maps each finished stage partition to its outputs, rows and metrics (and
    for a reusable one its determinants, and the run_dir it was copied from if it was);
    `artefacts` lists every file written, run_dir-relative, with its sha256. `reuse`: whether
    its folds may be copied from run_dirs beside it (`--no-reuse` says no)."""

    job: str = ""
    plan: list[str] = field(default_factory=list)
    config_sha256: str = ""
    environment: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    runs: list[dict[str, str | None]] = field(default_factory=list)
    completed: dict[str, dict[str, Any]] = field(default_factory=dict)
    artefacts: list[dict[str, str]] = field(default_factory=list)
    reuse: bool = True

    @property
    def missing(self) -> list[str]:
        return [p for p in self.plan if p not in self.completed]

    def hashes(self) -> dict[str, str]:
        return {a["path"]: a["sha256"] for a in self.artefacts}


def read_manifest(rd: RunDir) -> Manifest | None:
    record = store.parse_manifest(rd.root / store.MANIFEST_FILE)
    if record is None:
        return None
    try:
        return Manifest(**record)
    except TypeError as exc:
        raise store.IntegrityError(f"{rd.root / store.MANIFEST_FILE}: not a run_dir manifest ({exc})") from None


@dataclass
class _Batch:
    """Records of a run_dir held back until its block ends: manifest changes, and lines to append
    by run_dir-relative file (with the file's header)."""

    changes: list[Callable[[Manifest], None]] = field(default_factory=list)
    lines: dict[str, tuple[str, list[str]]] = field(default_factory=dict)


_BATCHES: dict[str, _Batch] = {}


@contextmanager
def records_batched(rd: RunDir) -> Iterator[None]:
    """On an object store, the records of a block of partitions (a stage's) are written once, when
    it ends or fails: there a record write rewrites the whole object (no append; a rename is a copy
    and a delete), and per partition that cost a run_dir on S3 2.3x local disk. The manifest is
    still replaced whole, so a kill leaves the last one written: a resume redoes the partitions
    of the block the kill cut, writing the same bytes. Local run_dirs record each partition as
    it ends (appends and renames are cheap there)."""
    key = str(rd.root)
    if isinstance(rd.root, LocalPath) or key in _BATCHES:
        yield
        return
    _BATCHES[key] = batch = _Batch()
    try:
        with store.manifest_pinned(rd):
            yield
    finally:
        del _BATCHES[key]
        if batch.changes:
            _update(rd, lambda m: [change(m) for change in batch.changes])
        for rel, (header, lines) in batch.lines.items():
            _append(rd, rel, "".join(lines), header)


def _update(rd: RunDir, change: Callable[[Manifest], None]) -> Manifest | None:
    """Read, change and atomically replace the manifest, one writer at a time on this host (in a
    batch, once the batch ends)."""
    batch = _BATCHES.get(str(rd.root))
    if batch is not None:
        batch.changes.append(change)
        return None
    path = rd.root / store.MANIFEST_FILE
    with host_lock(str(rd.root), "manifest"):
        manifest = read_manifest(rd) or Manifest()
        change(manifest)
        # vars, not asdict: the fields are plain JSON values already, and asdict's deep copy of a
        # full manifest (12 ms at corn_usa's 1,344 artefacts) was paid at each of ~290 partitions
        data = manifest_text(vars(manifest)).encode()
        etag = _replace(path, data)
        if etag:
            store.manifest_written(path, data, etag)
    return manifest


def _replace(path: UPath, data: bytes) -> str | None:
    """Replace a record whole: locally written aside and renamed over; on an object store one PUT
    (`put_object`: a rename there, with its checks, cost seven requests per step), its ETag."""
    if not isinstance(path, LocalPath):
        return put_object(path, data)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    tmp.write_bytes(data)
    tmp.rename(path)  # replaces: a record grows, it is not an artefact
    return None


def manifest_text(fields: dict[str, Any]) -> str:
    """The manifest's JSON with one plan entry, completed partition or artefact per line (what
    `indent=1` shows to two levels, each entry compact). Each line goes through json's C encoder,
    where `indent` takes the pure-Python one: 4.0 -> 2.6 ms a write at 484 artefacts, paid at
    each of ~290 partitions of a corn_usa hindcast."""
    def block(value: Any) -> str:
        if isinstance(value, dict) and value:
            return "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()) + "\n }"
        if isinstance(value, list) and value:
            return "[\n" + ",\n".join(f"  {json.dumps(v)}" for v in value) + "\n ]"
        return json.dumps(value)

    return "{\n" + ",\n".join(f" {json.dumps(k)}: {block(v)}" for k, v in fields.items()) + "\n}"


def open_run_dir(rd: RunDir, cfg: ExperimentConfig, job: str, stages: list[Stage], folds: list[str],
                 reuse_folds: bool = True) -> Manifest:
    """What a launcher records before the first stage: the job, its plan, the config's hash, the
    environment, the inputs' sha256 and whether folds may be reused."""
    def change(m: Manifest) -> None:
        m.job, m.plan = m.job or job, m.plan or plan_of(stages, folds)
        m.reuse = m.reuse and reuse_folds
        m.config_sha256 = content_hash(store.CONFIG.format.encode(cfg))
        m.environment = environment()
        m.inputs = input_versions(cfg)

    return _update(rd, change)


def input_versions(cfg: ExperimentConfig) -> dict[str, dict[str, str]]:
    """Each configured input's URL and sha256: what the run_dir is made from."""
    return {name: {"url": url, "sha256": file_version(url)} for name, url in configured_inputs(cfg).items()}


class InputChangedError(UserError, ValueError):
    """An input the run_dir was made from has changed: re-making its artefacts there would mix data."""


def require_inputs_unchanged(rd: RunDir, manifest: Manifest | None) -> None:
    """The inputs hash to what the manifest recorded when the run_dir was made, else one line
    saying a new run_dir is needed and how to make it."""
    recorded = manifest.inputs if manifest else {}
    for name, was in recorded.items():
        if file_version(was["url"]) != was["sha256"]:
            raise InputChangedError(
                f"{was['url']} (inputs.{name}): changed since run_dir {rd} was made (sha256 differs from its "
                f"{store.MANIFEST_FILE}); re-making its artefacts there would mix data: make a new run_dir with "
                f"`hindcast run hindcast --config {store.CONFIG.path(rd)}` (or your edited config)")


def _sha256_of(path: UPath) -> str | None:
    return store.sha256_of(path) if path.exists() else None


def _written(rd: RunDir, rel: str, sha256: str) -> Written:
    path = rd.root / rel
    return Written(str(path), sha256, 0 if path.is_dir() else path.stat().st_size)


def problems(rd: RunDir, paths: list[str], recorded: dict[str, str]) -> list[str]:
    """What no longer matches the manifest among run_dir-relative `paths`."""
    out = []
    for rel in paths:
        found = _sha256_of(rd.root / rel)
        if found != recorded.get(rel):
            out.append(f"{rd.root / rel}: {'missing' if found is None else 'sha256 differs from manifest.json'}")
    return out


def verify(rd: RunDir, manifest: Manifest) -> None:
    """Every file the manifest lists is there with the recorded sha256, else one clear error."""
    bad = problems(rd, [a["path"] for a in manifest.artefacts], manifest.hashes())
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ManifestMismatchError(f"{bad[0]}{more}; this run_dir was changed after it was written")


def _append_local(path: str, text: str, header: str) -> None:
    """Append whole lines or nothing. One O_APPEND write keeps concurrent lines whole; a write the
    disk cuts short (full, over quota) is taken back and raises, and a line an earlier kill cut
    short is ended first, so no line is ever glued to another (readers skip the cut one)."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        lead = header if size == 0 else ("" if os.pread(fd, 1, size - 1) == b"\n" else "\n")
        data, done = (lead + text).encode(), 0
        try:
            while done < len(data):
                done += os.write(fd, data[done:])
        except OSError:
            if os.fstat(fd).st_size == size + done:  # nobody appended after us: take our part back
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def _append(rd: RunDir, rel: str, line: str, header: str = "") -> None:
    batch = _BATCHES.get(str(rd.root))
    if batch is not None:
        batch.lines.setdefault(rel, (header, []))[1].append(line)
        return
    path = rd.root / rel
    if isinstance(path, LocalPath):
        path.parent.mkdir(parents=True, exist_ok=True)
        rd.refuse_links(path)
        _append_local(str(path), line, header)
        return
    with host_lock(str(path), "append"):  # object stores cannot append: rewrite the object
        try:
            before = store.fetch_bytes(path).decode()  # one GET, no HEAD first
        except FileNotFoundError:
            before = header
        _replace(path, (before + line).encode())


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _event(rd: RunDir, ids: RunIds, stage: Stage, partition: Any, status: str, cfg: ExperimentConfig,
           **fields: Any) -> None:
    inputs = configured_inputs(cfg)
    event = {"run_id": ids.run_id, "ts": _now(), "task": stage.name,
             "partition": None if partition is None else str(partition),
             "level": "ERROR" if status == "failed" else "INFO", "git_sha": git_sha(),
             "input_paths": [inputs[i] for i in stage.inputs if i in inputs], "output_paths": [], "metrics": {},
             "duration_s": None, "status": status, **fields}
    _append(rd, store.EVENTS_FILE, json.dumps(event, default=str) + "\n")


def _metrics(rd: RunDir, ids: RunIds, stage: Stage, record: StageRecord) -> None:
    if record.metrics:
        lines = "".join(f"{_now()},{ids.run_id},{record.partition or ''},{k},{float(v)!r}\n"
                        for k, v in record.metrics.items())
        _append(rd, store.METRICS_FILE.format(stage=stage.name), lines, "ts,run_id,partition,metric,value\n")


def _complete(rd: RunDir, ids: RunIds, stage: Stage, pid: str, record: StageRecord, duration: float,
              cfg: ExperimentConfig, provenance: dict[str, str]) -> None:
    outputs = {rd.relative(w.path): w.sha256 for w in record.written}

    def change(m: Manifest) -> None:
        if stage.name == CONFIG_STAGE and not m.inputs:  # a run_dir the UI made records its inputs with its config
            m.inputs = input_versions(cfg)
        run = {"run_id": ids.run_id, "mlflow_run_id": ids.mlflow_run_id}
        if run not in m.runs:
            m.runs.append(run)
        m.completed[pid] = {"stage": stage.name, "partition": record.partition, "outputs": sorted(outputs),
                            "rows": record.rows, "metrics": record.metrics, "note": record.note,
                            "duration_s": round(duration, 3), "run_id": ids.run_id, **provenance}
        known = m.hashes() | outputs
        m.artefacts = [{"path": p, "sha256": h} for p, h in sorted(known.items())]

    _update(rd, change)


def _already_complete(rd: RunDir, stage: Stage, pid: str, partition: Any) -> StageRecord | None:
    """The recorded result of a partition the manifest holds as complete (its files checked),
    else None. The config stage always runs: it is what refuses a different config."""
    manifest = read_manifest(rd)
    done = manifest.completed.get(pid) if manifest and stage.name != CONFIG_STAGE else None
    if done is None:
        return None
    hashes = manifest.hashes()
    bad = problems(rd, done["outputs"], hashes)
    if bad:
        raise ManifestMismatchError(f"{bad[0]}; {pid} was complete; this run_dir was changed after it was written")
    written = [_written(rd, rel, hashes[rel]) for rel in done["outputs"]]
    return StageRecord(done["partition"], written, done["rows"], done["metrics"],
                       note=f"{done['note']} (already complete)".strip(), already_complete=True)


def run_recorded(view: RunDirView, stage: Stage, partition: Any, ids: RunIds) -> StageRecord:
    """Run one stage partition unless the manifest already holds it complete, recording it."""
    rd, pid = view.run_dir, partition_id(stage.name, partition)
    cfg = view.launched_with or view.cfg
    skipped = _already_complete(rd, stage, pid, partition)
    if skipped is not None:
        _event(rd, ids, stage, partition, "skipped", cfg, output_paths=[rd.relative(w.path) for w in skipped.written])
        return skipped
    _event(rd, ids, stage, partition, "started", cfg)
    start = time.perf_counter()
    try:
        with threads_within_budget():
            record, provenance = _made_or_reused(view, stage, partition, pid)
    except BaseException as exc:
        _event(rd, ids, stage, partition, "failed", cfg, duration_s=round(time.perf_counter() - start, 3),
               error=f"{type(exc).__name__}: {exc}")
        raise
    duration = time.perf_counter() - start
    _metrics(rd, ids, stage, record)
    _complete(rd, ids, stage, pid, record, duration, cfg, provenance)
    _event(rd, ids, stage, partition, "success", cfg, duration_s=round(duration, 3), metrics=record.metrics,
           output_paths=[rd.relative(w.path) for w in record.written], **provenance)
    return record


def _made_or_reused(view: RunDirView, stage: Stage, partition: Any, pid: str) -> tuple[StageRecord, dict[str, str]]:
    """The partition copied from a complete run_dir beside this one where one holds it with the
    same determinants (and the manifest allows it), else made; with what the manifest records of
    where it came from."""
    manifest = read_manifest(view.run_dir) or Manifest()
    determined = reuse.determinants(view, stage, partition, manifest.completed, manifest.hashes())
    if determined is None:
        return stage.run(view, partition), {}
    for donor in reuse.siblings(view.run_dir, view.key) if manifest.reuse else []:
        done = _donation(donor, pid, determined)
        written = None if done is None else reuse.copy_files(view.run_dir, donor, done["hashes"])
        if written is not None:
            record = StageRecord(done["partition"], written, done["rows"], done["metrics"],
                                 note=f"reused from {donor.root.name}")
            return record, {"determinants": determined, "reused_from": str(donor.root)}
    return stage.run(view, partition), {"determinants": determined}


def _donation(donor: RunDir, pid: str, determined: str) -> dict | None:
    """The donor's record of `pid` with its files' recorded sha256, if the donor's run is complete
    and the partition has the same determinants (`reuse.copy_files` checks the files' bytes)."""
    try:
        manifest = read_manifest(donor)
    except (OSError, ValueError):
        return None  # an unreadable record donates nothing; its own commands report it
    done = manifest.completed.get(pid) if manifest and manifest.plan and not manifest.missing else None
    if not done or done.get("determinants") != determined:
        return None
    hashes = manifest.hashes()
    return {**done, "hashes": {r: hashes.get(r) for r in done["outputs"]}}


def forecast_needs(cfg: ExperimentConfig, fold: str) -> list[str]:
    """The hindcast stage partitions a forecast by `fold` reads: its fold's fitted chain and the
    whole-run stages (calibration by init date), as the stage table's edges say."""
    table = {s.name: s for s in stage_table(cfg)}
    reads = {u.stage for s in table.values() if s.partitioning is Partitioning.FORECAST for u in s.upstream}
    hindcast = [table[n] for n in reads if table[n].partitioning is not Partitioning.FORECAST]
    return sorted(partition_id(s.name, fold if s.partitioning is Partitioning.FOLD else None) for s in hindcast)


def incomplete_for(manifest: Manifest | None, needs: list[str]) -> list[str]:
    """Which of `needs` the launcher planned but no run completed (none known without a manifest)."""
    if manifest is None:
        return []
    return [pid for pid in needs if pid in manifest.plan and pid not in manifest.completed]


def read_events(rd: RunDir) -> list[dict]:
    """The run_dir's events; a line cut short by a kill is skipped."""
    path = rd.root / store.EVENTS_FILE
    events = []
    for line in (path.read_text().splitlines() if path.exists() else []):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events

