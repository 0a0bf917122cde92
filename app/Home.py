"""Landing page: what the knowledge base holds (for this viewer) and what to do next."""

from __future__ import annotations

import streamlit as st

from app.common import page, priority_label, visible_sensitivities
from kb.library import overview

res = page("Home", "📚")
tax = res.taxonomy
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
a, b, c, d = st.columns(4)
with a:
    st.page_link("pages/1_Search.py", label="Find passages on a topic", icon="🔎")
    st.caption("Search by meaning; filter by factor, priority, year, district; export references.")
with b:
    st.page_link("pages/2_What_works.py", label="See what works", icon="✅")
    st.caption("Toolkit approaches by factor or priority, with local evidence beside each; compare them.")
with c:
    st.page_link("pages/3_Evidence_map.py", label="Find gaps in the evidence", icon="🗺️")
    st.caption("Factors against priorities: where the evidence is thick, and where it is thin.")
with d:
    st.page_link("pages/4_Library.py", label="Add or remove documents", icon="🗂️")
    st.caption("Upload files, see what failed and why, remove a document.")
