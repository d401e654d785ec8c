"""``interaction-lake quality``: what the gates hold and why; judge it again; release it with a reason (an audit record)."""

from __future__ import annotations

import argparse

from interaction_lake.cli_common import UsageError, default_run_id, lake_option, report_gates, settings_from


def cmd_held(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from jobs.quality.held import held

    settings = settings_from(args)
    found = held(get_spark(settings), settings.lake_root)
    if not found:
        print("nothing is held: every batch and silver table's latest verdict passed")
        return 0
    print(f"{len(found)} held (release with 'interaction-lake quality release', or fix and 'quality recheck'):")
    for h in found:
        print(f"  {h.subject()}  held since {h.since:%Y-%m-%d %H:%M:%S} UTC")
        for reason in h.reasons or ["(no failed error expectation recorded)"]:
            print(f"      {reason}")
    return 0


def cmd_recheck(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from jobs.quality.held import recheck

    settings = settings_from(args)
    outcomes = recheck(get_spark(settings), settings, args.run_id or default_run_id())
    if not outcomes:
        print("nothing is held: nothing to recheck")
        return 0
    return report_gates(outcomes, settings)


def cmd_release(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from jobs.quality.held import NotHeld, release

    if bool(args.batch) == bool(args.table):
        raise UsageError("name what to release: --batch BATCH_ID [--file FILE] for bronze, or --table TABLE for silver")
    if args.file and not args.batch:
        raise UsageError("--file needs the --batch it belongs to")
    settings = settings_from(args)
    try:
        released = release(get_spark(settings), settings.lake_root, args.reason, batch_id=args.batch, source_file=args.file,
                           table=args.table)
    except NotHeld as error:
        raise UsageError(str(error)) from None
    for h in released:
        print(f"released {h.subject()}: {args.reason}")
    print("recorded in _system/quality_results (expectation manual_release); the next stage reads it on its next run")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from interaction_lake.engine import get_spark
    from interaction_lake.quality.gate import data_docs_index, render_pending_data_docs

    settings = settings_from(args)
    rendered = render_pending_data_docs(get_spark(settings), settings.lake_root)
    print(f"rendered {rendered} validation(s) not in Data Docs yet: {data_docs_index(settings.lake_root)}")
    return 0


def add_parser(sub) -> None:
    quality = sub.add_parser("quality", help="what the data-quality gates hold and why; recheck it; release it with a reason")
    verbs = quality.add_subparsers(dest="quality_command", required=True)

    h = verbs.add_parser("held", help="list the held bronze batches and files and the blocked silver tables, with the failures")
    lake_option(h)
    h.set_defaults(func=cmd_held)
    r = verbs.add_parser("recheck", help="judge everything held again with the current suites and data; exit 1 if something still fails")
    r.add_argument("--run-id", help="run id recorded with the new verdicts (default: a generated one)")
    lake_option(r)
    r.set_defaults(func=cmd_recheck)
    rl = verbs.add_parser("release", help="release a held batch, file or silver table, recording who and why")
    rl.add_argument("--batch", help="the held bronze batch id (as 'quality held' prints it)")
    rl.add_argument("--file", help="only this held file of the batch (its path or name)")
    rl.add_argument("--table", help="the blocked silver table (e.g. call)")
    rl.add_argument("--reason", required=True, help="why it may flow on: kept as the audit record")
    lake_option(rl)
    rl.set_defaults(func=cmd_release)
    d = verbs.add_parser("docs", help="render the Data Docs pages of the verdicts recorded and not rendered yet (gates that passed "
                                      "leave them to this, to the CLI command that ran them and to the marts DAG's data_docs task)")
    lake_option(d)
    d.set_defaults(func=cmd_docs)
