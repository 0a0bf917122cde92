"""`kb app`: the Streamlit front end, and the one-click unsubscribe server beside it, with this command's settings."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from kb.commands import State, fail, pass_state
from kb.library import MAX_UPLOAD_BYTES
from kb.mail import ONE_CLICK_PORT_OFFSET

ENTRY = Path(__file__).resolve().parents[2] / "app" / "Home.py"


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--port", default=8501, show_default=True, help="Port to listen on.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option(
    "--unsubscribe-port",
    type=int,
    default=None,
    help=f"Port of the one-click unsubscribe server (default: --port + {ONE_CLICK_PORT_OFFSET}).",
)
@pass_state
def app(state: State, port: int, address: str, unsubscribe_port: int | None) -> None:
    """Open the search, what works, evidence map, library and scanning pages in a browser."""
    from kb.auth import load_auth
    from kb.config import ConfigError
    from kb.unsubscribe import UnsubscribeServer

    settings = state.settings  # fails here, with the reason, if kb.toml is wrong
    try:
        auth = load_auth(settings)
    except ConfigError as exc:
        fail(str(exc))
    if auth.single_user and not is_loopback(address):
        fail(
            f"[app] single_user = true in {settings.config_path} shows every document, official-sensitive too, "
            f"with no sign-in: it serves this machine only. Use --address 127.0.0.1, or configure sign-in "
            f"([[auth.users]] or [auth.oidc], docs/app.md) and set single_user = false to serve {address}."
        )
    if not auth.enabled and not auth.single_user:
        click.echo(
            "no sign-in configured: official-sensitive documents are hidden from every viewer and no one can "
            "upload or remove documents (docs/app.md: [[auth.users]], [auth.oidc] or [app] single_user)",
            err=True,
        )
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
    one_click_port = unsubscribe_port if unsubscribe_port is not None else port + ONE_CLICK_PORT_OFFSET
    try:
        server = UnsubscribeServer(settings, address, one_click_port).start()
    except OSError as exc:
        fail(f"cannot start the unsubscribe server on {address}:{one_click_port} ({exc}); pick --unsubscribe-port")
    click.echo(
        f"knowledge base: {settings.data_dir}\nopen http://{address}:{port}\n"
        f"one-click unsubscribe: http://{address}:{server.port}/unsubscribe",
        err=True,
    )
    # Streamlit runs as a child so the unsubscribe server lives and stops with it; a service manager's stop
    # signal is passed on to Streamlit.
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum, _frame) -> None:
        proc.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        code = proc.wait()
    finally:
        server.stop()
    sys.exit(code)
