"""Evidence map page: factors x priorities (or WHO levels) as a heatmap; a chosen cell lists its evidence."""

from __future__ import annotations

import html

import altair as alt
import streamlit as st

from app.common import band_badge, md, page, record, visible_sensitivities
from kb.evidence_map import build_map
from kb.search import cite

COLUMN_KINDS = {"priority": "Strategy priority", "who_level": "WHO level"}

res = page("Evidence map", "🗺️")
tax = res.taxonomy
cat = res.kb.catalogue

st.title("Evidence map")
st.write(
    "Each row is a risk or protective factor; each column a strategy priority (or WHO level). A cell counts "
    "the passages tagged with both. Grey cells are gaps: nothing in the knowledge base speaks to them yet. "
    "A dark outline marks where the strategy files the factor. Click a cell, or pick it below, to see its evidence."
)
kind = st.radio("Columns", list(COLUMN_KINDS), format_func=COLUMN_KINDS.get, horizontal=True, key="map_columns")
emap = build_map(res.kb, columns=kind, sensitivities=visible_sensitivities(res), taxonomy=tax)
col_label = {c.id: f"{c.id} {c.label}" if kind == "priority" else c.label for c in emap.columns}
row_label = {r.factor: f"{r.label} ({r.polarity})" for r in emap.rows}

cells = [(r, c.id, r.cells[c.id]) for r in emap.rows for c in emap.columns]
m1, m2, m3 = st.columns(3)
m1.metric("Cells with evidence", sum(1 for _, _, cell in cells if cell.passages))
m2.metric("Gaps (empty cells)", sum(1 for _, _, cell in cells if not cell.passages))
m3.metric("Tagged passages counted", sum(cell.passages for _, _, cell in cells))

data = [
    {
        "factor": r.factor,
        "factor_label": row_label[r.factor],
        "column": col,
        "column_label": col_label[col],
        "passages": cell.passages,
        "documents": cell.documents,
        "band": cell.band or "",
        "linked": cell.linked,
    }
    for r, col, cell in cells
]
pick = alt.selection_point(name="cell", fields=["factor", "column"])
base = alt.Chart(alt.Data(values=data)).encode(
    x=alt.X(
        "column_label:N",
        title=None,
        sort=[col_label[c.id] for c in emap.columns],
        axis=alt.Axis(orient="top", labelAngle=-30, labelAlign="left", labelLimit=160, labelOverlap=False),
    ),
    y=alt.Y(
        "factor_label:N",
        title=None,
        sort=[row_label[r.factor] for r in emap.rows],
        axis=alt.Axis(labelLimit=320, labelOverlap=False),
    ),
)
heat = (
    base.mark_rect()
    .encode(
        color=alt.condition(
            "datum.passages > 0",
            alt.Color("passages:Q", scale=alt.Scale(scheme="blues", type="sqrt"), title="passages"),
            alt.value("#eeeeee"),
        ),
        stroke=alt.condition("datum.linked", alt.value("#333333"), alt.value("#ffffff")),
        strokeWidth=alt.condition("datum.linked", alt.value(1.5), alt.value(0.5)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.5)),
        tooltip=[
            alt.Tooltip("factor_label:N", title="factor"),
            alt.Tooltip("column_label:N", title=COLUMN_KINDS[kind]),
            alt.Tooltip("passages:Q"),
            alt.Tooltip("documents:Q"),
            alt.Tooltip("band:N", title="strongest toolkit band"),
        ],
    )
    .add_params(pick)
)
labels = base.mark_text(fontSize=10).encode(
    text=alt.Text("passages:Q"),
    color=alt.condition("datum.passages > 30", alt.value("white"), alt.value("#333333")),
)
chart = (heat + labels).properties(height=alt.Step(20), width=alt.Step(135))
event = st.altair_chart(chart, on_select="rerun", selection_mode="cell", key="map_chart")

# A click on the chart chooses the cell in the pickers below, which also work without a mouse.
clicked = (event.selection.get("cell") or [None])[0] if event else None
if clicked and clicked != st.session_state.get("map_last_click"):
    st.session_state["map_last_click"] = clicked
    st.session_state["map_factor"] = clicked["factor"]
    st.session_state["map_col"] = clicked["column"]

st.download_button("Download the map (CSV)", emap.to_csv(), f"evidence-map-{kind}.csv", "text/csv", key="map_csv")

st.subheader("Evidence in a cell")
p1, p2 = st.columns(2)
factor = p1.selectbox("Factor", [r.factor for r in emap.rows], format_func=row_label.get, key="map_factor")
if st.session_state.get("map_col") not in col_label:  # the column kind changed under a stored choice
    st.session_state.pop("map_col", None)
column = p2.selectbox(COLUMN_KINDS[kind], list(col_label), format_func=col_label.get, key="map_col")
cell = next(r for r in emap.rows if r.factor == factor).cells[column]

if cell.band:
    st.markdown(
        f"Strongest toolkit band here: {band_badge(cell.band)} — {md(cell.best_approach or '')}",
        unsafe_allow_html=True,
    )
if cell.harmful:
    st.error("HARMFUL approaches linked here: " + md(", ".join(cell.harmful)))
if not cell.passages:
    st.warning(
        f"No passages yet on {row_label[factor]} under {col_label[column]}: a gap in the evidence."
        + (" The strategy files the factor here." if cell.linked else "")
    )
    st.stop()

st.caption(
    f"{cell.passages} passages in {cell.documents} documents ("
    + ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in cell.documents_by_type.items())
    + ")"
    + (f"; the first {len(cell.chunk_ids)} are shown" if cell.passages > len(cell.chunk_ids) else "")
)
st.markdown("**Documents**")
# The cell was counted for this viewer's sensitivities; each document is checked again as it is drawn.
allowed = visible_sensitivities(res)
cell_docs = [d for d in (cat.get_document(i) for i in cell.doc_ids) if d is not None and d.sensitivity in allowed]
record(res, "view", cell_docs, f"app: Evidence map, cell {factor} x {column}")
for d in cell_docs:
    st.markdown(f"- {md(d.title)} ({d.year or 'n.d.'}, {md(d.doc_type.replace('_', ' '))})")
st.markdown("**Passages**")
rowids = cat.rowids_for_chunk_ids(cell.chunk_ids)
chunks = cat.get_chunks(list(rowids.values()))
for chunk_id in cell.chunk_ids:
    ch = chunks.get(rowids.get(chunk_id, -1))
    d = cat.get_document(ch.doc_id) if ch else None
    if ch is None or d is None or d.sensitivity not in allowed:
        continue
    st.markdown(
        f'<div class="citation kb-citation">{html.escape(cite(d, ch))}</div>'
        f'<div class="passage kb-passage">{html.escape(ch.text[:500])}{"…" if len(ch.text) > 500 else ""}</div>',
        unsafe_allow_html=True,
    )
