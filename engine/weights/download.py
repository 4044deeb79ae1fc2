"""Fetching one official file: gdown for every URL (it follows Google Drive's large-file
confirmation page, and for any other URL it is a requests download that resumes with a Range
request), or a copy in a --mirror folder.

The bytes land in ``<weights home>/.downloads/<name><random>.part`` and are renamed to
``.downloads/<name>`` only when complete, so an installed set never sees a partial file. An
interrupted download keeps its ``.part`` for the next `get` to resume; a full disk, a cancelled
or a refused download leaves nothing.
"""

import errno
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gdown
import requests

from dannasep.engine.errors import DannaSepError, OutputError
from dannasep.engine.weights.catalog import RemoteFile, megabytes
from dannasep.engine.weights.location import downloads_dir

Progress = Callable[[RemoteFile, int, int | None], None]
"""``progress(file, bytes_so_far, bytes_total_or_None)``, called after each chunk."""

DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DownloadError(DannaSepError):
    """A file could not be fetched; the message says how to get it by hand."""

    exit_code = 4


class DownloadCancelledError(DannaSepError):
    exit_code = 130


@dataclass(frozen=True)
class DownloadOptions:
    mirror: str | None = None
    """A base URL or a folder holding the files under their original names."""
    retries: int = 3
    """Reconnections per file after a dropped connection; each resumes where the last stopped."""
    timeout: float = 60.0
    """Seconds without a byte before a connection counts as dropped."""
    cancel: threading.Event | None = None
    progress: Progress | None = None


@dataclass(frozen=True)
class Fetched:
    path: Path
    temporary: bool
    """True when `path` is our download (removed once installed), False for a mirror folder's file."""


def is_url(text: str) -> bool:
    return urllib.parse.urlparse(text).scheme in ("http", "https")


def source_url(file: RemoteFile, mirror: str | None) -> str:
    """Where `file` is fetched from: the mirror URL's root, else the official address."""
    if mirror and is_url(mirror):
        return mirror.rstrip("/") + "/" + urllib.parse.quote(file.name)
    return file.url


def by_hand(file: RemoteFile, out_dir: Path) -> str:
    """The offline route for `file`, as the end of a sentence."""
    return (
        f"download {file.url} by hand (a browser on any machine) and run "
        f"`dannasep import {file.import_kind} {file.name} -o {out_dir}`, or pass --mirror DIR with {file.name} in DIR"
    )


def part_files(file: RemoteFile) -> list[Path]:
    """gdown's partial downloads of `file` (its name + 8 random characters + .part)."""
    folder = downloads_dir()
    if not folder.is_dir():
        return []
    return [p for p in folder.glob(f"{file.name}*.part") if len(p.name) == len(file.name) + 8 + len(".part")]


def discard(file: RemoteFile) -> None:
    """Remove every trace of `file` in the downloads folder."""
    for path in [*part_files(file), downloads_dir() / file.name]:
        path.unlink(missing_ok=True)


def fetch(file: RemoteFile, options: DownloadOptions, out_dir: Path) -> Fetched:
    """A complete local copy of `file` (not yet verified). `out_dir` is only named in messages:
    it is where a by-hand import should go."""
    if options.mirror and not is_url(options.mirror):
        path = Path(options.mirror).expanduser() / file.name
        if not path.is_file():
            raise DownloadError(f"{path}: not in the mirror folder; a mirror holds each file under its original name")
        return Fetched(path, temporary=False)
    url = source_url(file, options.mirror)
    folder = downloads_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the downloads folder ({exc.strerror})") from exc
    target = folder / file.name

    def report(done: int, total: int | None) -> None:
        if options.progress is not None:
            options.progress(file, done, total)

    try:
        gdown.download(
            url=url,
            output=str(target),
            quiet=True,  # our own bar (options.progress) shows speed and ETA, and feeds the app
            resume=True,  # picks up the .part an interrupted run left
            retries=options.retries,
            timeout=(15.0, options.timeout),
            use_cookies=False,  # the session keeps Drive's cookies; nothing is written to ~/.cache
            progress=report,
            cancel=options.cancel,
        )
    except gdown.DownloadCancelled as exc:
        raise DownloadCancelledError(f"download of {file.name} cancelled; the next `get` resumes it") from exc
    except OSError as exc:
        if exc.errno in DISK_FULL:
            discard(file)
            raise OutputError(
                f"{folder}: no space left for {file.name} (about {megabytes(file.approx_bytes)}); nothing was kept: "
                f"free some space or set DANNASEP_WEIGHTS to a folder on a larger disk"
            ) from exc
        if isinstance(exc, requests.RequestException):
            raise _network_failure(file, url, exc, out_dir) from exc
        raise OutputError(f"{folder}: cannot write {file.name} ({exc.strerror or exc})") from exc
    except gdown.FileURLRetrievalError as exc:
        reason = " ".join(str(exc).split())
        raise DownloadError(
            f"Google Drive did not hand out {file.name} ({_shorten(reason)}); try again later, or "
            + by_hand(file, out_dir)
        ) from exc
    except (gdown.DownloadError, requests.RequestException) as exc:
        raise _network_failure(file, url, exc, out_dir) from exc
    return Fetched(target, temporary=True)


def _network_failure(file: RemoteFile, url: str, exc: Exception, out_dir: Path) -> DownloadError:
    """One sentence for a failed transfer: resumable when bytes arrived, else the offline route."""
    kept = sum(p.stat().st_size for p in part_files(file))
    if kept or _broke_off(exc):
        return DownloadError(
            f"the download of {file.name} from {url} was interrupted after {megabytes(kept)} were kept; "
            "run the same command again to resume it"
        )
    status = getattr(getattr(exc, "response", None), "status_code", None)
    why = f"the server answered HTTP {status}" if status else _shorten(_root_cause(exc))
    return DownloadError(f"cannot download {url} ({why}): " + by_hand(file, out_dir))


def _broke_off(exc: BaseException) -> bool:
    """True when a transfer that had started stopped short (not a connection that never opened)."""
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, requests.exceptions.ChunkedEncodingError):
            return True
        if isinstance(chain, gdown.DownloadError) and "incomplete" in str(chain).lower():
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, requests.ConnectionError):
        return "no connection"
    return str(exc) or type(exc).__name__


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
