"""The shipped monthly account extract mapping (issue 17 sections 1, 4 and 5): its committed sample lands without
code, accounts stay accounts (two of one customer and product are two holdings), booked interest and fees are what
the marts count, amounts are exact decimals converted to the reporting currency, and account numbers never reach
silver. Every figure of ``customer_value`` is computed independently from the native files with pandas and Python's
decimals, and the marts must equal it exactly.
"""

from __future__ import annotations

import dataclasses
import shutil
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from deltalake import DeltaTable

from interaction_lake.generator.feeds import SAMPLES
from interaction_lake.marts_config import MartsConfig
from interaction_lake.privacy import pseudonym_py, secret_for
from jobs.bronze.land import land_source
from jobs.gold.build import build_gold, mart_table
from jobs.silver.build import build_silver

RATES = {"EUR": Decimal(1), "USD": Decimal("0.9")}
FAMILY = {"CURRENT": "deposit", "SAVINGS": "deposit", "LOAN": "loan", "CARD": "card", "INVEST": "investment"}
CENT = Decimal("0.0001")


def expected_values(paths) -> dict:
    """(month, customer_no) -> the money of customer_value, from the native files alone."""
    native = pd.concat([pd.read_csv(p, sep=";", dtype=str, keep_default_na=False) for p in paths], ignore_index=True)
    native = native[native["status"] != "TEST"]
    figures: dict = {}
    for row in native.itertuples():
        rate = RATES[row.currency]
        amount = {name: Decimal(getattr(row, name).replace(",", ".")) * rate for name in ("balance_eom", "interest_booked", "fees_booked")}
        key = (pd.Timestamp(row.month_end).date().replace(day=1), row.customer_no)
        sums = figures.setdefault(key, {"deposit_balance": 0, "loan_balance": 0, "investment_balance": 0, "total_balance": 0,
                                        "net_interest_income": 0, "fee_income": 0, "product_count": 0})
        family = FAMILY[row.product_type]
        if family in ("deposit", "loan", "investment"):
            sums[f"{family}_balance"] += amount["balance_eom"]
        sums["total_balance"] += amount["balance_eom"]
        sums["net_interest_income"] += amount["interest_booked"]
        sums["fee_income"] += amount["fees_booked"]
        sums["product_count"] += 1
    for sums in figures.values():
        for name in sums:
            if name != "product_count":
                sums[name] = Decimal(sums[name]).quantize(CENT, ROUND_HALF_UP)
        sums["aum"] = sums["deposit_balance"] + sums["investment_balance"]
        sums["contribution"] = sums["net_interest_income"] + sums["fee_income"]  # no interactions: no cost to serve
    return figures


def test_account_extract_lands_by_mapping_and_customer_value_equals_an_independent_computation(spark, settings, monkeypatch):
    monkeypatch.setenv("INTERACTION_LAKE_BUSINESS_TIMEZONE", "Europe/Madrid")
    bank = dataclasses.replace(settings, business_timezone="Europe/Madrid")
    folder = bank.landing_root / "accounts"
    shutil.copytree(SAMPLES / "accounts", folder)
    report = land_source(spark, bank, "holdings", "r1")
    assert report.records_excluded == 1 and report.records_quarantined == 0  # the TEST account, excluded on purpose
    build_silver(spark, bank, "r1", ("holdings",))
    config = dataclasses.replace(MartsConfig.load(), fx_rates={"USD": 0.9})
    build_gold(spark, bank, "g1", config=config)

    expected = expected_values(sorted(folder.glob("*.csv")))
    holdings = DeltaTable(str(bank.lake_root / "silver" / "product_holding")).to_pyarrow_table().to_pylist()
    assert len(holdings) == sum(s["product_count"] for s in expected.values())  # two accounts of one product stay two
    assert all(len(h["account_key"]) == 64 and h["holding_id"] == h["account_key"] for h in holdings)
    numbers = {line.split(";")[1] for p in folder.glob("*.csv") for line in p.read_text().splitlines()[1:]}
    for path in (bank.lake_root / "silver").rglob("*.parquet"):
        assert not any(number.encode() in path.read_bytes() for number in numbers), f"an account number in {path}"

    values = DeltaTable(str(mart_table(bank.lake_root, "customer_value"))).to_pyarrow_table().to_pylist()
    secret = secret_for(bank.lake_root)  # the customer numbers, keyed as silver keys them
    by_key = {(month, pseudonym_py(customer, secret)): sums for (month, customer), sums in expected.items()}
    got = {(r["month"], r["customer_key"]): r for r in values}
    assert set(got) == set(by_key)
    for key, sums in by_key.items():
        assert got[key]["currency"] == "EUR" and got[key]["inputs_complete"] is True
        assert {name: got[key][name] for name in sums} == sums, key


def test_a_refused_holding_marks_its_customer_month_incomplete_instead_of_looking_empty(spark, settings):
    folder = settings.landing_root / "accounts"
    shutil.copytree(SAMPLES / "accounts", folder)
    march = folder / "accounts_202603.csv"
    lines = march.read_text().splitlines()
    owner = lines[1].split(";")[2]
    alone = "4444444"  # a customer whose only account is refused: present, and marked, not absent
    bad = [f"2026-03-31;ES1111111111;{owner};SAV-PLUS;SAVINGS;EURO;1000,00;1000,00;1,00;0,00;OPEN",  # not an ISO 4217 code
           f"2026-03-31;ES2222222222;{alone};SAV-PLUS;SAVINGS;EUR;1000,00;1000,00;1,00;-5,00;OPEN"]  # negative fees
    march.write_text("\n".join([*lines, *bad]) + "\n")
    report = land_source(spark, settings, "holdings", "r1")
    assert report.quarantine_reasons["invalid_value"] == 2
    build_silver(spark, settings, "r1", ("holdings",))
    build_gold(spark, settings, "g1", config=dataclasses.replace(MartsConfig.load(), fx_rates={"USD": 0.9}))

    secret = secret_for(settings.lake_root)
    values = {(r["month"].month, r["customer_key"]): r
              for r in DeltaTable(str(mart_table(settings.lake_root, "customer_value"))).to_pyarrow_table().to_pylist()}
    owner_key, alone_key = pseudonym_py(owner, secret), pseudonym_py(alone, secret)
    assert (values[(3, owner_key)]["inputs_complete"], values[(3, owner_key)]["quarantined_inputs"]) == (False, 1)
    assert values[(2, owner_key)]["inputs_complete"] is True  # February's snapshot was whole
    assert (values[(3, alone_key)]["inputs_complete"], values[(3, alone_key)]["product_count"]) == (False, 0)
    assert sum(not r["inputs_complete"] for r in values.values()) == 2
