"""What every page shares: the knowledge base opened once, the viewer and sign-in, chips and badges."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAuthError

from kb import audit, oidc
from kb.auth import ANONYMOUS, AuthConfig, Viewer, load_auth
from kb.config import Settings, load_settings, location
from kb.models import Document, FactorTag, Tags
from kb.search import Searcher
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy
from kb.visibility import Audience, hidden_count

DOCS = "docs/app.md"
SERVER_MODE_HELP = (
    "The vectors are in an embedded Chroma store in the data directory. For the app and `kb ingest`, "
    "`kb scan` or `kb digest` to write at the same time on a busy site, run Chroma as a server — "
    "`chroma run --path DATA_DIR/chroma --host 127.0.0.1 --port 8000` (the existing store, nothing is "
    "re-embedded) — and set `KB_CHROMA_URL=http://127.0.0.1:8000` for the app and every `kb` command "
    "(see docs/app.md)."
)

CSS = """
<style>
.chip[title] {cursor:help}
.chip {display:inline-block; padding:0 .5em; margin:0 .25em .25em 0; border-radius:.8em; font-size:.8em;
       border:1px solid #ccc; background:#f6f6f6; color:#333; white-space:nowrap}
.chip-risk {background:#fdecea; border-color:#f5b7b1; color:#8a1c12}
.chip-protective {background:#e8f5e9; border-color:#a5d6a7; color:#1b5e20}
.chip-priority {background:#e8eaf6; border-color:#9fa8da; color:#1a237e}
.chip-who {background:#fff8e1; border-color:#ffe082; color:#5d4300}
.chip-place {background:#e0f7fa; border-color:#80deea; color:#004d55}
.citation {color:#555; font-size:.85em; margin-bottom:.2em}
.passage mark {background:#fff59d; padding:0 .1em}
.band {display:inline-block; padding:.15em .6em; border-radius:.3em; font-weight:700; font-size:.85em;
       letter-spacing:.03em}
.band-HARMFUL {background:#b71c1c; color:#fff}
.band-INSUFFICIENT {background:#fff; color:#555; border:2px dashed #777}
.band-LOW {background:#c8e6c9; color:#1b5e20}
.band-MODERATE {background:#66bb6a; color:#fff}
.band-HIGH {background:#1b5e20; color:#fff}
.band-NONE {background:#eee; color:#555}
</style>
"""


@dataclass
class Resources:
    """Opened once per data directory and shared by every session and page."""

    settings: Settings
    kb: KnowledgeBase
    searcher: Searcher
    taxonomy: Taxonomy
    auth: AuthConfig


@st.cache_resource(show_spinner="Opening the knowledge base…")
def _open(data_dir: str, config: str) -> Resources:
    settings = load_settings(data_dir)
    kb = KnowledgeBase(settings)
    return Resources(settings, kb, Searcher(kb), kb.taxonomy, load_auth(settings))


def resources() -> Resources:
    # Keyed by where the data and settings are, so two knowledge bases in one process (tests) never share one.
    data_dir, config = location()
    return _open(str(data_dir), str(config or ""))


def page(title: str, icon: str) -> Resources:
    """Common page start: config, styles, the sign-in box; returns the shared resources."""
    st.set_page_config(page_title=f"{title} · VRU evidence", page_icon=icon, layout="wide")
    st.markdown(CSS, unsafe_allow_html=True)
    res = resources()
    sign_in_box(res)
    return res


def _oidc_secrets(res: Resources) -> tuple[dict, str] | None:
    """The provider's section of .streamlit/secrets.toml and the redirect URI; None when they are not there."""
    try:
        auth = st.secrets.get("auth") or {}
    except FileNotFoundError:
        return None
    provider = res.auth.oidc.provider if res.auth.oidc else None
    section = auth.get(provider) if provider else auth
    if not section or not auth.get("redirect_uri"):
        return None
    return dict(section), str(auth["redirect_uri"])


def _sign_in_problem(res: Resources) -> str | None:
    """Why the provider would not sign anyone in, asked before the browser goes there (kb.oidc); None: go."""
    found = _oidc_secrets(res)
    if found is None:
        return None  # st.login itself says what secrets.toml lacks
    try:
        oidc.check_sign_in(*found)
    except oidc.ProviderError as exc:
        return str(exc)
    return None


def _userinfo(res: Resources, claims: dict) -> tuple[dict, str | None]:
    """Claims from the provider's userinfo endpoint, for an ID token without those the mapping reads."""
    missing = ", ".join(res.auth.oidc.missing_claims(claims))
    tokens = getattr(st.user, "tokens", None) or {}
    found = _oidc_secrets(res)
    if "access" not in tokens or found is None:
        return {}, (
            f"Your organisation's sign-in did not say {missing}, so you count as external. Put the claim in the "
            'ID token, or add expose_tokens = ["access"] to [auth] in .streamlit/secrets.toml so the app can ask '
            f"the provider's userinfo endpoint (see {DOCS})."
        )
    try:
        return oidc.userinfo(str(found[0].get("server_metadata_url")), tokens["access"], str(claims.get("sub"))), None
    except oidc.ProviderError as exc:
        return (
            {},
            f"Your sign-in did not say {missing} and the provider could not be asked ({exc}): you count as external.",
        )


def _oidc_viewer(res: Resources) -> Viewer | None:
    """The viewer Streamlit's `st.login` signed in, with the role kb.toml's [auth.oidc] mapping gives them."""
    if res.auth.oidc is None or not getattr(st.user, "is_logged_in", False):
        return None
    claims = {k: v for k, v in st.user.to_dict().items() if k != "tokens"}  # claims only, never the tokens
    if res.auth.oidc.missing_claims(claims):
        # Asked once per session: the provider's answer does not change while the session lasts.
        key = f"oidc_userinfo:{claims.get('sub')}"
        if key not in st.session_state:
            st.session_state[key] = _userinfo(res, claims)
        extra, st.session_state["oidc_claims_note"] = st.session_state[key]
        claims = {**extra, **claims}  # the signed ID token's own claims win
    name = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub") or "oidc user")
    return Viewer(name, res.auth.oidc.role_for(claims))


def viewer() -> Viewer:
    v = st.session_state.get("viewer")
    if v is not None:
        return v
    return _oidc_viewer(resources()) or ANONYMOUS


def audience(res: Resources) -> Audience:
    return res.auth.audience(viewer())


def visible_sensitivities(res: Resources) -> list[str]:
    """What this viewer may see, as a filter: kb.visibility decides; never 'everything' by default."""
    return res.auth.sensitivities(viewer())


def record(
    res: Resources, action: str, documents: Iterable[Document], destination: str, actor: str | None = None
) -> None:
    """Audit what this viewer was shown or took away, when it is official-sensitive.

    `actor` is given by code that runs outside the page's script (a deferred download), where the session,
    and so the viewer, cannot be read.
    """
    audit.record(res.kb.catalogue, actor or audience(res).name, action, documents, destination)


def brief_download(res: Resources, question: str, where: str, **scope) -> Callable[[], bytes]:
    """A "Download brief" button's data: built only when pressed, for this viewer's sensitivities, and audited.

    The viewer is read now: the download runs outside the page's script, where the session cannot be read.
    """
    from kb.brief import build_brief
    from kb.brief_render import render

    actor, sens = audience(res).name, visible_sensitivities(res)

    def build() -> bytes:
        b = build_brief(res.kb, question, sensitivities=sens, searcher=res.searcher, taxonomy=res.taxonomy, **scope)
        record(res, "brief", [e.document for e in b.evidence], f"app: {where}, brief download", actor=actor)
        return render(b, "docx")

    return build


def _hidden_note(res: Resources) -> None:
    n = hidden_count(res.kb.catalogue, audience(res))
    if not n:
        return
    what = f"{n} official-sensitive document{'s are' if n != 1 else ' is'} hidden"
    if res.auth.enabled:
        st.caption(f"{what}: sign in as an internal user to see {'them' if n != 1 else 'it'}.")
    else:
        st.warning(
            f"{what}. Sign-in is not configured, so no one sees official-sensitive documents here. "
            "Add users to kb.toml (`[[auth.users]]`, hash from `python -m kb.auth`) or your organisation's "
            f"sign-in (`[auth.oidc]`), then restart `kb app`; see {DOCS}."
        )


def sign_in_box(res: Resources) -> None:
    with st.sidebar:
        if res.auth.single_user:
            st.caption("Single-user desktop (`[app] single_user = true`): no sign-in, every document visible.")
            return
        if not res.auth.enabled:
            _hidden_note(res)
            return
        v = viewer()
        if v.signed_in:
            st.caption(f"Signed in as **{md(v.username or '')}** ({v.role})")
            if st.button("Sign out", key="sign_out"):
                st.session_state.pop("viewer", None)
                if res.auth.oidc is not None and getattr(st.user, "is_logged_in", False):
                    # st.logout sends the browser to the provider's sign-out and back; a rerun here could
                    # overtake that redirect and leave the provider's session (and Streamlit's cookie) alive.
                    st.logout()
                    return
                st.rerun()
            if v.role != "internal":
                if note := st.session_state.get("oidc_claims_note"):
                    st.warning(note)
                _hidden_note(res)
            return
        _hidden_note(res)
        if res.auth.oidc is not None:
            if st.button(res.auth.oidc.label, key="sign_in_oidc", type="primary"):
                if problem := _sign_in_problem(res):
                    st.error(
                        f"The organisation's sign-in is not working: {problem}. Until it is, official-sensitive "
                        f"documents stay hidden. The settings are in .streamlit/secrets.toml; see {DOCS}."
                    )
                else:
                    try:
                        st.login(res.auth.oidc.provider)
                    except StreamlitAuthError as exc:
                        st.error(
                            f"The organisation's sign-in is not set up in .streamlit/secrets.toml ({exc}); see {DOCS}"
                        )
        if not res.auth.users:
            return
        with st.form("sign_in", clear_on_submit=True):
            st.caption("Sign in to see official-sensitive documents (internal users).")
            user = st.text_input("User name", key="sign_in_user")
            password = st.text_input("Password", type="password", key="sign_in_password")
            if st.form_submit_button("Sign in"):
                who = res.auth.authenticate(user, password)
                if who is None:
                    st.error("Unknown user name or wrong password.")
                else:
                    st.session_state["viewer"] = who
                    st.rerun()


# Everything Markdown gives meaning to, and Streamlit's $math$; its :color[...] needs a bracket, escaped here.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$>])")


def md(text: str | None) -> str:
    """Text from a document or a feed, safe inside st.markdown / st.caption / st.title: shown as written.

    A feed title like `[click](https://evil.example)` must not become a link, nor `<img onerror=...>` HTML.
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text or "", quote=False))


def safe_link(url: str | None) -> str | None:
    """An http(s) URL fit for a Markdown link target, or None: no spaces or brackets to break out of it."""
    if not url or not url.startswith(("http://", "https://")) or re.search(r"[\s()<>\[\]]", url):
        return None
    return url


def chip(text: str, kind: str = "", why: str = "") -> str:
    title = f' title="{html.escape(why, quote=True)}"' if why else ""
    return f'<span class="chip chip-{kind}"{title}>{html.escape(text)}</span>'


def tag_reason(f: FactorTag) -> str:
    """Why a passage got a factor tag: the words that triggered it and the cue that set its polarity."""
    words = ", ".join(f"“{w}”" for w in f.matched) or "words not recorded (tagged before tags explained themselves)"
    cue = f"“{f.cue}”" if f.cue else "none in the sentence: the factor's default polarity"
    return f"matched: {words}; polarity cue: {cue}"


def tag_chips(tags: Tags, tax: Taxonomy) -> str:
    """Factors coloured by polarity, then priorities, WHO levels and places, as HTML."""
    out = []
    for f in tags.factors:
        label = tax.factors[f.factor].label if f.factor in tax.factors else f.factor
        out.append(chip(f"{label} · {f.polarity}", f.polarity, tag_reason(f)))
    for p in tags.priorities:
        name = tax.priorities[p].name if p in tax.priorities else ""
        out.append(chip(f"P{p} {name}".strip(), "priority"))
    for w in tags.who_levels:
        out.append(chip(tax.who_levels[w].label if w in tax.who_levels else w, "who"))
    for place in tags.places:
        out.append(chip(tax.places[place].label if place in tax.places else place, "place"))
    return "".join(out)


def band_badge(band: str | None, text: str | None = None) -> str:
    css = (band or "NONE").split()[0]
    return f'<span class="band band-{css}">{html.escape(text or band or "no band published")}</span>'


def factor_label(tax: Taxonomy, factor_id: str) -> str:
    f = tax.factors.get(factor_id)
    return f"{f.label} ({f.polarity})" if f else factor_id


def priority_label(tax: Taxonomy, number: int) -> str:
    p = tax.priorities.get(number)
    return f"{number} · {p.name}" if p else str(number)


def short_path(path: str, res: Resources) -> str:
    """Paths inside the data directory shown relative to it; others as they are."""
    try:
        return str(Path(path).relative_to(res.settings.data_dir.resolve()))
    except ValueError:
        return path


def embedded_store_error(exc: Exception) -> bool:
    """True for an error from the embedded Chroma store, which gets the server-mode advice."""
    return type(exc).__module__.startswith("chromadb")
