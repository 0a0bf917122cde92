"""Landing page: what the knowledge base holds (for this viewer) and what to do next.

The digest email links here too: `?doc=DOC_ID` opens one document, `?unsubscribe=TOKEN&list=LIST` asks to
confirm an unsubscribe (Streamlit serves pages, not routes, so both ride on the home page's query string).
"""

from __future__ import annotations

import html
from urllib.parse import quote

import streamlit as st

from app.common import (
    factor_label,
    md,
    page,
    priority_label,
    record,
    safe_link,
    short_path,
    tag_chips,
    viewer,
    visible_sensitivities,
)
from kb.library import document_view, overview
from kb.results import ocr_note
from kb.subscribers import UnsubscribeError, mask_email, unsubscribe_by_link

res = page("Home", "📚")
tax = res.taxonomy


def back_home() -> None:
    # Clearing the query string is what takes the viewer back to the landing content.
    if st.button("← Back to the knowledge base", key="back_home"):
        st.query_params.clear()
        st.rerun()


def show_document(doc_id: str) -> None:
    back_home()
    view = document_view(res.kb.catalogue, doc_id, visible_sensitivities(res))
    if view is None:
        # Same words for missing and hidden, so the link does not reveal that a hidden document exists.
        st.warning("That document was not found or not available to you.")
        if viewer().role != "internal" and not res.auth.single_user:
            st.caption("Some documents are shown only to signed-in internal users (see the sidebar).")
        return
    d = view.document
    record(res, "view", [d], "app: document page")
    st.title(md(d.title))
    meta = [md(d.doc_type.replace("_", " ")), str(d.year) if d.year else "n.d."]
    if d.sensitivity != "official":
        meta.append(f"**{d.sensitivity.upper()}**")
    meta.append(f"status: {d.status}")
    meta.append(f"{len(view.passages)} passage{'s' if len(view.passages) != 1 else ''}")
    st.caption(" · ".join(meta))
    if note := ocr_note(d):
        st.caption(md(note))
    if d.authors:
        st.markdown(f"**Authors:** {md('; '.join(d.authors))}")
    if safe_link(d.url):
        st.markdown(f"**Source:** [{md(d.url)}]({d.url})")
    elif d.doi:
        st.markdown(f"**Source:** [doi:{md(d.doi)}](https://doi.org/{quote(d.doi, safe='/')})")
    else:
        source = short_path(d.source, res).replace("`", "'")
        st.markdown(f"**Source:** `{source}`")
    if view.factors or view.priorities:
        st.markdown(
            "**Most tagged:** "
            + "; ".join(
                [md(factor_label(tax, f)) for f in view.factors[:5]]
                + [md(f"priority {priority_label(tax, p)}") for p in view.priorities[:3]]
            )
        )
    if d.abstract:
        st.markdown(f"**Abstract:** {md(d.abstract)}")
    st.subheader("Passages")
    for p in view.passages:
        st.markdown(
            f'<div class="citation kb-citation">{html.escape(p.citation)}</div>'
            f'<div class="passage kb-passage">{html.escape(p.chunk.text).replace(chr(10), "<br>")}</div>'
            f"<div>{tag_chips(p.chunk.tags, tax)}</div>",
            unsafe_allow_html=True,
        )


def show_unsubscribe(token: str, list_name: str) -> None:
    st.title("Unsubscribe from the digest")
    if not list_name:
        st.error("This unsubscribe link has no list name; open the link from the email exactly as it is.")
        back_home()
        return
    # The name comes from the address bar: shown as code, so a crafted link cannot add its own markdown.
    shown = "`" + list_name.replace("`", "'") + "`"
    # Mail scanners open links before people do: only the button, never the visit, unsubscribes.
    st.write(f"Stop sending the {shown} digest to the address this link was emailed to?")
    if st.button("Unsubscribe", key="unsubscribe_confirm", type="primary"):
        try:
            email = unsubscribe_by_link(res.kb, list_name, token)
        except UnsubscribeError as exc:
            st.error(str(exc))
        else:
            st.success(f"{mask_email(email)} will get no more {shown} digests.")
    back_home()


def show_landing() -> None:
    ov = overview(res.kb.catalogue, visible_sensitivities(res))

    st.title("VRU evidence knowledge base")
    st.write(
        "Research, needs assessments, the West Yorkshire strategy and 'what works' toolkit entries about "
        "serious violence, cut into cited passages and tagged by risk and protective factor and strategic priority."
    )

    c1, c2, c3 = st.columns(3)
    c1.metric("Documents", ov.documents)
    c2.metric("Passages", ov.passages)
    c3.metric("Toolkit approaches", ov.toolkit_entries)

    if not ov.documents:
        st.info(
            "The knowledge base is empty. Add documents on the **Library** page (upload), or from a terminal: "
            "`kb ingest corpus` for the sample corpus, `kb ingest PATH` for your own folder."
        )
    else:
        left, right = st.columns(2)
        with left:
            st.subheader("Documents by type")
            st.dataframe(
                [{"type": t.replace("_", " "), "documents": n} for t, n in ov.documents_by_type.items()],
                hide_index=True,
                width="stretch",
                key="home_by_type",
            )
        with right:
            st.subheader("Passages by strategy priority")
            st.dataframe(
                [
                    {"priority": priority_label(tax, p), "passages": ov.passages_by_priority.get(p, 0)}
                    for p in sorted(tax.priorities)
                ],
                hide_index=True,
                width="stretch",
                key="home_by_priority",
            )

    st.subheader("What do you want to do?")
    a, b, c, d, e = st.columns(5)
    with a:
        st.page_link("pages/1_Search.py", label="Search", icon="🔎")
        st.caption("Search by meaning; filter by factor, priority, year, district; export references.")
    with b:
        st.page_link("pages/2_What_works.py", label="What works", icon="✅")
        st.caption("Toolkit approaches by factor or priority, with local evidence beside each; compare them.")
    with c:
        st.page_link("pages/3_Evidence_map.py", label="Find gaps", icon="🗺️")
        st.caption("Factors against priorities: where the evidence is thick, and where it is thin.")
    with d:
        st.page_link("pages/4_Library.py", label="Documents", icon="🗂️")
        st.caption("Upload files, see what failed and why, remove a document.")
    with e:
        st.page_link("pages/5_Scanning.py", label="What is new", icon="📡")
        st.caption("This week's evidence, the next digest of each list, past digests, sources and your alerts.")


params = st.query_params
if "doc" in params:
    show_document(params["doc"])
elif "unsubscribe" in params:
    show_unsubscribe(params["unsubscribe"], params.get("list", ""))
else:
    show_landing()
