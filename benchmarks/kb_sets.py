"""FAQ-shaped knowledge bases built from the shared BANKING77 and CLINC150 data (read in place).

Used by bench_kb.py (test splits as queries) and fit_kb_priors.py (training / validation splits
only). Every KB entry gets a neutral id (`e000`, ...), so that an intent name never reaches the
index, and the answer written for its intent in benchmarks/data/*_faq.yml.

Shapes:
* `1q`:      one question per entry: a seeded random *training* utterance of the intent;
* `faq`:     one question per entry: the question written in the FAQ file (a FAQ page);
* `5q`:      five seeded training utterances per entry (several phrasings).
"""
from __future__ import annotations

import csv
import json
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from supportbot.project.types import KBAnswer, KBEntry

DATA = Path(os.environ.get("SUPPORTBOT_BENCH_DATA", "/work/shared/benchmarks"))
HERE = Path(__file__).resolve().parent
SEED = 13
PER_ENTRY = 5
HELD_OUT_EVERY = 5  # BANKING77 `5q`: every 5th intent is left out of the KB and used as OOS


@dataclass
class KBSet:
    """A KB plus labelled queries: `queries` (text, entry id) and `oos` (texts with no entry)."""

    name: str
    entries: list[KBEntry]
    queries: list[tuple[str, str]]
    oos: list[str]
    train_texts: set[str]  # training utterances used as KB questions (never dev queries)


def _faq(name: str) -> dict[str, dict[str, str]]:
    data = yaml.safe_load((HERE / "data" / f"{name}_faq.yml").read_text())["entries"]
    return {str(k): v for k, v in data.items()}


def banking_rows(split: str) -> list[tuple[str, str]]:
    with open(DATA / "banking77" / f"{split}.csv", newline="") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def clinc_data() -> dict:
    return json.loads((DATA / "clinc150" / "data_full.json").read_text())


def make_kb(name: str, shape: str, train: list[tuple[str, str]], faq: dict[str, dict[str, str]],
            skip: frozenset[str] = frozenset()) -> tuple[list[KBEntry], dict[str, str], set[str]]:
    """Entries (neutral ids), intent -> entry id, and the training texts used as questions."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in train:
        by_intent[intent].append(text)
    rng = random.Random(f"{SEED}-{name}-{shape}")
    entries, ids, used = [], {}, set()
    for n, intent in enumerate(sorted(i for i in faq if i not in skip)):
        if shape == "faq":
            questions = (faq[intent]["question"],)
        elif shape == "1q":
            questions = (rng.choice(by_intent[intent]),)
        else:
            texts = by_intent[intent]
            questions = tuple(rng.sample(texts, min(PER_ENTRY, len(texts))))
        used.update(questions)
        ids[intent] = f"e{n:03d}"
        entries.append(KBEntry(id=ids[intent], questions=questions,
                               answer=KBAnswer(faq[intent]["answer"])))
    return entries, ids, used


def banking(shape: str, split: str = "test") -> KBSet:
    """BANKING77: queries from `split` ("test", or "train" for fitting: the training
    utterances not used as questions). `5q` leaves every 5th intent out as OOS."""
    faq = _faq("banking77")
    train = banking_rows("train")
    cats = json.loads((DATA / "banking77" / "categories.json").read_text())
    held = frozenset(cats[HELD_OUT_EVERY - 1::HELD_OUT_EVERY]) if shape == "5q" else frozenset()
    entries, ids, used = make_kb("banking77", shape, train, faq, held)
    rows = banking_rows(split) if split == "test" else [r for r in train if r[0] not in used]
    return KBSet(f"BANKING77 {shape}", entries,
                 [(t, ids[c]) for t, c in rows if c in ids], [t for t, c in rows if c in held],
                 used)


def clinc(shape: str, split: str = "test") -> KBSet:
    """CLINC150: queries from `split` ("test" + oos_test, or "val" + oos_val for fitting)."""
    data = clinc_data()
    faq = _faq("clinc150")
    entries, ids, used = make_kb("clinc150", shape, [tuple(x) for x in data["train"]], faq)
    return KBSet(f"CLINC150 {shape}", entries, [(t, ids[i]) for t, i in data[split]],
                 [t for t, _ in data[f"oos_{split}"]], used)
