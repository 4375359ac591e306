"""Build the experiments' inputs from the shared raw data into the git-ignored `data/` folder.

`make install` runs it (`python scripts/build_inputs.py [SHARED_DATA_DIR] [OUT_DIR] [--if-damaged]`;
with `--if-damaged`, only when a built file is missing or changed since its build). The
repository commits no third-party data: every input is rebuilt from `../shared/data/`, each
folder with its SOURCE.md beside it and `BUILD.md` saying what was converted. The output is
byte-identical wherever the same pinned environment runs it (`inputs.sha256` lists every file).

Conversions (the project's input layout, DESIGN.md §2): long tables `geo_id, date, variable,
value`, a value summarising a period dated at the period's end (July's mean on 31 July, a week's
rating on its week-ending Sunday).
"""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pandas as pd

from hindcast_assets.pipeline.ingest import write_input

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
VARIABLES = ["tavg", "tmax", "tmin", "prcp"]
# nClimDiv vintages of weather_monthly.csv, by variable (us_state_corn_1950_2023/SOURCE.md, Origin 3)
WEATHER_VINTAGES = {"tavg": "nclimdiv-20260205", "prcp": "nclimdiv-20260205",
                    "tmax": "nclimdiv-20241205", "tmin": "nclimdiv-20241205"}
SUM_FILE = "inputs.sha256"


def month_end(year: pd.Series, month: pd.Series) -> pd.Series:
    """The last day of each (year, month): where a monthly value is dated."""
    return pd.to_datetime({"year": year, "month": month, "day": 1}) + pd.offsets.MonthEnd(0)


def write(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_input(df, path)  # as `hindcast ingest` writes an input: the same rows give the same bytes
    print(f"{path}: {len(df)} rows, {path.stat().st_size / 1e3:.0f} kB")


def write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"{path}")


# -- corn_usa: US state corn 1950-2023 ------------------------------------------------------------

def state_weather(src: Path) -> pd.DataFrame:
    """nClimDiv monthly state weather, long, dated at the month's end, with its NOAA vintage.
    The 2025-26 supplement adds tmax/tmin from 2025 (a later vintage); its precipitation repeats
    the main file's (the same vintage), and the main file's row is kept."""
    main = pd.read_csv(src / "weather_monthly.csv", dtype={"geo_id": str})
    main["variable"] = main["variable"].str.rsplit("_", n=1).str[0]
    main["vintage"] = main["variable"].map(WEATHER_VINTAGES)
    extra = pd.read_csv(src / "weather_monthly_2025_2026.csv", dtype={"geo_id": str})
    extra["variable"] = extra["variable"].str.rsplit("_", n=1).str[0]
    extra = extra.rename(columns={"source_vintage": "vintage"})
    both = pd.concat([main, extra], ignore_index=True)
    both = both.drop_duplicates(["geo_id", "year", "month", "variable"], keep="first")
    both["date"] = month_end(both["year"], both["month"])
    out = both[["geo_id", "date", "variable", "value", "vintage"]]
    return out.sort_values(["geo_id", "variable", "date"])


def crop_condition(src: Path) -> pd.DataFrame:
    """The 8-state weekly corn condition index, long, dated at the week's end (Sunday). Weeks
    with fewer than all 8 states reporting are dropped (SOURCE.md: noisy, 1 to 7 states)."""
    raw = pd.read_csv(src / "crop_condition_weekly.csv", parse_dates=["week_ending"])
    full = raw[raw["states_reporting"] == 8]
    long = full.melt(id_vars=["week_ending"], value_vars=["cci", "ge_pct"], var_name="variable")
    out = long.rename(columns={"week_ending": "date"})[["date", "variable", "value"]]
    return out.sort_values(["variable", "date"])


def usda_forecasts(src: Path) -> pd.DataFrame:
    """USDA's national August-November forecasts, 1995-2023 and the live seasons 2024-25."""
    past = pd.read_csv(src / "usda_forecasts.csv", dtype={"init_md": str})
    live = pd.read_csv(src / "usda_live_seasons_2024_2025.csv", dtype={"init_md": str})
    live = live[live["kind"] == "forecast"]
    columns = ["season_year", "report_month", "release_date", "init_md", "forecast"]
    return pd.concat([past[columns], live[columns]], ignore_index=True).sort_values(["season_year", "init_md"])


def national_reference(src: Path) -> pd.DataFrame:
    """The national yield per season: the 41 states' acre-weighted series 1950-2023, then USDA's
    annual estimates for the seasons without state yields (2024, 2025)."""
    states = pd.read_csv(src / "national.csv")[["season_year", "yield_bu_per_acre"]]
    states = states.assign(source="acre-weighted sum of the 41 states' NASS yields")
    live = pd.read_csv(src / "usda_live_seasons_2024_2025.csv")
    annual = live[live["kind"].str.startswith("annual estimate")]
    annual = annual.rename(columns={"forecast": "yield_bu_per_acre"})[["season_year", "yield_bu_per_acre"]]
    annual = annual.assign(source="USDA NASS annual estimate (January Crop Production Annual Summary)")
    return pd.concat([states, annual], ignore_index=True).sort_values("season_year")


