"""Run a suite file on a DataFrame, record every result, render Data Docs, give a verdict.

A gate's verdict: passed unless an ``error``-severity expectation failed. Every expectation's outcome
is appended to the Delta table ``_system/quality_results`` (run id, stage, table, the table version or
batch validated, expectation, column, severity, observed value, unexpected count, success, verdict)
and rendered as Great Expectations Data Docs under ``_system/quality/gx/uncommitted/data_docs/local_site/``.

The suite is evaluated on the DataFrame of the stage's new output (plus derived check columns, see
``jobs/quality/views.py``) as one aggregate query (``quality/compiled.py``, proven equal to Great Expectations'
verdicts); a suite using an expectation type it does not compile, or ``INTERACTION_LAKE_GATE_EVALUATOR=great_expectations``,
is run by Great Expectations itself. Either way the results are Great Expectations' result format and Data Docs.

Data Docs cost a Great Expectations import (~4 s a process) and a render (~0.6 s), so a gate stage whose gates
passed does not render them: its results, in full, are in ``_system/quality_results`` (``gx_result``), and
:func:`render_pending_data_docs` renders whatever was recorded and not rendered yet -- at the end of a CLI command, in
the marts DAG's ``data_docs`` task, at the end of a benchmark day, or on demand (``interaction-lake quality docs``).
A stage with a failed gate, or results Great Expectations evaluated itself, renders its pages at once
(:func:`render_stage_data_docs`): a failure's page is what an operator opens next.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_lake import lake, storage
from interaction_lake.storage import location
from interaction_lake.quality import compiled, offline
from interaction_lake.quality.suites import SuiteFile, load_suite

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no telemetry calls from a bank's network

RESULTS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("validated_at", T.TimestampType(), False),
    T.StructField("stage", T.StringType(), False),
    T.StructField("table_name", T.StringType(), False),
    T.StructField("table_version", T.LongType(), True),
    T.StructField("table_id", T.StringType(), True),  # the Delta table's id: a dropped and rebuilt table restarts its versions
    T.StructField("batch_id", T.StringType(), True),
    T.StructField("scope", T.StringType(), True),
    T.StructField("suite", T.StringType(), False),
    T.StructField("expectation", T.StringType(), False),
    T.StructField("column_name", T.StringType(), True),
    T.StructField("kwargs", T.StringType(), False),
    T.StructField("severity", T.StringType(), False),
    T.StructField("success", T.BooleanType(), False),
    T.StructField("observed_value", T.StringType(), True),
    T.StructField("unexpected_count", T.LongType(), True),
    T.StructField("element_count", T.LongType(), True),
    T.StructField("gate_passed", T.BooleanType(), False),
    T.StructField("gate_seconds", T.DoubleType(), False),
    T.StructField("source_file", T.StringType(), True),  # set when one landing file of a batch was judged alone
    T.StructField("unexpected_percent", T.DoubleType(), True),  # of the non-null values considered (GX's definition)
    T.StructField("unexpected_sample", T.StringType(), True),  # JSON: a few failing rows with their lineage
    # JSON {result, meta, exception}: the whole result in Great Expectations' format, from which Data Docs are rendered
    # later (compiled suites; null where Great Expectations evaluated the suite and stored its result itself)
    T.StructField("gx_result", T.StringType(), True),
])


class GateFailed(Exception):
    """An error-severity expectation failed: downstream stages must not read this output."""

    def __init__(self, outcomes: list["GateOutcome"]):
        self.outcomes = [o for o in outcomes if not o.passed]
        super().__init__("data-quality gate failed: " + "; ".join(o.summary() for o in self.outcomes))


class GateBlocked(Exception):
    """An upstream gate failed and has not passed since: this stage must not run."""


@dataclass
class GateOutcome:
    stage: str
    table: str
    run_id: str
    passed: bool
    seconds: float
    table_version: int | None = None
    batch_id: str | None = None
    source_file: str | None = None  # a file of the batch judged alone
    errors: list[str] = field(default_factory=list)    # failed error-severity expectations
    warnings: list[str] = field(default_factory=list)  # failed warn-severity expectations
    docs_ids: list = field(default_factory=list, repr=False)  # Great Expectations result identifiers, for Data Docs
    docs_rendered: bool = field(default=False, repr=False)
    details: list[str] = field(default_factory=list)  # one line per failed expectation: what was seen, and where
    assertions: list[tuple] = field(default_factory=list, repr=False)  # (type, column, severity, success) per expectation

    def summary(self) -> str:
        what = f"{self.stage}/{self.table}" + (f" batch {self.batch_id}" if self.batch_id else "") + (
            f" file {Path(self.source_file).name}" if self.source_file else "") + (
            f" v{self.table_version}" if self.table_version is not None else "")
        verdict = "passed" if self.passed else "FAILED"
        detail = "".join([f"; errors: {', '.join(self.errors)}" if self.errors else "",
                          f"; warnings: {', '.join(self.warnings)}" if self.warnings else ""])
        return f"{what} {verdict}{detail}"

    def report(self) -> str:
        """The summary and, under it, what each failed expectation saw and where (for the CLI and the task log)."""
        return "\n".join([self.summary(), *(f"    {line}" for line in self.details)])


def results_table(lake_root: Path) -> Path:
    return lake.table_path(lake_root, lake.SYSTEM, "quality_results")


SITE = ("gx", "uncommitted", "data_docs", "local_site")


def data_docs_index(lake_root: Path) -> Path:
    """The Data Docs' index page, in the lake (for a lake on an object store, the copy uploaded after each gate)."""
    return lake_quality_folder(lake_root).joinpath(*SITE, "index.html")


