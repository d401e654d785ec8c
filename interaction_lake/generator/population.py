"""The sample bank's population: customers with skewed value, branches, agents and account managers.

Value is heavy-tailed on purpose (log-normal balances per segment): a few private and
corporate customers hold most of the balances, which is what the 80/20 value tiers expect.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

SEGMENTS = (  # (segment, share of customers, log-normal mu of total balance, sigma)
    ("mass", 0.78, 8.0, 1.1),
    ("affluent", 0.10, 11.0, 0.8),
    ("sme", 0.08, 11.3, 1.0),
    ("private", 0.025, 13.5, 0.7),
    ("corporate", 0.015, 14.0, 0.9),
)
MANAGED_SEGMENTS = ("affluent", "sme", "private", "corporate")
PRODUCTS = (  # (product_code, family, annual net interest margin, monthly fee)
    ("CUR-STD", "deposit", 0.020, 3.0),
    ("SAV-PLUS", "deposit", 0.012, 0.0),
    ("TERM-12M", "deposit", 0.008, 0.0),
    ("MORT-FIX", "loan", 0.016, 0.0),
    ("LOAN-PERS", "loan", 0.045, 0.0),
    ("CARD-GOLD", "card", 0.090, 4.5),
    ("INV-FUND", "investment", 0.010, 12.0),
    ("INS-HOME", "insurance", 0.000, 9.0),
)
_FIRST = ("Alex", "Sam", "Maria", "Jan", "Li", "Aisha", "Tom", "Eva", "Omar", "Nina", "Piotr", "Chloe")
_LAST = ("Smith", "Nowak", "Garcia", "Chen", "Okafor", "Muller", "Rossi", "Silva", "Khan", "Dubois")


@dataclass
class Customer:
    ref: str
    name: str
    phone: str
    segment: str
    home_branch: str
    am_id: str | None
    birth_year: int
    customer_since: str
    holdings: dict[str, float] = field(default_factory=dict)  # product_code -> balance

    @property
    def total_balance(self) -> float:
        return sum(self.holdings.values())


@dataclass
class Bank:
    customers: list[Customer]
    branches: list[str]
    tellers: dict[str, list[str]]
    queues: dict[str, list[str]]  # call queue -> agents
    account_managers: list[str]

    def by_branch(self) -> dict[str, list[Customer]]:
        grouped: dict[str, list[Customer]] = {branch: [] for branch in self.branches}
        for customer in self.customers:
            grouped[customer.home_branch].append(customer)
        return grouped


def build_bank(n_customers: int, rng: random.Random) -> Bank:
    n_branches = max(3, min(40, n_customers // 2000))
    branches = [f"BR{i:03d}" for i in range(1, n_branches + 1)]
    tellers = {b: [f"T{b[2:]}{k}" for k in range(1, 5)] for b in branches}
    n_agents = max(6, n_customers // 400)
    queues = {
        "general": [f"AG{i:04d}" for i in range(n_agents)],
        "cards": [f"AG{i:04d}" for i in range(n_agents, n_agents + max(2, n_agents // 3))],
        "loans": [f"AG{i:04d}" for i in range(n_agents + max(2, n_agents // 3), n_agents + max(2, n_agents // 3) + max(2, n_agents // 4))],
        "premier": [f"AG9{i:03d}" for i in range(max(2, n_agents // 5))],
    }
    weights = [share for _, share, _, _ in SEGMENTS]
    n_managed = max(1, int(n_customers * sum(s for seg, s, _, _ in SEGMENTS if seg in MANAGED_SEGMENTS)))
    managers = [f"AM{i:03d}" for i in range(1, max(2, n_managed // 120) + 1)]
    customers = []
    for i in range(1, n_customers + 1):
        segment, _, mu, sigma = rng.choices(SEGMENTS, weights)[0]
        customer = Customer(
            ref=f"C{i:08d}",
            name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            phone=f"+44 7700 {rng.randrange(900000, 999999)}",
            segment=segment,
            home_branch=rng.choice(branches),
            am_id=rng.choice(managers) if segment in MANAGED_SEGMENTS else None,
            birth_year=rng.randrange(1940, 2006),
            customer_since=f"{rng.randrange(1995, 2026)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        )
        total = rng.lognormvariate(mu, sigma)
        products = rng.sample(PRODUCTS[1:], k=min(len(PRODUCTS) - 1, rng.choice((0, 1, 1, 2, 2, 3, 4)))) + [PRODUCTS[0]]
        shares = [rng.random() + 0.05 for _ in products]
        for (code, family, _, _), share in zip(products, shares):
            customer.holdings[code] = round(total * share / sum(shares), 2) if family != "insurance" else 0.0
        customers.append(customer)
    return Bank(customers, branches, tellers, queues, managers)
