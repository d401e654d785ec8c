"""Where the lake's bytes live: a local (or shared POSIX) folder or an S3-compatible object store, behind one module.

Every other module addresses the lake through :func:`location`, which gives a ``pathlib``-shaped object for both:
a local path is a ``pathlib.Path`` (``upath.PosixUPath``), an ``s3://bucket/prefix`` URI a ``upath`` S3 path
(fsspec's ``s3fs`` underneath). ``str()`` of either is what the engines and delta-rs open: a file system path or
the ``s3://`` URI. The few operations a path object cannot express the same way on both -- removing a tree,
writing a file whole (atomically), creating a file only if absent (the lease locks' primitive) -- are here.

Credentials and endpoint come from the standard AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` for MinIO or another S3-compatible server, ``AWS_ALLOW_HTTP=true`` for a
plain-HTTP one): the embedded engine, delta-rs and s3fs all read them, so one set of variables configures every
reader and writer (README, "The lake on object storage"). Apache Spark reads the same ``s3://`` URIs through
hadoop-aws's S3A (``spark_conf``, pinned in ``jars.lock``), so a table's address is the same on both engines.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

OBJECT_STORE_SCHEMES = ("s3", "s3a")
LOCAL_PROTOCOLS = ("", "file", "local")


def location(value: str | os.PathLike) -> Path:
    """The lake path or URI as a path object: absolute for a local path, an S3 path for ``s3://`` (and ``s3a://``)."""
    if getattr(value, "protocol", "") not in LOCAL_PROTOCOLS:  # already an object-store path
        return value
    text = os.fspath(value) if not isinstance(value, str) else value
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme in OBJECT_STORE_SCHEMES:
        from upath import UPath  # imported only for a lake on an object store (~0.13 s of every command's start-up)

        # No listing cache: other processes (the engine, another run) write the same prefixes, and the Delta log's
        # newest commit must be seen the moment it exists.
        return UPath("s3://" + text.split("://", 1)[1].rstrip("/"), use_listings_cache=False)
    if scheme and scheme != "file":
        raise ValueError(f"{text!r}: the lake must be a local path or an s3:// URI (an S3-compatible object store)")
    return Path(text.removeprefix("file://")).absolute()


def is_local(path: str | os.PathLike) -> bool:
    """Whether ``path`` is on a POSIX file system (``flock``, rename and permissions exist there)."""
    protocol = getattr(path, "protocol", None)  # a upath path says; a pathlib.Path or a string does not
    if protocol is not None:
        return protocol in LOCAL_PROTOCOLS
    return "://" not in str(path) or str(path).startswith("file://")


def spark_conf(env: dict[str, str] | None = None) -> dict[str, str]:
    """Apache Spark's settings for the lake on S3: ``s3://`` (and ``s3a://``) served by S3A, configured from the same
    AWS variables (an endpoint means an S3-compatible server: path-style addressing, plain HTTP if its URL says so).
    Credentials come through S3A's default chain, which reads ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` and
    instance roles. Delta's S3 log store is single-driver: see README, "The lake on object storage", for concurrency."""
    env = os.environ if env is None else env
    conf = {"spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "spark.hadoop.fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A"}
    if env.get("AWS_ENDPOINT_URL"):
        conf.update({"spark.hadoop.fs.s3a.endpoint": env["AWS_ENDPOINT_URL"], "spark.hadoop.fs.s3a.path.style.access": "true",
                     "spark.hadoop.fs.s3a.connection.ssl.enabled": str(env["AWS_ENDPOINT_URL"].startswith("https")).lower()})
    if env.get("AWS_REGION"):
        conf["spark.hadoop.fs.s3a.endpoint.region"] = env["AWS_REGION"]
    return conf


def names(folder: Path) -> list[str]:
    """The names of the entries directly under ``folder``; none if it does not exist (an object store has no empty
    folders: a prefix with nothing under it is simply absent)."""
    if is_local(folder):
        try:
            return os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
    try:
        return [entry.rstrip("/").rsplit("/", 1)[-1] for entry in folder.fs.ls(folder.path, detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def remove_tree(path: Path) -> None:
    """Delete ``path`` and everything under it; nothing if it is absent."""
    if is_local(path):
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.fs.rm(path.path, recursive=True)


def write_whole(path: Path, text: str, private: bool = False) -> None:
    """Write ``text`` so a reader sees the old or the new content, never a part: a rename on disk (``private``: readable
    by the owner only), one PUT on an object store (whose access the bucket's policy decides)."""
    if not is_local(path):
        path.write_text(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` only if nothing is there: true if this call created it. Atomic on both stores
    (a hard link on disk; a conditional PUT, ``If-None-Match: *``, on S3 -- AWS S3, MinIO and moto honour it)."""
    if is_local(path):  # written aside, then linked into place: the link fails if the name exists, and whoever reads
        path.parent.mkdir(parents=True, exist_ok=True)  # the file sees all of its content, never a part
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}")
        temporary.write_bytes(data)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        finally:
            temporary.unlink()
        return True
    try:
        path.fs.pipe_file(path.path, data, mode="create")
    except FileExistsError:
        return False
    return True  # no listing cache to refresh: location() turns s3fs' off


def adopt(source: Path, destination: Path) -> None:
    """Make the file ``source`` also be ``destination`` without its bytes passing through this process: a hard link on
    disk (a copy where the two are on different file systems), a server-side copy on an object store. Fails if
    ``destination`` exists."""
    if is_local(destination):
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, destination)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            with open(source, "rb") as data, open(destination, "xb") as copy:
                shutil.copyfileobj(data, copy)
        return
    if destination.exists():
        raise FileExistsError(str(destination))
    destination.fs.copy(source.path, destination.path)


def upload_tree(local: Path, target: Path, files: list[Path]) -> None:
    """Copy ``files``, which are under the local folder ``local``, to the same places under ``target`` (a lake location)."""
    for file in files:
        destination = target.joinpath(*file.relative_to(local).parts)
        if is_local(destination):
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, destination)
        else:
            destination.fs.put_file(str(file), destination.path)
