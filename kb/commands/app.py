"""`kb app`: the Streamlit front end, run with the data directory and settings of this command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from kb.commands import State, pass_state
from kb.library import MAX_UPLOAD_BYTES

ENTRY = Path(__file__).resolve().parents[2] / "app" / "Home.py"


@click.command()
@click.option("--port", default=8501, show_default=True, help="Port to listen on.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@pass_state
def app(state: State, port: int, address: str) -> None:
    """Open the search, what works, evidence map, library and scanning pages in a browser."""
    settings = state.settings  # fails here, with the reason, if kb.toml is wrong
    env = dict(os.environ, KB_DATA_DIR=str(settings.data_dir))
    if settings.config_path:
        env["KB_CONFIG"] = str(settings.config_path)
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ENTRY),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--server.maxUploadSize",
        str(MAX_UPLOAD_BYTES // (1024 * 1024)),
        "--browser.gatherUsageStats",
        "false",
        # The users are researchers and commissioners: no "Deploy" button or developer menu.
        "--client.toolbarMode",
        "viewer",
    ]
    click.echo(f"knowledge base: {settings.data_dir}\nopen http://{address}:{port}", err=True)
    # Replaced, not wrapped: a service manager's stop signal then reaches Streamlit itself.
    os.execve(sys.executable, cmd, env)
