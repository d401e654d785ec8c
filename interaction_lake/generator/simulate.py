"""Simulate one day of interactions per source, as contract-shaped event dicts.

Counter and call-centre queues are simulated as multi-server FIFO queues with impatient
customers, so waits build at lunch time (more arrivals, tellers on break) and abandonment
rises with the wait by construction rather than by a hard-coded rate. Surveys follow a share
of interactions and their scores fall as the wait grows; complaints follow bad scores.
Every event is a dict with the contract's fields plus ``_at`` (a UTC datetime) used to order
and deliver it; the writer drops ``_at``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
from collections.abc import Iterator

from interaction_lake.generator.population import PRODUCTS, Bank, Customer

UTC = dt.timezone.utc
SYSTEMS = {
    "counter": "qmatic-branch",
    "callcentre": "genesys-acd",
    "survey": "medallia-vox",
    "account_manager": "salesforce-fsc",
    "holdings": "core-banking",
}
# Relative arrival intensity by hour (UTC); branches open 08-17, lines 07-20.
BRANCH_PROFILE = {8: 0.6, 9: 0.9, 10: 1.0, 11: 1.3, 12: 1.9, 13: 1.7, 14: 1.0, 15: 0.9, 16: 0.7}
CALL_PROFILE = {7: 0.4, 8: 0.9, 9: 1.4, 10: 1.5, 11: 1.2, 12: 1.3, 13: 1.3, 14: 1.2, 15: 1.0, 16: 0.9, 17: 0.7, 18: 0.5, 19: 0.3}
COMMENTS_GOOD = ("Quick and friendly service.", "Very helpful staff, thank you.", "Sorted my card issue in minutes.", "Easy, no complaints.")
COMMENTS_BAD = ("Waited far too long in the queue.", "Nobody could answer my question.", "Had to call three times about the same thing.", "Fees were not explained.")
QUEUE_SHARE = {"general": 0.5, "cards": 0.3, "loans": 0.1, "premier": 0.1}
PII_TAILS = (" Call me back on {phone}.", " My email is {email}.", "")


class Ids:
    """Deterministic, unique-enough ids drawn from the source's own random stream."""

    def __init__(self, rng: random.Random, prefix: str):
        self.rng, self.prefix = rng, prefix

    def __call__(self, kind: str = "") -> str:
        return f"{kind or self.prefix}-{self.rng.getrandbits(64):016x}"


def event(source: str, ids: Ids, event_type: str, at: dt.datetime, customer: str | None, **fields) -> dict:
    return {
        "event_id": ids("evt"),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": at,
        "source_system": SYSTEMS[source],
        "customer_ref": customer,
        **fields,
        "_at": at,
    }


def arrivals(rng: random.Random, day: dt.date, per_day: float, profile: dict[int, float]) -> list[dt.datetime]:
    """Arrival times for one day from a piecewise-constant Poisson intensity."""
    total_weight = sum(profile.values())
    times = []
    for hour, weight in profile.items():
        expected = per_day * weight / total_weight
        count = _poisson(rng, expected)
        start = dt.datetime.combine(day, dt.time(hour), UTC)
        times += [start + dt.timedelta(seconds=rng.uniform(0, 3600)) for _ in range(count)]
    return sorted(times)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:  # normal approximation keeps large days fast
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, k, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        k += 1
        product *= rng.random()
    return k


class Servers:
    """A pool of servers (tellers, agents): who frees up first."""

    def __init__(self, names: list[str], opens: dt.datetime):
        self.heap = [(opens, name) for name in names]
        heapq.heapify(self.heap)

    def next_free(self) -> tuple[dt.datetime, str]:
        return self.heap[0]

    def take(self, until: dt.datetime) -> None:
        _, name = heapq.heappop(self.heap)
        heapq.heappush(self.heap, (until, name))


