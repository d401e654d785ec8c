"""The lake remembers its pseudonym secret (issue 16, section 9): another or a missing secret is refused in one
line, before anything is written; rotate-key rebuilds silver and gold under a new one."""

from __future__ import annotations

import datetime as dt

import pytest
from deltalake import DeltaTable

from interaction_lake import privacy
from interaction_lake.cli import main
from interaction_lake.generator import generate

OLD, NEW = "old-secret-of-this-lake-0001", "new-secret-of-this-lake-0002"


@pytest.fixture
def cli(monkeypatch, capsys):
    """``interaction-lake`` in this process (the engine is shared), with these settings: (exit code, stderr)."""
    def run(settings, *args: str, **env: str) -> tuple[int, str]:
        with monkeypatch.context() as patch:
            patch.delenv(privacy.SECRET_ENV, raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            capsys.readouterr()
            code = main([*args, "--lake", str(settings.lake_root), *(["--landing", str(settings.landing_root)] if args[0] != "build-marts" else [])])
            return code, capsys.readouterr().err
    return run


def keys(settings, table: str) -> set[str]:
    return set(DeltaTable(str(settings.lake_root / table)).to_pyarrow_table(columns=["customer_key"]).column(0).to_pylist()) - {None}


def test_another_secret_is_refused_and_rotation_rebuilds_silver_and_gold(settings, cli):
    generate(settings.landing_root, customers=200, days=3, seed=7, start=dt.date(2026, 11, 2), fault_rate=0.0)
    assert cli(settings, "land", INTERACTION_LAKE_PSEUDONYM_SECRET=OLD)[0] == 0
    assert cli(settings, "build-silver", INTERACTION_LAKE_PSEUDONYM_SECRET=OLD)[0] == 0
    assert cli(settings, "build-marts", INTERACTION_LAKE_PSEUDONYM_SECRET=OLD)[0] == 0
    fingerprint = (settings.lake_root / "_system" / "pseudonym.fingerprint").read_text()
    assert OLD not in fingerprint and privacy.fingerprint(OLD.encode()) in fingerprint
    before = keys(settings, "silver/customer_dim")

    for wrong in ({"INTERACTION_LAKE_PSEUDONYM_SECRET": "some-other-secret-xx"}, {}):  # another secret; none (no key file)
        for command in (["build-silver", "--full"], ["erase", "--customer-ref", "C00000001", "--request-id", "R1"]):
            code, err = cli(settings, *command, **wrong)
            assert code == 2 and len(err.strip().splitlines()) == 1 and "secret" in err, err[-2000:]
    assert keys(settings, "silver/customer_dim") == before  # nothing was rebuilt or erased under the wrong secret

    code, err = cli(settings, "rotate-key", INTERACTION_LAKE_PSEUDONYM_SECRET=OLD, INTERACTION_LAKE_NEW_PSEUDONYM_SECRET=NEW)
    assert code == 0, err[-3000:]
    after = keys(settings, "silver/customer_dim")
    refs = {r["customer_ref"] for r in DeltaTable(str(settings.lake_root / "bronze/holdings_events")).to_pyarrow_table(columns=["customer_ref"]).to_pylist()} - {None}
    assert after == {privacy.pseudonym_py(ref, NEW.encode()) for ref in refs} and not after & before
    assert keys(settings, "gold/customer_value") <= after
    assert cli(settings, "build-silver", INTERACTION_LAKE_PSEUDONYM_SECRET=OLD)[0] == 2
    assert cli(settings, "build-silver", INTERACTION_LAKE_PSEUDONYM_SECRET=NEW)[0] == 0


def test_a_lake_without_a_secret_gets_a_key_and_says_so(settings, cli, caplog):
    generate(settings.landing_root, customers=10, days=1, seed=9, start=dt.date(2026, 11, 2), fault_rate=0.0)
    assert cli(settings, "land", "--source", "holdings", "--no-gate")[0] == 0
    assert cli(settings, "build-silver", "--source", "holdings", "--no-gate")[0] == 0
    assert sum("created a random pseudonym key" in r.message for r in caplog.records) == 1
    assert cli(settings, "build-silver", "--source", "holdings", "--no-gate")[0] == 0
    assert sum("created a random pseudonym key" in r.message for r in caplog.records) == 1  # once, not on every run
    (settings.lake_root / "_system" / "pseudonym.key").unlink()  # the key is lost: refuse, never make a new one
    code, err = cli(settings, "build-silver", "--source", "holdings", "--full")
    assert code == 2 and "is gone" in err
