"""`rules:` and `stories:` sections. Rules are executed; stories are read and checked only."""
from __future__ import annotations

from typing import Any, cast

from supportbot.project.context import FileContext, NotExecutedLog, type_name
from supportbot.project.types import MISSING, Rule, Step, Story
from supportbot.project.yamlio import LineMap

_STEP_KEYS = ("intent", "user", "entities", "action", "bot", "slot_was_set", "active_loop",
              "or", "checkpoint", "metadata")
_RULE_KEYS = ("rule", "steps", "condition", "conversation_start", "wait_for_user_input",
              "metadata")
_STORY_KEYS = ("story", "steps", "metadata")


def read_rules(section: Any, parent: dict, ctx: FileContext, out: list[Rule],
               log: NotExecutedLog) -> None:
    """Read one file's `rules:` list into `out`."""
    for item, name in _named_blocks(section, parent, "rules", "rule", ctx):
        ctx.check_keys(item, _RULE_KEYS, f"rule {name!r}")
        steps = _read_steps(item.get("steps"), item, f"rule {name!r}", ctx, log, in_rule=True)
        condition: tuple[Step, ...] = ()
        if item.get("condition") is not None:
            condition = _read_steps(item["condition"], item, f"condition of rule {name!r}",
                                    ctx, log, in_rule=True, key="condition")
            for step in condition:
                if step.kind not in ("slot_was_set", "active_loop"):
                    ctx.error(f"rule {name!r}: a condition may only hold `slot_was_set` and "
                              f"`active_loop` steps, not `{step.kind}`", line=step.source.line,
                              hint="move it to `steps:`", code="rule-condition")
        flags = {}
        for key, default in (("conversation_start", False), ("wait_for_user_input", True)):
            value = item.get(key, default)
            flags[key] = value if ctx.expect(value, bool, f"`{key}`", item, key) else default
        if not steps:
            continue
        out.append(Rule(name=name, steps=steps, condition=condition,
                        conversation_start=flags["conversation_start"],
                        wait_for_user_input=flags["wait_for_user_input"],
                        source=ctx.at(item, "rule")))


def read_stories(section: Any, parent: dict, ctx: FileContext, out: list[Story],
                 log: NotExecutedLog) -> None:
    """Read one file's `stories:` list into `out` (and note that stories are not executed)."""
    for item, name in _named_blocks(section, parent, "stories", "story", ctx):
        ctx.check_keys(item, _STORY_KEYS, f"story {name!r}")
        steps = _read_steps(item.get("steps"), item, f"story {name!r}", ctx, log,
                            in_rule=False)
        source = ctx.at(item, "story")
        log.add("stories are read and checked but not executed", source,
                "supportbot follows `rules:`; write the key paths as rules")
        out.append(Story(name=name, steps=steps, source=source))


def _named_blocks(section: Any, parent: dict, key: str, kind: str, ctx: FileContext
                  ) -> list[tuple[LineMap, str]]:
    if section is None:
        return []
    if not isinstance(section, list):
        ctx.error(f"`{key}` must be a list of `- {kind}: name` items, not {type_name(section)}",
                  parent, key, code="wrong-type")
        return []
    blocks = []
    for i, item in enumerate(section):
        if not isinstance(item, dict):
            ctx.error(f"each item of `{key}` must be a mapping starting with `- {kind}:`",
                      section, i, code="wrong-type")
            continue
        name = item.get(kind)
        if name is None or isinstance(name, (list, dict)):
            other = "rule" if kind == "story" else "story"
            where = "rules" if other == "rule" else "stories"
            hint = (f"this looks like a {other}; put it under `{where}:`" if other in item
                    else f"start it with `- {kind}: <a name>`")
            ctx.error(f"item of `{key}` has no `{kind}:` name", section, i, hint=hint,
                      code="no-name")
            continue
        blocks.append((cast(LineMap, item), str(name)))  # YAML mappings are LineMaps
    return blocks


def _read_steps(value: Any, parent: dict, what: str, ctx: FileContext, log: NotExecutedLog,
                in_rule: bool, key: str = "steps") -> tuple[Step, ...]:
    if value is None:
        if key == "steps":
            ctx.error(f"{what} has no `steps`", parent, hint="add `steps:` with at least one "
                      "`- intent:` or `- action:`", code="no-steps")
        return ()
    if not isinstance(value, list):
        ctx.error(f"{what}: `{key}` must be a list of steps, not {type_name(value)}", parent,
                  key, code="wrong-type")
        return ()
    steps = []
    for i, raw in enumerate(value):
        step = _read_step(raw, value, i, what, ctx, log, in_rule)
        if step is not None:
            steps.append(step)
    if not steps and key == "steps":
        ctx.error(f"{what} has no usable steps", parent, key, code="no-steps")
    return tuple(steps)


