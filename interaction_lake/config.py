"""Runtime configuration, read from environment variables (one place, one prefix).

Every setting has a default that works on a laptop: the embedded engine, a lake under
``./lake`` and a landing zone under ``./landing``. Deployments override with
``INTERACTION_LAKE_*`` variables (see README, "Configuration").
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PREFIX = "INTERACTION_LAKE_"
ENGINES = ("embedded", "spark")


class ConfigError(ValueError):
    """A setting is missing or has a value the project cannot use."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(PREFIX + name)
    return value if value not in (None, "") else default


def env_number(name: str, default: float, minimum: float = 0.0) -> float:
    """A numeric setting ``INTERACTION_LAKE_<name>``; a value that is not a number >= ``minimum`` is a ConfigError."""
    text = _env(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name} must be a number, not {text!r}") from None
    if not value >= minimum:  # also refuses nan
        raise ConfigError(f"{PREFIX}{name} must be at least {minimum:g}, not {text!r}")
    return value


def env_count(name: str, default: int) -> int:
    """A whole number >= 1 in ``INTERACTION_LAKE_<name>``; anything else is a ConfigError."""
    text = _env(name)
    if text is None:
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{PREFIX}{name} must be a whole number of at least 1, not {text!r}")
    return int(text)


def env_time(name: str, default: dt.datetime) -> dt.datetime:
    """An RFC 3339 time or a date (midnight UTC) in ``INTERACTION_LAKE_<name>``."""
    text = _env(name)
    if text is None:
        return default
    from interaction_lake.contracts import parse_timestamp

    try:
        return parse_timestamp(text) if "T" in text.upper() else dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.timezone.utc)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name} must be a date (YYYY-MM-DD) or an RFC 3339 time, not {text!r}") from None


@dataclass(frozen=True)
class LandingPolicy:
    """What landing accepts as a plausible event time (``implausible_timestamp`` outside it).

    Banks load history (a first delivery may reach back decades), so the earliest time is far back by
    default; a clock or a typo that puts an event in 2099 must not reach the marts, so the latest is a
    day after the batch's ingest time (clock skew between systems is seconds to minutes)."""

    earliest_event: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    max_future_hours: float = 24.0

    @classmethod
    def from_env(cls) -> "LandingPolicy":
        return cls(env_time("EARLIEST_EVENT_TIME", cls.earliest_event), env_number("MAX_FUTURE_HOURS", cls.max_future_hours))


def _business_calendar() -> tuple[str, dict[str, str]]:
    """``INTERACTION_LAKE_BUSINESS_TIMEZONE``, else ``business_timezone`` in the marts TOML file, else UTC; and the
    branches' own zones (``branch_timezones`` in that file)."""
    from interaction_lake import business_calendar
    from interaction_lake.marts_config import MartsConfig

    config = MartsConfig.load()  # the environment wins inside load()
    return business_calendar.checked(config.business_timezone), dict(config.branch_timezones)


@dataclass(frozen=True)
class SilverPolicy:
    """How silver judges a lifecycle (docs/silver.md, "Lifecycle rules").

    Source systems' clocks disagree by seconds: a call can leave the queue a second before the ACD says it
    entered it. A step out of order by at most ``lifecycle_skew_seconds`` is accepted (its duration counts
    as 0); more than that, and the fact goes to ``quarantine/silver_facts`` with the rule it broke."""

    lifecycle_skew_seconds: float = 5.0

    @classmethod
    def from_env(cls) -> "SilverPolicy":
        return cls(env_number("LIFECYCLE_SKEW_SECONDS", cls.lifecycle_skew_seconds))


def _lake_location(value: str | Path) -> Path:
    """The lake root as ``storage.location`` gives it: an absolute path, or an object store's ``s3://`` URI."""
    from interaction_lake.storage import location

    try:
        return location(value)
    except ValueError as error:
        raise ConfigError(str(error)) from None


@dataclass(frozen=True)
class Settings:
    """Where the lake lives and which engine runs the jobs."""

    lake_root: Path = Path("lake")
    landing_root: Path = Path("landing")
    engine: str = "embedded"
    # engine=spark: a Spark Connect URL (sc://host:15002) or a classic master URL (local[*], spark://...).
    spark_remote: str | None = None
    spark_master: str = "local[*]"
    # engine=spark, classic: a directory holding delta-spark jars (air-gapped banks); else Maven coordinates.
    delta_jars_dir: Path | None = None
    delta_package: str = "io.delta:delta-spark_4.1_2.13:4.3.0"
    extra_spark_conf: dict[str, str] = field(default_factory=dict)
    landing: LandingPolicy = field(default_factory=LandingPolicy)
    silver: SilverPolicy = field(default_factory=SilverPolicy)
    business_timezone: str = "UTC"  # the bank's calendar (interaction_lake/business_calendar.py)
    branch_timezones: dict[str, str] = field(default_factory=dict)  # branches on their own clock
    parallelism: int = 2  # independent jobs one process runs at once (interaction_lake/concurrently.py)

    @property
    def calendar(self) -> str:
        """The calendar spec silver dates events and facts by (the bank's zone and the branches' own)."""
        from interaction_lake.business_calendar import spec

        return spec(self.business_timezone, self.branch_timezones)

    @classmethod
    def from_env(cls) -> "Settings":
        engine = _env("ENGINE", "embedded")
        if engine not in ENGINES:
            raise ConfigError(f"{PREFIX}ENGINE must be one of {', '.join(ENGINES)}, not {engine!r}")
        jars = _env("DELTA_JARS_DIR")
        zone, branches = _business_calendar()
        return cls(
            lake_root=_lake_location(_env("LAKE_ROOT", "lake")),
            landing_root=Path(_env("LANDING_ROOT", "landing")).absolute(),
            engine=engine,
            spark_remote=_env("SPARK_REMOTE"),
            spark_master=_env("SPARK_MASTER", "local[*]"),
            delta_jars_dir=Path(jars).absolute() if jars else None,
            delta_package=_env("DELTA_PACKAGE", cls.delta_package),
            landing=LandingPolicy.from_env(),
            silver=SilverPolicy.from_env(),
            business_timezone=zone,
            branch_timezones=branches,
            parallelism=env_count("PARALLELISM", cls.parallelism),
        )

    @classmethod
    def for_scheduled_task(cls, landing_must_exist: bool = False) -> "Settings":
        """``from_env`` for a task a scheduler starts: its working directory is the scheduler's, not the project's,
        so a relative or missing root would silently open a new, empty lake there. Both roots must be given, absolute;
        the landing zone must exist for a task that lands."""
        for name in ("LAKE_ROOT", "LANDING_ROOT"):
            value = _env(name)
            if not value or not (Path(value).is_absolute() or (name == "LAKE_ROOT" and "://" in value)):
                where = "an absolute path or an s3:// URI" if name == "LAKE_ROOT" else "an absolute path"
                raise ConfigError(f"{PREFIX}{name} must be set to {where} for scheduled tasks "
                                  f"(it is {'unset' if not value else repr(value)}): the working directory of a task is the scheduler's")
        settings = cls.from_env()
        if landing_must_exist and not settings.landing_root.is_dir():
            raise ConfigError(f"landing directory {settings.landing_root} ({PREFIX}LANDING_ROOT) does not exist: nothing can be landed")
        return settings

    def with_paths(self, lake_root: Path | str | None = None, landing_root: Path | str | None = None) -> "Settings":
        return replace(
            self,
            lake_root=_lake_location(lake_root) if lake_root else self.lake_root,
            landing_root=Path(landing_root).absolute() if landing_root else self.landing_root,
        )
