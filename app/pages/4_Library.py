"""Library page: the documents, uploads ingested with a progress bar, failed files, corrections, removal."""

from __future__ import annotations

import streamlit as st

from app.common import SERVER_MODE_HELP, embedded_store_error, md, page, short_path, viewer, visible_sensitivities
from kb.ingestion import ingest_upload, supported_suffixes
from kb.library import (
    MAX_UPLOAD_BYTES,
    document_tags,
    edit_document,
    editable_values,
    failed_files,
    remove_document,
    visible_documents,
)
from kb.models import DOC_TYPES, SENSITIVITIES

AS_FILE_SAYS = "as the file says"
# The uploader checks the last extension only; save_upload then insists on a whole supported suffix.
UPLOAD_TYPES = sorted({s.rsplit(".", 1)[-1] for s in supported_suffixes()})

res = page("Library", "🗂️")
cat = res.kb.catalogue
may_manage = res.auth.may_manage(viewer())


def _remove(doc_id: str, title: str) -> None:
    # A callback, so the list below is drawn after the removal and the confirmation box resets.
    n = remove_document(res.kb, doc_id)
    st.session_state["remove_confirm"] = False
    st.session_state["removed"] = f"Removed “{md(title)}” ({n} passages)."


EDIT_FIELDS = ("title", "authors", "year", "doc_type", "sensitivity")
PAGE_ROWS = 200  # documents per page of the table


def _load_edit(by_id: dict) -> None:
    # Fill the form with the chosen document's current values (the keys outlive a rerun).
    for name, value in editable_values(by_id[st.session_state["edit_doc"]]).items():
        st.session_state[f"edit_{name}"] = value


def _save_edit() -> None:
    doc_id = st.session_state["edit_doc"]
    changed = edit_document(res.kb, doc_id, {n: st.session_state.get(f"edit_{n}") for n in EDIT_FIELDS})
    st.session_state["edited"] = (
        f"Saved {', '.join(changed)}: the corrected values win over every source and survive re-ingest."
        if changed
        else "Nothing changed."
    )


st.title("Library")
for key in ("removed", "edited"):
    if msg := st.session_state.pop(key, None):
        st.success(msg)
if not res.settings.chroma_url:
    with st.expander("Running `kb ingest` while the app is open"):
        st.write(SERVER_MODE_HELP)

