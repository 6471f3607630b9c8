"""FAQ index benchmark: retrieval quality on FAQ-shaped KBs and search speed at scale.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_kb.py                 # everything
    .venv/bin/python benchmarks/bench_kb.py --skip-scale --skip-real --sweep  # quality + sweep
    .venv/bin/python benchmarks/bench_kb.py --skip-quality --sizes 100 10000
    .venv/bin/python benchmarks/bench_kb.py --dev ...   # development queries (train/val splits)

Quality. KBs built by kb_sets.py from the shared BANKING77 / CLINC150 data (read in place from
$SUPPORTBOT_BENCH_DATA, default /work/shared/benchmarks), every entry with the answer written for
its intent in benchmarks/data/*_faq.yml and a neutral id:
* `1q`  one question per entry, a seeded random training utterance of the intent;
* `faq` one question per entry, the FAQ question written in the data file (a FAQ page);
* `5q`  five seeded training utterances per entry (BANKING77: every 5th intent left out as OOS).
Queries are the test utterances (CLINC150 also `oos_test`, which must not be answered); `--dev`
uses the training side instead (BANKING77 training utterances that are not KB questions,
CLINC150 `val`/`oos_val`): that is what development and fit_kb_priors.py look at.
The example bot's KB (data/kb) is measured by 5-fold cross-validation over its phrasings (each
entry keeps its first question; the held-out phrasings are the queries).

Reported per KB: hit@1, hit@5, MRR@10 of `KBIndex.search`, and with `decide` at the default
settings the answered share, the precision of the answers, the clarify share (and how often the
right entry was among the options), the OOS share answered, and the expected calibration error
of the top score. Baselines on the same entries: plain tf-idf cosine (scikit-learn
`TfidfVectorizer()`, word unigrams) and MiniLM cosine over the entry questions, and the same two
over question + answer (best of question or answer cosine for MiniLM).

Scale: KBs of N phrasings (5 per entry) with random texts and random unit vectors; build time
and single-query `search` latency p50/p99, exact vs HNSW, one thread.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kb_sets import DATA, PER_ENTRY, SEED, KBSet, banking, clinc

from supportbot.kb import KBIndex, decide
from supportbot.kb.index import KBHit
from supportbot.project.types import KBAnswer, KBEntry, KBSettings

ROOT = Path(__file__).resolve().parent.parent
FOLDS = 5


# ---------------------------------------------------------------- data
def example_bot_folds() -> list[KBSet]:
    """data/kb of the example bot, FOLDS folds: each entry keeps its first question; the other
    phrasings are dealt to folds (seeded) and searched against the KB without them."""
    from supportbot.project import load_project

    entries = list(load_project(ROOT).kb)
    rng = random.Random(SEED)
    fold_of = {}
    for e in entries:
        rest = list(range(1, len(e.questions)))
        rng.shuffle(rest)
        for n, q in enumerate(rest):
            fold_of[(e.id, q)] = n % FOLDS
    sets = []
    for f in range(FOLDS):
        kb, queries = [], []
        for e in entries:
            keep = tuple(q for n, q in enumerate(e.questions) if fold_of.get((e.id, n)) != f)
            queries += [(q, e.id) for n, q in enumerate(e.questions) if fold_of.get((e.id, n)) == f]
            kb.append(KBEntry(e.id, keep, e.answer, e.translations, e.tags, e.url, e.source))
        sets.append(KBSet(f"example bot fold {f}", kb, queries, [], set()))
    return sets


def example_bot_settings() -> KBSettings:
    """The example bot's own `kb:` settings (config.yml)."""
    from supportbot.project import load_project

    return load_project(ROOT).config.kb


def kb_sets(dev: bool) -> list[tuple[str, list[KBSet]]]:
    bsplit, csplit = ("train", "val") if dev else ("test", "test")
    out = [(s.name, [s]) for s in [banking(shape, bsplit) for shape in ("1q", "faq", "5q")]
           + [clinc(shape, csplit) for shape in ("1q", "faq", "5q")]]
    if not dev:
        out.append(("example bot data/kb (5-fold)", example_bot_folds()))
    return out


# ---------------------------------------------------------------- quality
def run_queries(index: KBIndex, texts: list[str], vectors: np.ndarray | None,
                k: int = 10) -> list[list[KBHit]]:
    return [index.search(t, k, vector=None if vectors is None else vectors[i])
            for i, t in enumerate(texts)]


def ece(scores: list[float], correct: list[bool], bins: int = 10) -> float:
    s, c = np.asarray(scores), np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (s >= lo) & ((s < hi) | (hi == 1.0))
        if m.any():
            total += m.sum() / len(s) * abs(s[m].mean() - c[m].mean())
    return total


