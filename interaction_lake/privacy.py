"""Pseudonymisation, as Spark column expressions (so it runs on any engine), and the lake's secret.

Free text is not scrubbed but kept out of silver altogether (``x-pii: free-text``, docs/privacy.md): no
pattern list finds every name, phone or account number a customer can write.

``pseudonym`` is HMAC-SHA256(secret, customer_ref) in hex, built from Spark's sha2/unhex/concat so
that it runs inside the engine and equals Python's ``hmac`` (tested). Without the secret the
pseudonym cannot be reversed or recomputed from a customer number; rotating or destroying the secret
breaks every link at once (crypto-shredding).

``identifying_columns`` names the columns whose values must never be copied into a Delta log as
file statistics (``lake.creation_options``), so that erasing a customer's rows erases them everywhere.

The secret comes from ``INTERACTION_LAKE_PSEUDONYM_SECRET``. If it is unset, a random secret is
created once per lake at ``<lake>/_system/pseudonym.key`` (mode 0600) so a laptop demo works, and
a warning says so; a deployment sets the variable from its secret store. The secret is never in the
repository.

A lake remembers which secret made its pseudonyms: ``<lake>/_system/pseudonym.fingerprint`` holds an
HMAC of a fixed text under the secret (it cannot give the secret back). A job given another secret, or
none where the lake had one, stops with a one-line error instead of splitting every customer into two
keys (or erasing from bronze while silver keeps the customer). ``rotate_secret`` changes the secret
and rebuilds silver and gold under the new one (``interaction-lake rotate-key``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

from interaction_lake import storage
from interaction_lake.config import ConfigError
from interaction_lake.storage import location

log = logging.getLogger(__name__)

SECRET_ENV = "INTERACTION_LAKE_PSEUDONYM_SECRET"
_BLOCK = 64  # SHA-256 block size in bytes


# Columns that hold who a person is or what they said: the customer's reference and pseudonym, the raw and
# checked record (names, phone numbers), and texts that quote values (refusal details, gate observations).
IDENTIFYING_COLUMNS = frozenset({"customer_ref", "customer_key", "raw_line", "record_json", "detail", "observed_value"})


# Landing paths are chosen by the bank's exports, and some name a customer (a statement per customer): no file
# statistics of them either. They are lineage, not personal data, so an erasure does not rewrite them (docs/privacy.md).
PATH_COLUMNS = frozenset({"_source_file", "file_path", "source_file"})


def identifying_columns() -> frozenset[str]:
    """The columns above plus every contract field marked ``x-pii`` (none of them reaches silver)."""
    from interaction_lake import contracts

    marked = {name for source in contracts.sources() for contract in contracts.contracts(source).values() for name in contract.pii_fields}
    return IDENTIFYING_COLUMNS | marked


class SecretMismatch(ConfigError):
    """The secret given is not the one this lake's pseudonyms were made with (or is missing)."""


def key_file(lake_root: Path) -> Path:
    return location(lake_root) / "_system" / "pseudonym.key"


def fingerprint_file(lake_root: Path) -> Path:
    return location(lake_root) / "_system" / "pseudonym.fingerprint"


def rotation_file(lake_root: Path) -> Path:
    """Present while a key rotation is under way: the fingerprint of the secret being rotated to."""
    return location(lake_root) / "_system" / "pseudonym.rotating"


def fingerprint(secret: bytes) -> str:
    """Names a secret without revealing it: an HMAC of a fixed text under it."""
    return hmac.new(secret, b"interaction-lake pseudonym secret fingerprint v1", hashlib.sha256).hexdigest()[:32]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _write_private(path: Path, text: str) -> None:
    storage.write_whole(path, text + "\n", private=True)


def secret_for(lake_root: Path) -> bytes:
    """The lake's pseudonymisation secret, checked against the fingerprint the lake recorded."""
    value = os.environ.get(SECRET_ENV)
    recorded = _read(fingerprint_file(lake_root))
    rotating = _read(rotation_file(lake_root))
    if value:
        secret = value.encode()
    elif _read(key_file(lake_root)):
        secret = _read(key_file(lake_root)).encode()
    elif recorded:
        raise SecretMismatch(f"{SECRET_ENV} is not set and {key_file(lake_root)} is gone, but this lake's pseudonyms were made "
                             f"with a secret (fingerprint in {fingerprint_file(lake_root)}): set it; a new one would split every customer in two")
    else:
        secret = secrets.token_hex(32).encode()
        _write_private(key_file(lake_root), secret.decode())
        log.warning("%s is not set: created a random pseudonym key for this lake at %s (fine for a demo; a deployment "
                    "sets the variable from its secret store)", SECRET_ENV, key_file(lake_root))
    given = fingerprint(secret)
    if rotating:
        if given != rotating:
            raise SecretMismatch(f"a key rotation of this lake is under way: finish it with 'interaction-lake rotate-key' "
                                 f"and the new secret in {NEW_SECRET_ENV}")
        return secret
    if recorded is None:
        _write_private(fingerprint_file(lake_root), given)
    elif recorded != given:
        raise SecretMismatch(f"the pseudonym secret given ({SECRET_ENV} or {key_file(lake_root).name}) is not the one this lake "
                             f"was built with (fingerprint {recorded[:8]}..., given {given[:8]}...): set the lake's own secret, "
                             "or change it with 'interaction-lake rotate-key'")
    return secret


NEW_SECRET_ENV = "INTERACTION_LAKE_NEW_PSEUDONYM_SECRET"


def pseudonym(column: Column, secret: bytes) -> Column:
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    inner_pad = bytes(b ^ 0x36 for b in key).hex()
    outer_pad = bytes(b ^ 0x5C for b in key).hex()
    inner = F.sha2(F.concat(F.unhex(F.lit(inner_pad)), F.encode(column, "UTF-8")), 256)
    return F.when(column.isNotNull(), F.sha2(F.concat(F.unhex(F.lit(outer_pad)), F.unhex(inner)), 256))


def pseudonym_py(value: str, secret: bytes) -> str:
    """The same pseudonym computed in Python (erasure requests, audit look-ups, tests)."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()

