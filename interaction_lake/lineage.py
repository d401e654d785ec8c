"""OpenLineage events for every Airflow task and every job: the datasets each run read and wrote, with
their schemas and Delta versions, and the run's parent.

Where events go is the OpenLineage client's own configuration: ``OPENLINEAGE_URL`` (HTTP, e.g. Marquez),
``OPENLINEAGE_CONFIG`` (a YAML file) or ``OPENLINEAGE__TRANSPORT__*`` variables; ``OPENLINEAGE_DISABLED=true``
turns emission off. With none of them set, events are appended as JSON lines to
``<lake>/_system/lineage/openlineage.jsonl`` (the file transport), so a laptop run keeps its lineage
next to its tables; a lake on an object store, where nothing can be appended to, gets one object per event
under ``<lake>/_system/lineage/events/`` instead (``LakeObjectTransport``). The job namespace is ``OPENLINEAGE_NAMESPACE`` (default ``interaction-lake``).

Runs nest: an Airflow DAG run (job ``<dag_id>``) is the parent of each task run (``<dag_id>.<task_id>``),
which is the parent of the job runs it makes (``bronze.land.counter``, ``silver.build.counter``,
``gold.build``, ``quality.gate.silver`` ...). ``gold.build`` is the parent of one job per mart, ``gold.<mart>``, whose
inputs are the tables the glossary says the mart reads (not every silver table), and of one ``quality.gate.gold.<mart>``
run per gate, whose input carries the gate's verdicts as ``dataQualityAssertions``. Run ids of DAG and task runs are derived from Airflow's
run id and try number, so a retry is a new task run of the same DAG run. Datasets follow OpenLineage's
naming: namespace ``file``, name = the table's absolute path; on S3, namespace ``s3://<bucket>``, name = the key.

Lineage is a side channel: an emission that fails is logged and never fails the job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import traceback
from uuid import UUID
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from interaction_lake import lake, storage
from interaction_lake.storage import location

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/interaction-lake/interaction-lake"
PARENT_ENV = "INTERACTION_LAKE_LINEAGE_PARENT"
DEFAULT_NAMESPACE = "interaction-lake"
_CLIENT_ENV = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED")


def namespace() -> str:
    return os.environ.get("OPENLINEAGE_NAMESPACE") or DEFAULT_NAMESPACE


def events_file(lake_root: Path) -> Path:
    return location(lake_root) / lake.SYSTEM / "lineage" / "openlineage.jsonl"


def _configured_by_environment() -> bool:
    return any(os.environ.get(v) for v in _CLIENT_ENV) or any(k.startswith("OPENLINEAGE__") for k in os.environ)


_CLIENTS: dict[str, object] = {}


def client(lake_root: Path):
    """The OpenLineage client: configured by the environment if it says anything, else the lake's event file."""
    from openlineage.client import OpenLineageClient

    if _configured_by_environment():
        key = "environment:" + json.dumps({k: v for k, v in os.environ.items() if k.startswith("OPENLINEAGE")}, sort_keys=True)
        if key not in _CLIENTS:
            _CLIENTS[key] = OpenLineageClient()
        return _CLIENTS[key]
    path = events_file(lake_root)
    key = f"file:{path}"
    if key not in _CLIENTS:
        from openlineage.client.transport.file import FileConfig, FileTransport

        if storage.is_local(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            transport = FileTransport(FileConfig(log_file_path=str(path), append=True))
        else:
            transport = LakeObjectTransport(path.parent / "events")
        _CLIENTS[key] = OpenLineageClient(transport=transport)
    return _CLIENTS[key]


class LakeObjectTransport:
    """OpenLineage events as one JSON object each, named by event time and a random suffix (so a listing is in time
    order): the file transport's record for a lake on an object store, which cannot append to a file."""

    kind, name, priority = "lake-objects", "lake-objects", 0

    def __init__(self, folder: Path):
        self.folder = folder

    def emit(self, event) -> None:
        import uuid

        from openlineage.client.serde import Serde

        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        (self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.json").write_text(Serde.to_json(event))

    def close(self, timeout: float = -1) -> bool:
        return True


def dataset_name(path: Path | str) -> tuple[str, str]:
    """OpenLineage dataset naming: namespace ``file`` and the absolute path for a local table; ``s3://<bucket>`` and
    the key for a table on S3 (the spec's naming for both)."""
    where = location(path)
    if storage.is_local(where):
        return "file", str(where)
    bucket, _, key = str(where).split("://", 1)[1].partition("/")
    return f"s3://{bucket}", key


def _schema_facet(path: Path, version: int):
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields

    return SchemaDatasetFacet(fields=[
        SchemaDatasetFacetFields(name=f["name"], type=f["type"] if isinstance(f["type"], str) else f["type"]["type"], ordinal_position=i)
        for i, f in enumerate(lake.schema_fields(path, version), start=1)])


def _dataset(kind, path: Path, with_version: bool, more: dict | None = None, **extra):
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet

    ns, name = dataset_name(path)
    facets = {}
    if lake.exists(path):
        try:
            version = lake.version(path)
            facets["schema"] = _schema_facet(path, version)
            if with_version:
                facets["version"] = DatasetVersionDatasetFacet(datasetVersion=str(version))
            facets.update(more or {})
        except Exception as failure:  # a table that cannot be read is named without facets; the job reports why
            log.debug("no facets for %s: %s", path, failure)
    return kind(namespace=ns, name=name, facets=facets, **{k: v for k, v in extra.items() if v})


def assertions_facet(outcome):
    """A data-quality gate's verdicts as OpenLineage's ``dataQualityAssertions`` (one assertion per expectation)."""
    from openlineage.client.generated.data_quality_assertions_dataset import Assertion, DataQualityAssertionsDatasetFacet

    return DataQualityAssertionsDatasetFacet(assertions=[
        Assertion(assertion=kind, success=success, column=column, severity=severity) for kind, column, severity, success in outcome.assertions])


def column_lineage_facet(lake_root: Path, mart: str, columns: list[str]):
    """OpenLineage ``columnLineage`` of a mart, from the glossary: a column comes from the source columns its definition
    quotes (``wait_seconds`` of silver/counter_visit for ``wait_mean_seconds``), through the mart's own columns it quotes
    (``contribution`` = ``net_interest_income`` + ... ), and from a source column of its own name (``segment``). A
    column whose definition names no source column is left out rather than given a made-up origin."""
    from openlineage.client.generated.column_lineage_dataset import ColumnLineageDatasetFacet, Fields, InputField

    from interaction_lake import glossary

    doc = glossary.marts()[mart]
    sources = {path: {f["name"] for f in lake.schema_fields(path)} for path in mart_sources(lake_root, mart) if lake.exists(path)}

    def origins(column: str, seen: frozenset[str]) -> set[tuple[Path, str]]:
        found = {(path, column) for path, names in sources.items() if column in names}
        for name in doc.mentions.get(column, ()):
            if name in doc.columns and name not in seen:
                found |= origins(name, seen | {name})
            found |= {(path, name) for path, names in sources.items() if name in names}
        return found

    fields = {}
    for column in columns:
        inputs = sorted(origins(column, frozenset({column})), key=lambda o: (str(o[0]), o[1]))
        if inputs:
            fields[column] = Fields(inputFields=[InputField(namespace=dataset_name(p)[0], name=dataset_name(p)[1], field=f) for p, f in inputs],
                                    transformationDescription=doc.columns.get(column), transformationType="AGGREGATION")
    return ColumnLineageDatasetFacet(fields=fields)


def mart_facets(lake_root: Path, mart: str) -> dict:
    """The facets a mart's output carries once written: its column lineage."""
    return {"columnLineage": column_lineage_facet(lake_root, mart, [f["name"] for f in lake.schema_fields(lake.table_path(lake_root, "gold", mart))])}


def mart_sources(lake_root: Path, mart: str) -> list[Path]:
    """The tables a mart reads, as its glossary entry names them (``silver/<table>``, ``gold/<mart>``)."""
    import re

    from interaction_lake import glossary

    sources = glossary.marts()[mart].sources
    return [lake.table_path(lake_root, layer, name) for layer, name in dict.fromkeys(re.findall(r"\b(silver|gold)/([a-z_]+)", sources))]


def _version_or_none(path: Path) -> int | None:
    return lake.version(path) if lake.exists(path) else None


def parent_from_environment() -> dict | None:
    text = os.environ.get(PARENT_ENV)
    return json.loads(text) if text else None


def _parent_facet(parent: dict):
    from openlineage.client.generated import parent_run

    root = parent.get("root") or parent
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent["runId"]), job=parent_run.Job(namespace=parent["namespace"], name=parent["name"]),
        root=parent_run.Root(run=parent_run.RootRun(runId=root["runId"]),
                             job=parent_run.RootJob(namespace=root["namespace"], name=root["name"])))