def lake_quality_folder(lake_root: Path) -> Path:
    return location(lake_root) / lake.SYSTEM / "quality"


def quality_project(lake_root: Path) -> Path:
    """Where the lake's Great Expectations project (stores, Data Docs) is worked on: in the lake on a file system; for
    a lake on an object store, which Great Expectations' file context cannot open, a local folder per lake
    (``$INTERACTION_LAKE_QUALITY_DIR``, default under the user's cache), whose Data Docs pages are uploaded to the lake's
    ``_system/quality`` after each gate stage. Either way the verdicts' record is ``_system/quality_results``."""
    folder = lake_quality_folder(lake_root)
    if storage.is_local(folder):
        return folder
    import hashlib

    base = Path(os.environ.get("INTERACTION_LAKE_QUALITY_DIR") or Path.home() / ".cache" / "interaction-lake" / "quality")
    return base / hashlib.sha256(str(folder).encode()).hexdigest()[:16]


DATASOURCE = "interaction_lake"
_CONTEXTS: dict[str, object] = {}
_CHECKPOINTS: dict[tuple[str, str], object] = {}


def _context(lake_root: Path):
    """One Great Expectations file context per lake and process (creating one reads and writes YAML)."""
    import great_expectations as gx

    key = str(quality_project(lake_root))
    if key in _CONTEXTS:
        return _CONTEXTS[key]
    context = gx.get_context(mode="file", project_root_dir=str(quality_project(lake_root)))
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):  # cosmetic only
        pass
    # Data assets read back from the project's YAML are not bound to this context (GX 1.x raises
    # MissingDataContextError on validation), so each process starts from a fresh datasource; the assets,
    # validation definitions and checkpoints are re-registered on first use by _checkpoint().
    context.data_sources.add_or_update_spark(name=DATASOURCE)
    _CONTEXTS[key] = context
    return context


def _checkpoint(context, lake_root: Path, suite_file):
    """The suite's checkpoint, registered once per process (again only if the suite file changed)."""
    import great_expectations as gx

    key = (str(lake_root), json.dumps(suite_file.spec, sort_keys=True))
    if key not in _CHECKPOINTS:
        # The datasource is registered once per process in _context(); replacing it here would drop the other suites' assets.
        source = context.data_sources.all()[DATASOURCE]
        asset = next((a for a in source.assets if a.name == suite_file.name), None) or source.add_dataframe_asset(name=suite_file.name)
        batch = (next((b for b in asset.batch_definitions if b.name == "new_output"), None)
                 or asset.add_batch_definition_whole_dataframe("new_output"))
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=suite_file.name, expectations=suite_file.spec["expectations"],
                                                                 meta=suite_file.spec.get("meta", {})))
        definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(name=suite_file.name, data=batch, suite=suite))
        # No Data Docs action here: rendering per validation recompiles the templates each time; a stage renders
        # all its validations at once with render_data_docs().
        _CHECKPOINTS[key] = context.checkpoints.add_or_update(gx.Checkpoint(
            name=suite_file.name, validation_definitions=[definition], actions=[], result_format={"result_format": "SUMMARY"}))
    return _CHECKPOINTS[key]


