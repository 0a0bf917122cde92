"""Fixtures that build real knowledge bases: the sample corpus ingested once per session, copied per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.chromium import CHROMIUM, CHROMIUM_ARGS
from bench.chromium import MISSING as CHROMIUM_MISSING

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
KB_BIN = Path(sys.executable).with_name("kb")
ARTIFACTS = ROOT / "tests" / "artifacts"


def kb_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(KB_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    env.update(extra)
    return env


def run_kb(data_dir: Path, *args: str, check: bool = False, timeout: float = 600, **env: str):
    """Run the real `kb` command line in a subprocess, as a user would."""
    proc = subprocess.run(
        [str(KB_BIN), *args],
        env=kb_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kb {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def open_kb(data_dir: Path, **env: str):
    from kb.config import load_settings
    from kb.store import KnowledgeBase

    return KnowledgeBase(load_settings(data_dir, env=kb_env(data_dir, **env)))


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory) -> Path:
    """A data dir whose only job is to hold the embedding cache, so tests embed each text once."""
    return tmp_path_factory.mktemp("embed-cache")


def seed_embed_cache(src: Path, dst: Path) -> None:
    """Copy only the embedding cache of one knowledge base into a new, empty one."""
    import sqlite3

    from kb.catalogue import Catalogue

    dst.mkdir(parents=True, exist_ok=True)
    Catalogue(dst / "catalogue.sqlite3").close()
    con = sqlite3.connect(dst / "catalogue.sqlite3")
    con.execute("ATTACH DATABASE ? AS src", (str(src / "catalogue.sqlite3"),))
    con.execute("INSERT OR IGNORE INTO embed_cache SELECT * FROM src.embed_cache")
    con.commit()
    con.close()


def ingest_into(data: Path, *paths: Path) -> Path:
    """Ingest files or folders into a data dir in this process, through the real pipeline; all must succeed."""
    from ingest.pipeline import Ingestor

    kb = open_kb(data)
    try:
        report = Ingestor(kb).run(list(paths))
    finally:
        kb.close()
    assert not report.failed, [(f.path, f.reason) for f in report.failed]
    return data


@pytest.fixture(scope="session")
def corpus_master(tmp_path_factory) -> Path:
    """The sample corpus ingested once per session; tests use copies of it (corpus_data_dir), never this one."""
    return ingest_into(tmp_path_factory.mktemp("corpus-master"), CORPUS)


@pytest.fixture(scope="module")
def corpus_data_dir(corpus_master, tmp_path_factory) -> Path:
    """The ingested sample corpus, one copy per test module (read-only for tests).

    One copy per module, not one per session: a full run opens the session's copy from many threads,
    subprocesses and cached app resources, and once left it failing every later write with "disk I/O error".
    A module's own copy keeps what one module does to its files away from the next.
    """
    dst = tmp_path_factory.mktemp("corpus-kb") / "kb"
    shutil.copytree(corpus_master, dst)
    return dst


OKELY_PDF = "real-pdfs/ijbnpa2017_okely_girls_in_sport.pdf"


@pytest.fixture(scope="session")
def okely_kb(tmp_path_factory) -> Path:
    """A real article (CC BY, ../shared/data) ingested once: tests copy it or seed their embedding cache from it."""
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return ingest_into(tmp_path_factory.mktemp("okely-kb"), SHARED_DATA / OKELY_PDF)


@pytest.fixture
def corpus_kb_copy(corpus_data_dir, tmp_path) -> Path:
    """A private copy of the ingested corpus for tests that change it."""
    dst = tmp_path / "kb"
    shutil.copytree(corpus_data_dir, dst)
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> bytes:
    """Poll a server the test started until `url` answers; fail (and stop it) if it dies or never does."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.read()
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"{what} did not answer at {url} within {timeout:.0f} s (exit code {proc.poll()})")
            time.sleep(0.3)


def start_app(data_dir: Path, port: int, cwd: Path = ROOT, **env: str) -> subprocess.Popen:
    """`streamlit run` of the app on a loopback port, not yet answering (Streamlit reads .streamlit/ from `cwd`)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app" / "Home.py"),
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        env=kb_env(data_dir, **env),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def serve_app(data_dir: Path, **env: str) -> tuple[str, subprocess.Popen]:
    """The app by `streamlit run` on a free loopback port, for the browser tests: its URL and process (stop it)."""
    port = free_port()
    proc = start_app(data_dir, port, **env)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/_stcore/health", proc, "streamlit run")
    return url, proc


FAST_HASH = dict(n=2**10, r=8, p=1)  # sign-in hashes cheap enough for tests


def users_toml(**users: tuple[str, str]) -> str:
    """kb.toml's [[auth.users]], one per `name=(role, password)`, hashed cheaply."""
    from kb.auth import hash_password

    return "".join(
        f'\n[[auth.users]]\nusername = "{name}"\nrole = "{role}"\n'
        f'password_hash = "{hash_password(password, **FAST_HASH)}"\n'
        for name, (role, password) in users.items()
    )


@pytest.fixture
def app_env(monkeypatch):
    """Point the app at a data directory, as `kb app` does through the environment (no other KB_ variable)."""

    def use(data_dir: Path) -> None:
        for k in list(os.environ):
            if k.startswith("KB_"):
                monkeypatch.delenv(k)
        for k, v in kb_env(data_dir).items():
            monkeypatch.setenv(k, v)

    return use


needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=CHROMIUM_MISSING)


@contextmanager
def app_served(data_dir: Path, **env: str) -> Iterator[str]:
    """serve_app() for the length of a `with`: its URL, the server stopped after."""
    url, proc = serve_app(data_dir, **env)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (bench/chromium.py's flags), one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextmanager
def browser_page(browser, width: int = 1280, height: int = 900, timeout_ms: int = 60_000, **context) -> Iterator:
    """A page in a new browser context (no cookies from another test), closed after."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, **context)
    page = ctx.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        yield page
    finally:
        ctx.close()


@pytest.fixture
def page(browser):
    """A 1280 x 900 page in a new context; a slow Streamlit rerun on the shared machine gets 90 s."""
    with browser_page(browser, timeout_ms=90_000) as pg:
        yield pg


def settle(page, pause_ms: int = 500) -> None:
    """Wait until Streamlit has finished the script run the last action started."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", polling=200, timeout=60_000
    )
    page.wait_for_timeout(pause_ms)


def screenshot(page, name: str) -> Path:
    """A screenshot in tests/artifacts/ (kept by CI for a reviewer to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


@pytest.fixture
def chroma_server(tmp_path):
    """A real `chroma run` on 127.0.0.1 and a free port; its URL, for KB_CHROMA_URL."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/api/v2/heartbeat", proc, "chroma run")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
