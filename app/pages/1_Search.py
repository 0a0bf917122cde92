"""Search page: one query box, filters in the sidebar, passages grouped by document, exports, a shareable URL."""

from __future__ import annotations

import html

import streamlit as st

from app.common import (
    SERVER_MODE_HELP,
    audience,
    brief_download,
    embedded_store_error,
    factor_label,
    md,
    page,
    priority_label,
    record,
    safe_link,
    tag_chips,
    viewer,
    visible_sensitivities,
)
from kb.brief_render import DOCX_MIME
from kb.embed import ModelError
from kb.export import documents_of, to_bibtex, to_csv, to_ris
from kb.models import DOC_TYPES, STUDY_DESIGNS
from kb.render import passage_html
from kb.results import authors_short
from kb.scanning import ScanningError, save_alert
from kb.search import MODES, Filters, SearchError, SearchResult

EXAMPLES = ("trusted adult mentoring", "school exclusion and knife crime", "adverse childhood experiences")
ANY = "any"

res = page("Search", "🔎")
tax = res.taxonomy
factor_ids = sorted(tax.factors, key=lambda f: tax.factors[f].label.lower())
district_labels = [d.label for d in tax.districts()]


def _year(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _from_url() -> None:
    """Fill the widgets from the link once per session, keeping only values the app knows."""
    qp = st.query_params
    st.session_state.update(
        q=qp.get("q", ""),
        f_factor=[f for f in qp.get_all("factor") if f in tax.factors],
        f_polarity=qp.get("polarity") if qp.get("polarity") in ("risk", "protective") else ANY,
        f_priority=[int(p) for p in qp.get_all("priority") if p.isdigit() and int(p) in tax.priorities],
        f_who=[w for w in qp.get_all("who") if w in tax.who_levels],
        f_type=[t for t in qp.get_all("type") if t in DOC_TYPES],
        f_design=[d for d in qp.get_all("design") if d in STUDY_DESIGNS],
        f_from=_year(qp.get("from")),
        f_to=_year(qp.get("to")),
        f_district=[d for d in qp.get_all("district") if d in district_labels],
        f_mode=qp.get("mode") if qp.get("mode") in MODES else "hybrid",
        like=qp.get("like"),
    )


if "q" not in st.session_state:  # a new session, or back from another page: the link decides
    _from_url()


def _set_query(text: str) -> None:
    st.session_state["q"] = text
    st.session_state["like"] = None


def _set_like(chunk_id: str | None) -> None:
    st.session_state["like"] = chunk_id


with st.sidebar:
    st.header("Filters")
    st.multiselect("Factor", factor_ids, format_func=lambda f: factor_label(tax, f), key="f_factor")
    st.selectbox("Polarity", [ANY, "risk", "protective"], key="f_polarity")
    st.multiselect(
        "Strategy priority", sorted(tax.priorities), format_func=lambda p: priority_label(tax, p), key="f_priority"
    )
    st.multiselect("WHO level", list(tax.who_levels), format_func=lambda w: tax.who_levels[w].label, key="f_who")
    st.multiselect("Document type", list(DOC_TYPES), format_func=lambda t: t.replace("_", " "), key="f_type")
    st.multiselect("Study design", list(STUDY_DESIGNS), format_func=lambda d: d.replace("_", " "), key="f_design")
    c1, c2 = st.columns(2)
    c1.number_input("From year", min_value=1900, max_value=2100, value=None, step=1, key="f_from")
    c2.number_input("To year", min_value=1900, max_value=2100, value=None, step=1, key="f_to")
    st.multiselect("District", district_labels, key="f_district")
    with st.expander("Search settings"):
        st.selectbox(
            "Mode",
            list(MODES),
            key="f_mode",
            help="hybrid: meaning and words together; dense: meaning only; bm25: exact words only",
        )
        st.slider("Passages", 5, 50, 20, step=5, key="f_k")

ss = st.session_state
filters = Filters(
    factors=list(ss.f_factor),
    polarity=None if ss.f_polarity == ANY else ss.f_polarity,
    priorities=list(ss.f_priority),
    who_levels=list(ss.f_who),
    doc_types=list(ss.f_type),
    study_designs=list(ss.f_design),
    year_from=ss.f_from,
    year_to=ss.f_to,
    districts=list(ss.f_district),
    sensitivities=visible_sensitivities(res),
)

st.title("Search the evidence")
col_q, col_go = st.columns([6, 1], vertical_alignment="bottom")
col_q.text_input(
    "Search passages by meaning and words",
    key="q",
    placeholder="e.g. trusted adults and school exclusion",
    on_change=_set_like,
    args=(None,),
)
col_go.button("Search", key="search_go", type="primary", width="stretch", on_click=_set_like, args=(None,))

query = ss.q.strip()
like = ss.get("like")

# The link carries the query and filters, so a search can be shared or bookmarked.
params: dict[str, str | list[str]] = {}
for key, value in (
    ("q", query),
    ("factor", ss.f_factor),
    ("polarity", "" if ss.f_polarity == ANY else ss.f_polarity),
    ("priority", [str(p) for p in ss.f_priority]),
    ("who", ss.f_who),
    ("type", ss.f_type),
    ("design", ss.f_design),
    ("from", str(ss.f_from) if ss.f_from else ""),
    ("to", str(ss.f_to) if ss.f_to else ""),
    ("district", ss.f_district),
    ("mode", "" if ss.f_mode == "hybrid" else ss.f_mode),
    ("like", like or ""),
):
    if value:
        params[key] = value
st.query_params.from_dict(params)


def _save_alert() -> None:
    try:
        a = save_alert(res.kb, viewer().username, query, filters)
        st.session_state["alert_saved"] = ("success", f"Saved as alert “{a.name}”: see it on the Scanning page.")
    except ScanningError as exc:
        st.session_state["alert_saved"] = ("error", str(exc))


if query and not like:
    if res.auth.enabled and not viewer().signed_in:
        st.caption("Sign in to save this search as an alert for your digest.")
    else:
        st.button("Save as alert", key="save_alert", on_click=_save_alert, help="New matches appear in the digest")
if saved := st.session_state.pop("alert_saved", None):
    getattr(st, saved[0])(saved[1])

result: SearchResult | None = None
try:
    if like:
        result = res.searcher.similar(like, k=ss.f_k, filters=filters)
    elif query:
        result = res.searcher.search(query, k=ss.f_k, mode=ss.f_mode, filters=filters)
except (SearchError, ModelError) as exc:
    st.error(str(exc))
except Exception as exc:
    if not embedded_store_error(exc):
        raise
    st.error(f"The vector store could not answer ({exc}). {SERVER_MODE_HELP}")

if result is None and not like:
    st.info(
        "Type a question or a few words. Narrow the results with the filters on the left; "
        "the address bar then holds your search, so you can share it by link."
    )
    st.write("Try:")
    cols = st.columns(len(EXAMPLES))
    for i, (col, ex) in enumerate(zip(cols, EXAMPLES, strict=True)):
        col.button(ex, key=f"example_{i}", on_click=_set_query, args=(ex,))
    st.stop()

if like:
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.subheader("Passages like the one you chose")
    c2.button("Back to results", key="back_to_results", on_click=_set_like, args=(None,))

if result is None or not result.hits:
    st.warning("No passages match. Try other words, remove a filter, or check the Library for what has been ingested.")
    st.stop()

groups = result.groups
st.caption(f"{len(result.hits)} passages from {len(groups)} documents · {result.mode} search")

docs = documents_of(result.hits)
record(res, "view", docs, "app: Search")


def _export(fmt: str, make):
    # Built when the button is pressed, so the audit trail records exports, not page views; that runs outside
    # this script, so who is exporting is read now.
    actor = audience(res).name

    def build() -> str:
        record(res, "export", docs, f"app: Search, {fmt} download", actor=actor)
        return make()

    return build


# Downloads do not rerun the page: a rerun would re-register every button's deferred file, and a second
# download clicked meanwhile would ask for one that no longer exists.
e1, e2, e3, e4, _ = st.columns([1, 1, 1, 1, 2])
e1.download_button(
    "Export CSV",
    _export("CSV", lambda: to_csv(result.hits, filters.sensitivities)),
    "search-results.csv",
    "text/csv",
    key="export_csv",
    on_click="ignore",
)
e2.download_button(
    "Export BibTeX",
    _export("BibTeX", lambda: to_bibtex(docs, filters.sensitivities)),
    "search-results.bib",
    "application/x-bibtex",
    key="export_bib",
    on_click="ignore",
)
e3.download_button(
    "Export RIS",
    _export("RIS", lambda: to_ris(docs, filters.sensitivities)),
    "search-results.ris",
    "application/x-research-info-systems",
    key="export_ris",
    on_click="ignore",
)
if query and not like:
    # Built only when clicked; official-sensitive material only for a reader allowed to see it (kb.brief).
    e4.download_button(
        "Download brief",
        brief_download(
            res,
            query,
            "Search",
            factor=ss.f_factor[0] if len(ss.f_factor) == 1 else None,
            priority=ss.f_priority[0] if len(ss.f_priority) == 1 else None,
        ),
        "evidence-brief.docx",
        DOCX_MIME,
        key="export_brief",
        on_click="ignore",
        help="An evidence brief for this question (Word): toolkit ratings, local studies by design, gaps.",
    )

for g in groups:
    d = g.document
    with st.container(border=True, key=f"doc_{d.doc_id}"):
        meta = [md(d.doc_type.replace("_", " ")), str(d.year) if d.year else "n.d."]
        if who := authors_short(d):
            meta.insert(0, md(who))
        if d.study_design:
            meta.append(md(d.study_design.replace("_", " ")))
        if d.publisher:
            meta.append(md(d.publisher))
        if d.sensitivity != "official":
            meta.append(f"**{d.sensitivity.upper()}**")
        st.markdown(f"#### {md(d.title)}")
        link = f" · [source]({safe_link(d.url)})" if safe_link(d.url) else ""
        st.caption(" · ".join(meta) + link)
        for h in g.hits:
            # Lists and emphasis as the document wrote them; its own links and HTML stay text.
            text = passage_html(h.chunk.text, "" if like else query)
            st.markdown(
                f'<div class="citation kb-citation">{html.escape(h.citation)}</div>'
                f'<div class="passage kb-passage">{text}</div>'
                f"<div>{tag_chips(h.chunk.tags, tax)}</div>",
                unsafe_allow_html=True,
            )
            st.button(
                "More like this",
                key=f"more_{h.chunk.chunk_id}",
                on_click=_set_like,
                args=(h.chunk.chunk_id,),
                help="Passages closest in meaning to this one",
            )
