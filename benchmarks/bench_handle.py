"""End-to-end latency of the example bot: `Bot.parse` and `Bot.handle`, in-memory and SQLite state.

    python benchmarks/bench_handle.py            # ~1 minute: trains the example bot, 300 turns each

`Bot.handle` runs the whole path of one message: lock, load the conversation, language, NLU,
KB search, rules and policy, escalation check, response, and the durable append of the turn's
events. Each message is new to the bot (a number is appended), so no encoding is reused across
messages; one torch thread, as in serving.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = ["where is my parcel?", "I want to change my delivery address",
            "how do I reset my password", "can I get a refund for a damaged item",
            "what are your opening hours", "blorf quantum zebra", "my card was charged twice",
            "do you ship to Canada", "Где моя посылка?", "thanks, that helps"]
TURNS = 300


def percentiles(times: list[float]) -> str:
    return f"{np.percentile(times, 50):.2f} / {np.percentile(times, 99):.2f}"


def measure(bot, label: str) -> tuple[str, str]:
    for i in range(20):  # warm-up: load the encoder, fill caches of the code paths
        bot.handle(f"warm-{label}-{i}", MESSAGES[i % len(MESSAGES)])
    parse, handle = [], []
    for i in range(TURNS):
        text = f"{MESSAGES[i % len(MESSAGES)]} {i}"
        started = time.perf_counter()
        bot.parse(text)
        parse.append((time.perf_counter() - started) * 1000)
    for i in range(TURNS):
        text = f"{MESSAGES[i % len(MESSAGES)]} #{i}"
        started = time.perf_counter()
        bot.handle(f"{label}-{i // 3}", text)  # three turns per conversation
        handle.append((time.perf_counter() - started) * 1000)
    return percentiles(parse), percentiles(handle)


def main() -> None:
    import torch

    import supportbot

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-handle-") as tmp:
        work = Path(tmp)
        model = supportbot.train(ROOT, work / "models")
        base = supportbot.Bot.load(model, tracker_store="memory://",
                                   queue=f"sqlite:///{work / 'handoff.db'}")
        rows = [("memory://", *measure(base, "memory"))]
        durable = base.with_stores(tracker_store=f"sqlite:///{work / 'conversations.db'}",
                                   queue=f"sqlite:///{work / 'handoff2.db'}")
        rows.append(("sqlite (CLI default)", *measure(durable, "sqlite")))
    header = ("conversation store", "parse p50 / p99 (ms)", "handle p50 / p99 (ms)")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    print(f"\n{TURNS} turns per store, example bot, 1 torch thread; load average before/after "
          f"{load_before[0]:.2f}/{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
