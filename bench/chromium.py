"""Debian's headless Chromium as the browser tests and the page benchmark launch it (no network but 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Nothing running in the background of a test or a measurement, and nothing that reaches beyond the machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MISSING = "needs /usr/bin/chromium: apt-get install chromium fonts-dejavu-core (.ci/run)"
