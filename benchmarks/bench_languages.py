"""Languages benchmark: the example bot answering held-out questions in en, ru, hy and ky.

    python benchmarks/bench_languages.py                       # both encoders, both data sets
    python benchmarks/bench_languages.py --models all-MiniLM-L6-v2 --data shipped

For each sentence-encoder setting (`nlu.embedding_model`) and each training set, a child process
trains the example bot (a temporary copy of the repository root with that setting) and then asks
it every question of benchmarks/languages/paraphrases.yml through `Bot.handle`, each in a new
conversation. It prints one table row per language:

* topic accuracy: the bot answered with one of the item's `topics` — `kb:<id>` when it answered
  from that FAQ entry (also when the answer came with a handoff, e.g. a billing topic, or the
  entry's own tags asked for a person: a legal topic),
  `intent:<name>` when it acted on that intent without falling back (its response, a form, or a
  handoff the intent asked for);
* fallback rate: the bot said it did not understand (or that the message is out of scope);
* off-topic held: of the set's `off_topic` messages (weather, cooking, a keyboard mash), the
  share the bot did not answer as if they were on topic (a fallback or the out-of-scope reply);
* without training data: accuracy on the questions none of whose topics has a training example
  (NLU example or KB question) in the question's language, counted from the training data;
* parse p50 / p99: `Bot.parse` on each question (a different number appended each round so no
  encoding is reused), three rounds, one torch thread;
* training time and the child's peak RSS (training and serving);
* own data (english-only rows): accuracy on the ru/hy/ky NLU examples and FAQ questions that
  were removed from the training data, asked one per conversation (an out-of-scope example is
  right when the bot says it is out of scope). This is the development set the topic arbiter
  (`supportbot.nlu.arbiter`) was tuned on; the paraphrases above were not used for it.

Training sets: `shipped` is the example bot as it is (every intent has ru/hy/ky examples; 35 of
its 54 FAQ entries have English questions only); `english-only` is the same bot with every
ru/hy/ky NLU example and KB question removed (responses and answers keep their translations).
Latency moves with the load of the shared machine; the load average is printed with the table.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
PARAPHRASES = Path(__file__).resolve().parent / "languages" / "paraphrases.yml"
LANGUAGES = ("en", "ru", "hy", "ky")
DEFAULT_MODELS = ("all-MiniLM-L6-v2", "[all-MiniLM-L6-v2, multilingual-e5-small]")
DATA_SETS = ("shipped", "english-only")
ROUNDS = 3


def load_off_topic(path: Path = PARAPHRASES) -> dict[str, list[str]]:
    """Off-topic messages per language (the right outcome: a fallback)."""
    off = yaml.safe_load(path.read_text(encoding="utf-8")).get("off_topic") or {}
    return {lang: list(off.get(lang) or []) for lang in LANGUAGES}


def load_items(path: Path = PARAPHRASES) -> list[dict]:
    """The benchmark questions: dicts with `topics` and one text per language."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    for item in items:
        missing = [lang for lang in LANGUAGES if not item.get(lang)]
        if missing or not item.get("topics"):
            raise SystemExit(f"{path}: item {item!r} lacks {missing or 'topics'}")
    return items


# ---------------------------------------------------------------------- project copies
def make_project(dest: Path, model: str, data_set: str) -> Path:
    """A copy of the example bot in `dest` with `nlu.embedding_model: <model>`; for
    `english-only`, without any ru/hy/ky NLU example or KB question."""
    dest.mkdir(parents=True)
    for name in ("domain.yml", "endpoints.yml"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "data", dest / "data")
    for extra in ("actions",):
        if (ROOT / extra).is_dir():
            shutil.copytree(ROOT / extra, dest / extra)
    config = (ROOT / "config.yml").read_text(encoding="utf-8")
    config, n = re.subn(r"(?m)^(\s*embedding_model:)[^#\n]*", lambda m: f"{m.group(1)} {model}   ",
                        config, count=1)
    if n != 1:
        raise SystemExit("config.yml has no `embedding_model:` line to replace")
    (dest / "config.yml").write_text(config, encoding="utf-8")
    if data_set == "english-only":
        for path in sorted((dest / "data").rglob("*.yml")):
            _keep_english(path)
    return dest


def _is_english(text: str) -> bool:
    from supportbot.nlu.langid import detect_language

    return detect_language(text, LANGUAGES, default="en") == "en"


