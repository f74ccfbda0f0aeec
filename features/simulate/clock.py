"""When things happen: the calendar's purchase intensity and the time of day of events.

Days are indices from the simulation's start date; times of day are seconds after
midnight. :func:`_calendar` gives the relative purchase intensity of each day
(weekday, yearly wave, holiday sales); :func:`_time_of_day` draws times from the
hourly profiles of the story; :func:`_after_signup` keeps the events of a signup day
after the signup itself.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from features.simulate.population import _Population
from features.simulate.story import _HOURS, _WEEKDAY


def _calendar(start_date: dt.date, n: int) -> np.ndarray:
    """Relative purchase intensity of each day: weekday, yearly wave, holiday sales."""
    dates = np.datetime64(start_date, "D") + np.arange(n)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    year_start = dates.astype("datetime64[Y]").astype("datetime64[D]")
    doy = (dates - year_start).astype(np.int64)
    wave = 1.0 + 0.12 * np.cos(2 * np.pi * (doy - 350) / 365.25)
    holiday = _is_holiday_sale(np.arange(n), int(np.datetime64(start_date, "s").astype(np.int64)))
    return _WEEKDAY[weekday] / _WEEKDAY.mean() * wave * (1.0 + 0.35 * holiday)


def _is_holiday_sale(day: np.ndarray, epoch: int) -> np.ndarray:
    """True from 24 November to 23 December."""
    dates = (np.datetime64(epoch, "s").astype("datetime64[D]") + day).astype("datetime64[D]")
    month_day = (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return ((month == 11) & (month_day >= 23)) | ((month == 12) & (month_day <= 22))


def _month_starts(start_date: dt.date, n_days: int) -> np.ndarray:
    """Day indices of the first day of every month within the period."""
    dates = np.datetime64(start_date, "D") + np.arange(n_days)
    return np.flatnonzero(dates == dates.astype("datetime64[M]").astype("datetime64[D]"))


def _time_of_day(rng: np.random.Generator, profile: str, n: int) -> np.ndarray:
    """Seconds after midnight (1 to 86399) following an hourly profile."""
    weights = np.asarray(_HOURS[profile], dtype=np.float64)
    hour = rng.choice(24, size=n, p=weights / weights.sum())
    return np.maximum(hour * 3600 + rng.integers(0, 3600, n), 1).astype(np.int64)


def _signup_time_of_day(rng: np.random.Generator, pop: _Population) -> np.ndarray:
    tod = np.where(pop.instant, _time_of_day(rng, "shop", pop.n),
                   _time_of_day(rng, "browse", pop.n))
    return np.minimum(tod, 86398)  # leaves a second for the first event of the day


def _after_signup(tod: np.ndarray, day: np.ndarray, signup_day: np.ndarray,
                  signup_tod: np.ndarray) -> np.ndarray:
    """Squeeze the times of events on the signup day into the hours after the signup."""
    same = day == signup_day
    squeezed = signup_tod + 1 + (tod * (86399 - signup_tod)) // 86400
    return np.where(same, squeezed, tod)
