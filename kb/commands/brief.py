"""`kb brief`: an evidence brief for a commissioner's question, as Word (.docx) or Markdown."""

from __future__ import annotations

from pathlib import Path

import click

from kb.commands import State, TaxonomyChoice, audit_cli, fail, pass_state


@click.command()
@click.argument("question")
@click.option("--factor", help="Factor id, label or synonym from the taxonomy, e.g. substance-misuse.")
@click.option("--priority", type=TaxonomyChoice("priority"), help="Priority number from the taxonomy.")
@click.option("--format", "fmt", type=click.Choice(["docx", "md"]), default=None, help="Default: from -o's suffix.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option(
    "--include-sensitive",
    is_flag=True,
    help="Include official-sensitive documents, marked, for a reader allowed to see them. Off by default.",
)
@pass_state
def brief(state: State, question: str, factor, priority, fmt, output: str, include_sensitive: bool):
    """Write an evidence brief: toolkit ratings as published, local studies by design, thin cells, references."""
    from kb.brief import BriefError, build_brief
    from kb.brief_render import render
    from kb.embed import ModelError
    from kb.models import SENSITIVITIES
    from kb.search import SearchError
    from kb.toolkit import ToolkitError

    path = Path(output)
    fmt = fmt or ("md" if path.suffix.lower() in (".md", ".markdown") else "docx")
    try:
        b = build_brief(
            state.kb,
            question,
            factor=factor,
            priority=priority,
            sensitivities=list(SENSITIVITIES) if include_sensitive else ["official"],
        )
        data = render(b, fmt)
    except (BriefError, ToolkitError, SearchError, ModelError) as exc:
        fail(str(exc))
    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}; choose another -o path")
    audit_cli(state, "brief", [e.document for e in b.evidence], str(path.resolve()))
    click.echo(
        f"wrote {path} ({fmt}): {len(b.approaches)} toolkit approaches, {len(b.evidence)} local documents, "
        f"{len(b.thin)} thin map cells" + (" — contains OFFICIAL-SENSITIVE material" if b.sensitive else "")
    )