def ranking(ranked: list[list[str]], labels: list[str]) -> dict[str, float]:
    """hit@1, hit@5 and MRR@10 of ranked entry ids."""
    h1 = h5 = rr = 0.0
    for ids, label in zip(ranked, labels):
        if label in ids[:10]:
            pos = ids.index(label)
            h1 += pos == 0
            h5 += pos < 5
            rr += 1.0 / (pos + 1)
    n = max(len(labels), 1)
    return {"hit1": h1 / n, "hit5": h5 / n, "mrr": rr / n}


def measure(in_hits: list[list[KBHit]], labels: list[str], oos_hits: list[list[KBHit]],
            settings: KBSettings) -> dict[str, float]:
    n = len(labels)
    answered = correct = clar = clar_ok = 0
    for hits, label in zip(in_hits, labels):
        d = decide(hits, settings)
        if d.kind == "answer":
            answered += 1
            correct += d.entry_id == label
        elif d.kind == "clarify":
            clar += 1
            clar_ok += label in d.candidates
    oos_kinds = [decide(h, settings).kind for h in oos_hits]
    scores = [h[0].score if h else 0.0 for h in in_hits + oos_hits]
    right = [bool(h) and h[0].entry_id == lab for h, lab in zip(in_hits, labels)]
    right += [False] * len(oos_hits)
    return {
        **ranking([[h.entry_id for h in hits] for hits in in_hits], labels),
        "answer": answered / n, "precision": correct / max(answered, 1),
        "clarify": clar / n, "clarify_ok": clar_ok / max(clar, 1),
        "oos_answer": oos_kinds.count("answer") / max(len(oos_kinds), 1),
        "ece": ece(scores, right), "n_answered": answered, "n_correct": correct,
    }