# Great Expectations rebuilds its Data Docs index from every stored validation result, so with no bound
# each gate would cost more every day (measured: bench/README.md). Data Docs keep the newest this many
# validation results; every result stays in _system/quality_results, which is the record.
DATA_DOCS_KEEP_DEFAULT = 120


def render_stage_data_docs(lake_root: Path, outcomes: list["GateOutcome"]) -> None:
    """What a gate stage does about Data Docs: render them now if a gate failed, or if Great Expectations evaluated a
    suite itself (its result is in its own store already); otherwise leave them to :func:`render_pending_data_docs`."""
    if any(not o.passed for o in outcomes) or any(not isinstance(i, PendingDocs) for o in outcomes for i in o.docs_ids):
        render_data_docs(lake_root, outcomes)


def render_data_docs(lake_root: Path, outcomes: list["GateOutcome"]) -> None:
    """Render the Data Docs pages of these validations (those not rendered yet) and the index, in one pass."""
    todo = [o for o in outcomes if o.docs_ids and not o.docs_rendered]
    _render(lake_root, [(i, o.passed) for o in todo for i in o.docs_ids])
    for o in todo:
        o.docs_rendered = True


def render_pending_data_docs(spark: SparkSession, lake_root: Path) -> int:
    """Render the validations recorded in ``_system/quality_results`` whose pages are not in Data Docs yet (of the
    newest ``$INTERACTION_LAKE_DATA_DOCS_KEEP``); return how many. Whoever gave the verdicts, in whatever process."""
    results = lake.read(spark, results_table(lake_root))
    if results is None or "gx_result" not in results.columns:
        return 0
    keep = int(os.environ.get("INTERACTION_LAKE_DATA_DOCS_KEEP", DATA_DOCS_KEEP_DEFAULT))
    recorded = results.where(F.col("gx_result").isNotNull()).withColumn("micros", F.unix_micros("validated_at"))
    # a validation: the rows one validate() call recorded, which share these (its verdict included)
    newest = (recorded.select("run_id", "scope", "suite", "micros", "gate_passed").distinct()
              .orderBy(F.col("micros").desc()).limit(keep).collect())
    # Rendered means published: a page in the lake's site (for a lake on an object store, the working copy on this
    # machine may be empty or stale -- another worker may have rendered it).
    pages = lake_quality_folder(lake_root).joinpath(*SITE, "validations")
    published = {f"validations/{p.relative_to(pages)}" for p in pages.rglob("*.html")} if pages.exists() else set()
    pending: dict[tuple, tuple[PendingDocs, bool]] = {}
    for row in newest:
        docs = PendingDocs(row.suite, validation_run_name(row.run_id, row.scope), _from_micros(row.micros), [])
        if docs.page() not in published:
            pending[(row.run_id, row.scope, row.suite, row.micros)] = (docs, row.gate_passed)
    if not pending:
        return 0
    ordered: dict[tuple, list] = {key: [] for key in pending}
    for row in (recorded.where(F.col("micros").isin(sorted({key[3] for key in pending})))
                .select("run_id", "scope", "suite", "micros", "expectation", "kwargs", "success", "gx_result").collect()):
        key = (row.run_id, row.scope, row.suite, row.micros)
        if key in ordered:  # not another validation given in the same microsecond
            kept = json.loads(row.gx_result)
            ordered[key].append((kept.get("index", 0), compiled.Result(row.expectation, json.loads(row.kwargs), kept.get("meta") or {},
                                                                       row.success, kept.get("result") or {}, kept.get("exception"))))
    for key, (docs, _) in pending.items():  # in the suite's order, as the gate gave them
        docs.results = [result for _, result in sorted(ordered[key], key=lambda pair: pair[0])]
    _render(lake_root, [(docs, passed) for docs, passed in pending.values() if docs.results])
    return len(pending)


def validation_run_name(run_id: str, scope: str | None) -> str:
    """A validation's run name in Great Expectations (and so in its Data Docs page's path): the run and what was judged."""
    return f"{run_id} {scope or ''}".strip()


def _from_micros(micros: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=micros)


# Great Expectations' file context is one per lake and process (``_context``) and not known to be thread-safe: gates
# that run at once (``interaction_lake.concurrently``) use it one at a time -- to render Data Docs, and to evaluate a
# suite the compiled evaluator does not take. The compiled evaluation, the usual path, runs at once.
_GREAT_EXPECTATIONS = threading.RLock()