def build_corn_usa(shared: Path, out: Path) -> None:
    src, dst = shared / "us_state_corn_1950_2023", out / "us_state_corn"
    yields = pd.read_csv(src / "yields.csv", dtype={"geo_id": str})
    write(yields[["geo_id", "geo_name", "season_year", "yield_bu_per_acre", "harvested_acres"]],
          dst / "yields.parquet")
    write(state_weather(src), dst / "indices.parquet")
    write(crop_condition(src), dst / "crop_condition.parquet")
    write(national_reference(src), dst / "national_reference.parquet")
    write_text(usda_forecasts(src).to_csv(index=False), dst / "usda_forecasts.csv")
    shutil.copy(src / "SOURCE.md", dst / "SOURCE.md")
    write_text(CORN_BUILD, dst / "BUILD.md")


CORN_BUILD = """# How `scripts/build_inputs.py` built this folder from `../shared/data/us_state_corn_1950_2023/`

| file | from | conversion |
|---|---|---|
| `yields.parquet` | `yields.csv` | columns `geo_id, geo_name, season_year, yield_bu_per_acre, harvested_acres` |
| `indices.parquet` | `weather_monthly.csv`, `weather_monthly_2025_2026.csv` | long `geo_id, date, variable, value, vintage`; variables `tavg, tmax, tmin` (°C), `prcp` (mm); each month dated at its last day; `vintage` the nClimDiv file's (tavg/prcp `nclimdiv-20260205`, tmax/tmin `nclimdiv-20241205`, and `nclimdiv-20260904` for tmax/tmin from 2025); the supplement's precipitation repeats the main file's and is not added twice |
| `crop_condition.parquet` | `crop_condition_weekly.csv` | long `date, variable, value`, variables `cci` (condition index x 100) and `ge_pct` (good + excellent %), dated at the week's end (Sunday); only weeks when all 8 states reported |
| `national_reference.parquet` | `national.csv`, `usda_live_seasons_2024_2025.csv` | `season_year, yield_bu_per_acre, source`: the 41 states' acre-weighted yield 1950-2023, USDA's annual estimate for 2024 and 2025 |
| `usda_forecasts.csv` | `usda_forecasts.csv`, `usda_live_seasons_2024_2025.csv` | `season_year, report_month, release_date, init_md, forecast`: USDA's August-November forecasts 1995-2025 |
"""


# -- corn_usa_county and soybeans_bra -------------------------------------------------------------

def build_county(shared: Path, out: Path) -> None:
    src, dst = shared / "us_county_corn_cornbelt_1980_2010", out / "us_county_corn"
    county = pd.read_csv(src / "us_county_corn_IA_IL_IN_yield_weather.csv", dtype={"geo_id": str})
    county = county.rename(columns={"year": "season_year"})
    write(county[["geo_id", "geo_name", "state_name", "season_year", "yield_bu_per_acre", "harvested_acres"]],
          dst / "yields.parquet")
    static = [c for c in county.columns if c.startswith(("gdd_", "prec_", "tmin_", "tmax_", "tavg_"))]
    write(county[["geo_id", "season_year", *static]], dst / "static_features.parquet")
    totals = pd.read_csv(src / "state_totals_from_counties.csv").rename(columns={"year": "season_year"})
    write(totals, dst / "state_totals.parquet")
    shutil.copy(src / "SOURCE.md", dst / "SOURCE.md")


def build_soybean(shared: Path, out: Path) -> None:
    src, dst = shared / "brazil_state_soybean_conab_2008_2025", out / "br_state_soybean"
    soy = pd.read_csv(src / "br_state_soybean_conab.csv").rename(columns={"harvest_year": "season_year"})
    write(soy[["geo_id", "geo_name", "crop_season", "season_year", "yield_kg_per_ha", "planted_area_ha"]],
          dst / "yields.parquet")
    shutil.copy(src / "SOURCE.md", dst / "SOURCE.md")


BUILDERS = (build_corn_usa, build_county, build_soybean)


def checksums(out: Path) -> str:
    """`sha256  path` for every built file (what makes two builds comparable)."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != SUM_FILE and "runs" not in p.relative_to(out).parts)
    return "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out).as_posix()}\n" for p in files)


def intact(out: Path) -> bool:
    """Whether `out` holds every file its last build listed, with the same bytes."""
    listed = out / SUM_FILE
    return listed.exists() and checksums(out) == listed.read_text()


def main(shared: Path, out: Path, only_if_damaged: bool = False) -> None:
    """Build the inputs; with `only_if_damaged`, only when a built file is missing or changed."""
    if only_if_damaged and intact(out):
        return
    if not shared.is_dir():
        sys.exit(f"build_inputs: {shared}: the shared raw data folder is missing; pass its path, "
                 "or set INPUT_DATA_DIR to inputs of your own")
    for build in BUILDERS:
        build(shared, out)
    write_text(checksums(out), out / SUM_FILE)


if __name__ == "__main__":
    repo = Path(__file__).resolve().parents[1]
    args = [a for a in sys.argv[1:] if a != "--if-damaged"]
    main(Path(args[0]) if args else repo.parent / "shared" / "data",
         Path(args[1]) if len(args) > 1 else repo / "data", "--if-damaged" in sys.argv)
