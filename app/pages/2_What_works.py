"""What works page: toolkit approaches as cards, local evidence beside each, 2-4 compared side by side."""

from __future__ import annotations

import html

import streamlit as st

from app.common import (
    band_badge,
    brief_download,
    factor_label,
    md,
    page,
    priority_label,
    record,
    safe_link,
    visible_sensitivities,
)
from kb.brief_render import DOCX_MIME
from kb.models import NOT_CAPTURED
from kb.render import passage_html
from kb.toolkit import (
    COMPARE_MAX,
    COMPARE_MIN,
    HARMFUL,
    LOCAL_EVIDENCE_K,
    LocalEvidence,
    approaches,
    compare,
    display,
)

ANY = "any"
INSUFFICIENT = "INSUFFICIENT EVIDENCE"
CAVEAT = (
    "A toolkit figure is an **average** across the studies behind it, not a guarantee: what an approach "
    "achieves here depends on who it reaches, how well it is delivered and what else is in place. "
    "Read it beside the local evidence, and check the outcome each percentage measures."
)

res = page("What works", "✅")
tax = res.taxonomy
sens = visible_sensitivities(res)

with st.sidebar:
    st.header("Filters")
    factor = st.selectbox(
        "Factor",
        [ANY, *sorted(tax.factors, key=lambda f: tax.factors[f].label.lower())],
        format_func=lambda f: f if f == ANY else factor_label(tax, f),
        key="ww_factor",
    )
    priority = st.selectbox(
        "Strategy priority",
        [ANY, *sorted(tax.priorities)],
        format_func=lambda p: p if p == ANY else priority_label(tax, p),
        key="ww_priority",
    )
    who = st.selectbox(
        "WHO level",
        [ANY, *tax.who_levels],
        format_func=lambda w: w if w == ANY else tax.who_levels[w].label,
        key="ww_who",
    )

st.title("What works")
st.info(CAVEAT)

entries = approaches(
    res.kb,
    factor=None if factor == ANY else factor,
    priority=None if priority == ANY else priority,
    who_level=None if who == ANY else who,
    taxonomy=tax,
    sensitivities=sens,
)
if not entries:
    st.warning(
        "No toolkit approach is linked to this combination. Loosen a filter, or add toolkit entries in the Library."
    )
    st.stop()


def shown(value: str, source: str | None) -> str:
    """A figure for Markdown; one the source publishes but our copy lacks links to where it can be read."""
    if NOT_CAPTURED in value and source:
        return f"not recorded here — [see source]({source})".join(md(part) for part in value.split(NOT_CAPTURED))
    return md(value)


# Computed once per knowledge-base change and kept in the catalogue, not searched again on every rerun.
local = LocalEvidence(res.kb, res.searcher).for_entries(entries, k=LOCAL_EVIDENCE_K, sensitivities=sens)
by_slug = {e.slug: e for e in entries}
chosen = st.multiselect(
    f"Compare {COMPARE_MIN}-{COMPARE_MAX} approaches side by side",
    list(by_slug),
    format_func=lambda s: by_slug[s].approach,
    max_selections=COMPARE_MAX,
    key="ww_compare",
)
if len(chosen) >= COMPARE_MIN:
    table = compare([by_slug[s] for s in chosen])
    st.dataframe(
        [{"": name, **dict(zip(table.approaches, values, strict=True))} for name, values in table.rows],
        hide_index=True,
        width="stretch",
        key="ww_compare_table",
    )
elif chosen:
    st.caption(f"Choose at least {COMPARE_MIN} approaches to compare.")

st.caption(f"{len(entries)} approaches, strongest evidence of impact first; HARMFUL ones are never left out.")
chosen_factor = None if factor == ANY else factor
chosen_priority = None if priority == ANY else priority
scope = " and ".join(
    x
    for x in (
        tax.factors[chosen_factor].label.lower() if chosen_factor else "",
        f"strategy priority {priority_label(tax, chosen_priority)}" if chosen_priority else "",
    )
    if x
)
question = f"What works for {scope}?" if scope else "What works to prevent serious violence?"
st.download_button(
    "Download brief",
    brief_download(res, question, "What works", factor=chosen_factor, priority=chosen_priority),
    "what-works-brief.docx",
    DOCX_MIME,
    key="ww_brief",
    on_click="ignore",
    help=f"An evidence brief (Word) for: {question}",
)
for e in entries:
    d = display(e)
    with st.container(border=True, key=f"card_{e.slug}"):
        left, right = st.columns([3, 2], gap="large")
        with left:
            st.markdown(f"### {md(e.approach)} &nbsp; {band_badge(e.impact_band, d['band'])}", unsafe_allow_html=True)
            if e.impact_band == HARMFUL:
                st.error(
                    "HARMFUL: the evidence suggests this approach can make things worse. "
                    "Do not commission it as violence prevention."
                )
            elif e.impact_band == INSUFFICIENT:
                st.warning(
                    "INSUFFICIENT EVIDENCE: too little good evidence to say whether it works — "
                    "not the same as evidence that it does not."
                )
            source = safe_link(e.source_urls[0]) if e.source_urls else None
            st.markdown(
                f"**Impact:** {shown(d['impact'], source)}  \n"
                f"**Confidence:** {shown(d['confidence'], source)}  \n"
                f"**Cost:** {shown(d['cost'], source)}  \n"
                f"**Other outcomes:** {shown(d['other_outcomes'], source)}"
            )
            facts = []
            if e.prevention_types:
                facts.append("Prevention: " + md(", ".join(e.prevention_types)))
            if e.settings:
                facts.append("Settings: " + md(", ".join(e.settings)))
            if facts:
                st.caption(" · ".join(facts))
            retrieved = e.date_retrieved or "not published"
            st.caption(
                (f"[Source]({source})" if source else "Source: not published")
                + f" · retrieved {retrieved}"
                + (f" · {md(e.notes)}" if e.notes else "")
            )
        with right:
            st.markdown("**Local evidence**")
            hits = local[e.slug]
            record(res, "view", [h.document for h in hits], f"app: What works, local evidence for {e.slug}")
            if not hits:
                st.caption("No local document discusses this approach by name yet.")
            for h in hits:
                st.markdown(
                    f'<div class="citation">{html.escape(h.citation)}</div>'
                    f'<div class="passage">{passage_html(h.chunk.text[:400])}{"…" if len(h.chunk.text) > 400 else ""}'
                    "</div>",
                    unsafe_allow_html=True,
                )
