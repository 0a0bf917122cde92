"""`kb eval retrieval DIR`: score every search mode and the plain-RRF baseline on a BEIR collection."""

from __future__ import annotations

from pathlib import Path

import click

from kb.commands import State, console, emit_json, fail, pass_state, progress_bar


@click.group(name="eval")
def eval_group() -> None:
    """Measure search quality on standard test collections."""


@eval_group.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--mode",
    type=click.Choice(["all", "bm25", "dense", "hybrid", "rrf"]),
    default="all",
    show_default=True,
    help="Which run to score; rrf is the plain reciprocal-rank baseline of bm25 and dense.",
)
@click.option("--split", help="qrels/SPLIT.tsv to use (default: test if present, else the only one).")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Where scratch knowledge bases are kept between runs (default: the eval_cache setting, KB_EVAL_CACHE).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def retrieval(state: State, directory: str, mode: str, split: str | None, cache_dir: str | None, as_json: bool):
    """Ingest a BEIR corpus into a cached scratch knowledge base and report nDCG@10, recall@10 and recall@100."""
    from kb.embed import ModelError
    from kb.evaluate import MODES, EvalError, evaluate, load_collection

    try:
        collection = load_collection(directory, split)
    except EvalError as exc:
        fail(str(exc))
    modes = MODES if mode == "all" else (mode,)
    with progress_bar() as progress:
        tasks = {
            "ingest": progress.add_task("documents ingested", total=None),
            "query": progress.add_task("queries", total=len(collection.queries)),
        }
        try:
            report = evaluate(
                collection,
                state.settings,
                Path(cache_dir) if cache_dir else state.settings.eval_cache,
                modes,
                on_progress=lambda what, n: progress.advance(tasks[what], n),
            )
        except (EvalError, ModelError) as exc:
            fail(str(exc))
    if as_json:
        emit_json(report.to_dict())
        return
    from rich.table import Table

    d = report.to_dict()
    t = Table(title=f"{d['collection']} ({d['split']}): {d['queries']} queries, {d['documents']} documents")
    for col in ("mode", "nDCG@10", "recall@10", "recall@100", "what"):
        t.add_column(col)
    for m in d["modes"]:
        t.add_row(m["mode"], f"{m['ndcg@10']:.4f}", f"{m['recall@10']:.4f}", f"{m['recall@100']:.4f}", m["description"])
    c = console()
    c.print(t)
    c.print(
        f"{d['passages']} passages, {d['newly_embedded']} newly embedded; "
        f"seconds: {d['seconds']}; scratch knowledge base: {d['data_dir']}"
    )
