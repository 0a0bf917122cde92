"""One-click unsubscribe (RFC 8058): the small HTTP server `kb app` runs beside Streamlit, which cannot serve routes.

POST `List-Unsubscribe=One-Click` to the URL in a digest's List-Unsubscribe header takes that address off that
list, with no further click. A GET of the same URL (a person clicking it) goes to the app's confirm page, since
mail scanners fetch links and must not unsubscribe anyone.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from kb.config import Settings
from kb.mail import ONE_CLICK_PATH as PATH
from kb.mail import unsubscribe_url
from kb.store import KnowledgeBase
from kb.subscribers import UnsubscribeError, unsubscribe_by_link

MAX_BODY = 1024


def _handler(settings: Settings, lock: threading.Lock, kb_holder: list):
    class Handler(BaseHTTPRequestHandler):
        server_version = "kb-unsubscribe"

        def _params(self) -> tuple[str, str] | None:
            parts = urlsplit(self.path)
            if parts.path.rstrip("/") != PATH:
                return None
            q = parse_qs(parts.query)
            return (q.get("list") or [""])[0], (q.get("token") or [""])[0]

        def _answer(self, status: HTTPStatus, text: str, location: str | None = None) -> None:
            body = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            got = self._params()
            if got is None:
                self._answer(HTTPStatus.NOT_FOUND, "not found")
                return
            confirm = unsubscribe_url(settings, got[0], got[1])
            self._answer(HTTPStatus.SEE_OTHER, "confirm in the Knowledge Hub", confirm)

        def do_POST(self) -> None:  # noqa: N802
            got = self._params()
            if got is None:
                self._answer(HTTPStatus.NOT_FOUND, "not found")
                return
            length = self.headers.get("Content-Length", "0")
            if not length.isdigit() or int(length) > MAX_BODY:
                self._answer(HTTPStatus.BAD_REQUEST, "a one-click unsubscribe body is List-Unsubscribe=One-Click")
                return
            form = parse_qs(self.rfile.read(int(length)).decode("utf-8", errors="replace"))
            if form.get("List-Unsubscribe") != ["One-Click"]:
                self._answer(HTTPStatus.BAD_REQUEST, "a one-click unsubscribe body is List-Unsubscribe=One-Click")
                return
            try:
                with lock:
                    if not kb_holder:
                        kb_holder.append(KnowledgeBase(settings))
                    unsubscribe_by_link(kb_holder[0], *got)
            except UnsubscribeError as exc:
                self._answer(HTTPStatus.BAD_REQUEST, str(exc))
                return
            self._answer(HTTPStatus.OK, "unsubscribed")

        def log_message(self, format: str, *args) -> None:
            # The request line carries the subscriber's token: never written to a log.
            return

    return Handler


class UnsubscribeServer:
    """Serves PATH on host:port in a background thread; `start()` and `stop()` go with `kb app`."""

    def __init__(self, settings: Settings, host: str, port: int):
        self._kb: list[KnowledgeBase] = []
        self.httpd = ThreadingHTTPServer((host, port), _handler(settings, threading.Lock(), self._kb))
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kb-unsubscribe", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> UnsubscribeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        for kb in self._kb:
            kb.close()
