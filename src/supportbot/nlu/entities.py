"""Rule-based entity extraction (regexes, lookup tables, synonyms) and slot filling.

`EntityExtractor` finds entities in a message:

* every `regex:` block yields entities named after the block (Rasa's RegexEntityExtractor
  semantics: the name need not be declared in the domain); patterns match case-insensitively;
* every `lookup:` table, plus every value annotated in a training example
  (``[paypal](payment_method)``) and every synonym of such a value, is matched as a literal:
  case-insensitive, not inside a longer word, with any run of whitespace between words;
* overlapping matches are resolved longest first (then leftmost, then regex before lookup);
* synonyms map the found text (case-insensitive) to the canonical value.

Lookup and annotation matches carry no role or group: a literal list cannot tell
"from Paris" from "to Paris".

`fill_slots` applies the domain's slot mappings to one message's entities.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supportbot.errors import ModelError, Problem, ProjectError
from supportbot.nlu.parse import Entity
from supportbot.project.types import Domain, NluData, Project, SlotDef, SlotMapping

__all__ = ["EntityExtractor", "check_regexes", "fill_slots"]

FORMAT_VERSION = 1


def _norm(text: str) -> str:
    """The key synonyms and lookup elements are compared by: lower case, single spaces."""
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class _Regex:
    entity: str
    pattern: str
    source: str
    compiled: re.Pattern[str]


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    entity: str
    extractor: str
    rank: int  # definition order; lower wins a tie on the same span


def _compile_regex(entity: str, pattern: str, source: str) -> _Regex:
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        file, _, line = source.rpartition(":")
        located = file and line.isdigit()
        raise ProjectError([Problem(
            "error",
            f"regex {entity!r}: pattern {pattern!r} is not a valid regular expression "
            f"({exc.msg})",
            file=file if located else source, line=int(line) if located else None,
            hint="fix the pattern (Python `re` syntax; escape ( ) [ ] . + ? * with a backslash)",
            code="bad-regex",
        )]) from None
    return _Regex(entity, pattern, source, compiled)


def check_regexes(nlu: NluData) -> tuple[Problem, ...]:
    """Every invalid regex pattern in `nlu`, as problems naming the pattern and its file:line."""
    problems: list[Problem] = []
    for block in nlu.regexes:
        for pattern in block.patterns:
            try:
                _compile_regex(block.name, pattern, str(block.source))
            except ProjectError as exc:
                problems.extend(exc.problems)
    return tuple(problems)


def _trie_regex(keys: Iterable[str]) -> str:
    """A regex matching any of `keys` (normalised), trying longer keys first at each point.

    Sharing prefixes in a trie keeps matching fast for lookup tables with thousands of
    elements; a space in a key matches any run of whitespace.
    """
    end = ""  # marks "a key ends here" inside a trie node
    root: dict[str, dict] = {}
    for key in keys:
        node = root
        for ch in key:
            node = node.setdefault(ch, {})
        node[end] = {}

    def render(node: dict[str, dict]) -> str:
        parts: list[str] = []
        while True:  # follow single-child chains without recursion
            children = [ch for ch in node if ch != end]
            if len(children) == 1 and end not in node:
                ch = children[0]
                parts.append(r"\s+" if ch == " " else re.escape(ch))
                node = node[ch]
                continue
            if children:
                alts = [(r"\s+" if ch == " " else re.escape(ch)) + render(node[ch])
                        for ch in sorted(children)]
                parts.append("(?:" + "|".join(alts) + ")" + ("?" if end in node else ""))
            return "".join(parts)

    return render(root)


def _lookup_pattern(keys: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex that finds, at every start position, the longest key."""
    keys = [_norm(k) for k in keys if k.strip()]
    if not keys:
        return None
    # The lookahead makes the match zero-width, so overlapping elements are all found;
    # greedy optional groups in the trie make the longest element at a position win.
    return re.compile(r"(?<!\w)(?=(" + _trie_regex(keys) + r")(?!\w))", re.IGNORECASE)


