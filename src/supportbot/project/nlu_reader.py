"""The `nlu:` section: intents with examples, synonyms, regexes and lookup tables."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from supportbot.project.context import FileContext, type_name
from supportbot.project.markup import parse_markup
from supportbot.project.types import (
    Example,
    LookupTable,
    NluData,
    RegexPattern,
    Source,
    Synonym,
)
from supportbot.project.yamlio import LineMap, line_of, value_line

_KINDS = ("intent", "synonym", "regex", "lookup")
_ITEM_KEYS = {
    "intent": ("intent", "examples", "metadata"),
    "synonym": ("synonym", "examples"),
    "regex": ("regex", "examples"),
    "lookup": ("lookup", "examples"),
}


@dataclass
class NluBuilder:
    """Accumulates NLU data across files; `build()` makes the immutable `NluData`."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    synonym_sources: dict[str, Source] = field(default_factory=dict)
    regexes: dict[str, tuple[list[str], Source]] = field(default_factory=dict)
    lookups: dict[str, tuple[list[str], Source]] = field(default_factory=dict)

    def add_synonym(self, value: str, text: str, source: Source) -> None:
        if text == value:
            return
        texts = self.synonyms.setdefault(value, [])
        self.synonym_sources.setdefault(value, source)
        if text not in texts:
            texts.append(text)

    def build(self) -> NluData:
        return NluData(
            examples=tuple(self.examples),
            synonyms=tuple(Synonym(v, tuple(t), self.synonym_sources[v])
                           for v, t in self.synonyms.items()),
            regexes=tuple(RegexPattern(n, tuple(p), s) for n, (p, s) in self.regexes.items()),
            lookups=tuple(LookupTable(n, tuple(e), s) for n, (e, s) in self.lookups.items()),
        )


def read_nlu(section: Any, parent: dict, ctx: FileContext, out: NluBuilder) -> None:
    """Read one file's `nlu:` list into `out`, reporting problems to `ctx`."""
    if section is None:
        return
    if not isinstance(section, list):
        ctx.error(f"`nlu` must be a list of `- intent:`/`- synonym:`/`- regex:`/`- lookup:` "
                  f"items, not {type_name(section)}", parent, "nlu", code="wrong-type")
        return
    for index, item in enumerate(section):
        if not isinstance(item, dict):
            ctx.error("each `nlu` item must be a mapping such as `- intent: greet`", section,
                      index, code="wrong-type")
            continue
        kinds = [k for k in _KINDS if k in item]
        if len(kinds) != 1:
            hint = ("start the item with one of: " + ", ".join(f"`{k}:`" for k in _KINDS))
            what = "names several kinds" if kinds else "has no `intent`, `synonym`, `regex` " \
                                                        "or `lookup` key"
            ctx.error(f"nlu item {what}", item, hint=hint, code="nlu-item")
            if not kinds:
                ctx.check_keys(item, ("intent", "examples", "metadata", "synonym", "regex",
                                      "lookup"), "an nlu item")
            continue
        kind = kinds[0]
        ctx.check_keys(item, _ITEM_KEYS[kind], f"nlu {kind} item")
        name = item[kind]
        if isinstance(name, (int, float)) and not isinstance(name, bool):
            ctx.error(f"`{kind}: {name}` is a number, but a {kind} name must be text", item,
                      kind, hint=f'quote it (`{kind}: "{name}"`) if the number is meant as the '
                                 "name, or give the name you meant", code="wrong-type")
            continue
        if not isinstance(name, str) or not name.strip():
            ctx.error(f"`{kind}` must name something (text)", item, kind, code="wrong-type")
            continue
        name = name.strip()
        if "examples" not in item:
            ctx.error(f"{kind} {name!r} has no `examples`", item, kind,
                      hint="add `examples: |` followed by `- ...` lines", code="no-examples")
            continue
        block = cast(LineMap, item)  # mappings read from YAML are LineMaps
        if kind == "intent":
            _read_intent(name, block, ctx, out)
        else:
            items = [(t, line) for t, line in _block_items(block, ctx, kind, name)
                     if isinstance(t, str)]
            src = ctx.at(item, kind)
            if kind == "synonym":
                for text, _line in items:
                    out.add_synonym(name, text, src)
            elif kind == "regex":
                for text, line in items:
                    _check_regex(text, name, ctx, line)
                out.regexes.setdefault(name, ([], src))[0].extend(t for t, _ in items)
            else:
                out.lookups.setdefault(name, ([], src))[0].extend(t for t, _ in items)