def _render(lake_root: Path, validations: list[tuple]) -> None:
    """Store these (pending results or Great Expectations identifier, gate passed) and render their pages and the index,
    after pruning old ones; on an object store, upload what was rendered."""
    if not validations:
        return
    with _GREAT_EXPECTATIONS:
        _render_now(lake_root, validations)


def _render_now(lake_root: Path, validations: list[tuple]) -> None:
    started = time.time()
    context = _context(lake_root)
    identifiers = [_store(context, i, passed) if isinstance(i, PendingDocs) else _verdict(context, i, passed) for i, passed in validations]
    prune_data_docs(context, lake_root, int(os.environ.get("INTERACTION_LAKE_DATA_DOCS_KEEP", DATA_DOCS_KEEP_DEFAULT)))
    context.build_data_docs(resource_identifiers=identifiers)
    site = quality_project(lake_root).joinpath(*SITE)
    pages = [p for p in site.rglob("*.html") if p.stat().st_mtime >= started - 1]
    offline.localise(site, pages)
    target = lake_quality_folder(lake_root).joinpath(*SITE)
    if not storage.is_local(target):  # upload the pages this stage rendered and, the first time, the scripts and styles
        first_time = not (target / "static").exists()
        fresh = [p for p in site.rglob("*") if p.is_file() and (p.stat().st_mtime >= started - 1 or (first_time and "static" in p.parts))]
        storage.upload_tree(site, target, fresh)


def _verdict(context, identifier, passed: bool):
    """A validation's page shows the gate's verdict: warnings alone do not make it "Failed" (GX counts every expectation)."""
    result = context.validation_results_store.get(identifier)
    if result.success != passed:
        result.success = passed
        context.validation_results_store.set(identifier, result)
    return identifier


def _store(context, docs: PendingDocs, passed: bool):
    """Store a compiled suite's results as the validation result Great Expectations would have stored; its identifier."""
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    identifier = docs.identifier()
    batch, run = identifier.batch_identifier, identifier.run_id
    results = [ExpectationValidationResult(
        success=r.success, result=r.result,
        expectation_config=ExpectationConfiguration(type=r.type, kwargs={**r.kwargs, "batch_id": batch}, meta=r.meta),
        exception_info={"raised_exception": r.exception is not None, "exception_message": r.exception,
                        # GX's page renders a traceback as a string; the compiled evaluator has its message only
                        "exception_traceback": r.exception and f"{r.exception} (interaction_lake.quality.compiled)"})
        for r in docs.results]
    passed_gate, passed = passed, sum(r.success for r in docs.results)
    validation = ExpectationSuiteValidationResult(
        success=passed_gate, results=results, suite_name=docs.suite,
        statistics={"evaluated_expectations": len(results), "successful_expectations": passed,
                    "unsuccessful_expectations": len(results) - passed,
                    "success_percent": 100.0 * passed / len(results) if results else None},
        meta={"active_batch_definition": {"batch_identifiers": {"dataframe": "<DATAFRAME>"}, "data_asset_name": docs.suite,
                                          "data_connector_name": "fluent", "datasource_name": DATASOURCE},
              "batch_spec": {"batch_data": "SparkDataFrame"}, "evaluator": "interaction_lake.quality.compiled",
              "run_id": run.to_json_dict(), "validation_time": docs.run_time.isoformat()},
        batch_id=batch)
    context.validation_results_store.set(identifier, validation)
    return identifier


def validation_page(identifier) -> str:
    """The Data Docs page of a validation result identifier, relative to the site. Its batch part ends in the suite's
    name (``interaction_lake-silver.call``), so the page is that name plus ``.html``, not a suffix replaced."""
    *folders, batch = identifier.to_tuple()
    return "/".join(["validations", *folders, f"{batch}.html"])


def prune_data_docs(context, lake_root: Path, keep: int) -> int:
    """Drop all but the newest ``keep`` validation results from the Data Docs store and their pages; return how many."""
    store = context.validation_results_store
    keys = sorted(store.list_keys(), key=lambda k: str(k.run_id.run_time))
    old = keys[:max(0, len(keys) - keep)]
    sites = {quality_project(lake_root).joinpath(*SITE), lake_quality_folder(lake_root).joinpath(*SITE)}
    for key in old:
        store.remove_key(key)
        for site in sites:  # the working copy, and the lake's when they differ
            site.joinpath(validation_page(key)).unlink(missing_ok=True)
    return len(old)