class EntityExtractor:
    """Finds regex, lookup and annotated-value entities in a message; see the module doc."""

    def __init__(
        self,
        regexes: Sequence[tuple[str, str, str]] = (),
        lookups: Mapping[str, Sequence[str]] | None = None,
        synonyms: Mapping[str, str] | None = None,
    ) -> None:
        """`regexes`: (entity, pattern, source "file:line"); `lookups`: entity -> literal
        elements, in priority order; `synonyms`: found text -> canonical value."""
        self._regexes = tuple(_compile_regex(e, p, s) for e, p, s in regexes)
        self._lookups: dict[str, tuple[str, ...]] = {
            entity: tuple(dict.fromkeys(e for e in elements if e.strip()))
            for entity, elements in (lookups or {}).items()
        }
        self._synonyms = {_norm(k): v for k, v in (synonyms or {}).items()}
        # Element key -> (entity, rank), first definition wins.
        self._owners: dict[str, tuple[str, int]] = {}
        for rank, (entity, elements) in enumerate(self._lookups.items()):
            for element in elements:
                self._owners.setdefault(_norm(element), (entity, rank))
        self._lookup_re = _lookup_pattern(self._owners)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_project(cls, nlu: NluData | Project) -> EntityExtractor:
        """Build from a project's NLU data (regexes, lookups, synonyms, annotated examples).

        Raises `ProjectError` naming the pattern and its file:line when a regex is invalid.
        """
        data = nlu.nlu if isinstance(nlu, Project) else nlu
        regexes = [(b.name, p, str(b.source)) for b in data.regexes for p in b.patterns]
        synonyms: dict[str, str] = {}
        elements: dict[str, list[str]] = {}
        for table in data.lookups:
            elements.setdefault(table.name, []).extend(table.elements)
        for example in data.examples:
            for ann in example.entities:
                found = elements.setdefault(ann.entity, [])
                found.append(ann.text)
                if ann.value != ann.text and isinstance(ann.value, str):
                    found.append(ann.value)
                    synonyms.setdefault(_norm(ann.text), ann.value)
        for syn in data.synonyms:  # explicit synonyms win over inline `value`s
            for text in syn.examples:
                synonyms[_norm(text)] = syn.value
        # A synonym of a known entity value is a way to write that entity: match it too.
        known = {_norm(e): entity for entity, values in elements.items() for e in values}
        for syn in data.synonyms:
            entity = known.get(_norm(syn.value))
            if entity is not None:
                elements[entity].extend(syn.examples)
        return cls(regexes, elements, synonyms)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form for the model archive (see `from_dict`)."""
        return {
            "format_version": FORMAT_VERSION,
            "regexes": [
                {"entity": r.entity, "pattern": r.pattern, "source": r.source}
                for r in self._regexes
            ],
            "lookups": [{"entity": e, "elements": list(v)} for e, v in self._lookups.items()],
            "synonyms": dict(self._synonyms),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EntityExtractor:
        """Rebuild from `to_dict()` output; raises `ModelError` when it is not that."""
        try:
            version = data.get("format_version")
            if version != FORMAT_VERSION:
                raise ModelError(
                    f"entity extractor data has format_version {version!r}, this supportbot "
                    f"reads {FORMAT_VERSION}; retrain the model with `supportbot train`"
                )
            regexes = [(r["entity"], r["pattern"], r.get("source", "")) for r in data["regexes"]]
            lookups = {item["entity"]: list(item["elements"]) for item in data["lookups"]}
            synonyms = dict(data["synonyms"])
            return cls(regexes, lookups, synonyms)
        except (AttributeError, KeyError, TypeError, ValueError, ProjectError) as exc:
            raise ModelError(
                f"entity extractor data is malformed ({type(exc).__name__}: {exc}); "
                "retrain the model with `supportbot train`"
            ) from None

    # ------------------------------------------------------------------ extraction
    @property
    def entity_names(self) -> tuple[str, ...]:
        """Every entity name this extractor can produce."""
        return tuple(dict.fromkeys([r.entity for r in self._regexes] + list(self._lookups)))

    def extract(self, text: str) -> tuple[Entity, ...]:
        """The entities found in `text`, in text order, without overlaps."""
        candidates: list[_Candidate] = []
        for rank, rx in enumerate(self._regexes):
            for m in rx.compiled.finditer(text):
                if m.end() > m.start():
                    candidates.append(_Candidate(m.start(), m.end(), rx.entity, "regex", rank))
        if self._lookup_re is not None:
            base = len(self._regexes)
            for m in self._lookup_re.finditer(text):
                start, end = m.span(1)
                owner = self._owners.get(_norm(m.group(1)))
                if owner is not None and end > start:
                    entity, rank = owner
                    candidates.append(_Candidate(start, end, entity, "lookup", base + rank))
        chosen: list[_Candidate] = []
        for c in sorted(candidates, key=lambda c: (c.start - c.end, c.start, c.rank)):
            if all(c.end <= k.start or c.start >= k.end for k in chosen):
                chosen.append(c)
        chosen.sort(key=lambda c: c.start)
        return tuple(self._entity(text, c) for c in chosen)

    def _entity(self, text: str, c: _Candidate) -> Entity:
        found = text[c.start : c.end]
        value = self._synonyms.get(_norm(found), found)
        return Entity(entity=c.entity, value=value, start=c.start, end=c.end, text=found,
                      extractor=c.extractor)

    def __repr__(self) -> str:
        return (f"EntityExtractor({len(self._regexes)} regexes, "
                f"{sum(map(len, self._lookups.values()))} lookup elements, "
                f"{len(self._synonyms)} synonyms)")


# ---------------------------------------------------------------------- slot filling
_NOT_APPLICABLE = object()


def _intent_allowed(mapping: SlotMapping, intent: str) -> bool:
    names = {intent, intent.split("/", 1)[0]}
    if mapping.intent:
        return not names.isdisjoint(mapping.intent)
    return names.isdisjoint(mapping.not_intent)


def _conditions_met(mapping: SlotMapping, active_loop: str | None,
                    requested_slot: str | None) -> bool:
    if not mapping.conditions:
        return True
    return any(
        cond.get("active_loop") == active_loop
        and ("requested_slot" not in cond or cond.get("requested_slot") == requested_slot)
        for cond in mapping.conditions
    )


def _entity_used(entity: str, intent: str, domain: Domain) -> bool:
    """False when the intent's `use_entities` / `ignore_entities` exclude `entity`."""
    spec = domain.intents.get(intent) or domain.intents.get(intent.split("/", 1)[0])
    if spec is None:
        return True
    if spec.use_entities is not None and entity not in spec.use_entities:
        return False
    return entity not in spec.ignore_entities


