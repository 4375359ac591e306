"""Vendor the real inputs from ../shared/data into data/ as small parquet tables.

Run once from the repo root: `python scripts/vendor_data.py [SHARED_DATA_DIR]`.
Each output folder keeps the original SOURCE.md (origin, licence, quality notes).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
VARIABLES = ["tavg", "tmax", "tmin", "prcp"]


def monthly_indices(wide: pd.DataFrame) -> pd.DataFrame:
    """Wide state x year weather -> long geo x date x variable, dated at the month's end."""
    cols = {f"{v}_{m}_{'mm' if v == 'prcp' else 'c'}": (v, i + 1) for v in VARIABLES for i, m in enumerate(MONTHS)}
    long = wide.melt(id_vars=["geo_id", "year"], value_vars=list(cols), var_name="col", value_name="value")
    long["variable"] = long["col"].map(lambda c: cols[c][0])
    month = long["col"].map(lambda c: cols[c][1])
    start = pd.to_datetime({"year": long["year"], "month": month, "day": 1})
    long["date"] = start + pd.offsets.MonthEnd(0)
    out = long[["geo_id", "date", "variable", "value"]].dropna()
    return out.sort_values(["geo_id", "variable", "date"]).reset_index(drop=True)


def write(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False, compression="zstd")
    print(f"{path}: {len(df)} rows, {path.stat().st_size / 1e3:.0f} kB")


def main(shared: Path, out: Path) -> None:
    src = shared / "us_state_corn_nclimdiv"
    state = pd.read_csv(src / "us_state_corn_yield_weather.csv", dtype={"geo_id": str})
    dst = out / "us_state_corn"
    write(state.rename(columns={"year": "season_year"})[
        ["geo_id", "geo_name", "season_year", "yield_bu_per_acre", "harvested_acres"]], dst / "yields.parquet")
    write(monthly_indices(state), dst / "indices.parquet")
    national = pd.read_csv(src / "us_corn_national_from_states.csv").rename(
        columns={"year": "season_year", "yield_bu_per_acre_area_weighted": "yield_bu_per_acre"})
    write(national, dst / "national_reference.parquet")
    shutil.copy(src / "SOURCE.md", dst / "SOURCE.md")

    src = shared / "us_county_corn_cornbelt_1980_2010"
    county = pd.read_csv(src / "us_county_corn_IA_IL_IN_yield_weather.csv", dtype={"geo_id": str})
    county = county.rename(columns={"year": "season_year"})
    dst = out / "us_county_corn"
    write(county[["geo_id", "geo_name", "state_name", "season_year", "yield_bu_per_acre", "harvested_acres"]],
          dst / "yields.parquet")
    static = [c for c in county.columns if c.startswith(("gdd_", "prec_", "tmin_", "tmax_", "tavg_"))]
    write(county[["geo_id", "season_year", *static]], dst / "static_features.parquet")
    totals = pd.read_csv(src / "state_totals_from_counties.csv").rename(columns={"year": "season_year"})
    write(totals, dst / "state_totals.parquet")
    shutil.copy(src / "SOURCE.md", dst / "SOURCE.md")

    src = shared / "brazil_state_soybean_conab_2008_2025"
    soy = pd.read_csv(src / "br_state_soybean_conab.csv").rename(columns={"harvest_year": "season_year"})
    dst = out / "br_state_soybean"
    write(soy[["geo_id", "geo_name", "crop_season", "season_year", "yield_kg_per_ha", "planted_area_ha"]],
          dst / "yields.parquet")
    shutil.copy(src / "SOURCE.md", dst / "SOURCE.md")


if __name__ == "__main__":
    repo = Path(__file__).resolve().parents[1]
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else repo.parent / "shared" / "data", repo / "data")
