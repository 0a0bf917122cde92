"""What `kb ingest` prints: the table of files, the run's summary, what was removed and the notes."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from kb.commands import console


def display_path(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def print_ingest_table(report) -> None:
    from rich.table import Table

    t = Table(title="Ingest")
    for col in ("file", "status", "docs", "passages", "embedded", "reason / problems"):
        t.add_column(col, overflow="fold")
    styles = {"ok": "green", "unchanged": "dim", "no_text": "yellow", "failed": "red"}
    for f in report.files:
        note = f.reason or ""
        if f.merged:
            note = (note + "; " if note else "") + "; ".join(f.merged)
        if f.problems:
            note = (note + "; " if note else "") + f"{len(f.problems)} problem(s): " + "; ".join(f.problems[:3])
        t.add_row(
            escape(display_path(f.path)),
            f"[{styles.get(f.status, '')}]{f.status}[/]",
            str(f.documents),
            str(f.passages),
            str(f.embedded),
            escape(note),
        )
    c = console()
    c.print(t)
    s = report.to_dict()["summary"]
    c.print(
        f"{s['files']} file(s): {s['by_status']}; {s['passages']} passages, {s['embedded']} newly embedded; "
        f"{s['duplicates_merged']} duplicates merged"
    )
    if report.removed:
        gone = "; ".join(f"{display_path(f.path)} ({f.reason})" for f in report.removed)
        c.print(escape(f"{len(report.removed)} removed: {gone}"))
    for note in report.notes:
        c.print(f"[yellow]note[/] {escape(note)}")