@dataclass
class JobRun:
    """One run of one job: what it read and wrote, emitted as START then COMPLETE or FAIL."""

    lake_root: Path
    name: str
    inputs: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    run_id: str = ""
    parent: dict | None = None
    job_type: str = "JOB"
    integration: str = "SPARK"
    run_facets: dict = field(default_factory=dict)
    input_facets: dict = field(default_factory=dict)  # input path -> {facet name: facet} (a gate's assertions)
    output_facets: dict = field(default_factory=dict)  # output path -> a callable giving {facet name: facet} once written

    def __post_init__(self) -> None:
        from openlineage.client.uuid import generate_new_uuid

        self.run_id = self.run_id or str(generate_new_uuid())
        self._before = {p: _version_or_none(p) for p in self.outputs}

    def written(self) -> list[Path]:
        """The declared output tables this run committed to (they have a Delta version they did not have before)."""
        now = {p: _version_or_none(p) for p in self.outputs}
        return [p for p in self.outputs if now[p] is not None and now[p] != self._before.get(p)]

    def read(self, *paths: Path) -> None:
        self.inputs.extend(p for p in paths if p not in self.inputs)

    def wrote(self, *paths: Path) -> None:
        for p in paths:
            if p not in self.outputs:
                self.outputs.append(p)
                self._before.setdefault(p, -1)  # declared late: count it as written if it exists

    def as_parent(self) -> dict:
        me = {"namespace": namespace(), "name": self.name, "runId": self.run_id}
        return {**me, "root": (self.parent or {}).get("root") or self.parent or me}

    def emit(self, state: str, error: BaseException | None = None) -> None:
        try:
            client(self.lake_root).emit(self.event(state, error))
        except Exception as failure:  # lineage must never fail the pipeline
            first = (str(failure).strip().splitlines() or [type(failure).__name__])[0]  # not a native backtrace
            log.warning("could not emit OpenLineage %s event for %s: %s", state, self.name, first)

    def event(self, state: str, error: BaseException | None = None):
        from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
        from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
        from openlineage.client.generated.job_type_job import JobTypeJobFacet

        facets = dict(self.run_facets)
        if self.parent:
            facets["parent"] = _parent_facet(self.parent)
        if error is not None:
            facets["errorMessage"] = ErrorMessageRunFacet(
                message=f"{type(error).__name__}: {error}", programmingLanguage="PYTHON",
                stackTrace="".join(traceback.format_exception(error))[-8000:])
        done = state != "START"
        return RunEvent(
            eventType=RunState(state), eventTime=dt.datetime.now(dt.timezone.utc).isoformat(), producer=PRODUCER,
            run=Run(runId=self.run_id, facets=facets),
            job=Job(namespace=namespace(), name=self.name,
                    facets={"jobType": JobTypeJobFacet(processingType="BATCH", integration=self.integration, jobType=self.job_type)}),
            inputs=[_dataset(InputDataset, p, with_version=True, inputFacets=self.input_facets.get(p)) for p in self.inputs
                    if location(p).exists()],
            outputs=[_dataset(OutputDataset, p, with_version=True, more=self.output_facets[p]() if p in self.output_facets else None)
                     for p in self.written()] if done else
                    [_dataset(OutputDataset, p, with_version=False) for p in self.outputs],
        )


