"""``interaction-lake audit``: trace a mart row to its sources, read or rebuild a mart as of a past version or time."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from interaction_lake.cli_common import UsageError, lake_option, settings_from as _settings


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:

    out = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"{what} must look like column=value, not {item!r}")
        out[name] = value
    return out


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a timestamp (ISO 8601, e.g. 2026-11-22T10:00:00Z): {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _show(rows: list[dict], limit: int, columns: list[str] | None = None, indent: str = "    ") -> None:
    for row in rows[:limit]:
        shown = {k: row[k] for k in (columns or row)}
        print(indent + json.dumps(shown, default=str, sort_keys=False))
    if len(rows) > limit:
        print(f"{indent}... {len(rows) - limit} more (--limit)")


def cmd_trace(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from jobs.audit.trace import TraceError, trace

    settings = _settings(args)
    try:
        result = trace(get_spark(settings), settings.lake_root, args.mart, _pairs(args.key, "--key"), args.version)
    except TraceError as error:
        raise UsageError(str(error)) from None
    if args.json:
        json.dump({"mart": result.mart, "key": result.key, "version": result.version, "row": result.row,
                   "facts": [vars(f) for f in result.facts], "files": result.files, "customer_dim": result.dimension,
                   "quarantined": result.quarantined,
                   **({"customer_value_version": result.members_version, "customer_value_rows": result.members}
                      if result.members_version is not None else {})},
                  sys.stdout, default=str, indent=2)
        print()
        return 0
    print(f"gold/{result.mart} version {result.version}, row {', '.join(f'{k}={v}' for k, v in result.key.items())}")
    _show([result.row], 1)
    for f in result.facts:
        print(f"\nsilver/{f.fact}: {len(f.rows)} row(s)  <-  silver/{f.source}_events: {len(f.events)} event(s)  "
              f"<-  bronze/{f.source}_events: {len(f.bronze)} record(s)")
        _show(f.rows, args.limit)
        if f.bronze:
            print("  bronze records (event id, file, line):")
            _show(f.bronze, args.limit, ["event_id", "event_type", "occurred_at", "_source_file", "_line_number", "_batch_id"])
        if f.other_versions:
            print("  other copies of these events in bronze (resent: the same content; superseded: replaced by a correction):")
            _show(f.other_versions, args.limit, ["event_id", "version", "occurred_at", "_source_file", "_line_number", "_batch_id"])
    if result.quarantined:
        print(f"\nquarantine/landing: {len(result.quarantined)} record(s) of this customer refused at landing, left out of this "
              "row's figures (fix and resend the file to count them)")
        _show(result.quarantined, args.limit)
    if result.members_version is not None:
        print(f"\ngold/customer_value version {result.members_version}: the {len(result.members)} customer row(s) counted; "
              "trace each with: audit trace customer_value --key customer_key=KEY --key month=MONTH")
        _show(result.members, args.limit)
    if result.dimension:
        print(f"\nsilver/customer_dim: {len(result.dimension)} version(s) the mart looked customers up in (segment, home branch)")
        _show(result.dimension, args.limit, ["customer_key", "valid_from", "valid_to", "segment", "home_branch_id"])
    if result.members_version is None:
        print(f"\nlanding files ({len(result.files)}):")
        _show(result.files, max(args.limit, len(result.files)), ["file_path", "file_checksum", "records", "batch_id", "run_id", "ingested_at"])
    return 0


def cmd_as_of(args: argparse.Namespace) -> int:
    from pyspark.sql import functions as F

    from interaction_lake import glossary
    from interaction_lake.engine import get_spark
    from jobs.audit.as_of import AsOfError, differences, read_as_of, rebuild, written_by
    from jobs.gold.build import MARTS

    if args.mart not in MARTS:
        raise UsageError(f"unknown mart {args.mart!r}: one of {', '.join(MARTS)}")
    settings = _settings(args)
    spark = get_spark(settings)
    try:
        frame, commit = read_as_of(spark, settings.lake_root, args.mart, args.version, args.timestamp)
    except AsOfError as error:
        raise UsageError(str(error)) from None
    meta = commit.metadata
    stored = frame  # the whole version, before --where narrows what is printed
    print(f"gold/{args.mart} version {commit.version}, committed {commit.timestamp.isoformat()} ({commit.operation}) "
          f"by {meta.get('job', '?')} run {meta.get('run_id', '?')}" + (f" task {meta['task']}" if meta.get("task") else ""))
    if meta.get("silver_versions"):
        print(f"  built from silver versions {meta['silver_versions']}, months {meta.get('first_month')}..{meta.get('last_month')}, "
              f"as of {meta.get('as_of')}, metric config {meta.get('config')}")
    for column, value in _pairs(args.where, "--where").items():
        if column not in frame.columns:
            raise UsageError(f"{args.mart} has no column {column!r}")
        frame = frame.where(F.col(column).cast("string") == F.lit(value))
    rows = [r.asDict() for r in frame.limit(args.limit + 1).collect()]
    print(f"  {frame.count()} row(s)")
    _show(rows, args.limit)
    if args.rebuild:
        from interaction_lake.marts_config import MartsConfig

        config = MartsConfig.load()
        try:
            rebuilt = rebuild(spark, settings.lake_root, args.mart, commit, config)
        except AsOfError as error:
            raise UsageError(str(error)) from None
        if meta.get("config") and meta["config"] != config.fingerprint():
            print(f"  note: the metric configuration changed since (was {meta['config']}, now {config.fingerprint()})")
        found = differences(written_by(stored, args.mart, commit), rebuilt, glossary.marts()[args.mart].grain, shown=args.limit)
        print(f"  rebuild from silver at those versions: {'identical' if found.none else 'DIFFERS'} "
              f"({found.stored_only} row(s) only in the mart, {found.rebuilt_only} only in the rebuild)")
        for label, count, rows in (("only in the mart", found.stored_only, found.stored_rows),
                                   ("only in the rebuild", found.rebuilt_only, found.rebuilt_rows)):
            if count:
                print(f"  {label}:")
                _show(rows, args.limit)
                if count > len(rows):
                    print(f"    ... {count - len(rows)} more (--limit)")
        return 0 if found.none else 1
    return 0


def add_parser(sub) -> None:
    audit = sub.add_parser("audit", help="trace a mart row to its sources; read or rebuild a mart as of a past version/time")
    verbs = audit.add_subparsers(dest="audit_command", required=True)

    t = verbs.add_parser("trace", help="print the silver facts, silver events, bronze records and landing files behind a mart row")
    t.add_argument("mart", help="customer_value, key_customers_at_risk, service_quality, am_effectiveness, branch_wait_by_hour, "
                                "satisfaction or value_tier_migration")
    t.add_argument("--key", action="append", metavar="COLUMN=VALUE", help="the row's key, one per key column (repeat)")
    t.add_argument("--version", type=int, help="the mart's Delta version (default: latest)")
    t.add_argument("--limit", type=int, default=10, help="rows printed per level (default 10)")
    t.add_argument("--json", action="store_true", help="everything, as JSON")
    lake_option(t)
    t.set_defaults(func=cmd_trace)

    a = verbs.add_parser("as-of", help="read a mart as of a Delta version or time, and optionally rebuild it from silver to check it")
    a.add_argument("mart")
    when = a.add_mutually_exclusive_group(required=True)
    when.add_argument("--version", type=int)
    when.add_argument("--timestamp", type=_timestamp, help="ISO 8601; the last version committed at or before it")
    a.add_argument("--where", action="append", metavar="COLUMN=VALUE", help="filter rows (repeat)")
    a.add_argument("--limit", type=int, default=20)
    a.add_argument("--rebuild", action="store_true", help="recompute from silver at the versions that commit read; exit 1 if it differs")
    lake_option(a)
    a.set_defaults(func=cmd_as_of)
