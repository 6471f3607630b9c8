"""Northwind Shop's custom actions: order look-up and returns.

The example bot runs these when its forms are complete (see data/rules.yml):

- `action_lookup_order` (after `order_status_form`): finds the order in `orders.json` and answers
  with `utter_order_found`, or with `utter_order_not_found` and clears `order_id`.
- `action_create_return` (after `return_form`): checks the order exists, makes a return label
  reference and answers with `utter_return_created`, then clears `return_item` and
  `return_reason`.

`orders.json` is a small read-only demo fixture, read once when this module is imported; a real
shop would query its order system here instead.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from supportbot.dialogue.actions import ActionContext, ActionRegistry, ActionReply, ActionResult

actions = ActionRegistry()

ORDERS_FILE = Path(__file__).with_name("orders.json")
LANGUAGES = ("en", "ru", "hy", "ky")

# The status word shown in utter_order_found, per language.
STATUS_WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {"processing": "processing", "shipped": "shipped", "delivered": "delivered",
           "delayed": "delayed"},
    "ru": {"processing": "в обработке", "shipped": "отправлен", "delivered": "доставлен",
           "delayed": "задерживается"},
    "hy": {"processing": "մշակվում է", "shipped": "ուղարկված է", "delivered": "առաքված է",
           "delayed": "ուշանում է"},
    "ky": {"processing": "иштелип жатат", "shipped": "жөнөтүлгөн", "delivered": "жеткирилген",
           "delayed": "кечигип жатат"},
}

_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_RU_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
              "сентября", "октября", "ноября", "декабря")
_HY_MONTHS = ("հունվարի", "փետրվարի", "մարտի", "ապրիլի", "մայիսի", "հունիսի", "հուլիսի",
              "օգոստոսի", "սեպտեմբերի", "հոկտեմբերի", "նոյեմբերի", "դեկտեմբերի")

# "NW-123456", "nw123456", "NW 123456", "123456" (a bare number of 6-8 digits)
_ORDER_ID = re.compile(r"(?:NW\s*-?\s*)?(\d{6,8})", re.IGNORECASE)

# Slots the look-up fills (and clears when the order is not found).
_ORDER_DETAIL_SLOTS = ("order_state", "carrier", "tracking_link", "expected_date")


def _read_orders(path: Path) -> Mapping[str, Mapping[str, Any]]:
    """Order id -> order, from the fixture at `path` (read-only mappings)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    orders: dict[str, Mapping[str, Any]] = {}
    for order in data["orders"]:
        order_id = normalise_order_id(order["id"])
        if order_id is None:
            raise ValueError(f"{path}: order id {order['id']!r} is not like NW-123456")
        orders[order_id] = MappingProxyType({**order, "id": order_id,
                                             "items": tuple(order["items"])})
    return MappingProxyType(orders)


def normalise_order_id(raw: Any) -> str | None:
    """`NW-` plus the digits of an order number as customers type it, or None if it is not one.

    Case, a missing dash, a space and surrounding whitespace do not matter; a bare 6-8 digit
    number is read as `NW-<digits>`.
    """
    if raw is None:
        return None
    match = _ORDER_ID.fullmatch(str(raw).strip())
    return f"NW-{match.group(1)}" if match else None


ORDERS = _read_orders(ORDERS_FILE)


def language_of(ctx: ActionContext) -> str:
    """The customer's language if the bot has texts for it, else English."""
    return ctx.language if ctx.language in LANGUAGES else "en"


def status_word(status: str, language: str) -> str:
    """An order status (processing|shipped|delivered|delayed) in `language`."""
    words = STATUS_WORDS.get(language, STATUS_WORDS["en"])
    return words.get(status, status)


def format_date(iso_date: str, language: str) -> str:
    """An ISO date as written in `language` (e.g. 12 June 2025, 12 июня 2025)."""
    day = date.fromisoformat(iso_date)
    if language == "ru":
        return f"{day.day} {_RU_MONTHS[day.month - 1]} {day.year}"
    if language == "hy":
        return f"{day.year} թ. {_HY_MONTHS[day.month - 1]} {day.day}"
    if language == "ky":
        return day.strftime("%d.%m.%Y")
    return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"


def return_label(order_id: str, item: str, reason: str) -> str:
    """A return label reference: RL-<order digits>-<4 hex digits of a hash of item and reason>.

    The same order, item and reason always give the same reference (case and spacing aside).
    """
    digits = order_id.removeprefix("NW-")
    key = "\n".join(" ".join(part.split()).casefold() for part in (item, reason))
    return f"RL-{digits}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:4].upper()}"


def match_item(typed: str, items: Sequence[str]) -> str:
    """The order's own name for the item the customer typed, when exactly one item matches
    (same text, or one contains the other, ignoring case); otherwise what they typed."""
    wanted = " ".join(typed.split()).casefold()
    if not wanted:
        return typed
    exact = [item for item in items if item.casefold() == wanted]
    if exact:
        return exact[0]
    close = [item for item in items if wanted in item.casefold() or item.casefold() in wanted]
    return close[0] if len(close) == 1 else " ".join(typed.split())


def _not_found(raw: Any, clear: Sequence[str]) -> ActionResult:
    """utter_order_not_found for the number the customer gave, clearing `clear` slots."""
    shown = normalise_order_id(raw) or " ".join(str(raw or "").split())
    return ActionResult(
        replies=(ActionReply(response="utter_order_not_found", values={"order_id": shown}),),
        slots=dict.fromkeys(clear))


@actions.action("action_lookup_order")
def lookup_order(ctx: ActionContext) -> ActionResult:
    """Answer "where is my order?" from the order data, in the customer's language."""
    raw = ctx.slot("order_id")
    if raw is None:  # run without the form: let the form ask for the number
        return ActionResult(form="order_status_form")
    order_id = normalise_order_id(raw)
    order = ORDERS.get(order_id) if order_id else None
    if order is None:
        return _not_found(raw, ("order_id", *_ORDER_DETAIL_SLOTS))
    language = language_of(ctx)
    values = {
        "order_id": order["id"],
        "order_state": status_word(order["status"], language),
        "carrier": order["carrier"],
        "tracking_link": order["tracking_link"],
        "expected_date": format_date(order["expected_delivery"], language),
    }
    return ActionResult(replies=(ActionReply(response="utter_order_found", values=values),),
                        slots=values)


@actions.action("action_create_return")
def create_return(ctx: ActionContext) -> ActionResult:
    """Register a return for an item of an existing order and give its label reference."""
    raw = ctx.slot("order_id")
    item = str(ctx.slot("return_item", "")).strip()
    reason = str(ctx.slot("return_reason", "")).strip()
    if raw is None or not item or not reason:  # run without the form: let the form ask
        return ActionResult(form="return_form")
    order_id = normalise_order_id(raw)
    order = ORDERS.get(order_id) if order_id else None
    if order is None:
        return _not_found(raw, ("order_id", "return_item", "return_reason"))
    item_name = match_item(item, order["items"])
    label = return_label(order["id"], item_name, reason)
    values = {"order_id": order["id"], "return_item": item_name, "return_reason": reason,
              "return_label": label}
    return ActionResult(
        replies=(ActionReply(response="utter_return_created", values=values),),
        slots={"order_id": order["id"], "return_label": label, "return_item": None,
               "return_reason": None})
