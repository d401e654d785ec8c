"""Pseudonymisation and PII scrubbing, as Spark column expressions (so they run on any engine).

``pseudonym`` is HMAC-SHA256(secret, customer_ref) in hex, built from Spark's sha2/unhex/concat so
that it runs inside the engine and equals Python's ``hmac`` (tested). Without the secret the
pseudonym cannot be reversed or recomputed from a customer number; rotating or destroying the secret
breaks every link at once (crypto-shredding).

``identifying_columns`` names the columns whose values must never be copied into a Delta log as
file statistics (``lake.creation_options``), so that erasing a customer's rows erases them everywhere.

The secret comes from ``INTERACTION_LAKE_PSEUDONYM_SECRET``. If it is unset, a random secret is
created once per lake at ``<lake>/_system/pseudonym.key`` (mode 0600) so a laptop demo works; a
deployment sets the variable from its secret store. The secret is never in the repository.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

SECRET_ENV = "INTERACTION_LAKE_PSEUDONYM_SECRET"
_BLOCK = 64  # SHA-256 block size in bytes
# Phone numbers, e-mail addresses and IBAN-like account numbers in free text.
SCRUB_PATTERNS = (
    (r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "[email]"),
    (r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", "[account]"),
    (r"\+?\d[\d ()-]{6,}\d", "[phone]"),
)


# Columns that hold who a person is or what they said: the customer's reference and pseudonym, the raw and
# checked record (names, phone numbers), and texts that quote values (refusal details, gate observations).
IDENTIFYING_COLUMNS = frozenset({"customer_ref", "customer_key", "raw_line", "record_json", "detail", "observed_value"})


def identifying_columns() -> frozenset[str]:
    """The columns above plus every contract field marked ``x-pii`` (dropped or scrubbed before silver)."""
    from interaction_lake import contracts

    marked = {name for source in contracts.sources() for contract in contracts.contracts(source).values() for name in contract.pii_fields}
    return IDENTIFYING_COLUMNS | marked


def secret_for(lake_root: Path) -> bytes:
    value = os.environ.get(SECRET_ENV)
    if value:
        return value.encode()
    key_file = Path(lake_root) / "_system" / "pseudonym.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return key_file.read_text().strip().encode()


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


def scrub(column: Column) -> Column:
    for pattern, token in SCRUB_PATTERNS:
        column = F.regexp_replace(column, pattern, token)
    return column
