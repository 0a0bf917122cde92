"""Scanning page: what is new this period, the next digest of each list, past digests, sources and alerts.

`?send=SEND_ID` opens one past digest, so a digest can be shared by link. Over 400 lines because its five tabs
are one page a hub admin works through in order; each tab is one function here, and what they compute is in
kb.scanning and kb.scanning_sources, so the lines left are presentation only."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import quote

import streamlit as st

from app.common import audience, chip, factor_label, page, priority_label, record, viewer
from kb.alerts import AlertError, remove_own_alert
from kb.config import Source
from kb.digest import Digest, Section
from kb.ingestion import ingest_paths
from kb.mail import safe_url
from kb.models import DOC_TYPES, SENSITIVITIES
from kb.scanning import (
    PERIODS,
    ScanningError,
    add_source,
    alert_views,
    new_items,
    next_digests,
    page_composer,
    past_digest_html,
    past_digests,
    period_bounds,
    previews_for,
    remove_source,
    scan_sources,
    send_now,
    set_paused,
    source_statuses,
    visible_digest,
)

AS_READER_SAYS = "as each file's reader decides"

res = page("Scanning", "📡")
tax = res.taxonomy
kb = res.kb
settings = res.settings
who = viewer()
# kb.visibility decides what this viewer sees and whether they may send or change sources (kb.scanning asks it).
aud = audience(res)
may_manage = res.auth.may_manage(who)
composer = page_composer(kb)
ss = st.session_state


def doc_link(doc_id: str) -> str:
    # Relative to the app's root, so it works wherever `kb app` is served.
    return f"./?doc={quote(doc_id, safe='')}"


def item_html(item, css: str = "kb-item", list_name: str = "") -> str:
    badge = f' <strong style="color:#b00020">[{html.escape(item.sensitivity.upper())}]</strong>'
    source_link = item.link if item.link.startswith(("http://", "https://")) else ""
    chips = "".join(
        chip(f, "protective" if f.endswith("(protective)") else "risk" if f.endswith("(risk)") else "")
        for f in item.factors
    ) + "".join(chip(f"P{p}", "priority") for p in item.priorities)
    meta = " · ".join(html.escape(x) for x in (item.authors, item.source, item.date, item.citation) if x)
    return (
        f'<div class="{css}" data-list="{html.escape(list_name)}" data-doc="{html.escape(item.doc_id)}">'
        f'<a href="{doc_link(item.doc_id)}" target="_self"><strong class="kb-item-title">{html.escape(item.title)}'
        f"</strong></a>{badge if item.sensitivity != 'official' else ''}"
        + (f' · <a href="{html.escape(safe_url(source_link))}">source</a>' if source_link else "")
        + f'<div class="citation">{meta}</div>'
        + (f"<div>“{html.escape(item.key_sentence)}”</div>" if item.key_sentence else "")
        + f"<div>{chips}</div></div>"
    )


def show_sections(sections: list[Section], css: str = "kb-item", list_name: str = "", level: str = "####") -> None:
    for s in sections:
        st.markdown(f"{level} {html.escape(s.title)}")
        for g in s.groups:
            st.markdown(f"**{html.escape(g.title)}**")
            for item in g.items:
                st.markdown(item_html(item, css, list_name), unsafe_allow_html=True)
            if g.more:
                st.caption(f"and {g.more} more")


# -- the period ----------------------------------------------------------------------------------------
st.title("Environmental scanning")
st.caption(
    "What `kb scan` found, what the next digest email of each list will say, digests already sent, the watched "
    "sources and your alerts. Sending stays with cron (`kb digest send`)."
)
if msg := ss.pop("scanning_message", None):
    getattr(st, msg[0])(msg[1])

shared = st.query_params.get("send")
if shared:
    body = past_digest_html(kb, settings, int(shared), aud) if shared.isdigit() else None
    with st.container(border=True, key="shared_digest"):
        if body is None:
            st.warning("That digest was not found; check the link.")
        else:
            st.html(body)
        if st.button("Close this digest", key="close_shared"):
            del st.query_params["send"]
            st.rerun()

today = datetime.now(UTC).date()
c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
choice = c1.radio("Period", PERIODS, horizontal=True, key="scan_period")
start = end = None
if choice == "date range":
    start = c2.date_input("From", today - timedelta(days=7), key="scan_from")
    end = c3.date_input("To", today, key="scan_to")
try:
    period = period_bounds(kb, settings, choice, start=start, end=end)
except ScanningError as exc:
    st.error(str(exc))
    st.stop()

tab_new, tab_next, tab_past, tab_sources, tab_alerts = st.tabs(
    ["New this week", "Next digest", "Past digests", "Sources", "Alerts"]
)

# -- new this period -----------------------------------------------------------------------------------
with tab_new:
    found = new_items(
        kb,
        period,
        aud,
        sources=ss.get("new_source", []),
        priorities=ss.get("new_priority", []),
        factors=ss.get("new_factor", []),
        composer=composer,
    )
    f1, f2, f3 = st.columns(3)
    f1.multiselect("Source", found.sources, key="new_source")
    f2.multiselect("Priority", found.priorities, format_func=lambda p: priority_label(tax, p), key="new_priority")
    f3.multiselect("Factor", found.factors, format_func=lambda f: factor_label(tax, f), key="new_factor")
    until = f" to {period.until[:10]}" if period.until else ""
    st.caption(
        f"{found.n_items} item(s) first seen from {period.since[:10]}{until}, grouped as the digest groups them."
    )
    if not found.n_items:
        st.info("Nothing new in this period. Run a scan on the Sources tab, or pick another period.")
    show_sections(found.sections)
    shown_ids = [i.doc_id for s in found.sections for g in s.groups for i in g.items]
    record(res, "view", map(kb.catalogue.get_document, shown_ids), "app: Scanning, new items")

# -- the next digest of each list ----------------------------------------------------------------------


def _send(list_name: str) -> None:
    # The viewer is read again here: a callback runs on the next rerun, after a sign-out too.
    try:
        out = send_now(kb, settings, list_name, audience(res))
    except ScanningError as exc:
        ss["scanning_message"] = ("error", str(exc))
        return
    ss[f"send_confirm_{list_name}"] = False
    if out.status == "sent":
        text = (
            f"Sent the {list_name} digest for {out.period}: {out.n_items} item(s) to {len(out.delivered)} recipient(s)."
        )
        ss["scanning_message"] = ("success", text)
    elif out.status == "skipped":
        ss["scanning_message"] = ("info", f"Nothing sent to {list_name}: {out.reason}.")
    else:
        ss["scanning_message"] = ("error", f"Sending {list_name} failed: {out.reason}")


def show_digest(d: Digest, list_name: str) -> None:
    show_sections(d.sections, "kb-preview-item", list_name, level="#####")
    if d.toolkit:
        st.markdown("##### Toolkit changes")
        for t in d.toolkit:
            change = (
                f"new approach, impact {t.band or 'not published'}"
                if t.change == "new"
                else (f"impact band changed from {t.old_band or 'not published'} to {t.band or 'not published'}")
            )
            st.markdown(f"- {html.escape(t.approach)}: {change}")
    if d.alerts:
        st.markdown("##### New matches for alerts")
        for a in d.alerts:
            st.markdown(f"- **{html.escape(a.name)}**: {len(a.matches) + a.more} passage(s)")


with tab_next:
    every = next_digests(kb, settings)
    previews = previews_for(every, aud)
    if len(previews) < len(every):
        st.caption("Previews of internal lists are shown to signed-in internal users.")
    if not settings.lists:
        st.info("No mailing lists in kb.toml; this is what an internal list would get. See docs/operations.md.")
    cols = st.columns(max(1, len(previews)))
    for col, p in zip(cols, sorted(previews, key=lambda p: p.audience != "internal"), strict=False):
        with col, st.container(border=True, key=f"next_{p.list_name}"):
            st.markdown(f"#### {html.escape(p.list_name)} · {p.audience}")
            d, _ = visible_digest(kb, p.digest, aud)
            if d.is_empty:
                st.info(f"Nothing to send: nothing new since {d.since[:10]}.")
            else:
                st.markdown(f"**Subject:** {html.escape(p.subject)}")
                st.caption(f"{d.n_items} item(s) since {d.since[:10]}")
            if p.already_sent:
                st.caption(f"The {p.period} digest has gone out; these items wait for the next period.")
            if not d.is_empty:
                show_digest(d, p.list_name)
                shown_ids = [i.doc_id for s in d.sections for g in s.groups for i in g.items]
                record(res, "view", map(kb.catalogue.get_document, shown_ids), f"app: Scanning, {p.list_name} preview")
            if may_manage and p.list_name in {m.name for m in settings.lists}:
                sure = st.checkbox(
                    f"Send the {p.list_name} digest now (once per period, recorded as `kb digest send` does)",
                    key=f"send_confirm_{p.list_name}",
                )
                st.button("Send now", key=f"send_{p.list_name}", disabled=not sure, on_click=_send, args=(p.list_name,))

# -- past digests --------------------------------------------------------------------------------------
with tab_past:
    sent = past_digests(kb, settings, aud)
    if not sent:
        st.info("No digest has been sent yet.")
    else:
        st.dataframe(
            [
                {
                    "list": s.list_name,
                    "audience": s.audience,
                    "period": s.period,
                    "sent": s.sent_at[:16].replace("T", " "),
                    "items": s.n_items,
                    "subject": s.subject,
                    "link": f"{settings.public_url.rstrip('/')}/Scanning?send={s.send_id}",
                }
                for s in sent
            ],
            hide_index=True,
            width="stretch",
            key="past_digests",
        )
        by_id = {s.send_id: s for s in sent}
        chosen = st.selectbox(
            "Read a digest",
            list(by_id),
            format_func=lambda i: f"{by_id[i].list_name} · {by_id[i].period} · {by_id[i].subject}",
            key="past_choice",
        )
        st.caption(f"Share it: {settings.public_url.rstrip('/')}/Scanning?send={chosen}")
        with st.container(border=True, key="past_body"):
            st.html(past_digest_html(kb, settings, chosen, aud) or "")

# -- sources -------------------------------------------------------------------------------------------


def _toggle(name: str, paused: bool) -> None:
    try:
        set_paused(settings, name, paused, audience(res))
        ss["scanning_message"] = ("success", f"{name} {'paused' if paused else 'resumed'} (kb.toml updated).")
    except ScanningError as exc:
        ss["scanning_message"] = ("error", str(exc))


def _remove(name: str) -> None:
    try:
        remove_source(settings, name, audience(res))
        ss["scanning_message"] = ("success", f"{name} removed from kb.toml; what it brought in stays.")
    except ScanningError as exc:
        ss["scanning_message"] = ("error", str(exc))
    ss["source_remove_confirm"] = False


def _add() -> None:
    where = ss.get("source_where", "")
    kind = ss.get("source_kind", "feed")
    doc_type = ss.get("source_type", AS_READER_SAYS)
    source = Source(
        name=ss.get("source_name", ""),
        feed=where if kind == "feed" else None,
        folder=where if kind == "folder" else None,
        doc_type=None if doc_type == AS_READER_SAYS else doc_type,
        sensitivity=ss.get("source_sensitivity", "official"),
    )
    try:
        add_source(settings, source, audience(res))
    except ScanningError as exc:
        ss["scanning_message"] = ("error", str(exc))
        return
    ss["scanning_message"] = ("success", f"{source.name.strip()} added to kb.toml; it is scanned from the next run.")
    ss["source_name"] = ss["source_where"] = ""


with tab_sources:
    statuses = source_statuses(kb, settings, aud)
    if not statuses:
        st.info("No sources in kb.toml yet." + (" Add a feed or a folder below." if may_manage else ""))
    else:
        st.dataframe(
            [
                {
                    "source": s.name,
                    "kind": s.kind,
                    "where": s.where,
                    "status": "paused" if s.paused else s.status,
                    "last fetch": (s.last_run or "")[:16].replace("T", " "),
                    "items found": s.items_found,
                    "new": s.new_items,
                    "duplicates skipped": s.duplicates,
                    "last error": s.error or "",
                }
                for s in statuses
            ],
            hide_index=True,
            width="stretch",
            key="sources_table",
        )
        for s in statuses:
            if s.status == "failed" and not s.paused:
                st.error(f"{s.name}: {s.error}")
                st.caption(s.detail or "")
    if may_manage:
        active = [s for s in settings.sources if not s.paused]
        if st.button("Run scan now", key="scan_go", type="primary", disabled=not active):
            bar = st.progress(0.0, text="Starting…")

            def on_source(i: int, n: int, source: Source) -> None:
                bar.progress(i / n, text=f"Scanning {source.name} ({i + 1} of {n})")

            report = scan_sources(kb, settings.sources, partial(ingest_paths, kb), aud, on_source=on_source)
            new = sum(s.count("new") for s in report.sources)
            failed = [s.name for s in report.sources if s.status == "failed"]
            text = f"Scan finished: {new} new item(s) from {len(report.sources)} source(s)"
            ss["scanning_message"] = (
                ("warning", f"{text}; failed: {', '.join(failed)} (see the table).")
                if failed
                else ("success", text + ".")
            )
            st.rerun()

        with st.expander("Add a source"):
            st.text_input("Name", key="source_name")
            st.radio("Kind", ["feed", "folder"], horizontal=True, key="source_kind")
            st.text_input("Feed URL or folder path", key="source_where")
            a1, a2 = st.columns(2)
            a1.selectbox("Document type", [AS_READER_SAYS, *DOC_TYPES], key="source_type")
            a2.selectbox("Sensitivity", list(SENSITIVITIES), key="source_sensitivity")
            st.button("Add source", key="source_add", on_click=_add)
        if statuses:
            with st.expander("Pause or remove a source"):
                names = [s.name for s in statuses]
                pick = st.selectbox("Source", names, key="source_pick")
                paused = next(s.paused for s in statuses if s.name == pick)
                st.button(
                    "Resume" if paused else "Pause", key="source_pause", on_click=_toggle, args=(pick, not paused)
                )
                sure = st.checkbox("Remove it from kb.toml", key="source_remove_confirm")
                st.button("Remove source", key="source_remove", disabled=not sure, on_click=_remove, args=(pick,))
    else:
        st.caption(
            "Sign in as an internal user to add, pause or remove sources, to run a scan and to send a digest"
            + ("." if res.auth.enabled else ": sign-in is not configured yet (see the sidebar).")
        )

# -- alerts --------------------------------------------------------------------------------------------


def _remove_alert(name: str) -> None:
    try:
        remove_own_alert(kb, name, who.username)
        ss["scanning_message"] = ("success", f"Alert “{name}” removed.")
    except AlertError as exc:
        ss["scanning_message"] = ("error", str(exc))


with tab_alerts:
    if res.auth.enabled and not who.signed_in:
        st.info("Sign in to see your alerts. Save one from the Search page with “Save as alert”.")
    else:
        views = alert_views(kb, who.username, period, aud, composer=composer)
        if not views:
            st.info("You have no alerts. Search on the Search page, then press “Save as alert”.")
        for v in views:
            with st.container(border=True, key=f"alert_{v.alert.name}"):
                active = {k: val for k, val in vars(v.alert.filters).items() if val}
                st.markdown(
                    f'<div class="kb-alert"><strong>{html.escape(v.alert.name)}</strong> · '
                    f"“{html.escape(v.alert.query)}”"
                    + (f' <span class="citation">{html.escape(str(active))}</span>' if active else "")
                    + f"<br>{v.n_matches} new matching passage(s) in this period</div>",
                    unsafe_allow_html=True,
                )
                for m in v.section.matches if v.section else []:
                    st.markdown(
                        f'<div class="citation"><a href="{doc_link(m.doc_id)}" target="_self">'
                        f"{html.escape(m.citation)}</a></div><div>{html.escape(m.text)}</div>",
                        unsafe_allow_html=True,
                    )
                matched = [m.doc_id for m in v.section.matches] if v.section else []
                record(res, "view", map(kb.catalogue.get_document, matched), f"app: Scanning, alert {v.alert.name}")
                st.button(
                    "Remove alert", key=f"alert_remove_{v.alert.name}", on_click=_remove_alert, args=(v.alert.name,)
                )
