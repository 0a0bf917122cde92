"""Fixtures that build real knowledge bases: the sample corpus ingested once per session, copied per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
KB_BIN = Path(sys.executable).with_name("kb")


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


@pytest.fixture(scope="session")
def corpus_data_dir(tmp_path_factory) -> Path:
    """The sample corpus ingested once, through the real pipeline (read-only for tests)."""
    from ingest.pipeline import Ingestor

    data = tmp_path_factory.mktemp("corpus-kb")
    kb = open_kb(data)
    report = Ingestor(kb).run([CORPUS])
    assert not report.failed, [(f.path, f.reason) for f in report.failed]
    kb.close()
    return data


@pytest.fixture
def corpus_kb_copy(corpus_data_dir, tmp_path) -> Path:
    """A private copy of the ingested corpus for tests that change it."""
    dst = tmp_path / "kb"
    shutil.copytree(corpus_data_dir, dst)
    return dst
