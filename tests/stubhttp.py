"""Throwaway HTTP servers for tests that need something other than Torchyard on a port."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# path -> (status, content type or None, body)
Answer = Callable[[str], tuple[int, str | None, bytes]]


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass  # keep test output quiet


def answering(answer: Answer) -> type[BaseHTTPRequestHandler]:
    """A handler whose GETs are answered by `answer(path)`."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # the name http.server calls
            status, content_type, body = answer(self.path)
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serving(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on a free local port in a thread; yields the server's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
