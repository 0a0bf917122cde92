"""Evidence map page: factors x priorities, WHO levels or toolkit approaches, counting studies by design."""

from __future__ import annotations

import html

import altair as alt
import streamlit as st

from app.common import band_badge, md, page, record, visible_sensitivities
from kb.changes import signature
from kb.evidence_map import (
    DESIGN_LABELS,
    DESIGN_ORDER,
    EVIDENCE_DOC_TYPES,
    NOT_RECORDED,
    OPTIONAL_DOC_TYPES,
    EvidenceMap,
    approach_documents,
    build_approach_map,
    build_map,
    cell_studies,
)
from kb.render import passage_html

VIEWS = {"priority": "Strategy priority", "who_level": "WHO level", "approach": "Toolkit approach"}
UNITS = {"documents": "Studies (documents)", "passages": "Passages"}
# Strongest design darkest, as evidence-and-gap maps colour their cells.
DESIGN_COLOURS = ("#08306b", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef", "#bdbdbd")
BAND_COLOURS = {
    "HIGH": "#1b5e20",
    "MODERATE": "#66bb6a",
    "LOW": "#c8e6c9",
    "INSUFFICIENT EVIDENCE": "#ffffff",
    "HARMFUL": "#b71c1c",
    "": "#dddddd",
}

res = page("Evidence map", "🗺️")
tax = res.taxonomy
sens = visible_sensitivities(res)

st.title("Evidence map")
st.write(
    "Each row is a risk or protective factor; each column a strategy priority, WHO level or toolkit approach. "
    "A cell counts the **studies** (documents) with a passage tagged with both, coloured by the strongest "
    "study design among them, as evidence-and-gap maps do. Only evidence counts — research, evaluations, needs "
    "assessments, reference lists and toolkit entries; add the strategy (a plan, not evidence) or news below. "
    "Grey cells are gaps. A dark outline marks where the strategy files the factor."
)
c1, c2, c3 = st.columns([2, 2, 3])
kind = c1.radio("Columns", list(VIEWS), format_func=VIEWS.get, horizontal=True, key="map_columns")
unit = c2.radio("Count", list(UNITS), format_func=UNITS.get, horizontal=True, key="map_unit")
include = c3.multiselect(
    "Also count", list(OPTIONAL_DOC_TYPES), key="map_include", help="Not evidence: count them only to see them."
)
doc_types = [*EVIDENCE_DOC_TYPES, *include]


def _design_text(designs: dict[str, int]) -> str:
    return "; ".join(f"{n} {DESIGN_LABELS[d]}" for d, n in designs.items()) or "none"


def _show_studies(studies) -> None:
    for s in studies:
        d = s.document
        label = DESIGN_LABELS[s.design]
        why = f" — “{md(s.design_evidence)}”" if s.design_evidence else ""
        marked = " · **OFFICIAL-SENSITIVE**" if d.sensitivity != "official" else ""
        st.markdown(
            f"- **{md(d.title)}** ({d.year or 'n.d.'}, {md(d.doc_type.replace('_', ' '))}){marked}  \n"
            f"  Design: {label}{why} · {s.passages} tagged passage{'s' if s.passages != 1 else ''}"
        )
        st.markdown(
            f'<div class="citation kb-citation">{html.escape(s.citation)}</div>'
            f'<div class="passage kb-passage">{passage_html(s.best.text[:600])}'
            f"{'…' if len(s.best.text) > 600 else ''}</div>",
            unsafe_allow_html=True,
        )


if kind == "approach":
    amap = build_approach_map(res.kb, sensitivities=sens, taxonomy=tax, doc_types=doc_types)
    if not amap.approaches:
        st.warning("No toolkit entries are ingested yet: add them in the Library to see this view.")
        st.stop()
    st.caption(
        "Toolkit approaches (YEF's evidence and gap map axis) against factors. A coloured cell: the toolkit "
        "links the approach to the factor, coloured by its published impact band. The number counts local "
        "studies whose passages are tagged with the factor and name the approach."
    )
    names = {a.slug: a.approach for a in amap.approaches}
    data = [
        {
            "factor": f,
            "factor_label": label,
            "slug": a.slug,
            "approach": a.approach,
            "band": (a.band or "") if cells[a.slug].linked else "",
            "linked": cells[a.slug].linked,
            "documents": cells[a.slug].documents,
            "designs": _design_text(cells[a.slug].designs),
        }
        for f, label, cells in amap.rows
        for a in amap.approaches
    ]
    base = alt.Chart(alt.Data(values=data)).encode(
        x=alt.X("approach:N", title=None, sort=list(names.values()), axis=alt.Axis(orient="top", labelAngle=-40)),
        y=alt.Y("factor_label:N", title=None, sort=[label for _, label, _ in amap.rows]),
    )
    heat = base.mark_rect(stroke="#ffffff").encode(
        color=alt.condition(
            "datum.linked",
            alt.Color(
                "band:N",
                scale=alt.Scale(domain=list(BAND_COLOURS), range=list(BAND_COLOURS.values())),
                title="toolkit band",
            ),
            alt.value("#f4f4f4"),
        ),
        tooltip=["factor_label:N", "approach:N", "band:N", "documents:Q", "designs:N"],
    )
    text = base.mark_text(fontSize=10).encode(text=alt.Text("documents:Q"), opacity=alt.value(0.9))
    st.altair_chart((heat + text).properties(height=alt.Step(18), width=alt.Step(40)), key="map_approach_chart")
    st.subheader("Local studies naming an approach")
    p1, p2 = st.columns(2)
    slug = p1.selectbox("Approach", list(names), format_func=names.get, key="map_approach")
    factor = p2.selectbox(
        "Factor", [f for f, _, _ in amap.rows], format_func=lambda f: tax.factors[f].label, key="map_approach_factor"
    )
    cell = next(cells for f, _, cells in amap.rows if f == factor)[slug]
    if not cell.documents:
        st.warning(f"No local study tagged with {tax.factors[factor].label} names {names[slug]}: a gap.")
    for d in approach_documents(res.kb, cell):
        st.markdown(f"- {html.escape(d.title)} ({d.year or 'n.d.'}, {d.doc_type.replace('_', ' ')})")
    st.stop()


def _labels(emap: EvidenceMap) -> tuple[dict[str, str], dict[str, str]]:
    cols = {c.id: f"{c.id} {c.label}" if emap.columns_kind == "priority" else c.label for c in emap.columns}
    return cols, {r.factor: f"{r.label} ({r.polarity})" for r in emap.rows}


def _heatmap(emap: EvidenceMap, kind: str, unit: str) -> dict:
    """The grid as a Vega-Lite spec: Altair builds and validates it once per map, not on every rerun."""
    col_label, row_label = _labels(emap)
    cells = [(r, c.id, r.cells[c.id]) for r in emap.rows for c in emap.columns]
    designs_domain = [DESIGN_LABELS[d] for d in (*DESIGN_ORDER, NOT_RECORDED)]
    data = [
        {
            "factor": r.factor,
            "factor_label": row_label[r.factor],
            "column": col,
            "column_label": col_label[col],
            "count": cell.count(unit),
            "documents": cell.documents,
            "passages": cell.passages,
            "strongest": DESIGN_LABELS[cell.strongest_design or NOT_RECORDED] if cell.documents else "",
            "designs": _design_text(cell.designs),
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
                "datum.documents > 0",
                alt.Color(
                    "strongest:N",
                    scale=alt.Scale(domain=designs_domain, range=list(DESIGN_COLOURS)),
                    title="strongest design",
                ),
                alt.value("#eeeeee"),
            ),
            stroke=alt.condition("datum.linked", alt.value("#333333"), alt.value("#ffffff")),
            strokeWidth=alt.condition("datum.linked", alt.value(1.5), alt.value(0.5)),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.5)),
            tooltip=[
                alt.Tooltip("factor_label:N", title="factor"),
                alt.Tooltip("column_label:N", title=VIEWS[kind]),
                alt.Tooltip("documents:Q", title="studies"),
                alt.Tooltip("designs:N", title="by design"),
                alt.Tooltip("passages:Q"),
                alt.Tooltip("band:N", title="strongest toolkit band"),
            ],
        )
        .add_params(pick)
    )
    labels = base.mark_text(fontSize=10).encode(
        text=alt.Text("count:Q"),
        color=alt.condition(
            f"indexof({designs_domain[:3]!r}, datum.strongest) >= 0", alt.value("white"), alt.value("#333333")
        ),
    )
    chart = (heat + labels).properties(height=alt.Step(20), width=alt.Step(135))
    return chart.to_dict()


