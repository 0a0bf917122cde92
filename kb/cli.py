"""The `kb` command line. Heavy libraries load only inside the commands that need them."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from pathlib import Path

import click
from rich.markup import escape

from kb.commands import State, TaxonomyChoice, audit_cli, console, emit_json, fail, pass_state, progress_bar
from kb.commands.ingest_report import display_path, print_ingest_table
from kb.models import STUDY_DESIGNS

# Feature commands live in their own modules and load only when invoked, so `kb stats` stays fast.
LAZY_COMMANDS = {
    "toolkit": "kb.commands.toolkit:toolkit",
    "map": "kb.commands.evidence_map:map_command",
    "brief": "kb.commands.brief:brief",
    "scan": "kb.commands.scan:scan",
    "digest": "kb.commands.digest:digest",
    "alert": "kb.commands.digest:alert",
    "eval": "kb.commands.evaluate:eval_group",
    "app": "kb.commands.app:app",
    "audit": "kb.commands.audit:audit",
}


class LazyGroup(click.Group):
    def _available(self) -> dict[str, str]:
        return {
            name: target
            for name, target in LAZY_COMMANDS.items()
            if importlib.util.find_spec(target.split(":")[0]) is not None
        }

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self._available()])

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        target = self._available().get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="KB_DATA_DIR",
    help="Where the catalogue and vectors live (default: $KB_DATA_DIR or ~/.local/share/kb).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: str | None) -> None:
    """Evidence knowledge base of the Violence Reduction Unit: ingest, search, what works, digests."""
    ctx.obj = State(data_dir)
    # Libraries report recoverable file damage through logging; the per-file table is where users look.
    logging.basicConfig(level=logging.ERROR)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--type", "doc_type", help="Document type for every file (research, needs_assessment, ...).")
@click.option("--sensitivity", type=click.Choice(["official", "official-sensitive"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report.")
@pass_state
def ingest(state: State, paths: tuple[str, ...], doc_type: str | None, sensitivity: str | None, as_json: bool):
    """Ingest files or folders (PDF, text, Markdown, BibTeX, toolkit entries). Exit 1 if any file failed."""
    from kb.ingestion import IngestError, expand_paths, ingest_paths

    try:
        files = expand_paths(paths)
        with progress_bar() as progress:
            ftask = progress.add_task("files", total=len(files))
            ptask = progress.add_task("passages embedded", total=None)
            report = ingest_paths(
                state.kb,
                paths,
                doc_type,
                sensitivity,
                files=files,
                on_file=lambda p: progress.update(ftask, description=f"files: {Path(p).name[:40]}"),
                on_done=lambda fr: progress.advance(ftask),
                on_embedded=lambda n: progress.advance(ptask, n),
                on_step=lambda step: progress.update(ftask, description=f"files: {step}"),
            )
    except IngestError as exc:
        fail(str(exc))
    if any(f.status == "ok" for f in report.files):
        from kb.toolkit import refresh_local_evidence

        # Here rather than on the What works page's first open, where it was most of 10-20 s.
        refresh_local_evidence(state.kb)
    if as_json:
        emit_json(report.to_dict())
    else:
        print_ingest_table(report)
    sys.exit(1 if report.failed else 0)


def _filters(factor, polarity, priority, who, doc_type, since, until, district, design=()):
    from kb.search import Filters

    return Filters(
        factors=list(factor),
        polarity=polarity,
        priorities=list(priority),
        who_levels=list(who),
        doc_types=list(doc_type),
        year_from=since,
        year_to=until,
        districts=list(district),
        study_designs=list(design),
    )


def filter_options(f):
    for opt in reversed(
        [
            click.option("--factor", multiple=True, help="Factor id from the taxonomy (repeatable)."),
            click.option("--polarity", type=click.Choice(["risk", "protective"])),
            click.option(
                "--priority", type=TaxonomyChoice("priority"), multiple=True, help="Priority number from the taxonomy."
            ),
            click.option("--who", multiple=True, type=TaxonomyChoice("who"), help="WHO level id from the taxonomy."),
            click.option("--type", "doc_type", multiple=True, help="Document type (repeatable)."),
            click.option("--since", type=int, help="Published in or after this year."),
            click.option("--until", type=int, help="Published in or before this year."),
            click.option("--district", multiple=True, help="Bradford, Calderdale, Kirklees, Leeds or Wakefield."),
            click.option(
                "--design",
                multiple=True,
                type=click.Choice(STUDY_DESIGNS),
                help="Study design of the document (repeatable).",
            ),
        ]
    ):
        f = opt(f)
    return f


@main.command()
@click.argument("query", nargs=-1, required=True)
@click.option("-k", "k", default=10, show_default=True, help="How many passages.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
@filter_options
@click.option("--json", "as_json", is_flag=True)
@pass_state
def search(
    state: State, query, k, mode, factor, polarity, priority, who, doc_type, since, until, district, design, as_json
):
    """Search passages by meaning and words; results grouped by document, each passage cited."""
    from kb.embed import ModelError
    from kb.results import authors_short
    from kb.search import Searcher, SearchError

    filters = _filters(factor, polarity, priority, who, doc_type, since, until, district, design)
    try:
        result = Searcher(state.kb).search(" ".join(query), k=k, mode=mode, filters=filters)
    except (SearchError, ModelError) as exc:
        fail(str(exc))
    audit_cli(state, "view", [g.document for g in result.groups], f"kb search {' '.join(query)!r}")
    if as_json:
        emit_json(result.to_dict())
        return
    c = console()
    if not result.hits:
        c.print("No passages match. Try other words, fewer filters, or `kb stats` to see what is ingested.")
        return
    for g in result.groups:
        d = g.document
        about = [authors_short(d), str(d.year or "n.d."), d.doc_type, d.study_design]
        c.print(f"\n[bold]{escape(d.title)}[/] ({escape(', '.join(a for a in about if a))})")
        for h in g.hits:
            factors = ", ".join(f"{f.factor} ({f.polarity})" for f in h.chunk.tags.factors)
            c.print(f"  [cyan]{h.rank}.[/] {escape(h.citation)}")
            c.print(f"     {escape(h.chunk.text[:400])}{'…' if len(h.chunk.text) > 400 else ''}")
            if factors:
                c.print(f"     [dim]factors: {factors}; priorities: {h.chunk.tags.priorities}[/]")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_state
def stats(state: State, as_json: bool):
    """What the knowledge base holds: documents by type, passages by priority and factor."""
    s = state.kb.catalogue.stats()
    if as_json:
        emit_json(s)
        return
    c = console()
    c.print(f"{s['documents']} documents, {s['passages']} passages, {s['toolkit_entries']} toolkit entries")
    c.print(f"by type: {s['documents_by_type']}")
    c.print(f"by status: {s['documents_by_status']}; files: {s['files_by_status']}")
    c.print(f"passages by priority: {s['passages_by_priority']}")
    c.print(f"passages by factor: {s['passages_by_factor']}")


def _sources_json(cat, doc_id: str) -> list[dict]:
    return [
        {"source": s.source_key, "kind": s.kind, "matched_by": s.match, "title": s.document.title, "alone": s.alone}
        for s in cat.sources_of(doc_id, passages=False)
    ]


@main.command()
@click.option("--merged", is_flag=True, help="Only documents merged from several sources, with what gave them.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def docs(state: State, merged: bool, as_json: bool):
    """List documents (each field with its source), and files that failed with the reason."""
    cat = state.kb.catalogue
    documents = cat.documents()
    if merged:
        keep = set(cat.merged_documents())
        documents = [d for d in documents if d.doc_id in keep]
    failed = cat.files(status="failed")
    if as_json:
        emit_json(
            {
                "documents": [{**d.to_dict(), "sources": _sources_json(cat, d.doc_id)} for d in documents],
                "failed_files": [{"path": f.path, "reason": f.reason} for f in failed],
            }
        )
        return
    from rich.table import Table

    from kb.results import ocr_note

    c = console()
    if merged:
        c.print(f"{len(documents)} documents merged from several sources (undo one: kb edit DOC_ID --split SOURCE)")
        for d in documents:
            c.print(f"\n[bold]{escape(d.title)}[/] ({d.year or 'n.d.'}) {d.doc_id}")
            fields = ", ".join(f"{k}: {v}" for k, v in sorted(d.field_sources.items()))
            c.print(f"  fields from: {escape(fields)}")
            for s in _sources_json(cat, d.doc_id):
                how = f" — {s['matched_by']}" if s["matched_by"] else ""
                c.print(f"  {s['kind']}: {escape(display_path(s['source']))}{escape(how)}")
        return
    t = Table(title=f"{len(documents)} documents")
    for col in ("doc_id", "type", "design", "year", "status", "passages", "title"):
        t.add_column(col, overflow="fold")
    for d in documents:
        cells = (d.doc_id, d.doc_type, d.study_design or "", str(d.year or ""), d.status, str(d.n_chunks), d.title)
        t.add_row(*(escape(v) for v in cells))
    c.print(t)
    for d in documents:
        if note := ocr_note(d):
            c.print(f"[yellow]ocr[/] {escape(d.doc_id)} ({escape(d.title[:60])}): {escape(note)}")
    for f in failed:
        c.print(f"[red]failed[/] {escape(f.path)}: {escape(f.reason or '')}")


@main.command()
@click.argument("doc_id")
@click.option("--title")
@click.option("--authors", help='Authors separated by semicolons: "Okely, Anthony D.; Cotton, Wayne G."')
@click.option("--year", type=click.IntRange(1000, 2999))
@click.option("--type", "doc_type", help="Document type (research, needs_assessment, strategy, ...).")
@click.option("--sensitivity", type=click.Choice(["official", "official-sensitive"]))
@click.option("--design", help="Study design: systematic_review, rct, quasi_experimental, observational, ...")
@click.option(
    "--split", "split_source", help="Undo a merge: this source (path or path#entry) becomes its own document."
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def edit(state: State, doc_id, title, authors, year, doc_type, sensitivity, design, split_source, as_json):
    """Correct a document's title, authors, year, type, sensitivity or design; the analyst's value wins
    over every source and survives re-ingest and merges. A lower sensitivity set here is applied as asked."""
    from kb.store import EditError

    values = {
        k: v
        for k, v in (
            ("title", title and " ".join(title.split())),
            ("authors", [a.strip() for a in authors.split(";") if a.strip()] if authors is not None else None),
            ("year", year),
            ("doc_type", doc_type),
            ("sensitivity", sensitivity),
            ("study_design", design),
        )
        if v is not None
    }
    if not values and not split_source:
        fail("nothing to change: give --title, --authors, --year, --type, --sensitivity, --design or --split")
    try:
        if split_source:
            docs_out = list(state.kb.split(doc_id, split_source))
            if values:
                docs_out[1] = state.kb.edit(docs_out[1].doc_id, values)
        else:
            docs_out = [state.kb.edit(doc_id, values)]
    except KeyError:
        from kb.merge import missing_id

        fail(missing_id(state.kb.catalogue, doc_id))
    except EditError as exc:
        fail(str(exc))
    if as_json:
        emit_json(
            {"documents": [{**d.to_dict(), "sources": _sources_json(state.kb.catalogue, d.doc_id)} for d in docs_out]}
        )
        return
    from rich.markup import escape

    c = console()
    for d in docs_out:
        c.print(f"{d.doc_id}: [bold]{escape(d.title)}[/] ({d.year or 'n.d.'}, {d.doc_type}, {d.sensitivity})")


@main.command()
@click.argument("target")
@pass_state
def remove(state: State, target: str):
    """Remove a document (DOC_ID) from both stores, or take one ingested file's contributions out (PATH):
    documents it was merged into keep what their other sources gave."""
    kb = state.kb
    if kb.catalogue.get_document(target) is None:
        path = str(Path(target).expanduser().resolve())
        if kb.catalogue.get_file(path) is None:
            from kb.merge import missing_id

            fail(missing_id(kb.catalogue, target, f"no document or ingested file {target!r}; `kb docs` lists the ids"))
        applied = kb.remove_path(path)
        click.echo(f"removed {target}: {len(applied.documents)} document(s) kept from other sources")
        return
    n = kb.remove(target)
    click.echo(f"removed {target} ({n} passages)")


@main.command()
@click.argument("text", nargs=-1)
@click.option("--lines", "lines_file", type=click.Path(exists=True, dir_okay=False), help="One text per line.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def tag(state: State, text: tuple[str, ...], lines_file: str | None, as_json: bool):
    """Show the tags the tagger gives each text: factors with polarity, priorities, places."""
    from kb.ingestion import IngestError, pipeline

    if lines_file:
        texts = [ln.strip() for ln in Path(lines_file).read_text(encoding="utf-8").splitlines() if ln.strip()]
    else:
        texts = [" ".join(text)] if text else []
    if not texts:
        fail("give a text to tag, or --lines FILE")
    try:
        tags = pipeline().tagger(state.taxonomy).tag_many(texts)
    except IngestError as exc:
        fail(str(exc))
    items = [{"text": t, **g.to_dict()} for t, g in zip(texts, tags, strict=True)]
    if as_json:
        emit_json(items)
        return
    c = console()
    for it in items:
        c.print(f"[bold]{it['text']}[/]")
        factors = ", ".join(f"{f['factor']} ({f['polarity']})" for f in it["factors"]) or "none"
        c.print(f"  factors: {factors}; priorities: {it['priorities']}; WHO: {it['who_levels']}")
        if it["crime_types"] or it["cohorts"] or it["places"]:
            c.print(f"  crime types: {it['crime_types']}; cohorts: {it['cohorts']}; places: {it['places']}")


if __name__ == "__main__":
    main()
