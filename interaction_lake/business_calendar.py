"""The bank's calendar: reporting days, months and hours are local to the bank, event times stay UTC.

``INTERACTION_LAKE_BUSINESS_TIMEZONE`` (an IANA name, or ``business_timezone`` in the marts TOML file;
default UTC) is the bank's time zone. Silver's date columns -- ``event_date`` and every fact's date, which
are also the tables' partitions -- are the local date of the UTC event time in that zone, DST included
(the engine's ``from_utc_timestamp``), and gold's hours are local hours; the timestamps themselves stay
UTC. So a call at 23:30 UTC on 1 November counts on 2 November for a bank in Madrid, and in Shanghai
every call between 16:00 and 24:00 UTC counts on the next day.

A branch in another zone (the Canary Islands for a Madrid bank) keeps its own clock: ``[branch_timezones]``
in the marts TOML file (the branch reference data's zones, ``BR017 = "Atlantic/Canary"``) overrides the bank's
zone for the events, facts and hours of that branch (every date computed with a ``branch`` column). The
calendar travels as one text, the *calendar spec* (``spec``): the bank's zone, then ``;branch=zone`` per override.

A lake remembers the calendar its silver was built in (``_system/business_timezone``): dates of two calendars
must never mix in one table, so a different setting is refused in one line until silver and gold are
rebuilt under it (``build-silver --full``, then ``build-marts --full``).
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

from interaction_lake.config import PREFIX, ConfigError
from interaction_lake.storage import location

UTC = "UTC"
ENV = PREFIX + "BUSINESS_TIMEZONE"


def checked(name: str) -> str:
    """``name`` if it is an IANA time zone, else a ConfigError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"business time zone {name!r} is not an IANA time zone name (e.g. Europe/Madrid, Asia/Shanghai, UTC)") from None
    return name


def spec(zone: str, branches: dict[str, str] | None = None) -> str:
    """The calendar as one text: the bank's zone, then each branch's own zone (sorted, so equal calendars are equal
    texts). With no branch overrides it is just the zone."""
    return ";".join([zone, *(f"{branch}={own}" for branch, own in sorted((branches or {}).items()))])


def parse(tz: str) -> tuple[str, dict[str, str]]:
    """(the bank's zone, branch -> zone) of a calendar spec (a plain zone name is a spec without overrides)."""
    zone, *overrides = tz.split(";")
    return zone, dict(part.split("=", 1) for part in overrides)


def local_time(column: Column | str, tz: str, branch: Column | str | None = None) -> Column:
    """The local wall-clock time of a UTC time on the calendar ``tz``; ``branch`` (a column) picks a branch's own zone."""
    column = F.col(column) if isinstance(column, str) else column
    zone, branches = parse(tz)
    if branches and branch is not None:
        branch = F.col(branch) if isinstance(branch, str) else branch
        zones = F.lit(zone)
        for name, own in sorted(branches.items()):
            zones = F.when(branch == F.lit(name), F.lit(own)).otherwise(zones)
        return F.from_utc_timestamp(column, zones)
    return column if zone == UTC else F.from_utc_timestamp(column, zone)


def local_date(column: Column | str, tz: str, branch: Column | str | None = None) -> Column:
    """The bank's (or the branch's) local date of a UTC event time."""
    return F.to_date(local_time(column, tz, branch))


def local_hour(column: Column | str, tz: str, branch: Column | str | None = None) -> Column:
    return F.hour(local_time(column, tz, branch))


def record_file(lake_root: Path) -> Path:
    return location(lake_root) / "_system" / "business_timezone"


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
