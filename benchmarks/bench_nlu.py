"""NLU benchmark: BANKING77 and CLINC150 accuracy, fallback quality, training and parse speed.

Runs supportbot's intent classifier side by side with a plain baseline (word tf-idf +
scikit-learn LogisticRegression) and prints one table. The fallback threshold is the one
supportbot tunes by cross-validation on the training data; test data never touch it.

    python benchmarks/bench_nlu.py                      # everything (2-10 minutes on 2 cores)
    python benchmarks/bench_nlu.py --skip-baseline      # supportbot only

Data are read from /work/shared/benchmarks (override with --data); embeddings are cached in
the usual supportbot cache (override with --cache-dir). Cold training runs in a child process
with an empty embedding cache, which also gives its peak memory.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

DEFAULT_DATA = Path("/work/shared/benchmarks")


def banking(data: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    def read(name: str) -> list[dict[str, str]]:
        with open(data / "banking77" / f"{name}.csv", newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    train, test = read("train"), read("test")
    return ([r["text"] for r in train], [r["category"] for r in train],
            [r["text"] for r in test], [r["category"] for r in test])


def clinc(data: Path, oos: str) -> tuple[list[str], list[str], list[str], list[str]]:
    raw = json.loads((data / "clinc150" / "data_full.json").read_text())
    train, test = raw["train"] + raw["oos_train"], raw["test"] + raw["oos_test"]

    def label(x: str) -> str:
        return oos if x == "oos" else x
    return ([t for t, _ in train], [label(c) for _, c in train],
            [t for t, _ in test], [label(c) for _, c in test])


def macro_f1(y_true: list[str], y_pred: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro"))


# ---------------------------------------------------------------------- baseline
def baseline(train_x, train_y, test_x) -> tuple[list[str], float]:
    """Plain word (1,2)-gram tf-idf + LogisticRegression(C=10); returns predictions, fit seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    clf = LogisticRegression(C=10, max_iter=1000)
    clf.fit(vectorizer.fit_transform(train_x), train_y)
    seconds = time.perf_counter() - started
    return list(clf.predict(vectorizer.transform(test_x))), seconds


# ---------------------------------------------------------------------- supportbot
EMBEDDING_MODEL = os.environ.get("SUPPORTBOT_BENCH_MODEL", "all-MiniLM-L6-v2")


def train_model(texts, labels, cache_dir: Path | None, state_dir: Path, reuse: bool = False):
    from supportbot.embeddings import Encoder
    from supportbot.nlu.pipeline import NluModel
    from supportbot.project.types import Example, NluSettings

    settings = NluSettings(embedding_model=EMBEDDING_MODEL)
    encoder = Encoder(settings.embedding_model, cache_dir=cache_dir)
    examples = [Example(t, c) for t, c in zip(texts, labels)]
    started = time.perf_counter()
    model = NluModel.train(examples, settings, encoder=encoder, cache_dir=state_dir, reuse=reuse)
    return model, time.perf_counter() - started


def clinc_scores(results, gold: list[str], oos: str) -> tuple[float, float]:
    """In-scope accuracy (correct intent and no fallback) and out-of-scope recall (fallback)."""
    in_ok = in_n = oos_ok = oos_n = 0
    for result, label in zip(results, gold):
        if label == oos:
            oos_n += 1
            oos_ok += result.fallback
        else:
            in_n += 1
            in_ok += (not result.fallback) and result.intent == label
    return in_ok / in_n, oos_ok / oos_n


def in_scope_at_recall(results, gold: list[str], oos: str, recall: float) -> float:
    """In-scope accuracy at the lowest confidence threshold whose OOS recall reaches `recall`
    (out-of-scope predictions fall back; familiarity and ambiguity are left out).

    The threshold is read off the test data, so this is no result: it shows what the best
    placed confidence threshold could give, i.e. the ceiling of the confidence ranking alone.
    """
    is_oos = np.array([g == oos for g in gold])
    right = np.array([r.intent == g for r, g in zip(results, gold)])
    conf = np.array([r.confidence for r in results])
    top_oos = np.array([r.intent == oos for r in results])
    for threshold in np.unique(conf):
        rejected = top_oos | (conf < threshold)
        if rejected[is_oos].mean() >= recall:
            return float((right & ~rejected)[~is_oos].mean())
    return 0.0


