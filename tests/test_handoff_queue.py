"""The handoff queue's behaviour, run against SQLite and the local PostgreSQL."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from supportbot.errors import HandoffError
from supportbot.handoff import (
    Agent,
    HandoffConfig,
    HandoffQueue,
    Status,
    TicketRequest,
    TicketSummary,
    TranscriptMessage,
    compute_metrics,
    open_queue,
)

psycopg = pytest.importorskip("psycopg")


def _pg_dsn() -> tuple[str | None, str]:
    errors = []
    for user in ("postgres", "root"):
        dsn = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                return dsn, ""
        except psycopg.Error as exc:
            errors.append(f"{user}: {str(exc).strip()}")
    return None, "; ".join(errors)


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    dsn, why = _pg_dsn()
    if dsn is None:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (database test) is unreachable: {why}")
    return dsn


@pytest.fixture(scope="module")
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A schema unique to this test run, dropped at the end."""
    schema = f"sbtest_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def queue_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """An empty queue location: a fresh SQLite file, or the run's PostgreSQL schema emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/handoff.db"
    dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
    url = f"{dsn}?schema={schema}"
    open_queue(url).close()  # creates the tables on first use
    tables = ", ".join(f"{schema}.handoff_{t}"
                       for t in ("tickets", "messages", "outbox", "agents", "claims"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY")
    return url


class Clock:
    """A hand-driven clock so waits and ages are exact."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def q(queue_url: str, clock: Clock) -> Iterator[HandoffQueue]:
    config = HandoffConfig(sla={"default": 600, "billing": 120})
    queue = open_queue(queue_url, config, clock=clock)
    yield queue
    queue.close()


def req(conv: str, **kw) -> TicketRequest:
    return TicketRequest(conversation_id=conv, channel=kw.pop("channel", "web"), **kw)


# ------------------------------------------------------------------ tickets and transitions
def test_enqueue_round_trips_every_field(q: HandoffQueue, clock: Clock) -> None:
    summary = TicketSummary(intents=("order_status", "nlu_fallback"), slots={"order_id": "A-17"},
                            kb_answers=("delivery_times",),
                            last_customer_messages=("one", "two", "three", "four"))
    t = q.enqueue(req("c1", customer_id="u1", language="RU", queue="billing", priority=2,
                      reasons=[{"code": "explicit_request", "explanation": "asked for a person"}],
                      transcript=[{"role": "customer", "text": "где заказ?", "timestamp": 5.0},
                                  TranscriptMessage("bot", "Уточните номер", 6.0)],
                      summary=summary, metadata={"vip": True}))
    assert t.status == Status.WAITING and t.agent_id is None
    assert t.language == "ru" and t.queue == "billing" and t.priority == 2
    assert t.created_at == clock.now and t.sla_due_at == clock.now + 120
    got = q.get(t.id)
    assert got == t
    assert [(m.role, m.text) for m in got.transcript] == [("customer", "где заказ?"),
                                                           ("bot", "Уточните номер")]
    assert got.summary.slots == {"order_id": "A-17"}
    assert got.summary.last_customer_messages == ("two", "three", "four")
    assert got.summary.reasons[0].code == "explicit_request"  # copied from the request
    assert got.metadata == {"vip": True}
    text = got.summary.render()
    assert "explicit_request" in text and "order_id=A-17" in text and "> four" in text


def test_unknown_ticket_is_named(q: HandoffQueue) -> None:
    with pytest.raises(HandoffError, match="nope-123"):
        q.get("nope-123")


def test_one_open_ticket_per_conversation(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("a1"))
    first = q.enqueue(req("c1"))
    with pytest.raises(HandoffError, match=first.id):
        q.enqueue(req("c1"))
    assert q.open_ticket_for("c1").id == first.id
    q.claim("a1")
    assert q.open_ticket_for("c1").status == Status.ASSIGNED
    q.resolve(first.id, "a1")
    assert q.open_ticket_for("c1") is None
    second = q.enqueue(req("c1"))  # a new escalation later in the conversation
    assert second.id != first.id


def test_full_lifecycle_and_csat(q: HandoffQueue, clock: Clock) -> None:
    q.upsert_agent(Agent("alice", name="Alice"))
    t = q.enqueue(req("c1"))
    q.add_customer_message(t.id, "hello?")
    clock.advance(30)
    claimed = q.claim("alice")
    assert claimed.id == t.id and claimed.status == Status.ASSIGNED
    assert claimed.agent_id == "alice" and claimed.assigned_at == clock.now
    q.add_customer_message(t.id, "my order is late")
    sent = q.agent_send(t.id, "alice", "Let me check.")
    assert sent.kind == "message" and sent.text == "Let me check." and sent.agent_name == "Alice"
    clock.advance(60)
    done = q.resolve(t.id, "alice")
    assert done.status == Status.RESOLVED and done.resolved_at == clock.now
    roles = [(m.role, m.text) for m in done.transcript]
    assert ("customer", "hello?") in roles and ("agent", "Let me check.") in roles
    assert roles.index(("customer", "my order is late")) < roles.index(("agent", "Let me check."))
    assert q.set_csat(t.id, 4).csat == 4


@pytest.mark.parametrize("score", [0, 6, 3.5, True, "5"])
def test_csat_outside_1_to_5_is_refused(q: HandoffQueue, score) -> None:
    q.upsert_agent(Agent("a1"))
    t = q.enqueue(req("c1"))
    q.claim("a1")
    q.resolve(t.id, "a1")
    with pytest.raises(HandoffError, match="1 to 5"):
        q.set_csat(t.id, score)


def test_illegal_transitions(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("alice"))
    q.upsert_agent(Agent("bob"))
    t = q.enqueue(req("c1"))
    with pytest.raises(HandoffError, match="waiting, not assigned"):
        q.resolve(t.id, "alice")
    with pytest.raises(HandoffError, match="waiting"):
        q.agent_send(t.id, "alice", "hi")
    with pytest.raises(HandoffError, match="only resolved or returned"):
        q.set_csat(t.id, 5)
    q.claim("alice")
    with pytest.raises(HandoffError, match="assigned to 'alice'"):
        q.agent_send(t.id, "bob", "hi")
    with pytest.raises(HandoffError, match="assigned to 'alice'"):
        q.resolve(t.id, "bob")
    with pytest.raises(HandoffError, match="empty"):
        q.agent_send(t.id, "alice", "  ")
    q.cancel(t.id)
    with pytest.raises(HandoffError, match="cancelled"):
        q.cancel(t.id)
    with pytest.raises(HandoffError, match="cancelled"):
        q.add_customer_message(t.id, "still there?")
    with pytest.raises(HandoffError, match="cancelled, not waiting"):
        q.claim("bob", t.id)
    with pytest.raises(HandoffError, match="unknown agent 'carol'"):
        q.claim("carol")


def test_return_to_bot(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("a1"))
    t = q.enqueue(req("c1"))
    q.claim("a1")
    back = q.return_to_bot(t.id, "a1")
    assert back.status == Status.RETURNED and back.resolved_at is not None
    last = q.pending_outbox("c1")[-1]
    assert last.kind == "returned" and last.template == "utter_handoff_resolved"


# ------------------------------------------------------------------ routing
def test_claim_order_is_priority_then_oldest(q: HandoffQueue, clock: Clock) -> None:
    q.upsert_agent(Agent("a1", max_concurrent=5))
    ids = {}
    for conv, prio in [("low-old", 0), ("high", 5), ("low-new", 0), ("mid", 1)]:
        ids[conv] = q.enqueue(req(conv, priority=prio)).id
        clock.advance(1)
    order = [q.claim("a1").conversation_id for _ in range(4)]
    assert order == ["high", "mid", "low-old", "low-new"]
    assert q.claim("a1") is None  # below its limit, but nothing is waiting


def test_nothing_to_claim_returns_none(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("a1", skills=("billing",)))
    q.enqueue(req("c1", queue="tech"))
    assert q.claim("a1") is None


def test_skills_and_languages_route_tickets(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("ru_billing", skills=("billing",), languages=("ru",), max_concurrent=5))
    q.upsert_agent(Agent("anyone", max_concurrent=5))
    q.enqueue(req("tech-ru", queue="tech", language="ru"))
    q.enqueue(req("billing-en", queue="billing", language="en"))
    q.enqueue(req("billing-ru", queue="billing", language="ru"))
    q.enqueue(req("billing-unknown", queue="billing", language=None))
    got = [q.claim("ru_billing") for _ in range(3)]
    assert [t.conversation_id if t else None for t in got] == [
        "billing-ru", "billing-unknown", None]
    rest = sorted(q.claim("anyone").conversation_id for _ in range(2))
    assert rest == ["billing-en", "tech-ru"]


def test_claiming_a_named_ticket_checks_skills_and_language(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("hy_only", languages=("hy",)))
    q.upsert_agent(Agent("tech_only", skills=("tech",)))
    t = q.enqueue(req("c1", language="ru", queue="billing"))
    with pytest.raises(HandoffError, match="does not speak 'ru'"):
        q.claim("hy_only", t.id)
    with pytest.raises(HandoffError, match="does not work queue 'billing'"):
        q.claim("tech_only", t.id)
    assert q.get(t.id).status == Status.WAITING


def test_agent_limit_holds(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("a1", max_concurrent=2))
    tickets = [q.enqueue(req(f"c{i}")) for i in range(3)]
    q.claim("a1")
    q.claim("a1")
    with pytest.raises(HandoffError, match="limit is 2"):
        q.claim("a1")
    assert q.get(tickets[2].id).status == Status.WAITING
    q.resolve(tickets[0].id, "a1")
    assert q.claim("a1").id == tickets[2].id


def test_transfer_to_queue_and_to_agent(q: HandoffQueue, clock: Clock) -> None:
    q.upsert_agent(Agent("alice"))
    q.upsert_agent(Agent("bob", max_concurrent=1))
    q.upsert_agent(Agent("carol", online=False))
    old = q.enqueue(req("old", queue="tech"))
    clock.advance(10)
    q.enqueue(req("new", queue="tech"))
    q.claim("alice", old.id)
    moved = q.transfer(old.id, queue="tech")
    assert moved.status == Status.WAITING and moved.agent_id is None
    assert moved.waiting_since == clock.now
    assert q.position(old.id) == 1  # it keeps its place ahead of the newer ticket
    with pytest.raises(HandoffError, match="already waiting"):
        q.transfer(old.id, queue="tech")
    billing = q.transfer(old.id, queue="billing")
    assert billing.queue == "billing" and billing.sla_due_at == billing.created_at + 120
    direct = q.transfer(old.id, agent_id="bob")
    assert direct.status == Status.ASSIGNED and direct.agent_id == "bob"
    other = q.claim("alice")
    with pytest.raises(HandoffError, match="limit is 1"):
        q.transfer(other.id, agent_id="bob")
    with pytest.raises(HandoffError, match="offline"):
        q.transfer(other.id, agent_id="carol")
    with pytest.raises(HandoffError, match="needs a queue or an agent"):
        q.transfer(other.id)
    kinds = [m.kind for m in q.pending_outbox("old")]
    assert kinds == ["agent_joined", "transferred", "agent_joined"]


# ------------------------------------------------------------------ waiting line
def test_position_counts_tickets_ahead_in_the_same_queue(q: HandoffQueue, clock: Clock) -> None:
    a = q.enqueue(req("a"))
    clock.advance(1)
    b = q.enqueue(req("b"))
    clock.advance(1)
    urgent = q.enqueue(req("urgent", priority=3))
    other = q.enqueue(req("other", queue="tech"))
    assert [q.position(t.id) for t in (urgent, a, b, other)] == [1, 2, 3, 1]
    q.upsert_agent(Agent("a1"))
    q.claim("a1", urgent.id)
    assert q.position(a.id) == 1 and q.position(b.id) == 2
    with pytest.raises(HandoffError, match="no place in line"):
        q.position(urgent.id)


def test_estimated_wait_from_recent_claims_and_agents(q: HandoffQueue, clock: Clock) -> None:
    assert q.estimated_wait("default", 1) is None  # no agents, no history
    q.upsert_agent(Agent("a1", max_concurrent=10))
    assert q.estimated_wait("default", 1) is None  # no history yet
    first = q.enqueue(req("c1"))
    second = q.enqueue(req("c2"))  # entered at position 2
    clock.advance(120)
    q.claim("a1", first.id)  # 120 s for place 1 with 1 agent
    clock.advance(180)
    q.claim("a1", second.id)  # 300 s for place 2 with 1 agent = 150 s per place
    assert q.estimated_wait("default", 1) == pytest.approx(135.0)  # median(120, 150)
    assert q.estimated_wait("default", 4) == pytest.approx(540.0)
    q.upsert_agent(Agent("a2"))
    assert q.estimated_wait("default", 4) == pytest.approx(270.0)  # twice the agents
    q.set_online("a1", False)
    q.set_online("a2", False)
    assert q.estimated_wait("default", 1) is None  # nobody online to answer
    assert q.estimated_wait("tech", 1) is None  # no history in that queue


def test_stats(q: HandoffQueue, clock: Clock) -> None:
    q.upsert_agent(Agent("a1", skills=("billing",)))
    q.upsert_agent(Agent("a2", skills=("tech",), online=False))
    q.enqueue(req("c1", queue="billing"))
    clock.advance(50)
    q.enqueue(req("c2", queue="billing"))
    q.enqueue(req("c3", queue="tech"))
    clock.advance(10)
    q.claim("a1")
    s = q.stats()
    assert s.queues["billing"].waiting == 1 and s.queues["billing"].assigned == 1
    assert s.queues["billing"].oldest_waiting_s == 10
    assert s.queues["tech"].waiting == 1 and s.queues["tech"].agents_online == 0
    assert s.queues["billing"].agents_online == 1
    assert s.agents_online == 1 and s.waiting == 2 and s.oldest_waiting_s == 10


# ------------------------------------------------------------------ outbox, lists, agents
def test_outbox_delivery(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("a1", name="Ann"))
    t1 = q.enqueue(req("c1", language="hy"))
    t2 = q.enqueue(req("c2"))
    q.claim("a1", t1.id)
    q.claim("a1", t2.id)
    m1 = q.agent_send(t1.id, "a1", "Բարև")
    m2 = q.agent_send(t2.id, "a1", "Hi")
    pending = q.pending_outbox("c1")
    assert [(m.kind, m.text) for m in pending] == [("agent_joined", ""), ("message", "Բարև")]
    joined = pending[0]
    assert joined.template == "utter_handoff_agent_joined" and joined.agent_name == "Ann"
    assert joined.language == "hy" and joined.channel == "web"
    assert {m.id for m in q.pending_outbox()} >= {m1.id, m2.id}
    assert q.mark_delivered([m.id for m in pending]) == 2
    assert q.mark_delivered([m.id for m in pending]) == 0
    assert q.pending_outbox("c1") == []
    assert [m.text for m in q.pending_outbox("c2")] == ["", "Hi"]


def test_list_filters(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("a1"))
    q.enqueue(req("c1", queue="tech", transcript=[{"role": "customer", "text": "x",
                                                   "timestamp": 1.0}]))
    q.enqueue(req("c2"))
    q.claim("a1")
    assert [t.conversation_id for t in q.list()] == ["c1", "c2"]
    assert [t.conversation_id for t in q.list(status="waiting")] == ["c2"]
    assert [t.conversation_id for t in q.list(queue="tech")] == ["c1"]
    assert [t.conversation_id for t in q.list(agent_id="a1")] == ["c1"]
    assert q.list(queue="tech")[0].transcript == ()
    full = q.list(queue="tech", with_transcript=True)[0]
    assert [m.text for m in full.transcript] == ["x", "a1 joined"]
    with pytest.raises(HandoffError, match="unknown ticket status 'open'"):
        q.list(status="open")


def test_agents_upsert_and_online(q: HandoffQueue) -> None:
    q.upsert_agent(Agent("a1", skills=("billing",), languages=("RU",)))
    q.upsert_agent(Agent("a1", name="Aida", skills=("tech",), max_concurrent=4))
    (agent,) = q.agents()
    assert agent == Agent("a1", name="Aida", skills=("tech",), max_concurrent=4)
    assert q.set_online("a1", False).online is False
    with pytest.raises(HandoffError, match="unknown agent 'zz'"):
        q.set_online("zz", True)


def test_metrics(q: HandoffQueue, clock: Clock) -> None:
    q.upsert_agent(Agent("a1", max_concurrent=5))
    t1 = q.enqueue(req("c1", reasons=[{"code": "explicit_request"}, {"code": "frustration"}]))
    t2 = q.enqueue(req("c2", reasons=[{"code": "explicit_request"}]))
    t3 = q.enqueue(req("c3", reasons=[{"code": "fallback_streak"}]))
    clock.advance(60)
    q.claim("a1", t1.id)
    clock.advance(60)
    q.claim("a1", t2.id)
    clock.advance(300)
    q.resolve(t1.id, "a1")
    q.resolve(t2.id, "a1")
    q.set_csat(t1.id, 5)
    q.set_csat(t2.id, 2)
    q.cancel(t3.id)
    m = compute_metrics(q, total_conversations=30)
    assert m.escalations_by_reason == {"explicit_request": 2, "frustration": 1,
                                       "fallback_streak": 1}
    assert m.escalated_conversations == 3 and m.containment_rate == pytest.approx(0.9)
    assert m.time_to_claim_p50 == pytest.approx(90.0)
    assert m.time_to_claim_p90 == pytest.approx(114.0)
    assert m.handle_time_p50 == pytest.approx(330.0)
    assert m.csat_average == pytest.approx(3.5) and m.csat_count == 2
    assert m.tickets_by_status["resolved"] == 2 and m.tickets_by_status["cancelled"] == 1
    assert compute_metrics(q, total_conversations=0).containment_rate is None
