"""Installing and removing weight sets in the weights home.

`get` fetches every file of a set, verifies each, converts them with the `dannasep import`
importers into a hidden staging folder beside the target, writes the set's manifest there and
renames the folder into place: a set is either wholly installed or absent.
"""

import dataclasses
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dannasep.engine import __version__
from dannasep.engine.errors import DannaSepError, OutputError
from dannasep.engine.importers.registry import ImportOptions, importer
from dannasep.engine.weights.catalog import CATALOG, CatalogEntry
from dannasep.engine.weights.download import DISK_FULL, DownloadOptions, discard, fetch, source_url
from dannasep.engine.weights.location import weights_home
from dannasep.engine.weights.sidecars import find_checkpoints
from dannasep.engine.weights.verify import check_hash, check_not_a_web_page, record_first_download

MANIFEST = "weights-set.json"
"""Written into an installed set's folder: what was downloaded, from where, with which sha256."""


@dataclass(frozen=True)
class InstalledFile:
    name: str
    url: str
    sha256: str
    check: str


@dataclass(frozen=True)
class InstallReport:
    folder: Path
    files: tuple[InstalledFile, ...]
    checkpoints: tuple[Path, ...]


def catalog_entry(name: str) -> CatalogEntry:
    if name not in CATALOG:
        raise DannaSepError(f"no weights named {name!r} can be fetched; known: {', '.join(CATALOG)}")
    return CATALOG[name]


def install(entry: CatalogEntry, options: DownloadOptions, log: Callable[[str], None] = print) -> InstallReport:
    """Download, verify and import every file of `entry` into ``<weights home>/<entry.name>``,
    replacing an earlier install of it only once the new one is complete."""
    home = weights_home()
    target = home / entry.name
    try:
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".staging", dir=home))
    except OSError as exc:
        raise OutputError(f"{home}: cannot create the weights folder ({exc.strerror})") from exc
    fetched_files = []
    try:
        verified = []
        for file in entry.files:
            url = source_url(file, options.mirror)
            fetched = fetch(file, options, target)
            fetched_files.append((file, fetched))
            try:
                check_not_a_web_page(fetched.path, file, url)
                digest, how = check_hash(fetched.path, file, url)
            except DannaSepError:
                if fetched.temporary:
                    discard(file)
                raise
            log(f"{file.name}: sha256 {digest} ({how})")
            verified.append(InstalledFile(file.name, url, digest, how))
        for file, fetched in fetched_files:
            try:
                result = importer(file.import_kind)(
                    fetched.path, ImportOptions(out_dir=staging, overwrite=True, name=f"{file.architecture}-paper")
                )
            except DannaSepError as exc:
                if fetched.temporary:
                    discard(file)  # a file that does not import is not worth resuming
                raise type(exc)(f"{file.name} from {source_url(file, options.mirror)}: {exc}") from exc
            for note in result.notes:
                log(f"note: {note}")
        _write_manifest(staging, entry, verified)
        _replace_folder(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in DISK_FULL:
            for file in entry.files:
                discard(file)
            raise OutputError(
                f"{home}: no space left to install {entry.name}; nothing was kept: free some space "
                "or set DANNASEP_WEIGHTS to a folder on a larger disk"
            ) from exc
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for file, fetched in fetched_files:
        if fetched.temporary:
            discard(file)
    for item, (file, _fetched) in zip(verified, fetched_files, strict=True):
        record_first_download(file, item.sha256, item.url)
    checkpoints = tuple(p for paths in find_checkpoints(target).values() for p in paths)
    return InstallReport(target, tuple(verified), checkpoints)


def _write_manifest(folder: Path, entry: CatalogEntry, files: list[InstalledFile]) -> None:
    manifest = {
        "name": entry.name,
        "title": entry.title,
        "licence": entry.licence,
        "source": entry.source,
        "files": [dataclasses.asdict(f) for f in files],
        "installed": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dannasep_version": __version__,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _replace_folder(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`; an existing `target` is moved aside first and deleted after."""
    os.chmod(staging, 0o755)  # mkdtemp makes it private; installed weights are readable like any data
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove(name: str) -> Path:
    """Delete the installed set `name` (a folder in the weights home); returns its old path."""
    home = weights_home()
    folder = home / name
    if name in ("", ".", "..") or "/" in name or os.sep in name or name.startswith("."):
        raise DannaSepError(f"{name!r} is not the name of an installed weights set")
    if name == "shipped":
        raise DannaSepError("the shipped weights are part of the project and cannot be removed")
    if not folder.is_dir():
        have = ", ".join(s.name for s in installed_sets()) or "none"
        raise DannaSepError(f"no weights set {name!r} is installed in {home} (installed: {have})")
    # out of sight first, so a half-deleted folder is never taken for an installed set
    trash = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".removing", dir=home))
    os.replace(folder, trash / name)
    shutil.rmtree(trash)
    return folder


def installed_sets() -> list[Path]:
    """Folders in the weights home holding checkpoints: catalog sets first, in catalog order."""
    home = weights_home()
    if not home.is_dir():
        return []
    folders = [p for p in home.iterdir() if p.is_dir() and not p.name.startswith(".") and find_checkpoints(p)]
    order = list(CATALOG)
    return sorted(folders, key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))
