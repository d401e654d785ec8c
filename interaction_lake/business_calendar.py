"""The bank's calendar: reporting days, months and hours are local to the bank, event times stay UTC.

``INTERACTION_LAKE_BUSINESS_TIMEZONE`` (an IANA name, or ``business_timezone`` in the marts TOML file;
default UTC) is the bank's time zone. Silver's date columns -- ``event_date`` and every fact's date, which
are also the tables' partitions -- are the local date of the UTC event time in that zone, DST included
(the engine's ``from_utc_timestamp``), and gold's hours are local hours; the timestamps themselves stay
UTC. So a call at 23:30 UTC on 1 November counts on 2 November for a bank in Madrid, and in Shanghai
every call between 16:00 and 24:00 UTC counts on the next day.

A lake remembers the zone its silver was built in (``_system/business_timezone``): dates of two calendars
must never mix in one table, so a different setting is refused in one line until silver and gold are
rebuilt under it (``build-silver --full``, then ``build-marts --full``).
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

from interaction_lake.config import PREFIX, ConfigError

UTC = "UTC"
ENV = PREFIX + "BUSINESS_TIMEZONE"


def checked(name: str) -> str:
    """``name`` if it is an IANA time zone, else a ConfigError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"business time zone {name!r} is not an IANA time zone name (e.g. Europe/Madrid, Asia/Shanghai, UTC)") from None
    return name


def local_time(column: Column | str, tz: str) -> Column:
    column = F.col(column) if isinstance(column, str) else column
    return column if tz == UTC else F.from_utc_timestamp(column, tz)


def local_date(column: Column | str, tz: str) -> Column:
    """The bank's local date of a UTC event time."""
    return F.to_date(local_time(column, tz))


def local_hour(column: Column | str, tz: str) -> Column:
    return F.hour(local_time(column, tz))


def record_file(lake_root: Path) -> Path:
    return Path(lake_root) / "_system" / "business_timezone"


def of_lake(lake_root: Path) -> str:
    """The zone the lake's silver dates are in (UTC for a lake built before the zone was recorded)."""
    path = record_file(lake_root)
    return path.read_text().strip() if path.is_file() else UTC


def check(lake_root: Path, tz: str, has_silver: bool) -> None:
    """Refuse a zone other than the one the lake's silver was built in."""
    built = of_lake(lake_root)
    if has_silver and built != tz:
        raise ConfigError(f"this lake's silver and gold count days in {built}, but the business time zone is now {tz}: "
                          f"to change the bank's calendar, rebuild with 'build-silver --full' and then 'build-marts --full'")


def record(lake_root: Path, tz: str) -> None:
    path = record_file(lake_root)
    if not path.is_file() or path.read_text().strip() != tz:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tz + "\n")
