"""A lean forward pass for mean-pooled BERT sentence-transformers models (e.g. all-MiniLM-L6-v2).

sentence-transformers spends about half of a single-sentence call in Python glue, and on CPU a
6-layer MiniLM is bound by streaming 42 MB of float32 weights per call. This module calls the
`tokenizers` tokenizer and a hand-written BERT encoder directly, and stores the Linear weights as
float16 packed for fbgemm (the math stays float32; only the weights are rounded), which halves
the memory traffic of a single-text call. Batches (training) keep float32 weights: there the
work is compute-bound and MKL's float32 GEMM is faster. Both paths match sentence-transformers
to a cosine of 0.9999+, far below anything a classifier can notice.

A text is scaled by the share of its word pieces the model knows: a BERT vocabulary maps every
word of a script it never saw (Armenian for all-MiniLM-L6-v2, emoji) to `[UNK]`, and the vector of
a text made of `[UNK]`s is the same whatever the text says. Such a text gets a zero vector (half
unknown: half length), so the character n-grams carry it instead of a meaningless embedding.

Why not a maintained route: `benchmarks/bench_encoder.py` measured transformers' own BertModel
and sentence-transformers on the same sentences, one thread (benchmarks/README.md, "Sentence
encoder"). With the same float16-stored weights (`quantize_dynamic(..., dtype=float16)`, the same
fbgemm kernel) transformers took 7.9 ms per sentence against 5.0 ms here, bfloat16 7.8 ms, plain
float32 10.8 ms, sentence-transformers 12.8 ms; the time goes to the model code around the same
arithmetic. Only int8 dynamic quantization came close (5.2 ms), and it changes the vectors
(cosine down to 0.81). So the per-message path stays here, with sentence-transformers as the
fallback for every other model (`Encoder(fast=False)`).

Only models whose folder has `model.safetensors`, `tokenizer.json`, a BERT `config.json` and a
Transformer -> mean Pooling (-> Normalize) module list are handled; `supports()` says which.
Nothing here unpickles: weights come from safetensors.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MAX_SUB_BATCH = 32  # forward passes of at most 32 texts: ~7% faster than 64 on this 2-core CPU


def supports(path: Path) -> bool:
    """True when the model folder can run on this fast path."""
    try:
        config = json.loads((path / "config.json").read_text())
        modules = json.loads((path / "modules.json").read_text())
    except (OSError, ValueError):
        return False
    if config.get("model_type") != "bert":
        return False
    if config.get("position_embedding_type", "absolute") != "absolute":
        return False
    if config.get("hidden_act", "gelu") != "gelu":
        return False
    if not (path / "model.safetensors").exists() or not (path / "tokenizer.json").exists():
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    if modules[0].get("path", "") not in ("", "."):
        return False
    pooling = _read_json(path / modules[1]["path"] / "config.json")
    mean_only = pooling.get("pooling_mode_mean_tokens", False) and not any(
        v for k, v in pooling.items()
        if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")
    return bool(mean_only)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class FastBertEncoder:
    """Encodes texts with a BERT model into L2-normalised float32 mean-pooled vectors."""

    def __init__(self, path: Path):
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self._torch = torch
        config = json.loads((path / "config.json").read_text())
        st_config = _read_json(path / "sentence_bert_config.json")
        self.max_length = int(st_config.get("max_seq_length")
                              or config.get("max_position_embeddings", 512))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        unk = _read_json(path / "special_tokens_map.json").get("unk_token", "[UNK]")
        self.unk_id = self.tokenizer.token_to_id(unk["content"] if isinstance(unk, dict) else unk)
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        weights = load_file(str(path / "model.safetensors"))
        prefix = "" if "embeddings.word_embeddings.weight" in weights else "bert."

        def w(name: str):
            return weights[prefix + name].float()

        self.word = w("embeddings.word_embeddings.weight")
        self.position = w("embeddings.position_embeddings.weight")
        self.token_type = w("embeddings.token_type_embeddings.weight")[0]
        self.emb_norm = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.dim = int(self.word.shape[1])
        self.half_weights = _fp16_linear_available()
        self.layers: list[tuple] = []  # float32 weights: batches are compute-bound, MKL is fastest there
        self.single_layers: list[tuple] = []  # float16-stored weights: one text is memory-bound
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = torch.cat([w(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")])
            qkv_b = torch.cat([w(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            linears = [(qkv_w, qkv_b),
                       (w(p + "attention.output.dense.weight"), w(p + "attention.output.dense.bias")),
                       (w(p + "intermediate.dense.weight"), w(p + "intermediate.dense.bias")),
                       (w(p + "output.dense.weight"), w(p + "output.dense.bias"))]
            norms = [(w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias")),
                     (w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"))]
            for target, half in ((self.layers, False), (self.single_layers, self.half_weights)):
                qkv, out, up, down = (self._linear(wt, b, half) for wt, b in linears)
                target.append((qkv, out, norms[0], up, down, norms[1]))

    def _linear(self, weight, bias, half: bool):
        torch = self._torch
        if half:
            packed = torch.ops.quantized.linear_prepack_fp16(weight.contiguous(), bias)
            return lambda x: torch.ops.quantized.linear_dynamic_fp16(x, packed)
        weight_t = weight.t().contiguous()
        return lambda x: torch.addmm(bias, x, weight_t)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Vectors for `texts` in order (unit length times the share of known word pieces);
        batches group texts of similar token length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts) if len(texts) > 1 else [
            self.tokenizer.encode(texts[0])]
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        step = max(1, min(batch_size, MAX_SUB_BATCH))
        for start in range(0, len(order), step):
            chunk = order[start:start + step]
            out[chunk] = self._forward([ids[i] for i in chunk])
        known = np.array([known_share(e.ids, e.special_tokens_mask, self.unk_id)
                          for e in encodings], dtype=np.float32)
        return out * known[:, None]

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        torch = self._torch
        F = torch.nn.functional
        with torch.inference_mode():
            n = max(len(x) for x in batch)
            b = len(batch)
            if b == 1:
                ids = torch.tensor(batch[0])
                mask = None
            else:
                ids = torch.zeros((b, n), dtype=torch.long)
                lengths = torch.tensor([len(x) for x in batch])
                for i, x in enumerate(batch):
                    ids[i, :len(x)] = torch.tensor(x)
                mask = torch.arange(n)[None, :] < lengths[:, None]
            d, h = self.dim, self.heads
            x = self.word[ids.reshape(-1)].view(b, n, d) + self.position[:n] + self.token_type
            x = F.layer_norm(x, (d,), *self.emb_norm, self.eps).reshape(b * n, d)
            attn_mask = None if mask is None else mask[:, None, None, :]
            for qkv, out, norm1, up, down, norm2 in (self.single_layers if b == 1 else self.layers):
                q, k, v = qkv(x).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
                a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
                a = a.transpose(1, 2).reshape(b * n, d)
                x = F.layer_norm(out(a) + x, (d,), *norm1, self.eps)
                x = F.layer_norm(down(F.gelu(up(x))) + x, (d,), *norm2, self.eps)
            x = x.view(b, n, d)
            if mask is None:
                pooled = x.mean(1)
            else:
                m = mask.unsqueeze(-1).to(x.dtype)
                pooled = (x * m).sum(1) / m.sum(1)
            return F.normalize(pooled, dim=1).numpy()


def known_share(ids: list[int], special: list[int], unk_id: int | None) -> float:
    """Share of a text's word pieces that are not the unknown token (1.0 for no pieces)."""
    pieces = [i for i, s in zip(ids, special) if not s]
    if not pieces or unk_id is None:
        return 1.0
    return 1.0 - sum(1 for i in pieces if i == unk_id) / len(pieces)


def _fp16_linear_available() -> bool:
    import torch

    try:
        packed = torch.ops.quantized.linear_prepack_fp16(torch.ones(2, 2), torch.zeros(2))
        torch.ops.quantized.linear_dynamic_fp16(torch.ones(1, 2), packed)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return True
