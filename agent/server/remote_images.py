"""Fetching an ``image_url`` that is an http(s) address, for operators who turn it on.

A server that fetches what its clients name can be turned against the network it sits in (SSRF). So: only
http and https; the host's addresses are looked up once and every one must be public (no loopback, private,
link-local, multicast or reserved ranges, unless the operator allows private ones), and the connection goes to
the address that was checked, so a second DNS answer cannot swap it; no redirects; a size cap read
incrementally and a time limit over the whole fetch.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from agent.errors import MediaError


@dataclass(frozen=True)
class UrlPolicy:
    max_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 10.0
    allow_private: bool = False


def _checked_address(host: str, port: int, policy: UrlPolicy) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise MediaError(f"image URL host {host!r} cannot be resolved; check the address") from None
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if not ip.is_global and not (policy.allow_private and (ip.is_private or ip.is_loopback)):
            raise MediaError(f"image URL host {host!r} is a private or reserved address ({ip}); the server only fetches public addresses")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # the certificate must name the host


def fetch_image_bytes(url: str, policy: UrlPolicy) -> bytes:
    """The bytes at an http(s) URL under the policy; MediaError with one line for anything refused or failed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError(f"image URL scheme {parts.scheme or '(none)'!r} is not allowed; send http(s) URLs or data: URLs")
    if parts.username or parts.password:
        raise MediaError("image URLs with credentials are not fetched; remove the user:password part")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _checked_address(parts.hostname, port, policy)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, port, address, policy.timeout_s)
    deadline = time.monotonic() + policy.timeout_s
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", target, headers={"User-Agent": "rosetta-server", "Accept": "image/*"})
        response = connection.getresponse()
        if response.status != 200:
            raise MediaError(f"image URL answered HTTP {response.status} (redirects are not followed); send the final URL or the image itself")
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > policy.max_bytes:
            raise MediaError(f"image URL content is {int(declared) / 2**20:.1f} MiB, over the {policy.max_bytes / 2**20:.0f} MiB limit")
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise MediaError(f"image URL took longer than {policy.timeout_s:g} s; send the image itself")
            chunk = response.read1(64 * 1024)  # whatever has arrived: the deadline is checked between pieces
            if not chunk:
                break
            size += len(chunk)
            if size > policy.max_bytes:
                raise MediaError(f"image URL content is over the {policy.max_bytes / 2**20:.0f} MiB limit")
            chunks.append(chunk)
        return b"".join(chunks)
    except (OSError, http.client.HTTPException) as error:
        if isinstance(error, TimeoutError) or isinstance(error, socket.timeout):
            raise MediaError(f"image URL took longer than {policy.timeout_s:g} s; send the image itself") from None
        raise MediaError(f"cannot fetch image URL: {type(error).__name__}: {error}") from None
    finally:
        connection.close()
