"""The ``interaction-lake`` command line: generate sample feeds, land them, show what landed.

User mistakes (a missing directory, a bad date, an unknown source) end with one line on stderr
and exit code 2; a failure inside a job exits 1 with the error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections import Counter
from pathlib import Path

from interaction_lake import lake, progress
from interaction_lake.cli_common import OPERATOR_ERRNOS, UsageError, default_run_id, report_gates, settings_from as _settings, storage_problem
from interaction_lake.config import ConfigError, Settings
from interaction_lake.report import MIN_SAMPLE
from interaction_lake import sources as registry


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (and exit 2), like every other user error here."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 1: {text!r}")
    return int(text)


def cmd_generate(args: argparse.Namespace) -> int:
    from interaction_lake.generator import generate

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file, not a directory")
    try:
        with progress.working(f"generating {args.customers} customers x {args.days} days"):
            manifest = generate(args.out, customers=args.customers, days=args.days, seed=args.seed, start=args.start,
                                fault_rate=args.fault_rate)
    except ValueError as error:
        raise UsageError(str(error)) from None
    total = sum(s.lines for s in manifest.sources.values())
    print(f"wrote {total} records for {args.customers} customers over {args.days} days to {Path(args.out).absolute()}")
    for source, stats in manifest.sources.items():
        print(f"  {source:16} {stats.lines:>8} records in {stats.files} files  (faults: {stats.malformed + stats.malformed_csv} malformed, "
              f"{stats.wrong_type} wrong type, {stats.unknown_event_type} unknown type, {stats.duplicate_events} duplicates, "
              f"{stats.late_events} late, {stats.duplicate_files} resent files, {stats.empty_files} empty)")
    return 0


def cmd_land(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from jobs.bronze.land import land_sources, record_unassigned

    settings = _settings(args)
    if not settings.landing_root.is_dir():
        raise UsageError(f"landing directory {settings.landing_root} does not exist (run 'interaction-lake generate' or pass --landing)")
    run_id = args.run_id or default_run_id()
    if args.abandon_batch:
        return _abandon(settings, args, run_id)
    spark = get_spark(settings)
    names = args.source or registry.enabled()
    if args.jobs > 1:
        with progress.working(f"landing {len(names)} source(s), up to {args.jobs} at once"):
            reports = land_sources(settings, names, run_id, args.jobs, spark)
    else:
        reports = land_sources(settings, progress.steps("landing", names), run_id, spark=spark)
    outside = 0 if args.source else record_unassigned(spark, settings, registry.enabled(), run_id)
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    else:
        print(f"run {run_id}")
        print(f"  {'source':16} {'new files':>9} {'skipped':>7} {'resent':>6} {'empty':>5} {'ignored':>7} {'unread.':>7} "
              f"{'landed':>8} {'quarant.':>8} {'excluded':>8} {'dup ids':>7}")
        for r in reports:
            print(f"  {r.source:16} {r.files_new:>9} {r.files_already_landed:>7} {r.files_duplicate:>6} {r.files_empty:>5} "
                  f"{r.files_ignored:>7} {r.files_unreadable:>7} {r.records_landed:>8} {r.records_quarantined:>8} "
                  f"{r.records_excluded:>8} {r.duplicate_events_in_batch:>7}")
        if outside:
            print(f"  {outside} file(s) outside every landing folder, recorded as ignored (source 'unassigned')")
        if outside or any(r.files_ignored or r.files_unreadable for r in reports):
            print("  (ignored and unreadable files are recorded with the reason in _system/landing_ledger: see 'interaction-lake summary')")
    for warning in (w for r in reports for w in r.warnings()):
        print(f"interaction-lake: warning: {warning}", file=sys.stderr)
    if args.no_gate:
        return 0
    from jobs.bronze.gate import gate_bronze_sources

    names = progress.steps("bronze gates", args.source or registry.enabled())
    return report_gates(gate_bronze_sources(spark, settings, names, run_id), settings, quiet=args.json)


def _abandon(settings: Settings, args: argparse.Namespace, run_id: str) -> int:
    from interaction_lake.engine import get_spark
    from jobs.bronze.land import AbandonError, abandon_files

    if not args.source or len(args.source) != 1 or not args.reason:
        raise UsageError("--abandon-batch needs exactly one --source and a --reason (the audit record)")
    try:
        done = abandon_files(get_spark(settings), settings, args.source[0], args.abandon_batch, args.reason, run_id)
    except AbandonError as error:
        raise UsageError(str(error)) from None
    print(f"batch {done.batch_id}: {len(done.abandoned)} file(s) recorded as abandoned, {done.finished} landed as they were (run {run_id})")
    for path in done.abandoned:
        print(f"  abandoned {path}")
    return 0


def cmd_silver(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from jobs.silver.build import build_silver

    settings = _settings(args)
    if not lake.exists(lake.landing_ledger_table(settings.lake_root)):
        raise UsageError(f"nothing landed under {settings.lake_root} yet (run 'interaction-lake land' first, or pass --lake)")
    run_id = args.run_id or default_run_id()
    spark = get_spark(settings)
    reports = build_silver(spark, settings, run_id, tuple(args.source or registry.enabled()), full=args.full,
                           track=lambda sources: progress.steps("building silver", sources))
    print(f"run {run_id}{' (full replay of bronze)' if args.full else ''}")
    print(f"  {'source':16} {'batches':>7} {'events':>8} {'new':>8} {'dupes':>6} {'fixes':>6}  facts (keys recomputed)")
    for r in reports:
        facts = ", ".join(f"{name} {n}" + (f" ({r.facts_quarantined[name]} quarantined)" if r.facts_quarantined.get(name) else "")
                          for name, n in r.facts.items())
        held = f"  ({r.held_back} batch(es) held back by the bronze gate)" if r.held_back else ""
        held += f"  ({r.files_held_back} file(s) held back by the bronze gate)" if r.files_held_back else ""
        held += f"  ({r.quarantined} event(s) to quarantine/silver: payload not read whole)" if r.quarantined else ""
        held += (f"  ({r.conflicting_duplicates} copy(ies) with other content than the version kept: a correction's "
                 "losers or stale revisions)") if r.conflicting_duplicates else ""
        print(f"  {r.source:16} {r.batches:>7} {r.events_in:>8} {r.events_inserted:>8} {r.duplicates_suppressed:>6} "
              f"{r.corrections:>6}  {facts}{held}")
    if args.no_gate:
        return 0
    from jobs.silver.gate import gate_silver

    with progress.working("silver gates"):
        outcomes = gate_silver(spark, settings, run_id)
    return report_gates(outcomes, settings)


def cmd_marts(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from interaction_lake.marts_config import MartsConfig
    from interaction_lake.quality.gate import GateBlocked, GateFailed
    from jobs.gold.build import NothingToBuild, build_gold, staging_root

    settings = _settings(args)
    config = MartsConfig.load(args.config)
    run_id = args.run_id or default_run_id()
    try:
        with progress.working("building the gold marts (and their gate)"):
            report = build_gold(get_spark(settings), settings, run_id, config, full=args.full, gate=not args.no_gate)
    except NothingToBuild as error:
        raise UsageError(str(error)) from None
    except GateBlocked as error:
        print(f"interaction-lake: {error}", file=sys.stderr)
        return 1
    except GateFailed as error:
        report_gates(error.outcomes, settings)
        print(f"  nothing published; the staged marts are kept for inspection in {staging_root(settings.lake_root, run_id)}")
        return 1
    print(f"run {run_id}{' (full rebuild)' if args.full else ''}  config {config.fingerprint()}")
    if report.reshaped:
        print(f"  every month recomputed: this version changed the columns of {', '.join(f'gold/{n}' for n in report.reshaped)}")
    if report.up_to_date:
        print("  silver has not changed since the last marts build: nothing to do")
        return 0
    print(f"  data as of {report.as_of}; months recomputed {report.first_month:%Y-%m} .. {report.last_month:%Y-%m}; recency "
          + ("carried from the stored state of the month before" if report.recency_carried else "read from a year of interactions"))
    for name, rows in report.rows.items():
        later = report.first_months.get(name, report.first_month) > report.first_month
        print(f"  gold/{name:26} {rows:>8} rows" + (f" (from {report.first_months[name]:%Y-%m})" if later else ""))
    for name, why in report.not_built.items():
        print(f"  gold/{name:26} not built: {why}")
    return report_gates(report.gates, settings)


def cmd_validate(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark

    settings = _settings(args)
    if not lake.exists(lake.landing_ledger_table(settings.lake_root)):
        raise UsageError(f"nothing landed under {settings.lake_root} yet (run 'interaction-lake land' first, or pass --lake)")
    spark, run_id = get_spark(settings), args.run_id or default_run_id()
    if args.stage == "bronze":
        from jobs.bronze.gate import gate_bronze_sources

        outcomes = gate_bronze_sources(spark, settings, registry.enabled(), run_id)
    else:
        from jobs.silver.gate import gate_silver

        outcomes = gate_silver(spark, settings, run_id)
    if not outcomes:
        print(f"nothing new to validate in {args.stage}")
    return report_gates(outcomes, settings)


def cmd_erase(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from jobs.privacy.erase import ErasureError, ErasureIncomplete, erase_customer

    settings = _settings(args)
    if not settings.lake_root.is_dir():
        raise UsageError(f"lake directory {settings.lake_root} does not exist (pass --lake)")
    try:
        report = erase_customer(get_spark(settings), settings, args.customer_ref, args.request_id, args.run_id or default_run_id(),
                                args.retain_hours)
    except ErasureError as error:
        raise UsageError(str(error)) from None
    except ErasureIncomplete as error:
        print(f"interaction-lake: {error}", file=sys.stderr)
        return 1
    resumed = " (an interrupted attempt resumed and finished)" if report.resumed else ""
    print(f"erasure {report.request_id}: customer {report.customer_key}: removed from {len(report.rows_removed)} table(s){resumed}")
    for table, count in sorted(report.rows_removed.items()):
        print(f"  {table:40} {count:>6} row(s), old versions vacuumed")
    if report.quality_documents:
        print(f"  {len(report.quality_documents)} Great Expectations result(s) and page(s) that quoted the customer, deleted")
    if report.staging_removed:
        print(f"  {len(report.staging_removed)} staging folder(s) left by killed runs, deleted")
    print("  verified: no data file of any table or version holds the customer" if report.verified else
          "  old versions are kept for the retention window before VACUUM can remove them (not verified: docs/privacy.md)")
    if report.landing_files:
        print(f"  {len(report.landing_files)} landing file(s) outside the lake still hold the customer's lines (landing-zone retention applies):")
        for path in report.landing_files:
            print(f"    {path}")
    print("recorded in _system/erasures")
    return 0


def cmd_repair_duplicates(args: argparse.Namespace) -> int:
    from jobs.maintenance.duplicates import repair_duplicates

    settings = _settings(args)
    if not lake.exists(lake.landing_ledger_table(settings.lake_root)):
        raise UsageError(f"no lake at {settings.lake_root} (pass --lake)")
    found = repair_duplicates(settings.lake_root, args.run_id or default_run_id(), dry_run=args.dry_run)
    for table in found:
        fate = "" if not table.copies else " (to remove: run without --dry-run)" if args.dry_run else ", removed"
        print(f"  {table.table:32} {table.rows:>9,} row(s), {table.copies:>9,} copies{fate}")
    copies = sum(t.copies for t in found)
    if copies:
        print(f"{copies:,} copies in {sum(1 for t in found if t.copies)} table(s) " + ("found" if args.dry_run else "removed"))
    else:
        print("no table holds a copy of a row: nothing to repair")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from interaction_lake.quality.gate import GateFailed
    from jobs.privacy.rotate import rotate_secret

    settings = _settings(args)
    if not lake.exists(lake.landing_ledger_table(settings.lake_root)):
        raise UsageError(f"{settings.lake_root} is not a lake (pass --lake)")
    run_id = args.run_id or default_run_id()
    try:
        with progress.working("rebuilding silver and gold under the new secret"):
            done = rotate_secret(get_spark(settings), settings, run_id)
    except GateFailed as error:
        report_gates(error.outcomes, settings)
        print("interaction-lake: the rotation is not finished; fix the cause and run rotate-key again", file=sys.stderr)
        return 1
    print(f"pseudonym secret rotated{' (resumed)' if done.resumed else ''}: silver and gold rebuilt, fingerprint {done.new_fingerprint[:8]}...")
    print("  the new key is in _system/pseudonym.key" if done.key_file_written else
          "  set INTERACTION_LAKE_PSEUDONYM_SECRET to the new secret wherever jobs run (the old one is refused from now on)")
    return 0


def cmd_check_feed(args: argparse.Namespace) -> int:
    """Check feed mappings (one line naming file and line per problem, exit 2); with --preview, show what a native file
    would become -- each line's fate and the first events -- without writing anything."""
    from interaction_lake import feeds
    from interaction_lake.landing_files import parse_file

    mappings = tuple(feeds.load(path) for path in args.mapping) if args.mapping else feeds.all_mappings()
    for mapping in mappings:
        print(f"{mapping.path}: feed {mapping.feed} -> {mapping.source} events from {mapping.folder}/{mapping.pattern} "
              f"({len(mapping.events)} event rules, {len(mapping.exclusions)} exclusions): ok")
    if not args.preview:
        return 0
    path = Path(args.preview)
    chosen = [m for m in mappings if feeds.names(m, path.name)]
    if len(chosen) != 1:
        raise UsageError(f"{path.name} matches {len(chosen)} of the mappings' patterns; name the one mapping to preview it with")
    settings = _settings(args)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    parsed = parse_file(chosen[0].source, path.name, data, feed=chosen[0], timezone=settings.business_timezone)
    fates = Counter(line.rejection.reason if line.rejection else "event" for line in parsed.lines)
    print(f"{path}: {fates.pop('event', 0)} events from {sum(1 for line in parsed.accepted if line.lines_spanned)} records; "
          + ", ".join(f"{n} {reason}" for reason, n in sorted(fates.items())) + f"; {parsed.header_lines} header, {parsed.blank_lines} blank lines")
    for line in parsed.rejected[: args.limit]:
        print(f"  line {line.line_number}: {line.rejection.reason}: {line.rejection.detail}")
    for line in parsed.accepted[: args.limit]:
        print(f"  line {line.line_number}: {line.record_json}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from interaction_lake.summary import print_summary

    settings = _settings(args)
    if not settings.lake_root.is_dir():
        raise UsageError(f"lake directory {settings.lake_root} does not exist (land something first, or pass --lake)")
    unreadable = print_summary(settings)
    if unreadable:
        raise UsageError(f"{len(unreadable)} table(s) cannot be read: {', '.join(unreadable)} (see above)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from interaction_lake.report.page import build_report
    from interaction_lake.report.data import NoMarts

    settings = _settings(args)
    if not settings.lake_root.is_dir():
        raise UsageError(f"lake directory {settings.lake_root} does not exist (build the marts first, or pass --lake)")
    held = None
    if lake.exists(lake.table_path(settings.lake_root, lake.SYSTEM, "quality_results")):
        from interaction_lake.engine import get_spark
        from jobs.quality.held import held as held_now

        held = held_now(get_spark(settings), settings.lake_root)  # shown until resolved, so the report needs the engine
    try:
        with progress.working("drawing the report"):
            out = build_report(settings.lake_root, args.out, held, args.min_sample)
    except NoMarts as error:
        raise UsageError(str(error)) from None
    print(f"wrote {out.absolute()} (one self-contained HTML file: open it in a browser)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from interaction_lake.benchmark import run

    if args.events is not None and args.events < 1 or args.days < 1:
        raise UsageError("--events and --days must be at least 1")
    return run(args)


SAMPLE_OPTIONS = ("customers", "days", "seed", "start", "fault_rate")


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if any(settings.landing_root.glob("*/*")):
        defaults = build_parser().parse_args(["demo"])
        asked = [f"--{o.replace('_', '-')}" for o in SAMPLE_OPTIONS if getattr(args, o) != getattr(defaults, o)]
        if asked:  # the sample options only shape a new sample: they must not be dropped without a word
            raise UsageError(f"{settings.landing_root} already holds files, so {', '.join(asked)} would change nothing: "
                             "remove the landing zone and the lake first (make clean), or leave the options out")
        print(f"== {settings.landing_root} already holds files: landing those (no sample generated)")
    else:
        print(f"== generating a sample bank into {settings.landing_root}")
        cmd_generate(_step(None, "generate", "--out", str(settings.landing_root),
                           *[a for o in SAMPLE_OPTIONS for a in (f"--{o.replace('_', '-')}", str(getattr(args, o)))]))
    print("\n== landing every source into bronze")
    cmd_land(_step(args, "land"))
    print("\n== landing again: already-landed files are skipped (exactly once)")
    cmd_land(_step(args, "land"))
    print("\n== building silver from the new bronze batches (typed, deduplicated, pseudonymised, lifecycles)")
    cmd_silver(_step(args, "build-silver"))
    print("\n== building the gold marts (customer value, service quality, satisfaction, account managers, key customers at risk)")
    cmd_marts(_step(args, "build-marts"))
    print()
    cmd_summary(args)
    from interaction_lake.summary import print_headlines

    print()
    print_headlines(_settings(args))
    print("\n== the report people look at")
    return cmd_report(_step(args, "report", "--out", args.report))


def _step(args: argparse.Namespace | None, command: str, *options: str) -> argparse.Namespace:
    """A step of the demo, parsed as its own command line would be: every option the command has, with its default,
    and the demo's ``--lake`` / ``--landing``."""
    paths = [a for o in ("lake", "landing") if args is not None and getattr(args, o) for a in (f"--{o}", str(getattr(args, o)))]
    return build_parser().parse_args([command, *paths, *options])


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="interaction-lake", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def paths(p: argparse.ArgumentParser) -> None:
        p.add_argument("--lake", help="lake root (default: $INTERACTION_LAKE_LAKE_ROOT or ./lake)")
        p.add_argument("--landing", help="landing zone (default: $INTERACTION_LAKE_LANDING_ROOT or ./landing)")

    def sample(p: argparse.ArgumentParser) -> None:
        p.add_argument("--customers", type=int, default=2000, help="customers in the sample bank (default: 2000)")
        p.add_argument("--days", type=int, default=7, help="days of interactions (default: 7)")
        p.add_argument("--seed", type=int, default=42, help="random seed: the same seed writes the same files (default: 42)")
        p.add_argument("--start", type=_date, default=dt.date(2026, 11, 2), help="first day, YYYY-MM-DD (default: 2026-11-02)")
        p.add_argument("--fault-rate", type=float, default=0.01, help="share of records given each kind of fault, 0 to 0.2 (default: 0.01)")

    g = sub.add_parser("generate", help="write a seeded sample bank's landing files")
    g.add_argument("--out", type=Path, default=Path("landing"), help="the landing zone to write into (default: ./landing)")
    sample(g)
    g.set_defaults(func=cmd_generate)

    def job(p: argparse.ArgumentParser) -> None:
        paths(p)
        p.add_argument("--source", action="append", choices=registry.known(), help="only this source (repeatable); default all")
        p.add_argument("--run-id", help="run id recorded in lineage and commits (default: Airflow's, or a generated one)")
        p.add_argument("--no-gate", action="store_true", help="skip this stage's data-quality gate (it then runs with 'validate')")

    land = sub.add_parser("land", help="land new landing files into bronze (exactly once)")
    job(land)
    land.add_argument("--json", action="store_true", help="print the landing reports as JSON")
    land.add_argument("--jobs", type=_positive, default=1, metavar="N",
                      help="land up to N sources at once, each in a process of its own (default 1: for a large delivery, "
                           "the machine's cores; each process starts its own engine session)")
    land.add_argument("--abandon-batch", metavar="BATCH_ID",
                      help="finish this unfinished batch without its vanished or changed files, recorded as abandoned (needs --reason)")
    land.add_argument("--reason", help="with --abandon-batch: why, kept in the ledger as the audit record")
    land.set_defaults(func=cmd_land)

    sv = sub.add_parser("build-silver", help="build silver from bronze batches not yet processed")
    job(sv)
    sv.add_argument("--full", action="store_true", help="drop silver and rebuild it by replaying every bronze batch")
    sv.set_defaults(func=cmd_silver)

    mt = sub.add_parser("build-marts", help="build the gold marts from silver (the months silver changed in)")
    paths(mt)
    mt.add_argument("--run-id", help="run id recorded in lineage and commits (default: Airflow's, or a generated one)")
    mt.add_argument("--no-gate", action="store_true", help="publish without the gold data-quality gate")
    mt.add_argument("--full", action="store_true", help="recompute every month instead of the months silver changed in")
    mt.add_argument("--config", type=Path, help="marts parameters, TOML (default: $INTERACTION_LAKE_MARTS_CONFIG or built-in)")
    mt.set_defaults(func=cmd_marts)

    va = sub.add_parser("validate", help="run the data-quality gates of a stage on output not validated yet; exit 1 if one fails")
    paths(va)
    va.add_argument("stage", choices=("bronze", "silver"), help="gold is validated as part of build-marts (write-audit-publish)")
    va.add_argument("--run-id", help="run id recorded with the results")
    va.set_defaults(func=cmd_validate)

    cf = sub.add_parser("check-feed", help="check the feed mappings (docs/feeds.md); --preview FILE shows what a native file would land as")
    cf.add_argument("mapping", nargs="*", type=Path, help="mapping files (default: every *.yaml in $INTERACTION_LAKE_FEEDS_DIR or ./feeds)")
    cf.add_argument("--preview", metavar="FILE", help="a native export: print each refused line and the first events, write nothing")
    cf.add_argument("--limit", type=int, default=5, help="with --preview: how many events and refusals to print (default 5)")
    paths(cf)
    cf.set_defaults(func=cmd_check_feed)

    s = sub.add_parser("summary", help="print what the lake holds and where")
    paths(s)
    s.set_defaults(func=cmd_summary)

    d = sub.add_parser("demo", help="generate a sample (if the landing zone is empty), land it twice, build silver and marts, summarise")
    paths(d)
    sample(d)
    d.add_argument("--report", default="report.html", help="where to write the HTML report (default: ./report.html)")
    d.set_defaults(func=cmd_demo)
    rp = sub.add_parser("report", help="write the HTML report (value tiers, satisfaction, abandonment, waits, AMs, at risk, data quality)")
    paths(rp)
    rp.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file to write (default: ./report.html)")
    rp.add_argument("--min-sample", type=int, default=MIN_SAMPLE,
                    help=f"rates on fewer answers are marked and not drawn (default: {MIN_SAMPLE})")
    rp.set_defaults(func=cmd_report)

    from interaction_lake.benchmark import add_arguments as bench_arguments

    be = sub.add_parser("bench", help="benchmark N events day by day through bronze, silver and gold with gates; print and write JSON")
    bench_arguments(be)
    be.set_defaults(func=cmd_bench)

    er = sub.add_parser("erase", help="erase one customer from bronze, quarantine, silver and gold, old versions included (right to be forgotten)")
    er.add_argument("--customer-ref", required=True, help="the customer's reference as the source systems send it")
    er.add_argument("--request-id", required=True, help="the erasure request's id, recorded in _system/erasures")
    er.add_argument("--retain-hours", type=float, help="VACUUM retention for the tables touched (default $INTERACTION_LAKE_ERASURE_RETAIN_HOURS or 0)")
    er.add_argument("--run-id", help="run id recorded with the erasure and its commits (default: a generated one)")
    paths(er)
    er.set_defaults(func=cmd_erase)
    rk = sub.add_parser("rotate-key", help="change the pseudonym secret (new one in $INTERACTION_LAKE_NEW_PSEUDONYM_SECRET): "
                                           "rebuild silver and gold under it; run again to finish an interrupted rotation")
    rk.add_argument("--run-id", help="run id recorded in lineage and commits")
    paths(rk)
    rk.set_defaults(func=cmd_rotate_key)
    rd = sub.add_parser("repair-duplicates", help="remove the copies of rows that concurrent compactions left in _system's tables and the "
                                                  "quarantines before compactions took a lock (docs/operations.md)")
    rd.add_argument("--dry-run", action="store_true", help="count the copies, change nothing")
    rd.add_argument("--run-id", help="run id recorded in the repair's commits")
    paths(rd)
    rd.set_defaults(func=cmd_repair_duplicates)
    from interaction_lake.cli_audit import add_parser as add_audit
    from interaction_lake.cli_quality import add_parser as add_quality
    from interaction_lake.cli_serve import add_parser as add_serve

    add_audit(sub)
    add_quality(sub)
    add_serve(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ConfigError) as error:
        print(f"interaction-lake: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in OPERATOR_ERRNOS:
            raise
        # the lake or landing zone is read-only, full or not ours: the operator's to fix, said in one line
        where = f" ({error.filename})" if error.filename else ""
        print(f"interaction-lake: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 -- only the storage problems below are answered here; the rest is re-raised
        problem = storage_problem(error)
        if problem is None:
            raise
        print(f"interaction-lake: error: {problem}", file=sys.stderr)
        return 2


def entrypoint() -> None:
    """The console script: ``main``, then leave without the interpreter's native teardown.

    delta-rs, Arrow and the embedded engine keep native thread pools; torn down at interpreter exit while a
    worker is still joinable, they abort the process with "terminate called without an active exception"
    (exit 134) after the command has finished and printed its results (delta-rs issue 2184), which a
    scheduler records as a failed task. So once the command is done, exit handlers run and output is flushed
    as usual, and the process then ends with the command's own code (tested over repeated runs).
    """
    import atexit
    import logging

    code = main()
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entrypoint()
