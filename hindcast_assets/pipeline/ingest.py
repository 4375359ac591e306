"""Pull source data into an input folder (DESIGN.md's `ingest`): deterministic, idempotent,
retried, and failing before anything downstream can read a bad pull.

Each source file is kept as fetched under `<folder>/vintages/<source>/`, never overwritten, with
a record beside it (URL without the key, vintage, fetch time, sha256). The input file a config
reads (`indices.parquet` from every NOAA vintage kept, `yields.parquet` from NASS's newest) is
checked by the same input rules as the preflight, and only then are the new files kept and the
input replaced: a bad pull leaves nothing behind and the last good input current."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

import pandas as pd

from hindcast_assets.config import NASS_QUICKSTATS, NOAA_NCLIMDIV, ExperimentConfig
from hindcast_assets.core import nclimdiv, quickstats
from hindcast_assets.core.data import InputError, input_problem, load_input
from hindcast_assets.core.errors import PullError
from hindcast_assets.core.nclimdiv import ClimdivFile
from hindcast_assets.core.parquet import write_parquet
from hindcast_assets.paths import BUNDLED_DATA_DIR

NOAA_URL_ENV, NOAA_URL = "HINDCAST_NOAA_URL", "https://www.ncei.noaa.gov/pub/data/cirs/climdiv/"
NASS_URL_ENV, NASS_URL = "HINDCAST_NASS_URL", "https://quickstats.nass.usda.gov/api/"
NASS_KEY_ENV = "NASS_API_KEY"  # read from the environment only: never written to a record, log or message
BACKOFF_ENV = "HINDCAST_HTTP_BACKOFF_S"  # the first retry's wait, in seconds
VINTAGES, RECORD_SUFFIX = "vintages", ".json"
INPUT_PARQUET = {"index": False, "compression": "zstd"}  # how every input file is written (scripts/build_inputs.py too)


def write_input(frame: pd.DataFrame, path: Path) -> None:
    """An input file (CSV where its name says so, else parquet), byte-identical for the same rows
    in the same environment."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        write_parquet(frame.reset_index(drop=True), path, **INPUT_PARQUET)


@dataclass(frozen=True)
class Http:
    """GET with retries: a 5xx, a timeout or a dropped connection is tried again with back-off;
    a 4xx is the caller's mistake and is one line at once."""

    attempts: int = 4
    backoff_s: float = field(default_factory=lambda: float(os.environ.get(BACKOFF_ENV, "2")))  # doubles each time
    timeout_s: float = 60.0

    def get(self, url: str, what: str) -> bytes:
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    raise PullError(f"{what}: HTTP {exc.code} {exc.reason} from {_public(url)}") from None
                problem = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as exc:
                problem = str(getattr(exc, "reason", exc))
        raise PullError(f"{what}: {problem} from {_public(url)}, {self.attempts} attempts")


def _public(url: str) -> str:
    """The URL without its query's key (an API key is never printed or written)."""
    return re.sub(r"([?&]key=)[^&]*", r"\1***", url)


@dataclass(frozen=True)
class Fetched:
    """A source file as fetched, to be kept under `name` once the whole pull checks."""

    name: str
    data: bytes
    url: str
    vintage: str


def _new(folder: Path, fetched: Fetched) -> bool:
    """Whether the file is not kept yet; a kept one of the same name must be the same bytes (a
    published vintage does not change), else the pull is refused."""
    path = folder / fetched.name
    if not path.exists():
        return True
    kept = json.loads(path.with_name(path.name + RECORD_SUFFIX).read_text())
    if kept["sha256"] != hashlib.sha256(fetched.data).hexdigest():
        raise PullError(f"{_public(fetched.url)}: vintage {fetched.vintage} differs from the copy kept on "
                        f"{kept['fetched_at']} ({path}); a published vintage should not change")
    return False