def evaluator() -> str:
    """``compiled`` (the default: one aggregate query per suite, a stage's suites in one: :mod:`interaction_lake.quality.compiled`)
    or ``great_expectations`` (Great Expectations' own validator, the reference), from ``$INTERACTION_LAKE_GATE_EVALUATOR``."""
    chosen = os.environ.get("INTERACTION_LAKE_GATE_EVALUATOR", "compiled")
    if chosen not in EVALUATORS:
        raise ValueError(f"INTERACTION_LAKE_GATE_EVALUATOR is {chosen!r}; use one of {', '.join(EVALUATORS)}")
    return chosen


EVALUATORS = ("compiled", "great_expectations")


def evaluate(frame: DataFrame, suite_file, lake_root: Path, run_name: str) -> tuple[list[compiled.Result], list]:
    """The suite's results on ``frame``, and Great Expectations' identifiers of them if it evaluated the suite itself."""
    if evaluator() == "compiled" and compiled.compilable(suite_file.spec):
        return compiled.evaluate(frame, suite_file.spec), []
    return _great_expectations(frame, suite_file, lake_root, run_name)


@dataclass(frozen=True)
class Evaluated:
    """A suite's results computed ahead of ``validate`` with the rest of its stage (``evaluate_stage``), its share of
    the time that took, and the suite file they are of (read once a stage)."""
    results: list
    seconds: float
    suite_file: SuiteFile


def evaluate_stage(stage: str, requests: list[tuple[DataFrame, str]]) -> list[Evaluated | None]:
    """The results of a gate stage's suites (``(frame, suite name)`` each), the compiled ones fetched by one query
    (``compiled.evaluate_many``); None for a suite ``validate`` is to evaluate itself (Great Expectations chosen, or a
    suite the compiled evaluator does not take). Pass each to ``validate`` as ``evaluated``."""
    if evaluator() != "compiled":
        return [None] * len(requests)
    suites = [load_suite(stage, suite) for _, suite in requests]
    chosen = [index for index, suite in enumerate(suites) if compiled.compilable(suite.spec)]
    started = time.perf_counter()
    found = compiled.evaluate_many([(requests[index][0], suites[index].spec) for index in chosen])
    share = (time.perf_counter() - started) / max(len(chosen), 1)
    evaluated: list[Evaluated | None] = [None] * len(requests)
    for index, results in zip(chosen, found):
        evaluated[index] = Evaluated(results, share, suites[index])
    return evaluated


def _great_expectations(frame: DataFrame, suite_file, lake_root: Path, run_name: str) -> tuple[list[compiled.Result], list]:
    from great_expectations.core.run_identifier import RunIdentifier

    with _GREAT_EXPECTATIONS:
        checkpoint = _checkpoint(_context(lake_root), lake_root, suite_file)
        run = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
    results, unmatched = [], list(suite_file.spec["expectations"])
    for validation in run.run_results.values():
        for r in validation.results:
            config = r.expectation_config
            kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
            # Record the kwargs as the suite file wrote them (GX coerces 0 to 0.0); its results come grouped by column.
            written = next((e for e in unmatched if e["type"] == config.type and _same_kwargs(e.get("kwargs", {}), kwargs)), None)
            if written is not None:
                unmatched.remove(written)
                kwargs = dict(written.get("kwargs", {}))
            results.append(compiled.Result(config.type, kwargs, dict(config.meta or {}), bool(r.success), dict(r.result or {}),
                                           _exception(r.exception_info or {})))
            if not r.success and results[-1].exception is None and (r.result or {}).get("unexpected_count"):
                results[-1].sample = compiled.sample(frame, {"type": config.type, "kwargs": kwargs})
    return results, list(run.run_results)


def _same_kwargs(written: dict, built: dict) -> bool:
    """Great Expectations' kwargs for the suite's: equal values (0 == 0.0), the keys it leaves out being defaults."""
    defaults = {"mostly": 1, "strict_min": False, "strict_max": False}
    return all(written.get(k) == v for k, v in built.items()) and all(
        k in built or defaults.get(k, object()) == v or k in ("result_format", "catch_exceptions") for k, v in written.items())


