"""FAQ index benchmark: retrieval quality on CLINC150 / BANKING77 and search speed at scale.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_kb.py            # everything
    .venv/bin/python benchmarks/bench_kb.py --skip-scale --sweep        # quality + threshold sweep
    .venv/bin/python benchmarks/bench_kb.py --skip-quality --sizes 100 10000

Quality: every intent becomes a KB entry whose questions are PER_ENTRY (5) of its training
utterances (seeded sample); test utterances are the queries. CLINC150's `oos_test` and, for
BANKING77, the test utterances of HELD_OUT intents left out of the KB, must get `none`.
Reported: top-1 accuracy, answer rate, precision of answers, clarify rate (and how often the
right entry is among the options), OOS handling, and the expected calibration error of the
top score. Data are read from $SUPPORTBOT_BENCH_DATA (default /work/shared/benchmarks).

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

from supportbot.kb import KBIndex, decide
from supportbot.kb.index import KBHit
from supportbot.project.types import KBAnswer, KBEntry, KBSettings

DATA = Path(os.environ.get("SUPPORTBOT_BENCH_DATA", "/work/shared/benchmarks"))
PER_ENTRY = 5
HELD_OUT_EVERY = 5  # BANKING77: every 5th intent is left out of the KB and used as OOS
SEED = 13


# ---------------------------------------------------------------- data
def _sample_kb(train: list[tuple[str, str]], skip: set[str] = frozenset()) -> list[KBEntry]:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in train:
        if intent not in skip:
            by_intent[intent].append(text)
    rng = random.Random(SEED)
    return [KBEntry(id=intent, questions=tuple(rng.sample(texts, min(PER_ENTRY, len(texts)))),
                    answer=KBAnswer(f"answer for {intent}"))
            for intent, texts in sorted(by_intent.items())]


def load_clinc() -> tuple[list[KBEntry], list[tuple[str, str]], list[str]]:
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    kb = _sample_kb([tuple(x) for x in data["train"]])
    return kb, [tuple(x) for x in data["test"]], [t for t, _ in data["oos_test"]]


def load_banking() -> tuple[list[KBEntry], list[tuple[str, str]], list[str]]:
    def rows(name: str) -> list[tuple[str, str]]:
        with open(DATA / "banking77" / name, newline="") as fh:
            return [(r["text"], r["category"]) for r in csv.DictReader(fh)]

    cats = json.loads((DATA / "banking77" / "categories.json").read_text())
    held = set(cats[HELD_OUT_EVERY - 1::HELD_OUT_EVERY])
    kb = _sample_kb(rows("train.csv"), held)
    test = rows("test.csv")
    return (kb, [(t, c) for t, c in test if c not in held], [t for t, c in test if c in held])


# ---------------------------------------------------------------- quality
def run_queries(index: KBIndex, texts: list[str], vectors: np.ndarray | None) -> list[list[KBHit]]:
    return [index.search(t, 5, vector=None if vectors is None else vectors[i])
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


def measure(in_hits: list[list[KBHit]], labels: list[str], oos_hits: list[list[KBHit]],
            settings: KBSettings) -> dict[str, float]:
    n = len(labels)
    top1 = answered = correct = clar = clar_ok = 0
    for hits, label in zip(in_hits, labels):
        top1 += bool(hits) and hits[0].entry_id == label
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
        "top1": top1 / n, "answer": answered / n, "precision": correct / max(answered, 1),
        "clarify": clar / n, "clarify_ok": clar_ok / max(clar, 1),
        "oos_none": oos_kinds.count("none") / max(len(oos_kinds), 1),
        "oos_answer": oos_kinds.count("answer") / max(len(oos_kinds), 1),
        "oos_clarify": oos_kinds.count("clarify") / max(len(oos_kinds), 1),
        "ece": ece(scores, right),
    }


def quality(sweep: bool) -> None:
    from supportbot.embeddings import Encoder, env_cache_dir

    encoder = Encoder(cache_dir=env_cache_dir())  # $SUPPORTBOT_CACHE_DIR, else in memory
    settings = KBSettings()
    datasets = {"CLINC150": load_clinc(), "BANKING77": load_banking()}
    rows = []
    sweeps: dict[str, list[tuple[float, dict[str, float]]]] = {}
    for name, (kb, test, oos) in datasets.items():
        texts, labels = [t for t, _ in test], [lab for _, lab in test]
        started = time.perf_counter()
        qvec = encoder.encode(texts)
        ovec = encoder.encode(oos)
        print(f"# {name}: {len(kb)} entries x {PER_ENTRY}, {len(texts)} in-scope + {len(oos)} OOS "
              f"queries (encoded in {time.perf_counter() - started:.1f}s)", file=sys.stderr)
        for variant, enc in (("hybrid", encoder), ("lexical-only", None)):
            index = KBIndex.build(kb, settings, enc)
            started = time.perf_counter()
            in_hits = run_queries(index, texts, qvec if enc else None)
            oos_hits = run_queries(index, oos, ovec if enc else None)
            per_query = (time.perf_counter() - started) / (len(texts) + len(oos)) * 1000
            m = measure(in_hits, labels, oos_hits, settings)
            cal = index.calibrator
            rows.append([name, variant, cal.source, f"{index.build_info['build_seconds']:.1f}",
                         f"{m['top1']:.3f}", f"{m['answer']:.3f}", f"{m['precision']:.3f}",
                         f"{m['clarify']:.3f}", f"{m['clarify_ok']:.3f}", f"{m['oos_none']:.3f}",
                         f"{m['oos_answer']:.3f}", f"{m['oos_clarify']:.3f}", f"{m['ece']:.3f}",
                         f"{per_query:.2f}"])
            for label, head in (("relevance", cal.pooled.relevance), ("score", cal.pooled.score)):
                print(f"# {name}/{variant} {cal.source} {label} weights: intercept "
                      f"{head.intercept:.2f}, "
                      + ", ".join(f"{f} {w:.2f}" for f, w in zip(head.features, head.weights)),
                      file=sys.stderr)
            print(f"# leave-one-out: {dict(cal.stats)}", file=sys.stderr)
            if sweep:
                sweeps[f"{name}/{variant}"] = [
                    (t, measure(in_hits, labels, oos_hits, KBSettings(threshold=t)))
                    for t in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)]
    print_table(["dataset", "variant", "calib", "build s", "top1", "answer", "precision",
                 "clarify", "clar.ok", "oos none", "oos ans", "oos clar", "ECE", "ms/query"], rows)
    print("(threshold 0.55, clarify_margin 0.05; ms/query excludes encoding the query)")
    for key, points in sweeps.items():
        print(f"\nthreshold sweep {key}")
        print_table(["threshold", "answer", "precision", "clarify", "clar.ok", "oos none",
                     "oos ans"],
                    [[f"{t:.2f}", f"{m['answer']:.3f}", f"{m['precision']:.3f}",
                      f"{m['clarify']:.3f}", f"{m['clarify_ok']:.3f}", f"{m['oos_none']:.3f}",
                      f"{m['oos_answer']:.3f}"]
                     for t, m in points])
    started = time.perf_counter()
    times = []
    for text in datasets["CLINC150"][1][:200]:
        t0 = time.perf_counter()
        encoder.encode([text[0]], use_cache=False)
        times.append(time.perf_counter() - t0)
    print(f"\nquery encoding (all-MiniLM-L6-v2, 1 thread, uncached): "
          f"p50 {1000 * statistics.median(times):.1f} ms")


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
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-real", action="store_true",
                        help="skip exact vs HNSW on ~28k real phrasings")
    args = parser.parse_args()
    if not args.skip_quality:
        quality(args.sweep)
    if not args.skip_scale:
        print()
        scale(args.sizes, args.queries)
    if not args.skip_real:
        print()
        real_scale(args.queries)


if __name__ == "__main__":
    main()