def baselines(entries: list[KBEntry], texts: list[str], qvec: np.ndarray, labels: list[str],
              encoder) -> dict[str, dict[str, float]]:
    """tf-idf and MiniLM cosine over the entry questions (and over question + answer)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids = [e.id for e in entries]
    owner = np.asarray([i for i, e in enumerate(entries) for _ in e.questions])
    questions = [q for e in entries for q in e.questions]
    joint = [" ".join((*e.questions, e.answer.text)) for e in entries]

    def ranked(sims: np.ndarray, own: np.ndarray) -> list[list[str]]:
        best = np.full((sims.shape[0], len(entries)), -np.inf)
        for j in range(len(entries)):
            cols = np.flatnonzero(own == j)
            if len(cols):
                best[:, j] = sims[:, cols].max(axis=1)
        order = np.argsort(-best, axis=1, kind="stable")[:, :10]
        return [[ids[j] for j in row] for row in order]

    out = {}
    tv = TfidfVectorizer().fit(questions)
    out["tf-idf (questions)"] = ranking(
        ranked((tv.transform(texts) @ tv.transform(questions).T).toarray(), owner), labels)
    qv = encoder.encode(questions)
    out["MiniLM (questions)"] = ranking(ranked(qvec @ qv.T, owner), labels)
    tv = TfidfVectorizer().fit(joint)
    out["tf-idf (question+answer)"] = ranking(
        ranked((tv.transform(texts) @ tv.transform(joint).T).toarray(),
               np.arange(len(entries))), labels)
    av = encoder.encode([e.answer.text for e in entries])
    both = np.concatenate([qv, av])
    out["MiniLM (max question, answer)"] = ranking(
        ranked(qvec @ both.T, np.concatenate([owner, np.arange(len(entries))])), labels)
    return out


def quality(sweep: bool, dev: bool, with_baselines: bool = True) -> None:
    from supportbot.embeddings import Encoder, env_cache_dir

    encoder = Encoder(cache_dir=env_cache_dir())  # $SUPPORTBOT_CACHE_DIR, else in memory
    default_settings = KBSettings()
    rows = []
    sweeps: dict[str, list[tuple[float, dict[str, float]]]] = {}
    for name, folds in kb_sets(dev):
        settings = example_bot_settings() if name.startswith("example bot") else default_settings
        per_variant: dict[str, list] = defaultdict(list)
        base_rows: dict[str, list] = defaultdict(list)
        started = time.perf_counter()
        for kbset in folds:
            texts, labels = [t for t, _ in kbset.queries], [e for _, e in kbset.queries]
            qvec = encoder.encode(texts)
            ovec = encoder.encode(kbset.oos) if kbset.oos else None
            for variant, enc in (("supportbot", encoder), ("supportbot lexical-only", None)):
                index = KBIndex.build(kbset.entries, settings, enc)
                t0 = time.perf_counter()
                in_hits = run_queries(index, texts, qvec if enc else None)
                oos_hits = run_queries(index, kbset.oos, ovec if enc else None)
                ms = (time.perf_counter() - t0) / max(len(texts) + len(kbset.oos), 1) * 1000
                per_variant[variant].append((in_hits, labels, oos_hits, index, ms))
            if with_baselines:
                for b, m in baselines(kbset.entries, texts, qvec, labels, encoder).items():
                    base_rows[b].append((m, len(labels)))
        print(f"# {name}: {len(folds[0].entries)} entries, "
              f"{sum(len(f.queries) for f in folds)} queries + {len(folds[0].oos)} OOS "
              f"({time.perf_counter() - started:.1f}s)", file=sys.stderr)
        for variant, runs in per_variant.items():
            in_hits = [h for r in runs for h in r[0]]
            labels = [lab for r in runs for lab in r[1]]
            oos_hits = [h for r in runs for h in r[2]]
            m = measure(in_hits, labels, oos_hits, settings)
            cal = runs[0][3].calibrator
            rows.append([name, variant, cal.source, f"{m['hit1']:.3f}", f"{m['hit5']:.3f}",
                         f"{m['mrr']:.3f}", f"{m['answer']:.3f}", f"{m['precision']:.3f}",
                         f"{m['clarify']:.3f}", f"{m['clarify_ok']:.3f}",
                         f"{m['oos_answer']:.3f}" if oos_hits else "-", f"{m['ece']:.3f}",
                         f"{statistics.mean(r[4] for r in runs):.2f}"])
            print(f"# {name}/{variant}: calibration {dict(cal.stats)}", file=sys.stderr)
            if sweep and variant == "supportbot":
                sweeps[name] = [(t, measure(in_hits, labels, oos_hits,
                                            KBSettings(threshold=t,
                                                       clarify_margin=settings.clarify_margin)))
                                for t in (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)]
        for b, ms in base_rows.items():
            n = sum(c for _, c in ms)
            avg = {k: sum(m[k] * c for m, c in ms) / n for k in ("hit1", "hit5", "mrr")}
            rows.append([name, b, "-", f"{avg['hit1']:.3f}", f"{avg['hit5']:.3f}",
                         f"{avg['mrr']:.3f}", "-", "-", "-", "-", "-", "-", "-"])
    print_table(["KB", "method", "calib", "hit@1", "hit@5", "MRR@10", "answered", "precision",
                 "clarify", "clar.ok", "OOS ans", "ECE", "ms/query"], rows)
    bot = example_bot_settings()
    print(f"(default settings: threshold {default_settings.threshold or 'auto'}, clarify_margin "
          f"{default_settings.clarify_margin}; the example bot: its config.yml, threshold "
          f"{bot.threshold or 'auto'}, clarify_margin {bot.clarify_margin}; "
          f"ms/query excludes encoding the query; "
          f"queries: {'training side (--dev)' if dev else 'test splits'})")
    for key, points in sweeps.items():
        print(f"\nthreshold sweep {key}")
        print_table(["threshold", "answered", "precision", "clarify", "clar.ok", "OOS ans"],
                    [[f"{t:.2f}", f"{m['answer']:.3f}", f"{m['precision']:.3f}",
                      f"{m['clarify']:.3f}", f"{m['clarify_ok']:.3f}", f"{m['oos_answer']:.3f}"]
                     for t, m in points])


# ---------------------------------------------------------------- scale
class RandomEncoder:
    """Random unit vectors: stands in for a model when only speed is measured."""

    model_name = "random-384"

    def __init__(self, dim: int = 384, seed: int = 0):
        self.dim = dim
        self.rng = np.random.default_rng(seed)

    def encode(self, texts: list[str], use_cache: bool = True) -> np.ndarray:
        v = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def random_texts(n: int, rng: random.Random, vocab: list[str]) -> list[str]:
    return [" ".join(rng.choices(vocab, k=rng.randint(4, 10))) for _ in range(n)]


def scale(sizes: list[int], queries: int) -> None:
    import faiss

    faiss.omp_set_num_threads(1)
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    vocab = sorted({w for t, _ in data["train"] for w in t.split()})
    rows = []
    for n in sizes:
        rng = random.Random(n)
        texts = random_texts(n, rng, vocab)
        entries = [KBEntry(id=f"e{i}", questions=tuple(texts[i * PER_ENTRY:(i + 1) * PER_ENTRY]),
                           answer=KBAnswer("a")) for i in range(n // PER_ENTRY)]
        qtexts = random_texts(queries, rng, vocab)
        for kind, limit in (("exact", n + 1), ("hnsw", 0)):
            encoder = RandomEncoder()
            qvecs = encoder.encode(qtexts)
            started = time.perf_counter()
            index = KBIndex.build(entries, KBSettings(approximate_above=limit), encoder)
            build = time.perf_counter() - started
            assert index.info()["dense_index"] == kind
            lat = []
            for text, vec in zip(qtexts, qvecs):
                t0 = time.perf_counter()
                index.search(text, 5, vector=vec)
                lat.append((time.perf_counter() - t0) * 1000)
            lat.sort()
            dense_lat = []
            for vec in qvecs:
                t0 = time.perf_counter()
                index.dense.search(vec, 32)
                dense_lat.append((time.perf_counter() - t0) * 1000)
            rows.append([f"{n}", kind, f"{build:.1f}", f"{lat[len(lat) // 2]:.2f}",
                         f"{lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.2f}",
                         f"{statistics.median(dense_lat):.3f}", recall(index, qvecs, kind)])
            print(f"# scale {n} {kind} done", file=sys.stderr)
    print_table(["phrasings", "dense index", "build s", "search p50 ms", "search p99 ms",
                 "faiss-only p50 ms", "recall@10"], rows)
    print(f"({queries} queries, k=5, candidate pool 32 per signal, random 384-d vectors, "
          f"faiss 1 thread; build includes the leave-one-out calibration fit)")


def real_scale(queries: int) -> None:
    """Exact vs HNSW on ~28k real phrasings: one entry per intent of CLINC150 (train+val) and
    BANKING77 (train), real embeddings; dense recall@10 and top-1 accuracy on CLINC150 test."""
    import faiss

    from supportbot.embeddings import Encoder, env_cache_dir

    faiss.omp_set_num_threads(1)
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    pairs = [tuple(x) for x in data["train"] + data["val"]]
    with open(DATA / "banking77" / "train.csv", newline="") as fh:
        pairs += [(r["text"], "bank_" + r["category"]) for r in csv.DictReader(fh)]
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in pairs:
        by_intent[intent].append(text)
    entries = [KBEntry(id=intent, questions=tuple(texts), answer=KBAnswer("a"))
               for intent, texts in sorted(by_intent.items())]
    encoder = Encoder(cache_dir=env_cache_dir())  # $SUPPORTBOT_CACHE_DIR, else in memory
    sample = random.Random(SEED).sample(data["test"], queries)
    qtexts, labels = [t for t, _ in sample], [lab for _, lab in sample]
    qvecs = encoder.encode(qtexts)
    rows = []
    for kind, limit in (("exact", 10**9), ("hnsw", 0)):
        started = time.perf_counter()
        index = KBIndex.build(entries, KBSettings(approximate_above=limit), encoder)
        build = time.perf_counter() - started
        lat, right = [], 0
        for text, vec, label in zip(qtexts, qvecs, labels):
            t0 = time.perf_counter()
            hits = index.search(text, 5, vector=vec)
            lat.append((time.perf_counter() - t0) * 1000)
            right += hits[0].entry_id == label
        lat.sort()
        rows.append([f"{len(entries)} / {len(index.phrasings)}", kind, f"{build:.1f}",
                     f"{lat[len(lat) // 2]:.2f}", f"{lat[int(len(lat) * 0.99)]:.2f}",
                     recall(index, qvecs, kind), f"{right / len(labels):.3f}"])
    print_table(["entries / phrasings", "dense index", "build s", "search p50 ms",
                 "search p99 ms", "recall@10", "top-1 acc"], rows)
    print(f"(real all-MiniLM-L6-v2 vectors, {len(qtexts)} CLINC150 test queries, "
          f"faiss 1 thread)")


def recall(index: KBIndex, qvecs: np.ndarray, kind: str) -> str:
    """Recall@10 of the dense index against brute force (1.0 by definition when exact)."""
    if kind == "exact":
        return "1.000"
    vectors = index.dense.vectors(np.arange(len(index.dense)))
    hits = 0
    for vec in qvecs:
        truth = set(np.argsort(-(vectors @ vec))[:10].tolist())
        _, ids = index.dense.search(vec, 10)
        hits += len(truth & set(ids.tolist()))
    return f"{hits / (10 * len(qvecs)):.3f}"


# ---------------------------------------------------------------- output
def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="print a threshold sweep")
    parser.add_argument("--dev", action="store_true",
                        help="quality on training-side queries (for development), not test")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-real", action="store_true",
                        help="skip exact vs HNSW on ~28k real phrasings")
    args = parser.parse_args()
    if not args.skip_quality:
        quality(args.sweep, args.dev, not args.no_baselines)
    if not args.skip_scale:
        print()
        scale(args.sizes, args.queries)
    if not args.skip_real:
        print()
        real_scale(args.queries)


if __name__ == "__main__":
    main()