def counter_day(bank: Bank, day: dt.date, rng: random.Random, ids: Ids, visit_rate: float, out: list[dict], served: list[tuple]) -> None:
    source = "counter"
    for branch, customers in bank.by_branch().items():
        if not customers:
            continue
        tellers = bank.tellers[branch]
        per_day = len(customers) * visit_rate
        # Staffed for ~80% utilisation on an average hour, so the lunch peak overloads the counters.
        staffed = max(1, min(len(tellers), round(per_day / 9 * 5.5 / 60 / 0.8)))
        pool = Servers(tellers[:staffed], dt.datetime.combine(day, dt.time(8), UTC))
        lunch = (dt.datetime.combine(day, dt.time(12), UTC), dt.datetime.combine(day, dt.time(14), UTC))
        for number, arrived in enumerate(arrivals(rng, day, per_day, BRANCH_PROFILE), start=1):
            customer = rng.choice(customers) if rng.random() < 0.7 else None
            ticket = f"{branch}-{day:%Y%m%d}-{number:04d}"
            service = rng.choice(("cash", "cash", "cash", "cards", "account_opening", "loans", "advice", "other"))
            ref = customer.ref if customer else None
            name = customer.name if customer and rng.random() < 0.5 else None
            out.append(event(source, ids, "ticket_issued", arrived, ref, ticket_id=ticket, branch_id=branch,
                             service_type=service, queue_position=max(0, len([1 for t, _ in pool.heap if t > arrived]) - 1),
                             customer_name=name))
            free_at, teller = pool.next_free()
            if lunch[0] <= free_at < lunch[1] and rng.random() < 0.45:  # a teller on lunch break
                free_at += dt.timedelta(minutes=rng.uniform(5, 20))
            called = max(arrived, free_at)
            patience = dt.timedelta(minutes=rng.expovariate(1 / 20))
            if called - arrived > patience:
                out.append(event(source, ids, "ticket_abandoned", arrived + patience, ref, ticket_id=ticket, branch_id=branch))
                continue
            started = called + dt.timedelta(seconds=rng.uniform(20, 90))
            done = started + dt.timedelta(minutes=rng.lognormvariate(1.6, 0.5))
            pool.take(done)
            counter = f"{branch}-C{tellers.index(teller) + 1}"
            for kind, at in (("ticket_called", called), ("service_started", started), ("service_completed", done)):
                out.append(event(source, ids, kind, at, ref, ticket_id=ticket, branch_id=branch, counter_id=counter, teller_id=teller))
            served.append(("counter", ticket, ref, done, (called - arrived).total_seconds(), branch))


def callcentre_day(bank: Bank, day: dt.date, rng: random.Random, ids: Ids, call_rate: float, out: list[dict], served: list[tuple],
                   repeat_callers: list[tuple]) -> None:
    source = "callcentre"
    per_day = len(bank.customers) * call_rate
    # Agents rostered for ~70% occupancy on an average hour (~330 s handled per call): peaks overflow.
    pools = {
        q: Servers(agents[: max(1, min(len(agents), round(per_day * QUEUE_SHARE[q] / 13 * 330 / 3600 / 0.7)))],
                   dt.datetime.combine(day, dt.time(7), UTC))
        for q, agents in bank.queues.items()
    }
    times = arrivals(rng, day, per_day, CALL_PROFILE)
    callers: list[tuple[dt.datetime, Customer | None, str | None]] = [(t, None, None) for t in times]
    # Unresolved contacts call back within a week about the same thing (what first-contact resolution counts).
    for due, customer, reason in list(repeat_callers):
        if due.date() == day:
            callers.append((due, customer, reason))
            repeat_callers.remove((due, customer, reason))
    for offered, customer, reason in sorted(callers, key=lambda c: c[0]):
        if customer is None and rng.random() < 0.85:
            customer = rng.choice(bank.customers)
        ref = customer.ref if customer else None
        call = ids("call")
        out.append(event(source, ids, "call_offered", offered, ref, call_id=call, caller_phone=customer.phone if customer else f"+44 20 {rng.randrange(10**7, 10**8)}"))
        ivr_end = offered + dt.timedelta(seconds=rng.uniform(20, 110))
        roll = rng.random()
        if reason is None and roll < 0.22:
            out.append(event(source, ids, "ivr_exited", ivr_end, ref, call_id=call, ivr_outcome="self_served"))
            out.append(event(source, ids, "call_ended", ivr_end + dt.timedelta(seconds=2), ref, call_id=call, agent_id="IVR", talk_seconds=0, hold_seconds=0))
            continue
        if roll < 0.25:
            out.append(event(source, ids, "ivr_exited", ivr_end, ref, call_id=call, ivr_outcome="hung_up"))
            continue
        reason = reason or rng.choice(("balance_enquiry", "card_issue", "card_issue", "payment_problem", "loan_enquiry", "fraud_report", "complaint", "address_change", "other"))
        queue = "premier" if customer and customer.am_id and customer.segment in ("private", "corporate") else {
            "card_issue": "cards", "fraud_report": "cards", "loan_enquiry": "loans"}.get(reason, "general")
        out.append(event(source, ids, "ivr_exited", ivr_end, ref, call_id=call, ivr_outcome="to_agent"))
        out.append(event(source, ids, "call_queued", ivr_end, ref, call_id=call, queue_id=queue, priority=1 if queue == "premier" else 3))
        _answer(source, bank, rng, ids, pools, queue, call, ref, ivr_end, reason, customer, out, served, repeat_callers, transferred=False)


