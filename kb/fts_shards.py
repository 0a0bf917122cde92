"""BM25 shards in worker processes, each with a read-only connection to the catalogue of its own.

FTS5 does not run faster on two threads of one process (two bm25() queries on two connections took longer
together than one after the other), so a large BM25 run is split by rowid range over processes instead. The
workers are plain `python -m kb.fts_shards` children talking pickle over their pipes: no multiprocessing
start method, so the parent's main module is never imported again and a Streamlit server's threads are never
forked.
"""

from __future__ import annotations

import atexit
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


class Worker:
    """One child process answering (sql, params) with rows, one request at a time."""

    def __init__(self, catalogue_path: str):
        self.path = catalogue_path
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "kb.fts_shards", self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},  # finds kb as we do
        )

    def query(self, sql: str, params: list) -> list[tuple]:
        with self.lock:
            for attempt in (1, 2):  # a worker that died (killed, out of memory) is started again once
                if self.proc is None or self.proc.poll() is not None:
                    self.proc = self._start()
                try:
                    pickle.dump((sql, params), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                    self.proc.stdin.flush()
                    ok, value = pickle.load(self.proc.stdout)
                except (OSError, EOFError, pickle.UnpicklingError):
                    self.stop()
                    if attempt == 2:
                        raise
                    continue
                if not ok:
                    raise sqlite3.OperationalError(value)
                return value
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


_workers: dict[str, list[Worker]] = {}
_lock = threading.Lock()
_threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kb-fts-shard")


def _pool(catalogue_path: Path, n: int) -> list[Worker]:
    key = str(Path(catalogue_path).resolve())
    with _lock:
        workers = _workers.setdefault(key, [])
        while len(workers) < n:
            workers.append(Worker(key))
        return workers[:n]


def run(catalogue_path: Path, queries: list[tuple[str, list]], local: Callable[[str, list], list]) -> list[list]:
    """Each (sql, params) on a worker of its own, in parallel; their rows in the same order. A shard whose
    worker cannot answer runs through `local` (the caller's own connection) instead: slower, same rows."""

    def one(job: tuple[Worker, tuple[str, list]]) -> list:
        worker, (sql, params) = job
        try:
            return worker.query(sql, params)
        except (OSError, EOFError, pickle.UnpicklingError):
            return local(sql, params)

    return list(_threads.map(one, zip(_pool(catalogue_path, len(queries)), queries, strict=True)))


@atexit.register
def _stop() -> None:
    for workers in _workers.values():
        for w in workers:
            w.stop()


def _serve(catalogue_path: str) -> None:
    """The worker's loop: read a request from stdin, write (ok, rows or error) to stdout, until stdin closes."""
    conn = sqlite3.connect(f"file:{catalogue_path}?mode=ro", uri=True, timeout=60)
    conn.execute("PRAGMA busy_timeout=60000")
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            sql, params = pickle.load(stdin)
        except EOFError:
            return
        try:
            reply = (True, conn.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            reply = (False, f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


if __name__ == "__main__":
    _serve(sys.argv[1])