@st.cache_data(show_spinner=False, max_entries=32)
def _grid(
    _kb, _tax, changes: tuple, kind: str, unit: str, doc_types: tuple, sens: tuple
) -> tuple[EvidenceMap, dict, str]:
    """The map, its chart and its CSV, built once per catalogue change and view (`changes` keys the cache)."""
    emap = build_map(_kb, columns=kind, sensitivities=list(sens), taxonomy=_tax, doc_types=list(doc_types), unit=unit)
    return emap, _heatmap(emap, kind, unit), emap.to_csv()


emap, spec, csv_text = _grid(res.kb, tax, signature(res.kb), kind, unit, tuple(doc_types), tuple(sens))
col_label, row_label = _labels(emap)

cells = [(r, c.id, r.cells[c.id]) for r in emap.rows for c in emap.columns]
# One line of figures, not three st.metric: each kind of element the browser draws is one more script it
# fetches and runs on a page's first open, and the map's chart already costs most of that.
filled = sum(1 for _, _, cell in cells if cell.documents)
st.markdown(
    f"**{filled:,}** cells with evidence · **{len(cells) - filled:,}** gaps (empty cells) · "
    f"**{sum(cell.passages for _, _, cell in cells):,}** tagged passages counted"
)
for col in emap.columns:
    if col.empty_reason:
        st.info(f"**Column {col_label[col.id]} is empty by design.** {col.empty_reason}")

