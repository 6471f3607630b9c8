"""Fit the documented prior weights of the FAQ calibration (supportbot.kb.calibration defaults).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fit_kb_priors.py          # 1q faq
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fit_kb_priors.py 5q       # other shapes

KBs of the shapes in kb_sets.py (by default one sampled question and one written FAQ question
per entry: the "one" priors; answers from benchmarks/data) on BANKING77 and CLINC150. Queries
come from the *training* side only: BANKING77 training utterances that are not KB questions,
CLINC150 `val` and `oos_val`. The test splits, which bench_kb.py reports on, are never read.

Prints the relevance and score heads (dense and lexical-only) and the hit@1 they give on the
fitting queries. The "one" numbers in calibration.py are these, rounded, fitted with
LEXICAL_FLOORS (see supportbot.kb.calibration for why). The "several" priors are the earlier
question-only defaults (answer side off for KBs with several phrasings per entry).
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kb_sets import banking, clinc

from supportbot.kb import KBIndex
from supportbot.kb.calibration import (
    LEXICAL_FLOORS,
    Heads,
    Logistic,
    Trial,
    feature_names,
)
from supportbot.kb.text import script_of
from supportbot.project.types import KBSettings

QUERIES_PER_KB = 1200


def trials_for(kbset, index: KBIndex, encoder) -> list[Trial]:
    rng = random.Random(7)
    queries = rng.sample(kbset.queries, min(QUERIES_PER_KB, len(kbset.queries)))
    oos = kbset.oos[:200]
    texts = [t for t, _ in queries] + oos
    vectors = encoder.encode(texts) if encoder is not None and index.dense is not None else None
    position = {e.id: i for i, e in enumerate(index.entries)}
    labels = [position[e] for _, e in queries] + [-1] * len(oos)
    out = []
    for i, (text, own) in enumerate(zip(texts, labels)):
        qvec = vectors[i] if vectors is not None else None
        cands = index._candidates(qvec, text, force_entry=own if own >= 0 else None)
        right = np.flatnonzero(cands.entries == own)
        out.append(Trial(cands.features, int(right[0]) if len(right) else -1, 1.0,
                         "loo" if own >= 0 else "uncovered", script_of(text), cands.raw))
    return out


def fit(trials: list[Trial], has_dense: bool) -> Heads:
    names = feature_names(has_dense)
    floors = tuple(LEXICAL_FLOORS[has_dense].get(n, 0.0) for n in names)
    direction = ranking_weights(trials, len(names), floors)
    print("  ranking weights: " + ", ".join(f"{f} {w:.2f}" for f, w in zip(names, direction)))
    start = Heads(Logistic(names, tuple(direction), -3.0),
                  Logistic((*names, "margin"), tuple(1.0 for _ in (*names, "margin")), -3.0))
    return start.refit(trials, relevance_floors=floors, relevance_direction=True,
                       score_direction=False)


def ranking_weights(trials: list[Trial], n: int, floors: tuple[float, ...]) -> np.ndarray:
    """Non-negative weights maximising the softmax likelihood of the right entry among each
    search's candidates (conditional logit): the ranking-optimal linear blend."""
    from scipy.optimize import minimize

    inscope = [t for t in trials if t.right >= 0]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros(n)
        for t in inscope:
            z = t.features @ w
            zmax = z.max()
            e = np.exp(z - zmax)
            lse = zmax + np.log(e.sum())
            total += lse - z[t.right]
            grad += (e / e.sum()) @ t.features - t.features[t.right]
        return total + 0.5 * 1e-3 * float(w @ w), grad + 1e-3 * w

    w0 = np.ones(n)
    return minimize(loss, w0, jac=True, method="L-BFGS-B",
                    bounds=[(lo, None) for lo in floors]).x


def top1(heads: Heads, trials: list[Trial]) -> float:
    """Share of in-scope trials whose right entry gets the highest score."""
    inscope = [t for t in trials if t.right >= 0]
    by_score = sum(int(np.argmax(heads.predict(t.features)[0])) == t.right for t in inscope)
    by_rel = sum(int(np.argmax(heads.relevance(t.features))) == t.right for t in inscope)
    print(f"    (by relevance {by_rel / max(len(inscope), 1):.3f})")
    return by_score / max(len(inscope), 1)


def main() -> None:
    from supportbot.embeddings import Encoder, env_cache_dir

    encoder = Encoder(cache_dir=env_cache_dir())
    shapes = sys.argv[1:] or ["1q", "faq"]
    sets = [banking(s, "train") for s in shapes] + [clinc(s, "val") for s in shapes]
    for has_dense in (True, False):
        trials: list[Trial] = []
        groups = []
        for kbset in sets:
            index = KBIndex.build(kbset.entries, KBSettings(), encoder if has_dense else None)
            mine = trials_for(kbset, index, encoder if has_dense else None)
            trials += mine
            groups.append((kbset.name, mine))
            print(f"# {kbset.name}: {len(trials)} trials", file=sys.stderr)
        heads = fit(trials, has_dense)
        for name, mine in groups:
            print(f"  {name}: hit@1 {top1(heads, mine):.3f}")
        print(f"has_dense={has_dense}")
        for label, head in (("relevance", heads.relevance), ("score", heads.score)):
            print(f"  {label}: intercept {head.intercept:.2f}, "
                  + ", ".join(f"{f} {w:.2f}" for f, w in zip(head.features, head.weights)))


if __name__ == "__main__":
    main()
