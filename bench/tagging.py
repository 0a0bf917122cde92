"""Tagging quality: per-factor precision/recall/F1 and polarity accuracy on the labelled set, plus speed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ingest.tag import Tagger
from kb.taxonomy import load_taxonomy

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "tagging"


@dataclass
class Item:
    id: str
    source: str
    text: str
    factors: dict[str, str]  # factor id -> polarity a human analyst gave it
    kind: str = ""


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass
class Failure:
    id: str
    text: str
    missed: list[str] = field(default_factory=list)
    spurious: list[str] = field(default_factory=list)
    wrong_polarity: list[str] = field(default_factory=list)  # "factor: expected X, got Y"


@dataclass
class Report:
    n_items: int
    per_factor: dict[str, Scores]
    micro: Scores
    by_source: dict[str, Scores]
    polarity_correct: int
    polarity_total: int
    # The hard part of polarity: labels that differ from the factor's default (absence, flips).
    non_default_correct: int
    non_default_total: int
    failures: list[Failure]
    words_per_second: float | None = None

    @property
    def macro_f1(self) -> float:
        return sum(s.f1 for s in self.per_factor.values()) / len(self.per_factor) if self.per_factor else 0.0

    @property
    def polarity_accuracy(self) -> float:
        return self.polarity_correct / self.polarity_total if self.polarity_total else 0.0

    def as_dict(self) -> dict:
        return {
            "n_items": self.n_items,
            "micro": self.micro.as_dict(),
            "macro_f1": self.macro_f1,
            "polarity_accuracy": self.polarity_accuracy,
            "polarity_correct": self.polarity_correct,
            "polarity_total": self.polarity_total,
            "non_default_polarity_correct": self.non_default_correct,
            "non_default_polarity_total": self.non_default_total,
            "by_source": {k: v.as_dict() for k, v in self.by_source.items()},
            "per_factor": {k: v.as_dict() for k, v in sorted(self.per_factor.items())},
            "failures": [asdict(f) for f in self.failures],
            "words_per_second": self.words_per_second,
        }


def load_labelled(directory: Path = DEFAULT_DATA) -> list[Item]:
    """Every `*.jsonl` file in the directory: one labelled text per line."""
    items = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                factors = {f["factor"]: f["polarity"] for f in d["factors"]}
                items.append(Item(d["id"], d.get("source", path.stem), d["text"], factors, d.get("kind", "")))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: not a labelled item ({e}); see tests/data/tagging/README.md") from None
    return items


def evaluate(tagger: Tagger, items: list[Item]) -> Report:
    """Compare the tagger's factors and polarities with the labels."""
    unknown = {f for item in items for f in item.factors} - set(tagger.taxonomy.factors)
    if unknown:
        raise ValueError(f"labels name factors the taxonomy does not have: {sorted(unknown)}")
    per_factor: dict[str, Scores] = {}
    by_source: dict[str, Scores] = {}
    micro = Scores()
    pol_ok = pol_total = odd_ok = odd_total = 0
    failures = []
    for item, tags in zip(items, tagger.tag_many(i.text for i in items), strict=True):
        predicted: dict[str, set[str]] = {}
        for ft in tags.factors:
            predicted.setdefault(ft.factor, set()).add(ft.polarity)
        fail = Failure(item.id, item.text)
        src = by_source.setdefault(item.source, Scores())
        for factor in item.factors.keys() | predicted.keys():
            s = per_factor.setdefault(factor, Scores())
            if factor in item.factors and factor in predicted:
                outcome = "tp"
                pol_total += 1
                correct = predicted[factor] == {item.factors[factor]}
                pol_ok += correct
                if item.factors[factor] != tagger.taxonomy.factors[factor].polarity:
                    odd_total += 1
                    odd_ok += correct
                if not correct:
                    got = "/".join(sorted(predicted[factor]))
                    fail.wrong_polarity.append(f"{factor}: expected {item.factors[factor]}, got {got}")
            elif factor in item.factors:
                outcome = "fn"
                fail.missed.append(factor)
            else:
                outcome = "fp"
                fail.spurious.append(factor)
            for scores in (s, micro, src):
                setattr(scores, outcome, getattr(scores, outcome) + 1)
        if fail.missed or fail.spurious or fail.wrong_polarity:
            failures.append(fail)
    return Report(len(items), per_factor, micro, by_source, pol_ok, pol_total, odd_ok, odd_total, failures)


def throughput(tagger: Tagger, items: list[Item], min_words: int = 100_000) -> float:
    """Words per second tagging ~200-word passages built from the labelled texts (model already loaded)."""
    passages, current, words = [], [], 0
    while words < min_words:
        for item in items:
            current.append(item.text)
            if sum(len(t.split()) for t in current) >= 200:
                passages.append(" ".join(current))
                words += len(passages[-1].split())
                current = []
    tagger.tag_many(passages[:10])
    start = time.perf_counter()
    tagger.tag_many(passages)
    return words / (time.perf_counter() - start)


def _table(report: Report) -> str:
    lines = ["| factor | gold | predicted | precision | recall | F1 |", "|---|---:|---:|---:|---:|---:|"]
    for factor, s in sorted(report.per_factor.items()):
        lines.append(f"| {factor} | {s.tp + s.fn} | {s.tp + s.fp} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} |")
    return "\n".join(lines)


def _text(report: Report) -> str:
    m = report.micro
    out = [
        f"items: {report.n_items}",
        f"micro: P {m.precision:.3f}  R {m.recall:.3f}  F1 {m.f1:.3f}   (tp {m.tp}, fp {m.fp}, fn {m.fn})",
        f"macro F1: {report.macro_f1:.3f}",
        f"polarity accuracy: {report.polarity_accuracy:.3f} ({report.polarity_correct}/{report.polarity_total});"
        f" where the label differs from the factor's default: {report.non_default_correct}/{report.non_default_total}",
    ]
    for src, s in sorted(report.by_source.items()):
        out.append(f"  {src}: P {s.precision:.3f}  R {s.recall:.3f}  F1 {s.f1:.3f}")
    if report.words_per_second:
        out.append(f"speed: {report.words_per_second:,.0f} words/s")
    out += ["", _table(report), "", f"failures ({len(report.failures)}):"]
    for f in report.failures:
        parts = [f"missed {f.missed}" if f.missed else "", f"spurious {f.spurious}" if f.spurious else ""]
        parts += [f"polarity {p}" for p in f.wrong_polarity]
        out.append(f"- {f.id}: {'; '.join(p for p in parts if p)}\n    {f.text}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tagging", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of labelled *.jsonl files")
    parser.add_argument("--taxonomy", type=Path, default=None, help="taxonomy file (default: kb/taxonomy.toml)")
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput measurement")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args(argv)

    tagger = Tagger(load_taxonomy(args.taxonomy))
    items = load_labelled(args.data)
    report = evaluate(tagger, items)
    if not args.no_speed:
        report.words_per_second = throughput(tagger, items)
    print(json.dumps(report.as_dict(), indent=2) if args.json else _text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