def _answer(source, bank, rng, ids, pools, queue, call, ref, queued, reason, customer, out, served, repeat_callers, transferred):
    pool = pools[queue]
    free_at, agent = pool.next_free()
    answered = max(queued, free_at)
    patience = dt.timedelta(seconds=rng.expovariate(1 / (600 if transferred else 150)))
    if answered - queued > patience:
        out.append(event(source, ids, "call_abandoned", queued + patience, ref, call_id=call, queue_id=queue))
        return
    talk = rng.lognormvariate(5.3, 0.5)
    hold = rng.choice((0.0, 0.0, rng.uniform(10, 120)))
    out.append(event(source, ids, "call_answered", answered, ref, call_id=call, queue_id=queue, agent_id=agent))
    if not transferred and rng.random() < 0.08:
        moved_at = answered + dt.timedelta(seconds=talk / 3)
        pool.take(moved_at)
        target = rng.choice([q for q in pools if q != queue and q != "premier"])
        out.append(event(source, ids, "call_transferred", moved_at, ref, call_id=call, agent_id=agent, queue_id=queue, to_queue_id=target))
        _answer(source, bank, rng, ids, pools, target, call, ref, moved_at, reason, customer, out, served, repeat_callers, transferred=True)
        return
    ended = answered + dt.timedelta(seconds=talk + hold)
    wrap = rng.uniform(15, 150)
    pool.take(ended + dt.timedelta(seconds=wrap))
    resolution = rng.choices(("resolved", "unresolved", "follow_up"), (0.74, 0.14, 0.12))[0]
    out.append(event(source, ids, "call_ended", ended, ref, call_id=call, agent_id=agent, talk_seconds=round(talk, 1), hold_seconds=round(hold, 1)))
    out.append(event(source, ids, "call_wrapped_up", ended + dt.timedelta(seconds=wrap), ref, call_id=call, agent_id=agent,
                     wrap_seconds=round(wrap, 1), contact_reason=reason, resolution=resolution))
    served.append(("callcentre", call, ref, ended, (answered - queued).total_seconds(), None))
    if resolution != "resolved" and customer is not None and rng.random() < 0.6:
        again = (ended + dt.timedelta(days=rng.randint(1, 6))).date()
        repeat_callers.append((dt.datetime.combine(again, dt.time(8), UTC) + dt.timedelta(hours=rng.uniform(0, 11)), customer, reason))


def surveys(served: list[tuple], rng: random.Random, ids: Ids, customers: dict[str, Customer], out: list[dict]) -> None:
    """Survey a share of identified, served interactions; bad waits give bad scores and some complaints."""
    source = "survey"
    for channel, interaction, ref, done, waited, branch in served:
        if ref is None or rng.random() > 0.3:
            continue
        survey = ids("srv")
        sent = done + dt.timedelta(minutes=rng.uniform(30, 180))
        out.append(event(source, ids, "survey_sent", sent, ref, survey_id=survey, channel=channel, interaction_ref=interaction, branch_id=branch))
        if rng.random() > 0.35:
            continue
        wait_penalty = min(3.0, waited / (600 if channel == "counter" else 180))
        csat = max(1, min(5, round(rng.gauss(4.5 - wait_penalty, 0.8))))
        nps = max(0, min(10, round(rng.gauss(2.2 * csat - 1.2, 1.5))))
        customer = customers[ref]
        comment = None
        if rng.random() < 0.5:
            comment = rng.choice(COMMENTS_GOOD if csat >= 4 else COMMENTS_BAD) + rng.choice(PII_TAILS).format(
                phone=customer.phone, email=f"{customer.name.split()[0].lower()}@example.com")
        complaint = csat <= 2 and rng.random() < 0.5
        answered_at = sent + dt.timedelta(hours=rng.uniform(1, 40))
        out.append(event(source, ids, "survey_responded", answered_at, ref, survey_id=survey, csat=csat, nps=nps,
                         effort_score=max(1, min(7, round(rng.gauss(6 - csat, 1)))), comment=comment, complaint_flag=complaint))
        if complaint:
            complaint_events(rng, ids, ref, answered_at, channel, "wait_time" if waited > 600 else rng.choice(("staff", "error", "other")), out)


