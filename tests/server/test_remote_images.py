"""http(s) image URLs: off by default; when on, only public addresses, no redirects, a size and a time cap."""

from __future__ import annotations

import http.server
import io
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest

from agent.errors import MediaError
from agent.models.base import Capabilities
from agent.server.config import ServerConfig
from agent.server.remote_images import UrlPolicy, fetch_image_bytes
from agent.server.run import BackgroundServer
from tests.conftest import make_picture
from tests.server.conftest import SlowModel, chat_body, image_part


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    make_picture().save(buffer, "PNG")
    return buffer.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        if self.path == "/picture.png":
            body = png_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/huge.png":  # no Content-Length: the cap must hold while reading
            self.send_response(200)
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"\0" * 65536)
        elif self.path == "/slow.png":
            self.send_response(200)
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path == "/moved.png":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def picture_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


LOOPBACK_OK = UrlPolicy(max_bytes=1 * 2**20, timeout_s=2.0, allow_private=True)


def test_a_public_policy_refuses_loopback_private_and_metadata_addresses():
    for url in ("http://127.0.0.1/x.png", "http://localhost/x.png", "http://10.1.2.3/x.png", "http://192.168.0.1/x.png",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/x.png", "http://0.0.0.0/x.png"):
        with pytest.raises(MediaError, match="private or reserved"):
            fetch_image_bytes(url, UrlPolicy())


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x.png", "gopher://x/", "http://user:pw@example.com/x.png"])
def test_other_schemes_and_credentials_are_refused(url):
    with pytest.raises(MediaError):
        fetch_image_bytes(url, UrlPolicy())


def test_fetching_with_limits():
    with picture_server() as base:
        assert fetch_image_bytes(f"{base}/picture.png", LOOPBACK_OK) == png_bytes()
        with pytest.raises(MediaError, match="over the 1 MiB limit"):
            fetch_image_bytes(f"{base}/huge.png", UrlPolicy(max_bytes=2**20, timeout_s=5, allow_private=True))
        with pytest.raises(MediaError, match="longer than"):  # 5 s of trickle against a 1 s limit
            fetch_image_bytes(f"{base}/slow.png", UrlPolicy(timeout_s=1.0, allow_private=True))
        with pytest.raises(MediaError, match="redirects are not followed"):
            fetch_image_bytes(f"{base}/moved.png", LOOPBACK_OK)
        with pytest.raises(MediaError, match="HTTP 404"):
            fetch_image_bytes(f"{base}/missing.png", LOOPBACK_OK)


class SeeingModel(SlowModel):
    capabilities = Capabilities(images=True)


def _ask(server: BackgroundServer, url: str) -> httpx.Response:
    body = {**chat_body(""), "messages": [{"role": "user", "content": [image_part(url), {"type": "text", "text": "what?"}]}]}
    return httpx.post(server.url + "/v1/chat/completions", json=body, timeout=30)


def test_the_api_takes_urls_only_when_enabled_and_never_private_ones():
    with picture_server() as base:
        with BackgroundServer(SeeingModel(tokens=2), ServerConfig(port=0)) as server:  # default: off
            assert "image URLs are off" in _ask(server, f"{base}/picture.png").json()["error"]["message"]
        with BackgroundServer(SeeingModel(tokens=2), ServerConfig(port=0, allow_image_urls=True)) as server:
            assert "private or reserved" in _ask(server, f"{base}/picture.png").json()["error"]["message"]
            assert _ask(server, "file:///etc/passwd").status_code == 400
        with BackgroundServer(SeeingModel(tokens=2), ServerConfig(port=0, allow_image_urls=True, allow_private_urls=True)) as server:
            assert _ask(server, f"{base}/picture.png").status_code == 200
            assert _ask(server, "file:///etc/passwd").status_code == 400  # still: never a path on the server
