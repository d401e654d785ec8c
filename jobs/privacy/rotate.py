"""Change a lake's pseudonymisation secret: silver and gold rebuilt under the new one, resumably.

1. the current secret is checked against the lake's fingerprint, and the new one's fingerprint is written to
   ``_system/pseudonym.rotating`` (from then on every job refuses any secret but the new one);
2. silver is rebuilt by replaying bronze with the new secret, then gold from it (``--full``, gated);
3. the new fingerprint replaces the old; a lake whose key lived in ``_system/pseudonym.key`` gets the new
   key there; the rotation file is removed.

A rotation that stops anywhere (a failed gold gate, a kill) is finished by running it again with the same new
secret. Bronze holds no pseudonyms, so nothing else changes; ``_system/erasures`` keeps the old pseudonyms of
customers erased before (their rows are gone from every layer, so no new pseudonym of them exists).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from pyspark.sql import SparkSession

from interaction_lake import privacy
from interaction_lake.config import ConfigError, Settings


@dataclass(frozen=True)
class Rotation:
    old_fingerprint: str | None
    new_fingerprint: str
    resumed: bool
    key_file_written: bool


@contextlib.contextmanager
def _secret_in_env(secret: str):
    before = os.environ.get(privacy.SECRET_ENV)
    os.environ[privacy.SECRET_ENV] = secret
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(privacy.SECRET_ENV, None)
        else:
            os.environ[privacy.SECRET_ENV] = before


def rotate_secret(spark: SparkSession, settings: Settings, run_id: str) -> Rotation:
    from jobs.gold.build import NothingToBuild, build_gold
    from jobs.silver.build import build_silver

    root = settings.lake_root
    new = os.environ.get(privacy.NEW_SECRET_ENV, "")
    if len(new) < 16:
        raise ConfigError(f"{privacy.NEW_SECRET_ENV} must hold the new secret (16 characters at least)")
    target = privacy.fingerprint(new.encode())
    rotating = privacy._read(privacy.rotation_file(root))
    old = privacy._read(privacy.fingerprint_file(root))
    if rotating and rotating != target:
        raise ConfigError(f"a rotation to another secret is under way (fingerprint {rotating[:8]}...): finish it with that secret")
    uses_key_file = not os.environ.get(privacy.SECRET_ENV) and privacy._read(privacy.key_file(root)) is not None
    if not rotating:
        if target == old:
            raise ConfigError(f"{privacy.NEW_SECRET_ENV} is the secret this lake already uses")
        privacy.secret_for(root)  # the current secret must be the lake's own
        privacy._write_private(privacy.rotation_file(root), target)
    with _secret_in_env(new):
        build_silver(spark, settings, run_id, full=True)
        try:
            build_gold(spark, settings, run_id, full=True)
        except NothingToBuild:
            pass  # no activity yet: no marts to rebuild
    if uses_key_file:
        privacy._write_private(privacy.key_file(root), new)
    privacy._write_private(privacy.fingerprint_file(root), target)
    privacy.rotation_file(root).unlink()
    return Rotation(old, target, bool(rotating), uses_key_file)