def complaint_events(rng: random.Random, ids: Ids, ref: str, opened: dt.datetime, channel: str, category: str, out: list[dict]) -> None:
    source = "survey"
    complaint = ids("cmp")
    out.append(event(source, ids, "complaint_opened", opened + dt.timedelta(minutes=rng.uniform(5, 600)), ref, complaint_id=complaint,
                     channel=channel, category=category, severity=rng.choice(("low", "medium", "medium", "high"))))
    at = opened + dt.timedelta(hours=rng.uniform(1, 12))
    if rng.random() < 0.2:
        at += dt.timedelta(days=rng.uniform(1, 4))
        out.append(event(source, ids, "complaint_escalated", at, ref, complaint_id=complaint, escalation_level=rng.choice((1, 1, 2, 3))))
    resolved = at + dt.timedelta(days=rng.lognormvariate(1.3, 0.8))
    out.append(event(source, ids, "complaint_resolved", resolved, ref, complaint_id=complaint, upheld=rng.random() < 0.4,
                     resolution_note=rng.choice((None, "Apologised and refunded the fee.", "Explained the process."))))


def am_day(bank: Bank, day: dt.date, rng: random.Random, ids: Ids, out: list[dict]) -> None:
    """Each account manager plans a few contacts a working day and logs how they went."""
    if day.weekday() >= 5:
        return
    book: dict[str, list[Customer]] = {}
    for customer in bank.customers:
        if customer.am_id:
            book.setdefault(customer.am_id, []).append(customer)
    source = "account_manager"
    for am, customers in sorted(book.items()):
        for _ in range(min(len(customers), _poisson(rng, 3))):
            customer = rng.choice(customers)
            contact = ids("cnt")
            channel = rng.choices(("visit", "call", "event"), (0.35, 0.55, 0.10))[0]
            planned_at = dt.datetime.combine(day, dt.time(8), UTC) + dt.timedelta(minutes=rng.uniform(0, 60))
            when = day + dt.timedelta(days=rng.choice((0, 1, 2, 3)))
            out.append(event(source, ids, "contact_planned", planned_at, customer.ref, contact_id=contact, am_id=am, channel=channel,
                             planned_for=when.isoformat()))
            outcome = rng.choices(("achieved", "no_show", "rescheduled", "declined"), (0.74, 0.1, 0.11, 0.05))[0]
            opportunity = None
            if outcome == "achieved" and rng.random() < 0.3:
                code, family, _, _ = rng.choice(PRODUCTS[1:7])
                opportunity = {"product_family": family, "estimated_value": round(rng.lognormvariate(9.5, 1.0), 2),
                               "follow_up_by": (when + dt.timedelta(days=rng.choice((7, 14, 30)))).isoformat()}
            done_at = dt.datetime.combine(when, dt.time(9), UTC) + dt.timedelta(minutes=rng.uniform(0, 480))
            out.append(event(source, ids, "contact_completed", done_at, customer.ref, contact_id=contact, am_id=am, channel=channel,
                             outcome=outcome, new_info_captured=outcome == "achieved" and rng.random() < 0.4, opportunity=opportunity,
                             notes=f"Met {customer.name}." if outcome == "achieved" else None))


def snapshots(bank: Bank, as_of: dt.date, rng: random.Random, ids: Ids, drift: bool) -> Iterator[dict]:
    """Month-end profile and holdings snapshots; with ``drift``, balances move and some profiles change."""
    source = "holdings"
    taken = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(2), UTC)
    for customer in bank.customers:
        if drift:
            for code in customer.holdings:
                customer.holdings[code] = round(customer.holdings[code] * rng.lognormvariate(0.0, 0.06), 2)
            if rng.random() < 0.03:
                customer.segment = rng.choice(("mass", "affluent", "sme"))
            if rng.random() < 0.02:
                customer.phone = f"+44 7700 {rng.randrange(900000, 999999)}"
        yield event(source, ids, "customer_profile_snapshot", taken, customer.ref, snapshot_date=as_of.isoformat(), segment=customer.segment,
                    home_branch_id=customer.home_branch, am_id=customer.am_id, customer_name=customer.name, phone=customer.phone,
                    birth_year=customer.birth_year, customer_since=customer.customer_since)
        for code, family, margin, fee in PRODUCTS:
            if code in customer.holdings:
                yield event(source, ids, "product_holding_snapshot", taken, customer.ref, snapshot_date=as_of.isoformat(), product_code=code,
                            product_family=family, balance=customer.holdings[code], monthly_fees=fee, interest_margin_rate=margin)
