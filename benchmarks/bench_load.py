"""Time `load_project` on a generated project with 5,000 NLU examples, a KB and a domain.

    .venv/bin/python benchmarks/bench_load.py [--examples 5000] [--repeat 5]

Target: under 1 second per load.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from supportbot.project import load_project

_VOCABULARY = ("order parcel delivery refund invoice account password payment card address "
               "return warranty repair discount code status late missing broken cancel change "
               "track where when how much why can please help need want my the a is")
WORDS = _VOCABULARY.split(" ")


def _sentence(i: int, j: int) -> str:
    n = 4 + (i * 7 + j) % 6
    return " ".join(WORDS[(i * 13 + j * 7 + k * 5) % len(WORDS)] for k in range(n)) + f" {i}x{j}"


def generate(root: Path, examples: int, intents: int = 100, kb_entries: int = 500,
             extended: bool = False) -> None:
    """Write config.yml, domain.yml, data/nlu/*.yml, data/rules.yml and data/kb/*.yml.

    `extended` writes examples in the `- text:` form (one YAML mapping per example).
    """
    per_intent = max(2, examples // intents)
    (root / "data" / "nlu").mkdir(parents=True)
    (root / "data" / "kb").mkdir(parents=True)
    (root / "config.yml").write_text(
        'language: en\npipeline:\n- name: WhitespaceTokenizer\n'
        '- name: FallbackClassifier\n  threshold: 0.5\npolicies:\n- name: RulePolicy\n'
        'nlu:\n  embedding_model: null\n')
    names = [f"intent_{i:03d}" for i in range(intents)]
    domain = ['version: "3.1"', "intents:"] + [f"- {n}" for n in names]
    domain += ["entities:", "- order_id", "responses:"]
    for n in names:
        domain += [f"  utter_{n}:", f"  - text: Answer for {n}.", f"  - text: Other answer {n}."]
    (root / "domain.yml").write_text("\n".join(domain) + "\n")
    for chunk in range(0, intents, 10):
        lines = ['version: "3.1"', "nlu:"]
        for i in range(chunk, min(chunk + 10, intents)):
            lines += [f"- intent: {names[i]}", "  examples:" if extended else "  examples: |"]
            for j in range(per_intent):
                text = _sentence(i, j)
                if j % 10 == 0:
                    text += f" [A{i}{j:04d}](order_id)"
                lines.append(f"  - text: '{text}'" if extended else f"    - {text}")
        (root / "data" / "nlu" / f"part{chunk // 10:02d}.yml").write_text("\n".join(lines) + "\n")
    rules = ['version: "3.1"', "rules:"]
    for n in names:
        rules += [f"- rule: answer {n}", "  steps:", f"  - intent: {n}", f"  - action: utter_{n}"]
    (root / "data" / "rules.yml").write_text("\n".join(rules) + "\n")
    kb = ['version: "3.1"', "kb:"]
    for k in range(kb_entries):
        kb += [f"- id: entry_{k}", "  questions:", f"  - question number {k} about delivery?",
               f"  - another way to ask question {k}?", f"  answer: The answer to {k}.",
               "  tags: [bench]"]
    (root / "data" / "kb" / "faq.yml").write_text("\n".join(kb) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    results = {}
    for form in ("block", "extended"):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            generate(root, args.examples, extended=form == "extended")
            times = []
            project = None
            for _ in range(args.repeat):
                start = time.perf_counter()
                project = load_project(root)
                times.append(time.perf_counter() - start)
            assert project is not None
            size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1024
            results[form] = [
                f"{len(project.nlu.examples)}", f"{len(project.domain.intents)}",
                f"{len(project.rules)}", f"{len(project.kb)}",
                f"{len(project.files)} / {size:.0f} KiB", f"{len(project.problems)}",
                f"{min(times) * 1000:.0f} ms", f"{statistics.median(times) * 1000:.0f} ms",
            ]
    labels = ["NLU examples", "intents", "rules", "KB entries", "files / size", "warnings",
              f"load, best of {args.repeat}", "load, median"]
    width = max(len(x) for x in labels)
    print(f"{'examples written as':<{width}}  {'examples: |':>16}  {'- text: ...':>16}")
    print("-" * (width + 36))
    for i, label in enumerate(labels):
        print(f"{label:<{width}}  {results['block'][i]:>16}  {results['extended'][i]:>16}")
    print("target: under 1000 ms per load")
    return 0

if __name__ == "__main__":
    sys.exit(main())
