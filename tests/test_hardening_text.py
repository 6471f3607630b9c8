"""Hardening: text normalization at the boundary (customer and agent text, every queue backend),
conversation ids, nested button payloads, and turns that fail half-way.

Regression tests for the hardening issue (NUL on PostgreSQL, surrogates, invisible-only messages,
nested payload JSON, trailing-newline ids) plus hypothesis property tests, sized to run in
seconds."""
from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_helpers import local_postgres_dsn

from supportbot import Bot
from supportbot.errors import ConversationError, HandoffError
from supportbot.handoff import Agent, TicketRequest, TranscriptMessage, open_queue
from supportbot.nlu.payload import parse_payload

HANDOFF = "I want to talk to a real person"
INVISIBLE_ONLY = ["\u200b", "\ufeff", "\xad", "\u200d", "\u200c", "\u2060", "\ufe0f",
                  " \u200b\ufeff ", "\u3164", "\x00", "\x00\u200b\n\t"]
NESTED = '/order_status{"a":' + "[" * 2000 + "]" * 2000 + "}"


# ---------------------------------------------------------------------- queue locations
def _pg_dsn() -> str | None:
    return local_postgres_dsn()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema unique to this test run (dropped at the end)."""
    dsn = _pg_dsn()
    if dsn is None:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 (database test) is unreachable")
    import psycopg

    schema = f"sbtext_{uuid.uuid4().hex[:12]}"
    yield f"{dsn}?schema={schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/handoff.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture()
def qbot(trained_bot, tmp_path: Path, queue_url: str) -> Bot:
    """The example bot on a fresh SQLite tracker store and the parametrized queue."""
    return trained_bot.with_stores(tracker_store=f"sqlite:///{tmp_path / 'conv.db'}",
                                   queue=queue_url)


def _cid() -> str:
    return f"hard-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------- finding 1: NUL, surrogates
def test_nul_in_a_message_does_not_block_the_handoff(qbot: Bot) -> None:
    cid = _cid()
    first = qbot.handle(cid, "where is\x00 my order")
    assert first.parse.text == "where is my order"
    turn = qbot.handle(cid, HANDOFF)
    assert turn.handoff is not None
    ticket = qbot.queue.backend.get(turn.handoff.ticket_id)
    texts = [m.text for m in ticket.transcript]
    assert "where is my order" in texts
    assert all("\x00" not in t for t in texts)
    # no half-turn: every stored customer message has a reply after it
    events = qbot.tracker(cid).events
    assert [e.text for e in events if e.type == "user"] == ["where is my order", HANDOFF]


def test_surrogates_in_customer_and_agent_text_are_stored(qbot: Bot) -> None:
    cid = _cid()
    qbot.handle(cid, "my order \ud800 is late \udfff")
    turn = qbot.handle(cid, HANDOFF)
    assert turn.handoff is not None
    qbot.queue.backend.upsert_agent(Agent("ann"))
    assert qbot.queue.claim("ann", turn.handoff.ticket_id) is not None
    qbot.queue.send(turn.handoff.ticket_id, "ann", "hello\x00 \ud83d\ude00 \udc00there")
    qbot.handle(cid, "thanks\x00 \ud801")
    ticket = qbot.queue.backend.get(turn.handoff.ticket_id)
    texts = [m.text for m in ticket.transcript]
    assert "my order \ufffd is late \ufffd" in texts
    assert "hello \U0001F600 \ufffdthere" in texts
    assert "thanks \ufffd" in texts
    agent = [e for e in qbot.tracker(cid).events if e.type == "agent"]
    assert agent[-1].text == "hello \U0001F600 \ufffdthere"


def test_the_queue_api_normalizes_text_it_stores(queue_url: str) -> None:
    """A direct queue call (no Bot in front) with NUL / surrogates works on every backend."""
    queue = open_queue(queue_url)
    try:
        cid = _cid()
        ticket = queue.enqueue(TicketRequest(
            conversation_id=cid,
            transcript=(TranscriptMessage("customer", "hi\x00 there\ud800", 1.0),
                        {"role": "bot", "text": "e\u0301\x07", "timestamp": 2.0}),
            summary=replace(TicketRequest(cid).summary,
                            last_customer_messages=("hi\x00 there\ud800",)),
            metadata={"note": "x\ud800\x00"}))
        queue.add_customer_message(ticket.id, "again\x00\ud800")
        queue.upsert_agent(Agent("ann"))
        queue.claim("ann", ticket.id)
        out = queue.agent_send(ticket.id, "ann", "\ufeffok\x00\ud800 ")
        assert out.text == "ok\ufffd"
        got = queue.get(ticket.id)
        texts = [m.text for m in got.transcript]
        assert texts[:3] == ["hi there\ufffd", "\xe9", "again\ufffd"]
        assert "ok\ufffd" in texts
        assert got.summary.last_customer_messages == ("hi there\ufffd",)
        assert "\ud800" not in got.metadata["note"]
        with pytest.raises(HandoffError, match="empty"):
            queue.agent_send(ticket.id, "ann", "\u200b\x00")
        with pytest.raises(HandoffError, match="empty"):
            queue.add_customer_message(ticket.id, "\ufeff")
    finally:
        queue.close()


def test_agent_text_that_is_only_invisible_is_refused(bot: Bot) -> None:
    cid = _cid()
    turn = bot.handle(cid, HANDOFF)
    assert turn.handoff is not None
    bot.queue.backend.upsert_agent(Agent("ann"))
    bot.queue.claim("ann", turn.handoff.ticket_id)
    with pytest.raises(HandoffError, match="empty"):
        bot.queue.send(turn.handoff.ticket_id, "ann", "\u200b\x00\ufeff")


# ---------------------------------------------------------------------- finding 7: nested payload
def test_deeply_nested_payload_is_ordinary_text(bot: Bot) -> None:
    assert parse_payload(NESTED) is None
    assert parse_payload(NESTED, intents={"order_status"}) is None
    parse = bot.parse(NESTED)
    assert not parse.from_payload
    turn = bot.handle(_cid(), NESTED)
    assert turn.replies


@pytest.mark.parametrize("text", [
    '/greet{"a": ' + "{" * 50 + "}" * 50 + "}",
    '/greet{"a": [[[["x"]]]]}',
    '/greet{"a": "' + "x" * 6000 + '"}',
    '/greet{"a": "' + "[" * 3000 + '"}',  # brackets inside a string are not nesting
])
def test_payload_limits(text: str) -> None:
    assert parse_payload(text) is None


def test_brackets_inside_payload_strings_still_parse() -> None:
    result = parse_payload('/inform{"note": "[[{{x}}]]", "city": ["Osh"]}')
    assert result is not None
    assert [e.value for e in result.entities] == ["[[{{x}}]]", "Osh"]


def test_payload_string_values_are_normalized() -> None:
    result = parse_payload('/inform{"city": "Osh\\u0000\\ud800", "e\\u0301": "x"}')
    assert result is not None
    assert [(e.entity, e.value) for e in result.entities] == [("city", "Osh\ufffd"),
                                                              ("\xe9", "x")]


# ---------------------------------------------------------------------- finding 8: invisible text
@pytest.mark.parametrize("text", INVISIBLE_ONLY)
def test_invisible_only_message_is_empty(bot: Bot, text: str) -> None:
    with pytest.raises(ConversationError, match="empty"):
        bot.parse(text)
    cid = _cid()
    with pytest.raises(ConversationError, match="empty"):
        bot.handle(cid, text)
    assert not bot.store.exists(cid) or not [
        e for e in bot.tracker(cid).events if e.type == "user"]


def test_invisible_message_does_not_answer_the_handoff_offer(trained_bot, tmp_path: Path) -> None:
    config = trained_bot.project.config
    project = replace(trained_bot.project, config=replace(
        config, escalation={**config.escalation, "confirm_before_handoff": True}))
    bot = Bot(project, trained_bot.nlu, trained_bot.kb, trained_bot.entities,
              trained_bot.manifest, None, f"sqlite:///{tmp_path / 'q.db'}")
    cid = _cid()
    offer = None
    for text in ("blorp", "quux quux", "zzkx vvq", "florb wib"):
        turn = bot.handle(cid, text)
        if "connect you" in " ".join(turn.texts):
            offer = turn
            break
    assert offer is not None, "the example bot should offer a person after repeated fallbacks"
    with pytest.raises(ConversationError, match="invisible"):
        bot.handle(cid, "\u200b")
    turn = bot.handle(cid, "yes")
    assert turn.handoff is not None


def test_visible_text_keeps_inner_joiners(bot: Bot) -> None:
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"
    assert bot.parse(f"\u200b{family}\ufeff").text == family
    assert bot.parse("\u2764\ufe0f").text == "\u2764\ufe0f"


# ---------------------------------------------------------------------- finding 10: conversation id
@pytest.mark.parametrize("cid", ["abc\n", "abc\r\n", "a\x00b", "a\x7fb", "a\x85b", "a\ud800",
                                 "", " ", "x" * 257, "\n"])
def test_bad_conversation_ids_are_refused(bot: Bot, cid: str) -> None:
    with pytest.raises(ConversationError, match="conversation id"):
        bot.handle(cid, "hello")


@pytest.mark.parametrize("cid", ["abc", "user 42", "tg:12345", "x" * 256, "Бишкек-1"])
def test_good_conversation_ids_are_accepted(bot: Bot, cid: str) -> None:
    assert bot.handle(cid, "hello").conversation_id == cid


# ---------------------------------------------------------------------- half-turns
def test_a_failing_turn_keeps_the_message_and_no_half_turn(bot: Bot,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _cid()
    bot.handle(cid, "hello")

    def broken(*args, **kwargs):
        raise RuntimeError("queue is down")

    monkeypatch.setattr(bot.queue.backend, "enqueue", broken)
    with pytest.raises(RuntimeError):
        bot.handle(cid, HANDOFF)
    events = bot.tracker(cid).events
    assert events[-1].type == "user" and events[-1].text == HANDOFF  # the message is kept
    monkeypatch.undo()
    turn = bot.handle(cid, HANDOFF)
    assert turn.handoff is not None
    ticket = bot.queue.backend.get(turn.handoff.ticket_id)
    assert [m.text for m in ticket.transcript if m.role == "customer"].count(HANDOFF) >= 1


# ---------------------------------------------------------------------- properties
_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=60)
_NASTY = st.text(alphabet=st.sampled_from(
    ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\r", "\n", "\t", " ", "\u200b", "\ufeff",
     "\xad", "\u200d", "\ufe0f", "\ud800", "\udc00", "\ud83d", "\ude00", "e", "\u0301", "a",
     "/", "{", "}", "[", "]", '"', ":", "\u3164", "\u2028"]), max_size=40)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_TEXT, _NASTY))
def test_normalize_text_properties(text: str) -> None:
    from supportbot.textnorm import normalize_text

    out = normalize_text(text)
    assert normalize_text(out) == out
    assert "\x00" not in out
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)
    assert not any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in out)
    assert unicodedata.is_normalized("NFC", out)
    assert out == out.strip()
    out.encode("utf-8")  # storable anywhere


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(_TEXT, _NASTY, st.sampled_from(INVISIBLE_ONLY + [NESTED])))
def test_any_text_gives_a_turn_or_a_conversation_error(bot: Bot, text: str) -> None:
    try:
        turn = bot.handle("prop-text", text)
    except ConversationError:
        return
    assert turn.parse.text
    assert "\x00" not in turn.parse.text


@settings(max_examples=300, deadline=None)
@given(st.one_of(_TEXT, _NASTY, st.text(max_size=300)))
def test_conversation_ids_validate_or_raise_conversation_error(cid: str) -> None:
    from supportbot.bot import _check_conversation_id

    try:
        _check_conversation_id(cid)
    except ConversationError:
        return
    assert cid.strip() and len(cid) <= 256
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in cid)


_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    _NASTY.map(lambda s: "/greet" + s),
    _NASTY.map(lambda s: "/greet{" + s + "}"),
    _JSONISH.map(lambda v: "/inform" + __import__("json").dumps(v)),
    st.integers(0, 3000).map(lambda n: '/greet{"a":' + "[" * n + "]" * n + "}"),
    st.integers(0, 3000).map(lambda n: '/greet{"a":' + '{"b":' * n + "1" + "}" * n + "}"),
    _TEXT,
))
def test_payloads_never_raise(text: str) -> None:
    result = parse_payload(text)
    if result is not None:
        for e in result.entities:
            assert e.entity and "\x00" not in e.entity
            assert not (isinstance(e.value, str) and "\x00" in e.value)
