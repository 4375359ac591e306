"""Agronomic features derived from monthly tmax, tmin and precipitation (issue 14).

Crop models use daily temperature; the bundled weather is monthly, so each feature is the
textbook formula applied to the month's mean day, an approximation that keeps the signal:

- `gdd`: growing degree days, 10-30 °C (corn), by the single-sine method over the mean day
  (Baskerville & Emin 1969), times the days in the month;
- `edd`: extreme degree days above 29 °C (Schlenker & Roberts 2009), the same way;
- `vpd`: a vapour-pressure-deficit proxy, es(tmax) - es(tmin) in kPa (dew point ~ tmin);
- `water_balance`: precipitation minus Hargreaves reference evapotranspiration (mm), with the
  extraterrestrial radiation of mid-month at `LATITUDE` (summer radiation varies little across
  the US corn states' latitudes; the yields carry no coordinates).

Each value depends only on its own month's values, so it is known when the month has ended.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

GDD_BASE, GDD_CAP, EDD_BASE = 10.0, 30.0, 29.0
LATITUDE = 40.0  # degrees north
SOURCES = {"gdd": ("tmax", "tmin"), "edd": ("tmax", "tmin"), "vpd": ("tmax", "tmin"),
           "water_balance": ("tmax", "tmin", "prcp")}
DERIVED = tuple(SOURCES)


def sources(names) -> set[str]:
    """The indices variables the derived features `names` are computed from."""
    return {v for n in names for v in SOURCES[n]}


def degree_days_above(tmax: np.ndarray, tmin: np.ndarray, base: float) -> np.ndarray:
    """Degree days above `base` of one day whose temperature is a sine between tmin and tmax."""
    mean, amp = (tmax + tmin) / 2, np.maximum((tmax - tmin) / 2, 1e-9)
    theta = np.arcsin(np.clip((base - mean) / amp, -1.0, 1.0))
    above = ((mean - base) * (np.pi / 2 - theta) + amp * np.cos(theta)) / np.pi
    return np.where(tmax <= base, 0.0, np.maximum(above, 0.0))


def saturation_vapour_pressure(t: np.ndarray) -> np.ndarray:
    """kPa at t °C (FAO-56 eq. 11)."""
    return 0.6108 * np.exp(17.27 * t / (t + 237.3))


def extraterrestrial_radiation(month: np.ndarray, latitude: float = LATITUDE) -> np.ndarray:
    """Mid-month Ra in mm/day of evaporation equivalent (FAO-56 eq. 21, times 0.408)."""
    doy = np.asarray([pd.Timestamp(2001, int(m), 15).dayofyear for m in month], float)
    phi = math.radians(latitude)
    dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365)
    decl = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(np.clip(-math.tan(phi) * np.tan(decl), -1.0, 1.0))
    ra = 24 * 60 / np.pi * 0.0820 * dr * (ws * math.sin(phi) * np.sin(decl) + math.cos(phi) * np.cos(decl) * np.sin(ws))
    return 0.408 * ra


def monthly_values(name: str, wide: pd.DataFrame) -> np.ndarray:
    """The derived feature `name` for each month row of `wide` (`date` and source columns)."""
    days = wide["date"].dt.days_in_month.to_numpy(float)
    tmax, tmin = wide["tmax"].to_numpy(float), wide["tmin"].to_numpy(float)
    if name == "gdd":
        capped = degree_days_above(tmax, tmin, GDD_BASE) - degree_days_above(tmax, tmin, GDD_CAP)
        return days * capped
    if name == "edd":
        return days * degree_days_above(tmax, tmin, EDD_BASE)
    if name == "vpd":
        return saturation_vapour_pressure(tmax) - saturation_vapour_pressure(tmin)
    if name == "water_balance":
        ra = extraterrestrial_radiation(wide["date"].dt.month.to_numpy())
        et0 = 0.0023 * ra * ((tmax + tmin) / 2 + 17.8) * np.sqrt(np.maximum(tmax - tmin, 0.0))
        return wide["prcp"].to_numpy(float) - days * et0
    raise ValueError(f"unknown derived feature {name!r} (known: {', '.join(DERIVED)})")


def derived_rows(rows: pd.DataFrame, names) -> pd.DataFrame:
    """Long rows (`geo_id, date, variable, value` and any other key columns of `rows`) of the
    derived features `names`, one per month where all their sources have a value."""
    names = list(names)
    if not names:
        return rows.iloc[:0]
    keys = [c for c in rows.columns if c not in ("variable", "value")]
    wide = rows[rows["variable"].isin(sources(names))].pivot_table(
        index=keys, columns="variable", values="value", aggfunc="first").reset_index()
    # a source with no value known yet (an init date before its month ends) is a missing column
    wide = wide.reindex(columns=[*keys, *sorted(sources(names))])
    out = [wide[keys].assign(variable=n, value=monthly_values(n, wide)) for n in names]
    return pd.concat(out, ignore_index=True).dropna(subset=["value"])
