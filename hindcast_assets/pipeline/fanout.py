"""A hindcast fanned out over its folds (issue 13), derived from the stage table's edges.

Phases: `setup` (whole-run stages the folds read: the config, the geos), `per_fold` (fold
stages that read only their own fold, run as contiguous chunks of folds side by side) and
`fan_in` (everything that reads every fold: ensembles, bias correction, intervals, reports);
`early` whole-run stages read only what setup writes and no fold reads them (the warm-up), so
they run once, beside the first chunk's folds rather than in every chunk or before the fan-in. A
new stage lands in its phase by what it reads, so the fan-out cannot drift from the table. The
fan-in splits again (`fan_in_waves`): a head every other fan-in stage reads, then lanes that
read nothing of each other (the calibration by init date; the intervals and reports), then what
reads both (the season report).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import inner_folds
from hindcast_assets.core.data import load_input
from hindcast_assets.core.hindcast import fold_of
from hindcast_assets.core.warmup import warmup_folds
from hindcast_assets.pipeline.table import CONFIG_STAGE, Partitioning, Stage, asset_stages, hindcast_stages


@dataclass(frozen=True)
class FanOut:
    setup: list[Stage]
    per_fold: list[Stage]
    fan_in: list[Stage]
    early: list[Stage] = field(default_factory=list)


def fan_out(stages: list[Stage]) -> FanOut:
    """Split `stages` (in table order, so upstream comes first) into the phases."""
    reads = _reads(stages)
    read_by_folds = {CONFIG_STAGE}.union(*(reads[s.name] for s in stages if s.partitioning is Partitioning.FOLD))
    plan = FanOut([], [], [])
    for stage in stages:
        before_folds = {s.name for s in plan.setup} | {s.name for s in plan.per_fold}
        own_fold_only = all(u.stage in before_folds and not u.all_partitions for u in stage.upstream)
        if stage.partitioning is Partitioning.NONE and all(u.stage in {s.name for s in plan.setup} for u in stage.upstream):
            (plan.setup if stage.name in read_by_folds else plan.early).append(stage)
        elif stage.partitioning is Partitioning.FOLD and own_fold_only:
            plan.per_fold.append(stage)
        else:
            plan.fan_in.append(stage)
    return plan


def _reads(stages: list[Stage]) -> dict[str, set[str]]:
    """Each stage's upstream among `stages`, transitively (table order: upstream first)."""
    names, reads = {s.name for s in stages}, {}
    for stage in stages:
        direct = {u.stage for u in stage.upstream if u.stage in names}
        reads[stage.name] = direct.union(*(reads[d] for d in direct))
    return reads


def fan_in_waves(fan_in: list[Stage], width: int) -> list[list[list[Stage]]]:
    """The fan-in as waves of stage groups, each group one run, a wave's groups side by side:
    the head (the longest leading run of stages every later one reads), then the rest's
    independent lanes dealt into at most `width` groups, then the tail: stages that read more
    than one lane (the season report), which would otherwise merge the lanes into one run. One
    wave when there is nothing to run side by side."""
    reads = _reads(fan_in)
    cut = 0
    while cut < len(fan_in) and all(fan_in[cut].name in reads[s.name] for s in fan_in[cut + 1:]):
        cut += 1
    head, rest = fan_in[:cut], fan_in[cut:]
    lanes: list[list[Stage]] = []
    tail: list[Stage] = []
    for stage in rest:  # a stage joins the lane of what it reads; one reading several lanes, the tail
        linked = [lane for lane in lanes if any(s.name in reads[stage.name] for s in lane)]
        if len(linked) > 1 or any(s.name in reads[stage.name] for s in tail):
            tail.append(stage)
            continue
        lanes = [lane for lane in lanes if lane not in linked] + [[s for lane in linked for s in lane] + [stage]]
    if width < 2 or len(lanes) < 2:
        return [[fan_in]]
    lane_stages = [s for s in rest if s not in tail]
    dealt = [{s.name for lane in lanes[i::width] for s in lane} for i in range(min(width, len(lanes)))]
    groups = [[s for s in lane_stages if s.name in names] for names in dealt]  # table order within a run
    return ([[head]] if head else []) + [groups] + ([[tail]] if tail else [])


def fold_chunks(folds: list[str], weights: list[float], n: int) -> list[list[str]]:
    """`folds` cut into at most `n` contiguous chunks of near-equal total weight (a fold's cost
    grows with its training seasons: equal counts of folds would leave the last chunk longest)."""
    n = max(1, min(n, len(folds)))
    total, chunks, current, done = sum(weights), [], [], 0.0
    for i, (fold, weight) in enumerate(zip(folds, weights)):
        share = total * (len(chunks) + 1) / n  # where the current chunk should end
        must_keep = len(folds) - i <= n - len(chunks) - 1  # one fold left per remaining chunk
        if current and len(chunks) < n - 1 and (must_keep or done + weight - share > share - done):
            chunks.append(current)  # ends nearer its share before this fold than after it
            current = []
        current.append(fold)
        done += weight
    return chunks + [current]


EARLY = "early stages"  # their place among the folds when the folds are cut into chunks: first


@dataclass(frozen=True)
class Phase:
    """One run of the fan-out: which stages' assets, over which folds (names only, so it
    pickles to a pool process)."""

    name: str
    stages: tuple[str, ...]
    folds: list[str]

    @classmethod
    def of(cls, name: str, stages: list[Stage], folds: list[str]) -> Phase:
        return cls(name, tuple(s.name for s in asset_stages(stages)), folds)


def phases(cfg: ExperimentConfig, workers: int) -> list[list[Phase]]:
    """Waves of runs, each wave's runs side by side: the fold chunks (balanced by training
    seasons; the first also runs the early stages), then the fan-in's waves."""
    plan = fan_out(hindcast_stages(cfg))
    yields = load_input(cfg, "yields")  # the folds' seasons
    weights = [len(fold_of(cfg, yields, f).train_seasons) for f in cfg.folds]
    early = warmup_weight(cfg, yields) if plan.early else 0.0
    cut = fold_chunks([EARLY, *cfg.folds], [early, *weights], workers)
    if cut[0] == [EARLY]:  # the early stages alone: they join the next chunk's folds
        cut = [[EARLY, *cut[1]], *cut[2:]]
    chunks = []
    for c in cut:
        folds = [f for f in c if f != EARLY]
        stages = plan.setup + (plan.early if EARLY in c else []) + plan.per_fold
        chunks.append(Phase.of(f"folds {folds[0]}-{folds[-1]}", stages, folds))
    waves = fan_in_waves(plan.fan_in, workers)
    fan_in = [[Phase.of("fan-in" if len(waves) == 1 else f"fan-in: {group[0].name}", group, cfg.folds)
               for group in wave] for wave in waves]
    return [chunks, *fan_in]


def warmup_weight(cfg: ExperimentConfig, yields) -> float:
    """The warm-up (the one early stage) in fold weights, training seasons: each of its refits
    fits the model's members once; a fold fits every base model, and the members again per inner
    block."""
    n = len(inner_folds.members(cfg))
    per_fold = len(cfg.base_models) + (cfg.conformal.inner_blocks * n if inner_folds.uses_inner_folds(cfg) else 0)
    return n * sum(len(f.train_seasons) for f in warmup_folds(cfg, yields)) / per_fold
