"""A stand-in for the hosts `dannasep weights get` talks to, on 127.0.0.1.

The tests point HTTPS_PROXY at it: requests then opens a CONNECT tunnel to "drive.google.com:443"
and friends through it, and the server answers that tunnel with TLS under a certificate it made
for those names (trusted through REQUESTS_CA_BUNDLE). So the downloader runs unchanged, with the
real URLs of the catalog, against files made by the tests; plain http://127.0.0.1 URLs (a
--mirror) are served directly.

Google Drive is answered as it answers a large file: /uc?id=ID gives the "can't scan this file
for viruses" page, whose form (id="download-form", action drive.usercontent.google.com/download,
hidden id/export/confirm/uuid) leads to the file with a Content-Disposition header; gdown follows
that form. Every file answers Range requests (206) with an ETag, as the real hosts do.
"""

import hashlib
import socket
import socketserver
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOSTS = ("drive.google.com", "drive.usercontent.google.com", "docs.google.com", "zenodo.org", "dl.fbaipublicfiles.com")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for HOSTS and 127.0.0.1, made with the openssl tool."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = ",".join([*(f"DNS:{h}" for h in HOSTS), "IP:127.0.0.1"])
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=fake internet for dannasep tests",
         "-addext", f"subjectAltName={names}", "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Served:
    """One file and how it is served."""

    data: bytes
    filename: str
    drop_after: int | None = None
    """Close the connection after this many body bytes, on the next full (non-Range) request only."""
    html: str | None = None
    """Answer with this web page (200, text/html) instead of the file."""
    pace: float = 0.0
    """Seconds to wait before each 64 kB: a slow line, to cancel a download while it runs."""

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.data).hexdigest()[:16] + '"'


@dataclass
class FakeInternet:
    """Files by (host, path); for Google Drive by file id. `requests` logs what was asked."""

    plain: dict[tuple[str, str], Served] = field(default_factory=dict)
    drive: dict[str, Served] = field(default_factory=dict)
    drive_error_page: str | None = None
    """Answer every Drive request with this page (e.g. the quota message)."""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def serve_url(self, url: str, served: Served) -> None:
        parsed = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parsed.query)
        if parsed.hostname == "drive.google.com":
            self.drive[query["id"][0]] = served
        else:
            self.plain[(parsed.hostname, parsed.path)] = served


def _confirmation_page(file_id: str, filename: str) -> str:
    """What Drive shows for a file too large to scan; gdown reads the form."""
    return f"""<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p class="uc-warning-caption">Google Drive can't scan this file for viruses.</p>
<p class="uc-warning-subcaption">{filename} is too large for Google to scan for viruses.</p>
<form id="download-form" action="https://drive.usercontent.google.com/download" method="get"><input type="submit" id="uc-download-link" value="Download anyway"/><input type="hidden" name="id" value="{file_id}"><input type="hidden" name="export" value="download"><input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="0f1e2d3c-test"></form>
</body></html>
"""  # noqa: E501


def drive_quota_page() -> str:
    return """<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
<p class="uc-error-caption">Sorry, you can't view or download this file at this time.</p>
<p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try accessing the file again later.</p>
</body></html>
"""  # noqa: E501


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    tunnel_host: str | None = None

    def log_message(self, *args) -> None:  # quiet
        pass

    @property
    def world(self) -> FakeInternet:
        return self.server.world  # type: ignore[attr-defined]

    def do_CONNECT(self) -> None:
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        tls = self.server.tls.wrap_socket(self.connection, server_side=True)  # type: ignore[attr-defined]
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = socketserver._SocketWriter(tls)
        self.tunnel_host = self.path.rsplit(":", 1)[0]
        self.close_connection = False

    def do_GET(self) -> None:
        target = urllib.parse.urlsplit(self.path)
        host = self.tunnel_host or target.hostname or self.headers.get("Host", "").split(":")[0]
        self.world.requests.append((host, self.path, self.headers.get("Range")))
        query = urllib.parse.parse_qs(target.query)
        if host in ("drive.google.com", "drive.usercontent.google.com"):
            self._drive(host, target.path, query)
            return
        served = self.world.plain.get((host, target.path))
        if served is None:
            self._page(404, "<!DOCTYPE html><html><head><title>Not Found</title></head></html>")
            return
        self._file(served, with_name=False)

    def _drive(self, host: str, path: str, query: dict[str, list[str]]) -> None:
        if self.world.drive_error_page is not None:
            self._page(200, self.world.drive_error_page)
            return
        file_id = query.get("id", [""])[0]
        served = self.world.drive.get(file_id)
        if served is None:
            self._page(404, "<!DOCTYPE html><html><head><title>Not Found</title></head></html>")
        elif host == "drive.google.com" and path == "/uc":
            self._page(200, _confirmation_page(file_id, served.filename))
        elif host == "drive.usercontent.google.com" and path == "/download" and query.get("confirm") == ["t"]:
            self._file(served, with_name=True)
        else:
            self._page(200, _confirmation_page(file_id, served.filename))

    def _page(self, status: int, html: str) -> None:
        body = html.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, served: Served, with_name: bool) -> None:
        if served.html is not None:
            self._page(200, served.html)
            return
        data, start = served.data, 0
        ranged = self.headers.get("Range")
        if ranged and self.headers.get("If-Range") in (None, served.etag):
            start = int(ranged.removeprefix("bytes=").split("-")[0])
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", served.etag)
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if with_name:
            self.send_header("Content-Disposition", f'attachment; filename="{served.filename}"')
        self.end_headers()
        if served.drop_after is not None and not start:
            cut = served.drop_after
            served.drop_after = None  # only once: the resumed download gets the rest
            self.wfile.write(data[:cut])
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if not served.pace:
            self.wfile.write(data[start:])
            return
        for offset in range(start, len(data), 1 << 16):
            time.sleep(served.pace)
            try:
                self.wfile.write(data[offset : offset + (1 << 16)])
            except OSError:  # the client hung up (a cancelled download)
                return


class FakeInternetServer:
    """The server in a thread; `proxy` is what HTTPS_PROXY is set to, `url` serves plain HTTP."""

    def __init__(self, world: FakeInternet, cert: Path, key: Path):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.world = world  # type: ignore[attr-defined]
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        self.httpd.tls = tls  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FakeInternetServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