def _exception(info: dict) -> str | None:
    """The message of an exception Great Expectations caught: at the top of ``exception_info``, or per metric under it."""
    if info.get("raised_exception"):
        return info.get("exception_message") or "exception"
    messages = [i.get("exception_message") or "exception" for i in info.values() if isinstance(i, dict) and i.get("raised_exception", True)
                and (i.get("exception_message") or i.get("exception_traceback"))]
    return "; ".join(messages) or None


@dataclass
class PendingDocs:
    """A compiled suite's results, stored as a Great Expectations validation result when Data Docs are rendered."""

    suite: str
    run_name: str
    run_time: dt.datetime  # the verdict's validated_at: the same page whichever process renders it
    results: list

    def page(self) -> str:
        """Its Data Docs page, relative to the site."""
        return validation_page(self.identifier())

    def identifier(self):
        """Its Great Expectations validation result identifier (the Data Docs page's key)."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier, ValidationResultIdentifier

        return ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=self.suite),
                                          run_id=RunIdentifier(run_name=self.run_name, run_time=self.run_time),
                                          batch_identifier=f"{DATASOURCE}-{self.suite}")


class StageResults:
    """A gate stage's results, recorded in ``_system/quality_results`` in one commit when the stage's validations end
    (``with StageResults(...) as results: validate(..., stage_results=results)``) instead of one commit per validation: a
    commit costs ~0.03-0.05 s however few its rows (measured, bench/README.md), and a stage validates up to a dozen
    tables. Each validation keeps its own rows and time, so the table reads as if each had committed alone. The
    results are committed when the block ends, by an error too (each verdict given is true); a process killed first
    records none, and the stage's next run judges again."""

    def __init__(self, spark: SparkSession, lake_root: Path, stage: str, run_id: str):
        self.spark, self.lake_root, self.stage, self.run_id = spark, lake_root, stage, run_id
        self.records: list[tuple] = []
        self.outcomes: list[GateOutcome] = []

    def add(self, outcome: "GateOutcome", records: list[tuple]) -> None:
        self.outcomes.append(outcome)
        self.records.extend(records)

    def __enter__(self) -> "StageResults":
        return self

    def __exit__(self, *exc) -> None:
        if self.outcomes:
            tables = ",".join(sorted({o.table for o in self.outcomes}))
            _record(self.spark, self.lake_root, self.records, lake.commit_metadata(
                "quality.gate", self.run_id, stage=self.stage, table=tables, passed=str(all(o.passed for o in self.outcomes))))
        self.records, self.outcomes = [], []


def _record(spark: SparkSession, lake_root: Path, records: list[tuple], meta: dict[str, str]) -> None:
    frame = spark.createDataFrame(records, RESULTS_SCHEMA)
    lake.ensure_columns(spark, frame, results_table(lake_root), meta)  # results recorded before source_file existed
    lake.append(frame, results_table(lake_root), meta)


def validate(spark: SparkSession, lake_root: Path, stage: str, table: str, frame: DataFrame, run_id: str, *,
             table_version: int | None = None, table_id: str | None = None, batch_id: str | None = None,
             scope: str = "", suite: str | None = None, source_file: str | None = None,
             stage_results: StageResults | None = None, evaluated: Evaluated | None = None) -> GateOutcome:
    """Validate ``frame`` with ``expectations/<stage>/<suite or table>.json``; record and return the outcome (recorded
    with the stage's other results when ``stage_results`` is given, at once otherwise). ``evaluated``: the suite's
    results on ``frame`` computed already with the rest of its stage (``evaluate_stage``).

    Call :func:`render_stage_data_docs` with the outcomes when the stage's validations are recorded."""
    started = time.perf_counter() - (evaluated.seconds if evaluated else 0.0)
    suite_file = evaluated.suite_file if evaluated else load_suite(stage, suite or table)
    name = validation_run_name(run_id, scope)
    results, identifiers = (evaluated.results, []) if evaluated else evaluate(frame, suite_file, lake_root, name)
    now = dt.datetime.now(dt.timezone.utc)
    docs = identifiers or [PendingDocs(suite_file.name, name, now, results)]

    outcome = GateOutcome(stage, table, run_id, True, 0.0, table_version, batch_id, source_file=source_file, docs_ids=docs)
    rows = []
    for index, result in enumerate(results):
        severity = result.meta.get("severity", "error")
        label = f"{result.type}({result.kwargs.get('column', '')})"
        outcome.assertions.append((result.type, result.kwargs.get("column"), severity, bool(result.success)))
        info = {"observed_value": f"exception: {result.exception}"} if result.exception else result.result
        if not result.success:
            (outcome.errors if severity == "error" else outcome.warnings).append(label)
            outcome.details.append(f"{severity} {label}: {seen(info, result.sample)}")
        rows.append([result.type, result.kwargs.get("column"), json.dumps(result.kwargs, sort_keys=True, default=str), severity,
                     result.success, None if info.get("observed_value") is None else json.dumps(info.get("observed_value"), default=str),
                     info.get("unexpected_count"), info.get("element_count")])
        rows[-1] += [info.get("unexpected_percent"), json.dumps(result.sample, default=str) if result.sample else None,
                     None if identifiers else json.dumps({"index": index, "result": result.result, "meta": result.meta,
                                                          "exception": result.exception}, default=_json_value)]
    outcome.passed = not outcome.errors
    outcome.seconds = time.perf_counter() - started
    records = [(run_id, now, stage, table, table_version, table_id, batch_id, scope, suite_file.name, *row[:8], outcome.passed,
                outcome.seconds, source_file, *row[8:]) for row in rows]
    if stage_results is not None:
        stage_results.add(outcome, records)
    else:
        _record(spark, lake_root, records, lake.commit_metadata("quality.gate", run_id, stage=stage, table=table, passed=str(outcome.passed)))
    return outcome


