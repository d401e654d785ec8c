"""The business parameters the gold marts use: costs to serve, tier thresholds, service targets.

They are configuration, not code: a bank sets them in a TOML file named by
``INTERACTION_LAKE_MARTS_CONFIG`` (sections as in ``docs/metrics.md``, "Parameters"); anything the
file leaves out keeps the default below. Every gold commit records the parameters' fingerprint, so
an auditor can tell which settings produced a figure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from interaction_lake.config import PREFIX, ConfigError


SECTIONS = ("money", "calendar", "customer_value", "service_quality", "satisfaction", "at_risk")


@dataclass(frozen=True)
class MartsConfig:
    # the bank's calendar: days, months and hours of every mart (interaction_lake/business_calendar.py);
    # $INTERACTION_LAKE_BUSINESS_TIMEZONE overrides it
    business_timezone: str = "UTC"
    # branches in another zone than the bank's (branch reference data): branch id -> IANA zone
    branch_timezones: dict[str, str] = field(default_factory=dict)
    # money: every amount of the marts is in this currency (ISO 4217); a holding in another currency is converted at
    # fx_rates (units of the reporting currency per unit of the other); one without a rate is left out of the sums
    # and marks its customer-month inputs_complete = false (docs/metrics.md, "Money")
    reporting_currency: str = "EUR"
    fx_rates: dict[str, float] = field(default_factory=dict)
    # customer value
    cost_to_serve: dict[str, float] = field(default_factory=lambda: {
        "counter": 12.0,          # a branch counter visit
        "call_agent": 5.0,        # a call handled (or queued for) an agent
        "call_self_service": 0.3, # a call that ended in the IVR
        "am_visit": 60.0,         # an account-manager contact, by channel
        "am_call": 15.0,
        "am_event": 25.0,
    })
    high_tier_share: float = 0.80   # customers making the first 80% of positive contribution are "high"
    mid_tier_share: float = 0.95    # ... up to 95% are "mid"; the rest are "low"
    retention_rate: float = 0.85    # annual, for the CLV formula
    discount_rate: float = 0.10     # annual, for the CLV formula
    recency_lookback_days: int = 365
    # the month in progress: income (interest, fees) prorated to the days the data covers, as its cost to serve is
    prorate_income_in_progress: bool = True
    # service quality
    counter_wait_target_seconds: int = 600
    short_abandon_seconds: int = 5
    abandonment_ceiling: float = 0.05
    service_level_seconds: int = 20
    service_level_target: float = 0.80
    fcr_window_days: int = 7
    # satisfaction
    complaint_target_hours: float = 120.0
    # key customers at risk
    risk_lookback_days: int = 90
    risk_recent_days: int = 30
    wait_rise_factor: float = 1.5
    balance_drop_share: float = 0.10

    def __post_init__(self) -> None:
        if not 0 < self.high_tier_share <= self.mid_tier_share <= 1:
            raise ConfigError("marts config: need 0 < high_tier_share <= mid_tier_share <= 1")
        for name in ("abandonment_ceiling", "service_level_target", "retention_rate", "discount_rate", "balance_drop_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"marts config: {name} must be between 0 and 1")
        if self.retention_rate >= 1 + self.discount_rate:
            raise ConfigError("marts config: retention_rate must be below 1 + discount_rate")
        from interaction_lake.business_calendar import checked

        checked(self.business_timezone)
        for zone in self.branch_timezones.values():
            checked(zone)
        if any(";" in branch or "=" in branch for branch in self.branch_timezones):
            raise ConfigError("marts config: a branch id in branch_timezones may not hold ';' or '='")
        for code in (self.reporting_currency, *self.fx_rates):
            if not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
                raise ConfigError(f"marts config: {code!r} is not an ISO 4217 currency code (three capital letters, e.g. EUR)")
        if any(not rate > 0 for rate in self.fx_rates.values()):
            raise ConfigError("marts config: every fx_rates value must be a positive number")
        missing = {"counter", "call_agent", "call_self_service", "am_visit", "am_call", "am_event"} - set(self.cost_to_serve)
        if missing:
            raise ConfigError(f"marts config: cost_to_serve lacks {', '.join(sorted(missing))}")

    @classmethod
    def load(cls, path: Path | str | None = None) -> "MartsConfig":
        """Defaults, overridden by the TOML file at ``path`` (or ``$INTERACTION_LAKE_MARTS_CONFIG``)."""
        path = path or os.environ.get(PREFIX + "MARTS_CONFIG")
        zone = os.environ.get(PREFIX + "BUSINESS_TIMEZONE")
        if zone:  # the environment wins over the file, as for every setting
            return dataclasses.replace(cls._from_file(path) if path else cls(), business_timezone=zone)
        return cls._from_file(path) if path else cls()

    @classmethod
    def _from_file(cls, path: Path | str) -> "MartsConfig":
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"marts config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"marts config file {path} is not valid TOML: {error}") from None
        flat: dict = {}
        for key, value in raw.items():  # settings may sit at the top level or under a section
            flat.update(value if key in SECTIONS else {key: value})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(flat) - known
        if unknown:
            raise ConfigError(f"marts config file {path}: unknown setting(s) {', '.join(sorted(unknown))}")
        defaults = cls()
        for name, value in flat.items():
            _check_type(path, name, value, getattr(defaults, name))
        if "cost_to_serve" in flat:
            flat["cost_to_serve"] = {**defaults.cost_to_serve, **flat["cost_to_serve"]}
        return cls(**flat)

    @property
    def calendar(self) -> str:
        """The calendar spec of the marts' days and hours (``business_calendar.spec``)."""
        from interaction_lake.business_calendar import spec

        return spec(self.business_timezone, self.branch_timezones)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _is_number(value: object, whole: bool = False) -> bool:
    return not isinstance(value, bool) and (isinstance(value, int) or (not whole and isinstance(value, float)))


def _check_type(path, name: str, value: object, default: object) -> None:
    """A setting of the wrong type is a one-line ConfigError naming it, not a TypeError deep in a mart."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"marts config file {path}: {name} must be true or false, not {value!r}")
        return
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"marts config file {path}: {name} must be text (e.g. \"Europe/Madrid\"), not {value!r}")
        return
    if name == "branch_timezones":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"marts config file {path}: {name} must be a table of time zone names (e.g. BR017 = \"Atlantic/Canary\")")
        return
    if isinstance(default, dict):
        if not isinstance(value, dict) or not all(_is_number(v) for v in value.values()):
            raise ConfigError(f"marts config file {path}: {name} must be a table of numbers (e.g. counter = 12.0), not {value!r}")
        return
    whole = isinstance(default, int)
    if not _is_number(value, whole):
        raise ConfigError(f"marts config file {path}: {name} must be {'a whole number' if whole else 'a number'}, not {value!r}")
