"""Delta's Spark jars, resolved once at install time by Maven coordinates and checked by SHA-256.

``jars.lock`` (repository root) lists each jar the Spark engine needs as ``group:artifact:version sha256``: the
delta-spark release built for the pinned pyspark's Spark line (the Python ``delta-spark`` wheel is not used at run
time; docs/adr/0001-engine.md says why the jar is newer). ``make jars`` (part of ``make test``) runs
``python -m interaction_lake.jars``: each jar missing from ``.cache/jars/`` is resolved with Maven, the ordinary
client (one ``mvn dependency:copy-dependencies`` over the missing ones), and every jar's checksum is verified, so later runs need no network and a
tampered or wrong jar stops the install. A classic Spark session takes its jars from there by default;
``INTERACTION_LAKE_DELTA_JARS_DIR`` points elsewhere (an air-gapped bank's reviewed copy).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "jars.lock"
CACHE = REPO / ".cache" / "jars"


class JarError(RuntimeError):
    """A jar could not be resolved, or its checksum is not the one pinned."""


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


def pinned(lock: Path = LOCK) -> list[Jar]:
    jars = []
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            coordinates, sha256 = line.split()
            jars.append(Jar(*coordinates.split(":"), sha256))
    return jars


def digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fetch(cache: Path = CACHE, lock: Path = LOCK) -> list[Path]:
    """Resolve the missing jars into ``cache`` and verify every one; return their paths. A jar the lock no longer
    names is removed: two Delta releases on one classpath would be a class-loading lottery."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = {jar.file_name for jar in pinned(lock)}
    for stale in cache.glob("*.jar"):
        if stale.name not in wanted:
            stale.unlink()
    missing = [jar for jar in pinned(lock) if not (cache / jar.file_name).is_file()]
    if missing:
        _resolve(missing, cache)
    paths = []
    for jar in pinned(lock):
        path = cache / jar.file_name
        if not path.is_file():
            raise JarError(f"Maven did not deliver {jar.coordinates} into {cache}")
        found = digest(path)
        if found != jar.sha256:
            path.unlink()
            raise JarError(f"{path.name}: SHA-256 {found} is not the pinned {jar.sha256} (jars.lock); the file was removed")
        paths.append(path)
    return paths


def _resolve(jars: list[Jar], cache: Path) -> None:
    """Copy ``jars`` (exactly those: no transitive dependency, the lock names every jar) into ``cache`` with one Maven
    run, so a first install costs one resolution, not one JVM start per jar."""
    if not shutil.which("mvn"):
        raise JarError(f"{jars[0].file_name} is not in {cache} and Maven (mvn) is not installed to resolve {jars[0].coordinates}")
    dependencies = "".join(
        f"<dependency><groupId>{j.group}</groupId><artifactId>{j.artifact}</artifactId><version>{j.version}</version>"
        "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>" for j in jars)
    with tempfile.TemporaryDirectory() as work:
        pom = Path(work) / "pom.xml"
        pom.write_text('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
                       "<groupId>interaction-lake</groupId><artifactId>jars</artifactId><version>1</version>"
                       f"<dependencies>{dependencies}</dependencies></project>")
        done = subprocess.run(["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={cache}",
                               "-DincludeScope=runtime"], capture_output=True, text=True)
    if done.returncode:
        raise JarError(f"Maven could not resolve {', '.join(j.coordinates for j in jars)[:300]}: {(done.stdout + done.stderr).strip()[-500:]}")


def cached_jars() -> list[Path] | None:
    """The pinned jars in ``.cache/jars``, exactly (nothing else the folder may hold), or None when any is missing
    (checked by name; ``make jars`` checked the bytes)."""
    if not LOCK.is_file():
        return None
    jars = [CACHE / jar.file_name for jar in pinned()]
    return jars if all(jar.is_file() for jar in jars) else None


if __name__ == "__main__":
    try:
        for fetched in fetch():
            print(f"{fetched.relative_to(REPO)}  ok")
    except JarError as error:
        print(f"interaction-lake jars: error: {error}", file=sys.stderr)
        sys.exit(1)