def _check_regex(pattern: str, name: str, ctx: FileContext, line: int) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        ctx.error(f"regex {name!r}: pattern {pattern!r} is not a valid regular expression "
                  f"({exc.msg})", line=line, hint="fix the pattern (Python `re` syntax)",
                  code="bad-regex")


def _block_items(item: LineMap, ctx: FileContext, kind: str, name: str
                 ) -> Iterator[tuple[str, int]]:
    """(text, line) for each `- ...` line of an `examples: |` block, or each list item."""
    raw = item["examples"]
    base = value_line(item, "examples")
    if isinstance(raw, str):
        for offset, line_text in enumerate(raw.split("\n")):
            stripped = line_text.strip()
            if not stripped:
                continue
            if not stripped.startswith("-"):
                ctx.warning(f"{kind} {name!r}: line without a leading `- ` is skipped: "
                            f"{stripped[:60]!r}", line=base + offset,
                            hint="start every example with `- `", code="block-line")
                continue
            text = stripped[1:].strip()
            if not text:
                ctx.warning(f"{kind} {name!r}: empty example skipped", line=base + offset,
                            code="empty-example")
                continue
            yield text, base + offset
    elif isinstance(raw, list):
        for i, entry in enumerate(raw):
            line = line_of(raw, i, base)
            if isinstance(entry, dict) and kind == "intent":
                yield entry, line  # type: ignore[misc]  # extended form, handled by caller
            elif isinstance(entry, (str, int, float)) and not isinstance(entry, bool):
                text = str(entry).strip()
                if text:
                    yield text, line
            else:
                ctx.error(f"{kind} {name!r}: example must be text, not {type_name(entry)}",
                          raw, i, code="wrong-type")
    elif raw is None:
        ctx.error(f"{kind} {name!r} has an empty `examples`", item, "examples",
                  hint="add `- ...` lines below `examples: |`", code="no-examples")
    else:
        ctx.error(f"{kind} {name!r}: `examples` must be a `|` block of `- ...` lines or a list",
                  item, "examples", code="wrong-type")


def _read_intent(name: str, item: LineMap, ctx: FileContext, out: NluBuilder) -> None:
    if name.count("/") > 1 or name.startswith("/") or name.endswith("/"):
        ctx.error(f"intent name {name!r} is not valid", item, "intent",
                  hint="use `name` or, for a retrieval intent, `name/key`", code="bad-name")
        return
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, dict):
        ctx.error("intent `metadata` must be a mapping", item, "metadata", code="wrong-type")
        metadata = {}
    for entry, line in _block_items(item, ctx, "intent", name):
        meta: dict = metadata
        if isinstance(entry, dict):
            ctx.check_keys(entry, ("text", "metadata"), f"example of intent {name!r}")
            text = entry.get("text")
            if isinstance(text, (int, float)) and not isinstance(text, bool):
                text = str(text)
            if not isinstance(text, str) or not text.strip():
                ctx.error(f"intent {name!r}: example needs `text`", entry, code="no-text")
                continue
            text = text.strip()
            extra = entry.get("metadata")
            if extra is not None:
                if isinstance(extra, dict):
                    meta = {**metadata, **extra}
                else:
                    ctx.error("example `metadata` must be a mapping", entry, "metadata",
                              code="wrong-type")
        else:
            text = entry
        _add_example(text, name, meta, Source(ctx.file, line), ctx, out)


def _add_example(raw: str, intent: str, metadata: dict, source: Source, ctx: FileContext,
                 out: NluBuilder) -> None:
    parsed = parse_markup(raw)
    for error in parsed.errors:
        ctx.error(f"intent {intent!r}: {error}", line=source.line, code="bad-annotation")
    for ann in parsed.entities:
        if ann.value != ann.text:
            out.add_synonym(ann.value, ann.text, source)
    text = parsed.text.strip()
    if not text:
        ctx.warning(f"intent {intent!r}: empty example skipped", line=source.line,
                    code="empty-example")
        return
    if text != parsed.text:
        shift = len(parsed.text) - len(parsed.text.lstrip())
        entities = tuple(
            type(a)(a.entity, a.value, a.start - shift, a.end - shift, a.text, a.role, a.group)
            for a in parsed.entities)
    else:
        entities = parsed.entities
    out.examples.append(Example(text=text, intent=intent, entities=entities,
                                metadata=metadata, source=source))