def _read_step(raw: Any, parent: list, index: int, what: str, ctx: FileContext,
               log: NotExecutedLog, in_rule: bool) -> Step | None:
    source = ctx.at(parent, index)
    if not isinstance(raw, dict):
        ctx.error(f"{what}: a step must be a mapping such as `- intent: greet` or "
                  f"`- action: utter_greet`, not {type_name(raw)}", parent, index,
                  code="wrong-type")
        return None
    ctx.check_keys(raw, _STEP_KEYS, f"a step of {what}")
    e2e_hint = "supportbot reads `intent:` and `action:` steps; end-to-end text is ignored"
    if "intent" in raw or "user" in raw:
        if "user" in raw:
            log.add("end-to-end `user:` steps are read but not executed", source, e2e_hint)
        if "intent" not in raw:
            return Step("user", str(raw["user"]), source=source)
        intent = raw["intent"]
        if not isinstance(intent, str) or not intent:
            ctx.error(f"{what}: `intent` must be an intent name", raw, "intent",
                      code="wrong-type")
            return None
        return Step("intent", intent, entities=_step_entities(raw.get("entities"), raw, ctx),
                    source=source)
    if "action" in raw:
        action = raw["action"]
        if not isinstance(action, str) or not action:
            ctx.error(f"{what}: `action` must be an action or response name", raw, "action",
                      code="wrong-type")
            return None
        if action.startswith("respond_"):
            renamed = "utter_" + action[len("respond_"):]
            ctx.warning(f"{what}: `{action}` is the Rasa 1.x name of `{renamed}`; read as "
                        f"`{renamed}`", raw, "action", hint=f"rename it to {renamed}",
                        code="deprecated")
            action = renamed
        return Step("action", action, source=source)
    if "bot" in raw:
        log.add("end-to-end `bot:` steps are read but not executed", source, e2e_hint)
        return Step("bot", str(raw["bot"]), source=source)
    if "slot_was_set" in raw:
        return Step("slot_was_set", slots=_slot_events(raw["slot_was_set"], raw, ctx),
                    source=source)
    if "active_loop" in raw:
        loop = raw["active_loop"]
        if loop is not None and not isinstance(loop, str):
            ctx.error(f"{what}: `active_loop` must be a form name or null", raw, "active_loop",
                      code="wrong-type")
            return None
        return Step("active_loop", loop, source=source)
    if "checkpoint" in raw:
        log.add("checkpoints are read but not executed", source,
                "write each path as a separate rule")
        return Step("checkpoint", str(raw["checkpoint"]), source=source)
    if "or" in raw:
        alternatives = raw["or"]
        if not isinstance(alternatives, list) or not alternatives:
            ctx.error(f"{what}: `or` must be a list of `intent:` or `slot_was_set:` steps", raw,
                      "or", code="wrong-type")
            return None
        steps = [s for i, r in enumerate(alternatives)
                 if (s := _read_step(r, alternatives, i, what, ctx, log, in_rule)) is not None]
        return Step("or", alternatives=tuple(steps), source=source)
    ctx.error(f"{what}: step has none of `intent`, `action`, `slot_was_set`, `active_loop`, "
              "`or`, `checkpoint`", parent, index, code="step")
    return None


def _step_entities(value: Any, parent: dict, ctx: FileContext) -> tuple[tuple[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        ctx.error("`entities` of an intent step must be a list", parent, "entities",
                  code="wrong-type")
        return ()
    result: list[tuple[str, Any]] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            result.append((item, None))
        elif isinstance(item, dict) and "entity" in item:
            result.append((str(item["entity"]), item.get("value")))
        elif isinstance(item, dict) and item:
            result.extend((str(k), v) for k, v in item.items())
        else:
            ctx.error("each entity of an intent step must be a name or `name: value`", value,
                      i, code="wrong-type")
    return tuple(result)


def _slot_events(value: Any, parent: dict, ctx: FileContext) -> tuple[tuple[str, Any], ...]:
    if not isinstance(value, list):
        ctx.error("`slot_was_set` must be a list of `- slot_name: value` or `- slot_name`",
                  parent, "slot_was_set", code="wrong-type")
        return ()
    result: list[tuple[str, Any]] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            result.append((item, MISSING))
        elif isinstance(item, dict) and item:
            result.extend((str(k), v) for k, v in item.items())
        else:
            ctx.error("each `slot_was_set` item must be `slot_name: value` or a slot name",
                      value, i, code="wrong-type")
    return tuple(result)