def keep(folder: Path, fetched: Fetched) -> None:
    """Store a fetched file under its own name, with its record (URL without the key, vintage,
    fetch time, sha256). Never overwrites: `_new` said it is not kept yet."""
    record = {"source": _public(fetched.url), "vintage": fetched.vintage,
              "sha256": hashlib.sha256(fetched.data).hexdigest(),
              "fetched_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / fetched.name, fetched.data)
    _write_atomic(folder / (fetched.name + RECORD_SUFFIX), json.dumps(record, indent=1).encode())


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def listed_files(listing: str) -> list[ClimdivFile]:
    """The statewide files a directory listing links to, newest vintage per element."""
    files = [f for name in sorted(set(re.findall(r'href="([^"/?]+)"', listing))) if (f := ClimdivFile.parse(name))]
    newest = {}
    for f in sorted(files, key=lambda f: f.vintage):
        newest[f.element.variable] = f
    return [newest[v] for v in nclimdiv.ELEMENTS if v in newest]


def kept_files(folder: Path) -> list[ClimdivFile]:
    """Every kept statewide file."""
    return [f for p in sorted(folder.glob("climdiv-*")) if (f := ClimdivFile.parse(p.name))]


@dataclass(frozen=True)
class Pull:
    """What an ingest did: the files it fetched new, the inputs it made current and the
    vintages in use (by variable for the weather, by input for the others)."""

    fetched: list[str]
    inputs: dict[str, Path]
    vintages: dict[str, list[str]]

    def __add__(self, other: Pull) -> Pull:
        return Pull(self.fetched + other.fetched, self.inputs | other.inputs, self.vintages | other.vintages)


def _geos(cfg: ExperimentConfig) -> set[str] | None:
    """The states the yields have (each must be in a pull), or None before there are yields."""
    try:
        return set(load_input(cfg, "yields")["geo_id"])
    except InputError:
        return None


def _make_current(cfg: ExperimentConfig, name: str, frame: pd.DataFrame, current: Path, folder: Path,
                  new: list[Fetched]) -> None:
    """Write `frame` beside `current` and check it by the config's rules for input `name`; only
    then keep the pull's new files and make it current (a refused pull leaves nothing behind)."""
    candidate = current.with_name(f".{current.stem}.candidate{current.suffix}")  # read as the input is
    current.parent.mkdir(parents=True, exist_ok=True)
    write_input(frame, candidate)
    inputs = cfg.inputs.model_copy(update={name: str(candidate)})
    problem = input_problem(cfg.model_copy(update={"inputs": inputs}), name)
    if problem:
        candidate.unlink()
        raise PullError(f"{problem.replace(str(candidate), str(current))} ({current} is unchanged)")
    for fetched in new:
        keep(folder, fetched)
    os.replace(candidate, current)


def _input_path(cfg: ExperimentConfig, name: str) -> Path:
    """The local file the config reads input `name` from: where an ingest writes it."""
    target = getattr(cfg.inputs, name)
    if not target or "://" in target:
        raise PullError(f"inputs.{name}: {target or 'not set'}: an ingest writes a local file; name one")
    path = Path(target).resolve()
    if path.is_relative_to(BUNDLED_DATA_DIR.resolve()):
        raise PullError(f"inputs.{name}: {path} is in the bundled data folder, which `make install` rebuilds; "
                        "set INPUT_DATA_DIR to a folder of your own")
    return path


def ingest_noaa(cfg: ExperimentConfig, base_url: str | None = None, http: Http | None = None) -> Pull:
    """Fetch NOAA's newest statewide files not kept yet, and rebuild the config's indices file
    from every vintage kept and fetched."""
    if cfg.ingest.indices != NOAA_NCLIMDIV:
        raise PullError(f"ingest.indices: {cfg.ingest.indices or 'not set'}: the config does not say its indices "
                        f"come from NOAA ({NOAA_NCLIMDIV})")
    http = http or Http()
    base = (base_url or os.environ.get(NOAA_URL_ENV) or NOAA_URL).rstrip("/") + "/"
    current = _input_path(cfg, "indices")
    folder = current.parent / VINTAGES / "nclimdiv"
    listed = listed_files(http.get(base, "NOAA nClimDiv listing").decode("utf-8", "replace"))
    if not listed:
        raise PullError(f"NOAA nClimDiv listing: no climdiv-*st-v1.0.0-YYYYMMDD file at {base}")
    today = dt.datetime.now(dt.timezone.utc).date()
    for f in listed:
        if f.made > today:
            raise PullError(f"{base}{f.name}: vintage {f.made.isoformat()} is after today ({today.isoformat()})")
    new = [Fetched(f.name, http.get(base + f.name, f"NOAA nClimDiv {f.name}"), base + f.name, f.label)
           for f in listed if not (folder / f.name).exists()]
    return _rebuild_indices(cfg, new)


def _kept_text(folder: Path, f: ClimdivFile) -> str:
    """A kept file's text, checked against its record (a changed or cut copy is refused)."""
    path = folder / f.name
    record = json.loads(path.with_name(f.name + RECORD_SUFFIX).read_text())
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise PullError(f"{path}: changed since it was fetched (sha256 differs from {path.name}{RECORD_SUFFIX})")
    return data.decode("ascii")


def indices_as_published(folder: Path) -> Iterator[tuple[str, pd.DataFrame]]:
    """The indices as they stood at each kept vintage (YYYYMMDD, oldest first): the files of that
    vintage and older, assembled as a pull then made them (what `hindcast replay --vintages` replays)."""
    frames = {f: nclimdiv.read_climdiv(_kept_text(folder, f), f, str(folder / f.name)) for f in kept_files(folder)}
    if not frames:
        raise PullError(f"{folder}: no kept nClimDiv file (pull them with `hindcast ingest noaa`)")
    for vintage in sorted({f.vintage for f in frames}):
        yield vintage, nclimdiv.assemble([frame for f, frame in frames.items() if f.vintage <= vintage])


def _rebuild_indices(cfg: ExperimentConfig, new: list[Fetched]) -> Pull:
    """The config's indices file from the kept files and the `new` ones, each checked, made current."""
    current, geos = _input_path(cfg, "indices"), _geos(cfg)
    folder = current.parent / VINTAGES / "nclimdiv"
    texts = {f: (_kept_text(folder, f), str(folder / f.name)) for f in kept_files(folder)}
    texts |= {ClimdivFile.parse(n.name): (n.data.decode("ascii", "replace"), n.url) for n in new}
    if not texts:
        raise PullError(f"{folder}: no kept nClimDiv file")
    indices = nclimdiv.assemble([nclimdiv.read_climdiv(text, f, where, geos) for f, (text, where) in texts.items()])
    _make_current(cfg, "indices", indices, current, folder, new)
    vintages = indices.groupby("variable")["vintage"].unique()
    return Pull([n.name for n in new], {"indices": current}, {v: sorted(vintages[v]) for v in vintages.index})


def _nass_key() -> str:
    key = os.environ.get(NASS_KEY_ENV, "").strip()
    if not key:
        raise PullError(f"{NASS_KEY_ENV} is not set: Quick Stats needs an API key "
                        "(free from https://quickstats.nass.usda.gov/api); it is never written anywhere")
    return key


def _yields_columns(cfg: ExperimentConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """The yields under the config's column names (a config without a name column gets none)."""
    c = cfg.columns
    names = {"geo_id": c.geo_id, "geo_name": c.geo_name, "season_year": c.season_year,
             "yield_bu_per_acre": c.target, "harvested_acres": c.area}
    return frame[[k for k, v in names.items() if v]].rename(columns=names)


def _quickstats_get(http: Http, base: str, key: str, query: quickstats.Query, what: str) -> tuple[bytes, Fetched]:
    """A Quick Stats answer, and the file it is kept as: named by the date NASS last loaded it."""
    url = base + "api_GET/?" + urllib.parse.urlencode({"key": key, **dict(query.filters), "format": "JSON"})
    data = http.get(url, f"NASS Quick Stats {what}")
    vintage = quickstats.newest_load(data)
    return data, Fetched(f"corn_{query.column}-{vintage}.json", data, url, f"quickstats-{vintage}")


def _quickstats_current(cfg: ExperimentConfig, name: str, frame: pd.DataFrame, current: Path,
                        pulled: list[Fetched]) -> Pull:
    """`frame`, built from the Quick Stats responses `pulled`, made input `name` at `current`,
    the responses not kept yet kept beside it (`_make_current`)."""
    folder = current.parent / VINTAGES / "quickstats"
    new = [f for f in pulled if _new(folder, f)]
    _make_current(cfg, name, frame, current, folder, new)
    return Pull([f.name for f in new], {name: current}, {name: sorted({f.vintage for f in pulled})})


def _nass_yields(cfg: ExperimentConfig, http: Http, base: str, key: str) -> Pull:
    current, frames, pulled = _input_path(cfg, "yields"), {}, []
    for query in quickstats.STATE_CORN:
        data, fetched = _quickstats_get(http, base, key, query, query.statistic.lower())
        frames[query.column] = quickstats.read_state_figures(data, query, _public(fetched.url))
        pulled.append(fetched)
    yields = quickstats.state_yields(frames[quickstats.YIELD.column], frames[quickstats.AREA.column],
                                     "NASS Quick Stats")
    return _quickstats_current(cfg, "yields", _yields_columns(cfg, yields), current, pulled)


def _nass_forecasts(cfg: ExperimentConfig, http: Http, base: str, key: str) -> Pull:
    current = _input_path(cfg, "yardstick")
    data, fetched = _quickstats_get(http, base, key, quickstats.NATIONAL_YIELD, "national forecasts")
    forecasts = quickstats.national_forecasts(data, _public(fetched.url))
    return _quickstats_current(cfg, "yardstick", forecasts.rename(columns={"season_year": cfg.columns.season_year}),
                               current, [fetched])


def _nass_condition(cfg: ExperimentConfig, http: Http, base: str, key: str) -> Pull:
    """The Corn Belt's weekly condition index from each of its states' ratings (a request per
    state keeps each answer under Quick Stats' 50,000 records)."""
    current, today, frames, pulled = _input_path(cfg, "regional"), dt.date.today(), [], []
    for geo in quickstats.CORN_BELT:
        fips = geo.removeprefix(nclimdiv.GEO_PREFIX)
        query = quickstats.Query(f"condition_{fips}", (*quickstats.STATE_CONDITION.filters, ("state_fips_code", fips)))
        data, fetched = _quickstats_get(http, base, key, query, f"condition of {geo}")
        frames.append(quickstats.state_ratings(data, _public(fetched.url), today))
        pulled.append(fetched)
    index = quickstats.corn_belt_condition(pd.concat(frames, ignore_index=True))
    c = cfg.columns
    return _quickstats_current(cfg, "regional", index.rename(columns={"date": c.date, "variable": c.variable,
                                                                       "value": c.value}), current, pulled)


NASS_PULLS = {"yields": _nass_yields, "yardstick": _nass_forecasts, "regional": _nass_condition}  # by input


def ingest_nass(cfg: ExperimentConfig, base_url: str | None = None, http: Http | None = None) -> Pull:
    """Fetch from Quick Stats what the config's `ingest` section names (the state corn yields and
    acres, USDA's national forecasts), keep each response, and rebuild those inputs from them."""
    names = [name for name in NASS_PULLS if getattr(cfg.ingest, name) == NASS_QUICKSTATS]
    if not names:
        raise PullError(f"ingest: the config names no Quick Stats source (ingest.yields, ingest.yardstick or "
                        f"ingest.regional: {NASS_QUICKSTATS})")
    http, key = http or Http(), _nass_key()
    base = (base_url or os.environ.get(NASS_URL_ENV) or NASS_URL).rstrip("/") + "/"
    pulls = [NASS_PULLS[name](cfg, http, base, key) for name in names]
    return sum(pulls[1:], pulls[0])
