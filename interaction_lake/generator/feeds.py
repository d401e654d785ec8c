"""Write the committed samples of the shipped feed mappings (``feeds/samples/``): small native exports of the
shapes every bank has, deterministic, with the awkward cases a real export holds.

* ``acd/``: an automatic call distributor's call-detail export (``feeds/acd_call_detail.yaml``), tab-separated,
  local clock times, five days around the spring DST change of Europe/Madrid (2026-03-29): calls between local
  midnight and 02:00 (the previous day in UTC), calls that cross midnight and the DST jump, unidentified
  callers (``0``), sentinels (``00:00:00``, ``NO_SERVER``), phantom calls, and two bad records (an impossible
  clock time, a priority the mapping does not know).
* ``accounts/``: a monthly account extract (``feeds/monthly_accounts.yaml``), semicolon-separated with decimal
  commas: one row per account and month with the owner, product, currency, month-end and average balance, and
  the interest and fees actually booked; two accounts of one customer with the same product; a small balance
  whose booked interest is large against it.

Run ``python -m interaction_lake.generator.feeds`` to rewrite them; a test checks the committed files are
exactly what this writes.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "feeds" / "samples"
ACD_COLUMNS = ("vru_line", "call_id", "customer_id", "priority", "type", "date", "vru_entry", "vru_exit", "vru_time",
               "q_start", "q_exit", "q_time", "outcome", "ser_start", "ser_exit", "ser_time", "server")
ACD_DAYS = [dt.date(2026, 3, 27) + dt.timedelta(days=i) for i in range(5)]
AGENTS = ("MICHAL", "DORIT", "AVI", "YITZ", "SHARON", "ANAT")
QUEUES = ("PS", "NW", "NE", "IN")
NONE_TIME = "00:00:00"


def _wall(seconds: int) -> str:
    seconds %= 86400
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


DST_JUMP = (dt.date(2026, 3, 29), 2 * 3600)  # Europe/Madrid: at 02:00 the clocks show 03:00


def _call(rng: random.Random, call_id: int, day: dt.date, start: int, customers: list[str], answered: bool = False) -> list[str]:
    """One call starting at local clock second ``start``, as the ACD writes it: clock times wrap past midnight,
    and jump an hour forward when the call spans the spring DST change."""
    jump = DST_JUMP[1] if day == DST_JUMP[0] else None

    def _clock(elapsed: int) -> str:  # the wall clock ``elapsed - start`` seconds into the call
        return _wall(elapsed + (3600 if jump is not None and start < jump <= elapsed else 0))

    vru = rng.randint(3, 20)
    queued = rng.random() < 0.85 or answered
    row = {"vru_line": f"AA{rng.randint(1, 6):04d}", "call_id": str(call_id), "customer_id": rng.choice(customers),
           "priority": str(rng.choice((0, 1, 1, 2))), "type": rng.choice(QUEUES), "date": day.strftime("%y%m%d"),
           "vru_entry": _clock(start), "vru_exit": _clock(start + vru), "vru_time": str(vru)}
    if not queued:
        return [*row.values(), NONE_TIME, NONE_TIME, "0", "HANG", NONE_TIME, NONE_TIME, "0", "NO_SERVER"]
    q_start = start + vru + rng.randint(0, 1)
    wait, patience = int(rng.expovariate(1 / 35)), int(rng.expovariate(1 / 120))
    if wait <= patience or answered:
        talk = int(rng.expovariate(1 / 200)) + 10 + (900 if answered else 0)
        q_exit = q_start + wait
        return [*row.values(), _clock(q_start), _clock(q_exit), str(wait), "AGENT", _clock(q_exit), _clock(q_exit + talk), str(talk),
                rng.choice(AGENTS)]
    return [*row.values(), _clock(q_start), _clock(q_start + patience), str(patience), "HANG", NONE_TIME, NONE_TIME, "0", "NO_SERVER"]


def acd_rows(seed: int = 17) -> list[list[str]]:
    rng = random.Random(seed)
    customers = ["0"] * 6 + [str(rng.randint(1_000_000, 9_999_999)) for _ in range(40)]
    rows, call_id = [], 30001
    for day in ACD_DAYS:
        # the day's calls, busier in office hours; a few between local midnight and 02:00 (the previous day in UTC)
        starts = sorted([rng.randint(8 * 3600, 19 * 3600) for _ in range(60)] + [rng.randint(0, 2 * 3600 - 1) for _ in range(4)])
        long_calls = [86400 - rng.randint(200, 600)]  # a late call answered across midnight
        if day == DST_JUMP[0]:
            long_calls.append(DST_JUMP[1] - 30)  # 01:59:30 on the night the clocks jump from 02:00 to 03:00
        for start in sorted([*starts, *long_calls]):
            rows.append(_call(rng, call_id, day, start, customers, answered=start in long_calls))
            call_id += 1
    # what a real export holds beside the calls
    rows.insert(20, ["AA0002", str(call_id), "0", "0", "PS", ACD_DAYS[0].strftime("%y%m%d"), "10:11:12", "10:11:12", "0",
                     NONE_TIME, NONE_TIME, "0", "PHANTOM", NONE_TIME, NONE_TIME, "0", "NO_SERVER"])
    rows.insert(150, ["AA0003", str(call_id + 1), "0", "0", "NW", ACD_DAYS[2].strftime("%y%m%d"), "14:00:01", "14:00:01", "0",
                      NONE_TIME, NONE_TIME, "0", "PHANTOM", NONE_TIME, NONE_TIME, "0", "NO_SERVER"])
    bad_time = list(rows[40])
    bad_time[1], bad_time[6] = str(call_id + 2), "25:61:00"
    bad_priority = list(rows[90])
    bad_priority[1], bad_priority[3] = str(call_id + 3), "7"
    rows.insert(41, bad_time)
    rows.insert(91, bad_priority)
    return rows


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def write_acd(folder: Path) -> list[Path]:
    """Two deliveries: the first three days, then the last two."""
    rows = acd_rows()
    first = [r for r in rows if r[5] <= ACD_DAYS[2].strftime("%y%m%d")]
    rest = [r for r in rows if r[5] > ACD_DAYS[2].strftime("%y%m%d")]
    header = "\t".join(ACD_COLUMNS)
    return [_write(folder / f"acd_calls_{ACD_DAYS[0]:%Y%m%d}_{ACD_DAYS[2]:%Y%m%d}.tsv", [header, *("\t".join(r) for r in first)]),
            _write(folder / f"acd_calls_{ACD_DAYS[3]:%Y%m%d}_{ACD_DAYS[4]:%Y%m%d}.tsv", [header, *("\t".join(r) for r in rest)])]


ACCOUNT_COLUMNS = ("month_end", "account_no", "customer_no", "product", "product_type", "currency", "balance_eom",
                   "balance_avg", "interest_booked", "fees_booked", "status")
ACCOUNT_MONTHS = (dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31))
PRODUCTS = (("CUR-ACC", "CURRENT", Decimal("0.000")), ("SAV-PLUS", "SAVINGS", Decimal("0.0020")),
            ("MORTGAGE-25", "LOAN", Decimal("0.0030")), ("VISA-GOLD", "CARD", Decimal("0.0100")),
            ("FUND-GLOBAL", "INVEST", Decimal("0.0008")))


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}".replace(".", ",")


def account_rows(seed: int = 23) -> list[list[str]]:
    rng = random.Random(seed)
    accounts = []
    for n in range(30):
        customer = f"{rng.randint(1_000_000, 9_999_999)}"
        for product in rng.sample(PRODUCTS, rng.randint(1, 3)):
            accounts.append((f"ES{rng.randint(10**9, 10**10 - 1)}", customer, product, "EUR" if n % 7 else "USD",
                             Decimal(rng.randint(100, 90_000))))
    owner = accounts[0][1]  # two savings accounts of one customer: the same product, two accounts
    accounts.append((f"ES{rng.randint(10**9, 10**10 - 1)}", owner, PRODUCTS[1], "EUR", Decimal(12_500)))
    accounts.append((f"ES{rng.randint(10**9, 10**10 - 1)}", owner, PRODUCTS[1], "EUR", Decimal(800)))
    rows = []
    for month_end in ACCOUNT_MONTHS:
        for number, customer, (product, kind, rate), currency, base in accounts:
            balance = (base * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.01"))
            average = (balance * Decimal(rng.uniform(0.95, 1.05))).quantize(Decimal("0.01"))
            interest = (average * rate).quantize(Decimal("0.01"))
            fees = Decimal(rng.choice((0, 0, 2, 5, 12))).quantize(Decimal("0.01"))
            rows.append([month_end.isoformat(), number, customer, product, kind, currency, _money(balance), _money(average),
                         _money(interest), _money(fees), "OPEN"])
    # a small month-end balance with a month's interest booked on the larger average: no bounded rate expresses it
    rows.append([ACCOUNT_MONTHS[-1].isoformat(), f"ES{rng.randint(10**9, 10**10 - 1)}", accounts[1][1], "SAV-PLUS", "SAVINGS", "EUR",
                 "3,10", "41000,00", "82,00", "0,00", "OPEN"])
    rows.append([ACCOUNT_MONTHS[-1].isoformat(), "ES0000000000", "9999999", "TEST", "SAVINGS", "EUR", "0,00", "0,00", "0,00", "0,00", "TEST"])
    return rows


def write_accounts(folder: Path) -> list[Path]:
    rows = account_rows()
    header = ";".join(ACCOUNT_COLUMNS)
    return [_write(folder / f"accounts_{month:%Y%m}.csv", [header, *(";".join(r) for r in rows if r[0] == month.isoformat())])
            for month in ACCOUNT_MONTHS]


def write_samples(root: Path = SAMPLES) -> list[Path]:
    return [*write_acd(root / "acd"), *write_accounts(root / "accounts")]


if __name__ == "__main__":
    for written in write_samples():
        print(written)
