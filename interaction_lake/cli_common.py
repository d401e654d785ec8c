"""What every command-line module shares: the user-mistake exception, settings and ``--lake`` from arguments, run ids,
how gate outcomes are printed, and how a storage problem raised deep inside the engine becomes one line for the
operator. Imported by ``cli``, ``cli_audit`` and ``cli_quality`` (none imports another's internals)."""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import os
import sys
import uuid

from interaction_lake.config import Settings


class UsageError(Exception):
    """A mistake in how the command was called; reported in one line, no traceback."""


def lake_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--lake``, as every command that reads or writes only the lake takes it."""
    parser.add_argument("--lake", help="lake root (default: $INTERACTION_LAKE_LAKE_ROOT or ./lake)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.from_env().with_paths(getattr(args, "lake", None), getattr(args, "landing", None))


OPERATOR_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM}
# The same problems met inside the engine or delta-rs arrive as their exceptions, with the OS's words in the message.
_OPERATOR_MESSAGES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied")
_CORRUPT_LOG = ("Invalid JSON in log record", "Json error", "Invalid checkpoint")


def storage_problem(error: BaseException) -> str | None:
    """A one-line description of a storage problem the operator must fix -- a full or read-only disk, a corrupt
    Delta log -- raised by the engine or delta-rs rather than by Python; None for anything else (a bug: the traceback
    is what is needed then)."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    for words in _OPERATOR_MESSAGES:
        if words in text:
            return f"{words.lower()}: {first[:300]}"
    if any(words in text for words in _CORRUPT_LOG) and type(error).__module__.split(".")[0] in ("pyspark", "deltalake", "_internal"):
        return (f"a Delta table's _delta_log cannot be read ({first[:300]}): restore that table's _delta_log from backup, "
                "or rebuild the layer (build-silver --full, build-marts --full); see docs/operations.md")
    return None


def default_run_id() -> str:
    """Airflow's run id when Airflow runs us, else a manual one that sorts by time."""
    return os.environ.get("AIRFLOW_CTX_DAG_RUN_ID") or f"manual__{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"


def report_gates(outcomes, settings: Settings, quiet: bool = False) -> int:
    """Render their Data Docs pages, print gate outcomes; exit code 1 if any failed (so a scheduler marks the task failed)."""
    from interaction_lake.quality.gate import data_docs_index, render_data_docs

    render_data_docs(settings.lake_root, outcomes)  # a command's results are browsable when it returns
    if outcomes and not quiet:
        print(f"data-quality gates ({sum(o.seconds for o in outcomes):.1f} s; Data Docs: {data_docs_index(settings.lake_root)})")
        for o in outcomes:
            print(f"  {o.report()}")
    failed = [o for o in outcomes if not o.passed]
    if failed:
        print(f"interaction-lake: {len(failed)} data-quality gate(s) failed; downstream stages will not read that output",
              file=sys.stderr)
        return 1
    return 0