def cold_child(data: Path, out: Path) -> None:
    """Child process: cold training (empty caches), then two warm retrainings."""
    train_x, train_y, _, _ = banking(data)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        model, cold = train_model(train_x, train_y, cache, cache / "state", reuse=True)
        cold_seconds = model.report["seconds"]
        # one new example
        _, add = train_model(train_x + ["is my new card on its way yet?"],
                             train_y + ["card_arrival"], cache, cache / "state", reuse=True)
        # one example edited
        edited = list(train_x)
        edited[17] = edited[17] + " please"
        model, edit = train_model(edited, train_y, cache, cache / "state", reuse=True)
        warm_report = model.report
    out.write_text(json.dumps({"cold": cold, "cold_seconds": cold_seconds,
                               "warm_add": add, "warm_edit": edit,
                               "peak_rss_mb": peak_rss_mb(), "warm_report": warm_report}))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_cold(data: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cold.json"
        subprocess.run([sys.executable, __file__, "--cold-child", str(out), "--data", str(data)],
                       check=True)
        return json.loads(out.read_text())


def parse_speed(model, texts: list[str]) -> tuple[float, float]:
    """p50 / p99 milliseconds of `model.predict([text])` for unseen single messages."""
    for text in texts[:20]:
        model.predict([text])
    times = []
    for text in texts:
        started = time.perf_counter()
        model.predict([text])
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def batch_throughput(model, texts: list[str], batch: int = 64) -> float:
    """Messages per second for `model.predict(batch)` with an empty embedding cache."""
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        model.predict(texts[i:i + batch])
    return len(texts) / (time.perf_counter() - started)


# ---------------------------------------------------------------------- main
def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="embedding cache for the accuracy runs (default: "
                             "$SUPPORTBOT_CACHE_DIR, else in memory only)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--embedding-model", default=None,
                        help="nlu.embedding_model to measure, e.g. "
                             "all-MiniLM-L6-v2+multilingual-e5-small (default all-MiniLM-L6-v2)")
    parser.add_argument("--cold-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.embedding_model:
        global EMBEDDING_MODEL
        EMBEDDING_MODEL = os.environ["SUPPORTBOT_BENCH_MODEL"] = args.embedding_model
    if args.cold_child:
        cold_child(args.data, args.cold_child)
        return

    import torch

    from supportbot.embeddings import Encoder, env_cache_dir

    if args.cache_dir is None:
        args.cache_dir = env_cache_dir()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-nlu-") as tmp:
        run(args, Path(tmp), torch, Encoder)


def run(args, work: Path, torch, Encoder) -> None:
    """Measure everything and print the table (`work`: scratch folder, removed afterwards)."""
    load_before = os.getloadavg()
    rows: list[tuple[str, str, str, str]] = []
    oos = "out_of_scope"

    # cold / warm training first, in a child process with empty caches ----------------
    cold = None if args.skip_cold else run_cold(args.data)
    log(f"cold training done: {cold}")

    # BANKING77 --------------------------------------------------------------
    tr_x, tr_y, te_x, te_y = banking(args.data)
    model, seconds = train_model(tr_x, tr_y, args.cache_dir, work / "b77")
    log(f"BANKING77 trained: {model.report}")
    pred = [r.intent for r in model.predict(te_x)]
    acc = float(np.mean([p == g for p, g in zip(pred, te_y)]))
    f1 = macro_f1(te_y, pred)
    base_acc = base_f1 = base_s = None
    if not args.skip_baseline:
        base_pred, base_s = baseline(tr_x, tr_y, te_x)
        base_acc = float(np.mean([p == g for p, g in zip(base_pred, te_y)]))
        base_f1 = macro_f1(te_y, base_pred)
    pct = "{:.2%}".format
    na = "-"
    rows += [("BANKING77 test accuracy", pct(base_acc) if base_acc is not None else na,
              pct(acc), ">= 94.5%"),
             ("BANKING77 test macro-F1", pct(base_f1) if base_f1 is not None else na,
              pct(f1), ""),
             ("BANKING77 training, embeddings cached (s)",
              f"{base_s:.1f}" if base_s is not None else na, f"{seconds:.1f}", ""),
             ("BANKING77 CV accuracy / threshold (train only)", na,
              f"{model.report['cv_accuracy']:.2%} / {model.threshold:.3f}", "")]

    # speed (BANKING77 model, unseen texts, empty embedding cache) -------------
    fresh = Encoder(EMBEDDING_MODEL, cache_dir=work / "fresh-cache")
    if getattr(model, "routing", None) is not None:
        model.routing.encoder = fresh.multilingual_part
        if model.routing.multi is not None:
            model.routing.multi.space.encoder = fresh.multilingual_part
        fresh = fresh.fast_part or fresh
    model.space.encoder = fresh
    p50, p99 = parse_speed(model, te_x[:300])
    throughput = batch_throughput(model, te_x[300:1300])
    rows += [("parse p50 / p99, one message, 1 torch thread (ms)", na,
              f"{p50:.2f} / {p99:.2f}", "p50 <= 8"),
             ("batch throughput, 64 per call (messages/s)", na, f"{throughput:.0f}", "")]

    # CLINC150 ---------------------------------------------------------------
    tr_x, tr_y, te_x, te_y = clinc(args.data, oos)
    model, seconds = train_model(tr_x, tr_y, args.cache_dir, work / "clinc")
    log(f"CLINC150 trained: {model.report}")
    results = model.predict(te_x)
    in_acc, oos_recall = clinc_scores(results, te_y, oos)
    base_cells = (na, na)
    if not args.skip_baseline:
        base_pred, _ = baseline(tr_x, tr_y, te_x)
        b_in = float(np.mean([p == g for p, g in zip(base_pred, te_y) if g != oos]))
        b_rec = float(np.mean([p == oos for p, g in zip(base_pred, te_y) if g == oos]))
        base_cells = (pct(b_in), pct(b_rec))
    ceiling = in_scope_at_recall(results, te_y, oos, 0.90)
    rows += [("CLINC150 in-scope accuracy at auto threshold", base_cells[0], pct(in_acc),
              ">= 94%"),
             ("CLINC150 OOS recall at auto threshold", base_cells[1], pct(oos_recall),
              ">= 90%"),
             (("  diagnostic: in-scope at 90% OOS recall, confidence threshold "
              "read off test"), na, pct(ceiling), "(not a result)"),
             ("CLINC150 auto thresholds (CV on train): confidence / familiarity", "argmax",
              f"{model.threshold:.3f} / {model.policy.familiarity_threshold:.3f}", ""),
             ("CLINC150 training, embeddings cached (s)", na, f"{seconds:.1f}", "")]

    if cold is not None:
        parts = cold["cold_seconds"]
        rows += [("BANKING77 cold training, empty embedding cache (s)", na,
                  f"{cold['cold']:.1f}", "<= 60"),
                 ("  of which embed+tf-idf / CV (3 folds) / final fit (s)", na,
                  "{:.0f} / {:.0f} / {:.0f}".format(parts["features"],
                                                    parts["cross_validation"],
                                                    parts["final_fit"]), ""),
                 ("BANKING77 retrain after adding one example (s)", na,
                  f"{cold['warm_add']:.2f}", "<= 5"),
                 ("BANKING77 retrain after editing one example (s)", na,
                  f"{cold['warm_edit']:.2f}", "<= 5"),
                 ("peak RSS of the training process (MB)", na, f"{cold['peak_rss_mb']:.0f}",
                  "<= 1536")]

    baseline_name = "tf-idf + LR"
    widths = [max(len(r[i]) for r in rows + [("metric", baseline_name, "supportbot", "target")])
              for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format("metric", baseline_name, "supportbot", "target"))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    print(f"\nmachine: {os.cpu_count()} CPUs, load average before/after "
          f"{load_before[0]:.2f}/{os.getloadavg()[0]:.2f}; torch {torch.__version__}; "
          f"serving with torch threads = 1; embedding_model {EMBEDDING_MODEL}; encoder path: "
          f"{'fastbert' if fresh.use_fast else 'sentence-transformers'}")


if __name__ == "__main__":
    main()