def _keep_english(path: Path) -> None:
    """Rewrite a data file without its ru/hy/ky NLU examples and KB questions."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        return
    changed = False
    blocks = []
    for block in data.get("nlu") or []:
        examples = block.get("examples") if isinstance(block, dict) else None
        if "intent" in block and isinstance(examples, str):
            lines = [ln for ln in examples.splitlines() if ln.strip()]
            kept = [ln for ln in lines if _is_english(ln.strip().lstrip("- "))]
            changed |= len(kept) != len(lines)
            if not kept:
                continue
            block = {**block, "examples": "\n".join(kept) + "\n"}
        blocks.append(block)
    if "nlu" in data:
        data["nlu"] = blocks
    for entry in data.get("kb") or []:
        questions = entry.get("questions") or []
        kept = [q for q in questions if _is_english(q)]
        changed |= len(kept) != len(questions)
        entry["questions"] = kept or questions[:1]
    if changed:
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")


# ---------------------------------------------------------------------- one run (child)
def topic_of(turn, bot=None) -> str:
    """What the bot answered: `kb:<id>`, `intent:<name>`, `clarify` or `fallback`."""
    if turn.action in ("fallback", "utter_out_of_scope") or (
            turn.parse.fallback and turn.action not in ("kb_answer", "handoff", "clarify")):
        return "fallback"
    if (turn.kb.kind == "answer" and turn.kb.entry_id and turn.action in ("kb_answer", "handoff")
            and (turn.action == "kb_answer" or not turn.parse.intent or turn.parse.fallback
                 or _tagged_handoff(turn, bot))):
        return f"kb:{turn.kb.entry_id}"
    if turn.action == "clarify":
        return "clarify"
    if turn.parse.fallback:
        return "fallback"
    return f"intent:{turn.parse.intent}"


def _tagged_handoff(turn, bot) -> bool:
    """A handoff that the FAQ answer's own tags asked for (a sensitive topic such as legal):
    the bot answered from that entry and a person takes over, whatever intent the NLU saw."""
    if bot is None or turn.action != "handoff":
        return False
    signals = (turn.debug.get("escalation") or {}).get("signals") or {}
    topic = bot.escalation.config.sensitive_topics.topics.get(
        signals.get("sensitive_topic") or "")
    return topic is not None and bool(set(topic.kb_tags)
                                      & set(bot.kb.entry(turn.kb.entry_id).tags))


def coverage(project) -> dict[str, set[str]]:
    """Topics with at least one training example (NLU example or KB question) per language."""
    from supportbot.nlu.langid import detect_language

    covered: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
    for ex in project.nlu.examples:
        covered[detect_language(ex.text, LANGUAGES, default="en")].add(f"intent:{ex.base_intent}")
    for entry in project.kb:
        for question in entry.questions:
            covered[detect_language(question, LANGUAGES, default="en")].add(f"kb:{entry.id}")
    return covered


def own_translations() -> list[tuple[str, str, list[str]]]:
    """(language, text, topics) of the example bot's ru/hy/ky NLU examples and FAQ questions:
    what `english-only` removes, asked back as a development set."""
    from supportbot.nlu.langid import detect_language
    from supportbot.project import load_project

    project = load_project(ROOT)
    out = []
    for ex in project.nlu.examples:
        lang = detect_language(ex.text, LANGUAGES, default="en")
        if lang != "en":
            topics = [f"intent:{ex.base_intent}"]
            if ex.base_intent == project.config.nlu.out_of_scope_intent:
                topics.append("fallback")
            out.append((lang, ex.text, topics))
    for entry in project.kb:
        for question in entry.questions:
            lang = detect_language(question, LANGUAGES, default="en")
            if lang != "en":
                out.append((lang, question, [f"kb:{entry.id}"]))
    return out


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(spec: dict) -> dict:
    """Train one project copy, ask every question, time `Bot.parse`."""
    import torch

    import supportbot
    from supportbot.project import load_project

    torch.set_num_threads(1)
    work = Path(spec["work"])
    project_dir = make_project(work / "project", spec["model"], spec["data"])
    project = load_project(project_dir)
    started = time.perf_counter()
    archive = supportbot.train(project_dir, work / "models", cache_dir=spec.get("cache"))
    train_seconds = time.perf_counter() - started
    bot = supportbot.Bot.load(archive, tracker_store="memory://",
                              queue=f"sqlite:///{work / 'handoff.db'}")
    if spec.get("without_arbiter"):
        bot.arbiter = None  # the ablation: intents and FAQ entries decided as in English
    texts = {t for ex in project.nlu.examples for t in (ex.text.lower(),)}
    texts |= {q.lower() for e in project.kb for q in e.questions}
    items = load_items()
    covered = coverage(project)
    out: dict = {"train_seconds": train_seconds, "languages": {}, "misses": []}
    for lang in LANGUAGES:
        rows = []
        for n, item in enumerate(items):
            text = item[lang]
            if text.lower() in texts:
                raise SystemExit(f"{text!r} is a training text: the set must be held out")
            turn = bot.handle(f"bench-{lang}-{n}", text)
            got = topic_of(turn, bot)
            unseen = not any(t in covered[lang] for t in item["topics"])
            right = got in item["topics"]
            rows.append({"right": right, "fallback": got == "fallback", "unseen": unseen,
                         "language_detected": turn.parse.language})
            if not right:
                out["misses"].append({"language": lang, "text": text, "want": item["topics"],
                                      "got": got, "unseen": unseen,
                                      "detected": turn.parse.language})
        off_topic = [topic_of(bot.handle(f"off-{lang}-{n}", text), bot) == "fallback"
                     for n, text in enumerate(load_off_topic()[lang])]
        times = []
        for r in range(ROUNDS):
            for n, item in enumerate(items):
                started = time.perf_counter()
                bot.parse(f"{item[lang]} {r * 1000 + n}")
                times.append((time.perf_counter() - started) * 1000)
        unseen = [r for r in rows if r["unseen"]]
        out["languages"][lang] = {
            "n": len(rows),
            "accuracy": float(np.mean([r["right"] for r in rows])),
            "fallback": float(np.mean([r["fallback"] for r in rows])),
            "unseen_n": len(unseen),
            "unseen_accuracy": (float(np.mean([r["right"] for r in unseen]))
                                if unseen else None),
            "detected": float(np.mean([r["language_detected"] == lang for r in rows])),
            "off_topic": (float(np.mean(off_topic)), len(off_topic)) if off_topic else None,
            "p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)),
        }
    if spec["data"] == "english-only":
        own: dict[str, list[bool]] = {lang: [] for lang in LANGUAGES}
        for n, (lang, text, topics) in enumerate(own_translations()):
            own[lang].append(topic_of(bot.handle(f"own-{n}", text), bot) in topics)
        for lang, rights in own.items():
            out["languages"][lang]["own"] = (float(np.mean(rights)), len(rights)) if rights \
                else None
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# ---------------------------------------------------------------------- main
def run_child(model: str, data_set: str, cache: Path | None,
              without_arbiter: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-lang-") as tmp:
        spec = {"model": model, "data": data_set, "work": tmp,
                "cache": str(cache) if cache else None, "without_arbiter": without_arbiter}
        result = Path(tmp) / "result.json"
        subprocess.run([sys.executable, __file__, "--child", json.dumps(spec), "--out",
                        str(result)], check=True)
        return json.loads(result.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="`nlu.embedding_model` values to compare (YAML)")
    parser.add_argument("--data", nargs="+", default=list(DATA_SETS), choices=DATA_SETS)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="embedding cache shared by the runs (default: a temporary one); "
                             "training times are then warm-cache times")
    parser.add_argument("--misses", action="store_true", help="list every wrong answer")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--without-arbiter", action="store_true",
                        help="ablation: switch the topic arbiter (supportbot.nlu.arbiter) off")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.out.write_text(json.dumps(child(json.loads(args.child))))
        return
    load_before = os.getloadavg()
    results = []
    for data_set in args.data:
        for model in args.models:
            started = time.perf_counter()
            result = run_child(model, data_set, args.cache_dir, args.without_arbiter)
            print(f"[{time.strftime('%H:%M:%S')}] {data_set} / {model}: "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
            results.append((data_set, model, result))
    header = ("training data", "nlu.embedding_model", "lang", "topic acc", "no-data acc (n)",
              "fallback", "off-topic held (n)", "own data acc (n)", "parse p50 / p99 ms",
              "train s", "peak RSS MB")
    rows = []
    for data_set, model, result in results:
        for lang in LANGUAGES:
            r = result["languages"][lang]
            unseen = ("-" if r["unseen_accuracy"] is None
                      else f"{r['unseen_accuracy']:.0%} ({r['unseen_n']})")
            own, off = r.get("own"), r.get("off_topic")
            rows.append((data_set, model, lang, f"{r['accuracy']:.0%}", unseen,
                         f"{r['fallback']:.0%}", "-" if not off else f"{off[0]:.0%} ({off[1]})",
                         "-" if not own else f"{own[0]:.0%} ({own[1]})",
                         f"{r['p50']:.1f} / {r['p99']:.1f}",
                         f"{result['train_seconds']:.0f}", f"{result['peak_rss_mb']:.0f}"))
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    n = len(load_items())
    print(f"\n{n} questions per language; load average before/after "
          f"{load_before[0]:.2f}/{os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    if args.misses:
        for data_set, model, result in results:
            for miss in result["misses"]:
                print(f"{data_set} | {model} | {miss['language']} | {miss['text']} | want "
                      f"{miss['want']} | got {miss['got']}"
                      f"{' | no data' if miss['unseen'] else ''}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