def _coerce(slot: SlotDef, value: Any) -> Any:
    """`value` converted to what `slot` holds, or _NOT_APPLICABLE when it cannot hold it."""
    if value is None:
        return None
    if slot.type == "categorical":
        wanted = str(value).casefold()
        for allowed in slot.values:
            if str(allowed).casefold() == wanted:
                return allowed
        return _NOT_APPLICABLE
    if slot.type == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return {"true": True, "1": True, "false": False, "0": False}.get(text, _NOT_APPLICABLE)
    if slot.type == "float":
        if isinstance(value, bool):
            return _NOT_APPLICABLE
        try:
            return float(value)
        except (TypeError, ValueError):
            return _NOT_APPLICABLE
    return value


def _from_mapping(mapping: SlotMapping, slot: SlotDef, entities: Sequence[Entity],
                  intent: str, domain: Domain, text: str | None, active_loop: str | None
                  ) -> Any:
    """The value one mapping gives the slot, or _NOT_APPLICABLE."""
    is_list = slot.type == "list"
    if mapping.type == "from_entity":
        if mapping.entity is None or not _entity_used(mapping.entity, intent, domain):
            return _NOT_APPLICABLE
        values = [e.value for e in entities
                  if e.entity == mapping.entity and e.role == mapping.role
                  and e.group == mapping.group]
        if is_list:
            return values or _NOT_APPLICABLE
        for value in reversed(values):  # the last mention wins, as in Rasa
            coerced = _coerce(slot, value)
            if coerced is not _NOT_APPLICABLE and coerced is not None:
                return coerced
        return _NOT_APPLICABLE
    if mapping.type == "from_trigger_intent" and active_loop is None:
        return _NOT_APPLICABLE
    if mapping.type in ("from_intent", "from_trigger_intent"):
        value = mapping.value
    elif mapping.type == "from_text" and text is not None:
        value = text
    else:  # custom mappings are run by actions; from_text without text
        return _NOT_APPLICABLE
    if is_list:
        return value if value is None or isinstance(value, list) else [value]
    return _coerce(slot, value)


def fill_slots(
    entities: Sequence[Entity],
    domain: Domain,
    intent: str,
    current_slots: Mapping[str, Any],
    *,
    text: str | None = None,
    active_loop: str | None = None,
    requested_slot: str | None = None,
) -> dict[str, Any]:
    """The slot values one user message sets, by the domain's slot mappings.

    Per slot the first applicable mapping wins (Rasa 3 order). `from_entity` honours
    role, group, `intent`/`not_intent` and the intent's `use_entities`/`ignore_entities`;
    a list slot collects every value, other slots take the last mention. Categorical slots
    only take one of their values (compared case-insensitively, stored as declared); bool
    and float slots only values that convert. `from_text` needs `text`; mapping
    `conditions` are checked against `active_loop` / `requested_slot`; `from_trigger_intent`
    applies only while a loop is active; `custom` mappings are left to actions. A slot
    without mappings is filled from the entity of the same name when the domain's
    `store_entities_as_slots` is on (Rasa 2.x projects).

    Only changes are returned: a slot whose value would stay the same is left out.
    """
    updates: dict[str, Any] = {}
    for name, slot in domain.slots.items():
        mappings = slot.mappings
        if not mappings and domain.store_entities_as_slots and name in domain.entities:
            mappings = (SlotMapping(type="from_entity", entity=name),)
        for mapping in mappings:
            if not _intent_allowed(mapping, intent):
                continue
            if not _conditions_met(mapping, active_loop, requested_slot):
                continue
            value = _from_mapping(mapping, slot, entities, intent, domain, text, active_loop)
            if value is _NOT_APPLICABLE or (value is None and current_slots.get(name) is None):
                continue
            if value != current_slots.get(name):
                updates[name] = value
            break
    return updates