event = st.vega_lite_chart(spec, on_select="rerun", selection_mode="cell", key="map_chart")
st.caption(f"The number in a cell counts {UNITS[unit].lower()}; the colour is the strongest study design.")

# A click on the chart chooses the cell in the pickers below, which also work without a mouse.
clicked = (event.selection.get("cell") or [None])[0] if event else None
if clicked and clicked != st.session_state.get("map_last_click"):
    st.session_state["map_last_click"] = clicked
    st.session_state["map_factor"] = clicked["factor"]
    st.session_state["map_col"] = clicked["column"]

st.download_button("Download the map (CSV)", csv_text, f"evidence-map-{kind}.csv", "text/csv", key="map_csv")

st.subheader("Evidence in a cell")
p1, p2 = st.columns(2)
factor = p1.selectbox("Factor", [r.factor for r in emap.rows], format_func=row_label.get, key="map_factor")
if st.session_state.get("map_col") not in col_label:  # the column kind changed under a stored choice
    st.session_state.pop("map_col", None)
column = p2.selectbox(VIEWS[kind], list(col_label), format_func=col_label.get, key="map_col")
cell = next(r for r in emap.rows if r.factor == factor).cells[column]

if cell.band:
    st.markdown(
        f"Strongest toolkit band here: {band_badge(cell.band)} — {md(cell.best_approach or '')}",
        unsafe_allow_html=True,
    )
if cell.harmful:
    st.error("HARMFUL approaches linked here: " + md(", ".join(cell.harmful)))
if not cell.documents:
    reason = next((c.empty_reason for c in emap.columns if c.id == column and c.empty_reason), None)
    st.warning(
        f"No study yet on {row_label[factor]} under {col_label[column]}: a gap in the evidence."
        + (" The strategy files the factor here." if cell.linked else "")
        + (f" {reason}" if reason else "")
    )
    st.stop()

st.caption(
    f"{cell.documents} studies ({_design_text(cell.designs)}), {cell.passages} tagged passages; by type: "
    + ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in cell.documents_by_type.items())
    + ". Strongest design first, each with its best passage."
)
studies = cell_studies(res.kb, factor, column, kind, sensitivities=sens, doc_types=doc_types, limit=20)
# The cell was counted for this viewer's sensitivities; each study is checked again as it is drawn.
allowed = visible_sensitivities(res)
studies = [st_ for st_ in studies if st_.document.sensitivity in allowed]
record(res, "view", [st_.document for st_ in studies], f"app: Evidence map, cell {factor} x {column}")
_show_studies(studies)