def _json_value(value):
    """A value JSON has no type for, as Great Expectations' result store writes it (numbers as numbers)."""
    import decimal

    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return str(value)


def seen(info: dict, sample: list[dict]) -> str:
    """What a failed expectation saw, in one line: the observed value, or how many values failed and where some are."""
    if info.get("unexpected_count") is None:
        return f"observed {info.get('observed_value')!r}" if "observed_value" in info else "nothing observed"
    share = info.get("unexpected_percent")
    seen = f"{info['unexpected_count']} of {info.get('element_count')} unexpected" + (f" ({share:.3g}% of values)" if share is not None else "")
    if sample:
        seen += "; e.g. " + "; ".join(", ".join(f"{k}={Path(v).name if k.endswith('source_file') and v else v}" for k, v in row.items())
                                      for row in sample[:3])
    return seen


@dataclass(frozen=True)
class Verdict:
    batch_id: str | None
    table_id: str | None
    table_version: int | None
    passed: bool
    validated_at: dt.datetime
    source_file: str | None = None
    scope: str | None = None  # what was judged; RELEASED... for an operator's release

    @property
    def released(self) -> bool:
        return (self.scope or "").startswith(RELEASED)


RELEASED = "released by "  # the scope of a verdict an operator gave with `quality release`


def latest_verdicts(spark: SparkSession, lake_root: Path, stage: str, table: str) -> list[Verdict]:
    """The most recent verdict for each batch, or table version, of the table that was validated."""
    return latest_verdicts_by_table(spark, lake_root, stage).get(table, [])


def latest_verdicts_by_table(spark: SparkSession, lake_root: Path, stage: str) -> dict[str, list[Verdict]]:
    """``latest_verdicts`` of every table of the stage, in one query (a gate asks for each of its tables)."""
    results = lake.read(spark, results_table(lake_root))
    if results is None:
        return {}
    if "source_file" not in results.columns:  # recorded before files were judged alone
        results = results.withColumn("source_file", F.lit(None).cast("string"))
    rows = (results.where(F.col("stage") == stage)
            .withColumn("_subject", F.concat_ws("|", F.coalesce("batch_id", F.lit("")), F.coalesce("table_id", F.lit("")),
                                                F.coalesce(F.col("table_version").cast("string"), F.lit("")),
                                                F.coalesce("source_file", F.lit(""))))
            .groupBy("table_name", "_subject")
            .agg(*[F.max_by(c, "validated_at").alias(c) for c in ("batch_id", "table_id", "table_version", "gate_passed", "source_file",
                                                                    "scope")],
                 F.max("validated_at").alias("validated_at"))
            .collect())
    verdicts: dict[str, list[Verdict]] = {}
    for r in rows:
        verdicts.setdefault(r.table_name, []).append(Verdict(r.batch_id, r.table_id, r.table_version, r.gate_passed, r.validated_at,
                                                             r.source_file, r.scope))
    return verdicts