@contextlib.contextmanager
def job_run(lake_root: Path, name: str, inputs: list[Path] = (), outputs: list[Path] = (), **options) -> Iterator[JobRun]:
    """Emit START now, COMPLETE when the block ends, or FAIL (with the error) if it raises; the parent is
    the enclosing run (an Airflow task, via the environment) unless given."""
    options.setdefault("parent", parent_from_environment())
    run = JobRun(location(lake_root), name, list(inputs), list(outputs), **options)
    run.emit("START")
    try:
        yield run
    except BaseException as error:
        run.emit("FAIL", error)
        raise
    run.emit("COMPLETE")


def parse_event(document: dict):
    """Read an emitted event back into the OpenLineage spec's model (the client's classes generated from
    the spec's JSON Schema): raises if a required field is missing or a value breaks the spec's formats."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.generated import (column_lineage_dataset, data_quality_assertions_dataset, dataset_version_dataset,
                                              error_message_run, job_type_job, parent_run, schema_dataset, tags_run)

    def facet(kind, body: dict):
        body = dict(body)
        producer, schema_url = body.pop("_producer"), body.pop("_schemaURL")
        built = kind(producer=producer, **body)
        if built._schemaURL != schema_url:
            raise ValueError(f"{kind.__name__} must declare _schemaURL {built._schemaURL}, not {schema_url}")
        return built

    def schema(body):
        return facet(schema_dataset.SchemaDatasetFacet, {**body, "fields": [schema_dataset.SchemaDatasetFacetFields(**f)
                                                                             for f in body.get("fields", [])]})

    def parent(body):
        root = body.get("root")
        return facet(parent_run.ParentRunFacet, {
            **body, "run": parent_run.Run(**body["run"]), "job": parent_run.Job(**body["job"]),
            "root": root and parent_run.Root(run=parent_run.RootRun(**root["run"]), job=parent_run.RootJob(**root["job"]))})

    def tags(body):
        return facet(tags_run.TagsRunFacet, {**body, "tags": [tags_run.TagsRunFacetFields(**t) for t in body.get("tags", [])]})

    run_facets = {"parent": parent, "errorMessage": lambda b: facet(error_message_run.ErrorMessageRunFacet, b), "tags": tags}
    job_facets = {"jobType": lambda b: facet(job_type_job.JobTypeJobFacet, b)}
    def columns(body):
        c = column_lineage_dataset
        return facet(c.ColumnLineageDatasetFacet, {**body, "fields": {
            name: c.Fields(**{**f, "inputFields": [c.InputField(**i) for i in f["inputFields"]]}) for name, f in body["fields"].items()}})

    dataset_facets = {"schema": schema, "version": lambda b: facet(dataset_version_dataset.DatasetVersionDatasetFacet, b),
                      "columnLineage": columns}

    def facets(known: dict, given: dict | None) -> dict:
        unknown = set(given or {}) - set(known)
        if unknown:
            raise ValueError(f"facets this producer does not emit: {sorted(unknown)}")
        return {name: known[name](body) for name, body in (given or {}).items()}

    def assertions(body):
        return facet(data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet,
                     {**body, "assertions": [data_quality_assertions_dataset.Assertion(**a) for a in body.get("assertions", [])]})

    def datasets(kind, items):
        out = []
        for d in items or []:
            if d.get("outputFacets"):
                raise ValueError(f"output facets this producer does not emit on {d['name']}")
            extra = {"inputFacets": facets({"dataQualityAssertions": assertions}, d["inputFacets"])} if d.get("inputFacets") else {}
            out.append(kind(namespace=d["namespace"], name=d["name"], facets=facets(dataset_facets, d.get("facets")), **extra))
        return out

    event = RunEvent(
        eventType=RunState(document["eventType"]), eventTime=document["eventTime"], producer=document["producer"],
        run=Run(runId=document["run"]["runId"], facets=facets(run_facets, document["run"].get("facets"))),
        job=Job(namespace=document["job"]["namespace"], name=document["job"]["name"], facets=facets(job_facets, document["job"].get("facets"))),
        inputs=datasets(InputDataset, document.get("inputs")), outputs=datasets(OutputDataset, document.get("outputs")))
    if document["schemaURL"] != event.schemaURL:
        raise ValueError(f"a RunEvent must declare schemaURL {event.schemaURL}, not {document['schemaURL']}")
    UUID(document["run"]["runId"])
    return event
