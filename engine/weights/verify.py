"""Is a downloaded file the one we asked for? A web page in its place is named as such; its sha256
must start with the published digits where the source publishes them (demucs48_hq), or else equal
the sha256 recorded at the first download of that file (trust on first use)."""

import datetime as dt
import json
import re
from pathlib import Path

from dannasep.engine.errors import DannaSepError
from dannasep.engine.weights.catalog import RemoteFile
from dannasep.engine.weights.location import hash_ledger_path
from dannasep.engine.weights.sidecars import atomic_write, sha256_of


class VerificationError(DannaSepError):
    exit_code = 4


def check_not_a_web_page(path: Path, file: RemoteFile, url: str) -> None:
    """Raise if `path` holds HTML: a server's error, login or quota page saved in the file's place."""
    with open(path, "rb") as f:
        head = f.read(4096)
    start = head.lstrip().lower()
    if not (start.startswith(b"<!doctype html") or start.startswith(b"<html")):
        return
    title = re.search(rb"<title>(.*?)</title>", head, re.IGNORECASE | re.DOTALL)
    what = f" titled {title.group(1).decode('utf-8', 'replace').strip()!r}" if title else ""
    raise VerificationError(
        f"{url} returned a web page{what} instead of {file.name} (an error, quota or sign-in page); "
        "nothing was installed: try again later, or download the file in a browser and use --mirror DIR"
    )


def _ledger() -> dict[str, dict[str, str]]:
    path = hash_ledger_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def first_download_sha256(file: RemoteFile) -> str | None:
    entry = _ledger().get(file.name)
    return entry.get("sha256") if isinstance(entry, dict) else None


def check_hash(path: Path, file: RemoteFile, url: str) -> tuple[str, str]:
    """The file's sha256 and how it was checked; raises if it is not the expected file."""
    digest = sha256_of(path)
    if file.sha256_prefix:
        if not digest.startswith(file.sha256_prefix):
            raise VerificationError(
                f"{file.name} from {url} has sha256 {digest[:16]}…, but its name promises {file.sha256_prefix}…: "
                "the download is corrupt or not the published file; nothing was installed"
            )
        return digest, f"matches the published {file.sha256_prefix}"
    recorded = first_download_sha256(file)
    if recorded is None:
        return digest, "not published by the source; recorded as this file's first download"
    if digest != recorded:
        raise VerificationError(
            f"{file.name} from {url} has sha256 {digest[:16]}…, but its first download had {recorded[:16]}… "
            f"(recorded in {hash_ledger_path()}): the file changed or is corrupt; nothing was installed "
            "(delete that record to accept the new file)"
        )
    return digest, "matches its first download"


def record_first_download(file: RemoteFile, digest: str, url: str) -> None:
    """Remember `digest` for `file`, unless a digest is already recorded (the first one stands)."""
    ledger = _ledger()
    if file.name in ledger or file.sha256_prefix:
        return
    ledger[file.name] = {
        "sha256": digest,
        "url": url,
        "first_downloaded": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    text = json.dumps(ledger, indent=2) + "\n"
    atomic_write(hash_ledger_path(), lambda tmp: tmp.write_text(text))