docs = visible_documents(cat, visible_sensitivities(res))
st.subheader(f"{len(docs)} documents")
shown = docs
if len(docs) > PAGE_ROWS:  # a table of thousands took longer to send and draw than the rest of the page
    last = -(-len(docs) // PAGE_ROWS)
    n = st.number_input(f"Page (of {last}, {PAGE_ROWS} documents each)", 1, last, 1, key="library_page")
    shown = docs[(n - 1) * PAGE_ROWS : n * PAGE_ROWS]
tags = document_tags(cat, [d.doc_id for d in shown])
st.dataframe(
    [
        {
            "title": d.title,
            "type": d.doc_type.replace("_", " "),
            "year": str(d.year) if d.year else "n.d.",  # as citations write a work with no date
            "status": d.status,
            "passages": d.n_chunks,
            "top factors": ", ".join(
                res.taxonomy.factors[f].label for f in tags[d.doc_id] if f in res.taxonomy.factors
            ),
            "sensitivity": d.sensitivity,
            "doc_id": d.doc_id,
        }
        for d in shown
    ],
    hide_index=True,
    width="stretch",
    key="library_docs",
)

if not may_manage:
    st.info(
        "Sign in as an internal user to upload or remove documents"
        + ("." if res.auth.enabled else ": sign-in is not configured yet (see the sidebar).")
    )
    st.stop()

st.subheader("Add documents")
st.caption(
    f"PDF, text, Markdown, BibTeX reference lists and toolkit entries (`.toolkit.yaml`), up to "
    f"{MAX_UPLOAD_BYTES // 2**20} MB each. For folders or larger files use `kb ingest PATH`."
)
uploads = st.file_uploader("Files", type=UPLOAD_TYPES, accept_multiple_files=True, key="upload_files")
c1, c2 = st.columns(2)
doc_type = c1.selectbox("Document type", [AS_FILE_SAYS, *DOC_TYPES], key="upload_type")
sensitivity = c2.selectbox("Sensitivity", [AS_FILE_SAYS, *SENSITIVITIES], key="upload_sensitivity")

if st.button("Ingest", key="ingest_go", type="primary", disabled=not uploads):
    files = [(f.name, f.getvalue()) for f in uploads or []]
    bar = st.progress(0.0, text="Starting…")
    done: list = []
    embedded = [0]

    def on_file(path) -> None:
        bar.progress(len(done) / len(files), text=f"Reading {path.name} ({len(done) + 1} of {len(files)})")

    def on_embedded(n: int) -> None:
        embedded[0] += n
        bar.progress(len(done) / len(files), text=f"Embedding passages: {embedded[0]} so far")

    def on_done(report) -> None:
        done.append(report)
        bar.progress(len(done) / len(files), text=f"{len(done)} of {len(files)} files done")

    try:
        # A refused upload (wrong type, too big, empty) comes back as a failed file with the reason.
        ingest_upload(
            res.kb,
            files,
            doc_type=None if doc_type == AS_FILE_SAYS else doc_type,
            sensitivity=None if sensitivity == AS_FILE_SAYS else sensitivity,
            on_file=on_file,
            on_done=on_done,
            on_embedded=on_embedded,
        )
    except Exception as exc:
        if not embedded_store_error(exc):
            raise
        st.error(f"The vector store refused the write ({exc}). {SERVER_MODE_HELP}")
    # Kept for the next run, which redraws the document list with the new documents in it.
    st.session_state["ingest_reports"] = done
    st.rerun()

for r in st.session_state.get("ingest_reports", []):
    name = md(short_path(r.path, res))
    if r.status == "failed":
        st.error(f"{name}: failed — {md(r.reason)}")
    elif r.status == "no_text":
        st.warning(f"{name}: {md(r.reason)}")
    else:
        st.success(f"{name}: {r.status}, {r.documents} document(s), {r.passages} passages")

failed = failed_files(cat)
st.subheader("Files that failed")
if failed:
    st.dataframe(
        [{"file": short_path(f.path, res), "reason": f.reason} for f in failed],
        hide_index=True,
        width="stretch",
        key="library_failed",
    )
else:
    st.caption("None.")

st.subheader("Correct a document")
if docs:
    by_id = {d.doc_id: d for d in docs}
    if st.session_state.get("edit_doc") not in by_id:
        st.session_state["edit_doc"] = docs[0].doc_id
        _load_edit(by_id)
    st.selectbox(
        "Document",
        list(by_id),
        format_func=lambda i: f"{by_id[i].title} ({by_id[i].doc_type}, {by_id[i].year or 'n.d.'})",
        key="edit_doc",
        on_change=_load_edit,
        args=(by_id,),
    )
    e1, e2 = st.columns([3, 2])
    e1.text_input("Title", key="edit_title")
    e2.text_input("Authors (separated by ;)", key="edit_authors")
    e3, e4, e5 = st.columns(3)
    e3.number_input("Year", min_value=1000, max_value=2999, step=1, key="edit_year")
    e4.selectbox("Type", DOC_TYPES, key="edit_doc_type")
    e5.selectbox("Sensitivity", SENSITIVITIES, key="edit_sensitivity")
    st.button("Save corrections", key="edit_go", on_click=_save_edit)

st.subheader("Remove a document")
if docs:
    by_id = {d.doc_id: d for d in docs}
    doc_id = st.selectbox(
        "Document",
        list(by_id),
        format_func=lambda i: f"{by_id[i].title} ({by_id[i].doc_type}, {by_id[i].year or 'n.d.'})",
        key="remove_doc",
    )
    sure = st.checkbox("Remove it and all its passages from the knowledge base", key="remove_confirm")
    st.button("Remove", key="remove_go", disabled=not sure, on_click=_remove, args=(doc_id, by_id[doc_id].title))
