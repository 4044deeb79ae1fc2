"""`dannasep weights get` against the fake internet, per official format: a good download, an
interrupted one, a wrong hash, a web page in place of the file, a full disk."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import FORMATS, catalog_file, one_file_set, serve
from fake_internet import drive_quota_page

from dannasep.engine.errors import DannaSepError
from dannasep.engine.models.checkpoint import load_checkpoint
from dannasep.engine.weights.download import DownloadError, DownloadOptions
from dannasep.engine.weights.install import MANIFEST, install
from dannasep.engine.weights.location import downloads_dir, hash_ledger_path, weights_home
from dannasep.engine.weights.sidecars import find_checkpoints
from dannasep.engine.weights.verify import VerificationError, first_download_sha256, record_first_download

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _leftovers() -> list[str]:
    """Everything in the weights home but the hash ledger: after a failure there must be nothing."""
    home = weights_home()
    if not home.exists():
        return []
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and p != hash_ledger_path())


def _quiet(**kw) -> DownloadOptions:
    return DownloadOptions(**kw)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_good_download_is_verified_and_imported(fmt, releases, internet):
    data = releases[fmt]
    file = catalog_file(fmt, data)
    serve(internet, file, data)
    seen = []
    report = install(one_file_set(file), _quiet(progress=lambda f, done, total: seen.append((done, total))), log=print)

    folder = weights_home() / "test-set"
    assert report.folder == folder
    [checkpoint] = find_checkpoints(folder)[file.architecture]
    assert checkpoint.stem == f"{file.architecture}-paper"
    load_checkpoint(checkpoint, architecture=file.architecture)  # hash-checked, builds, loads
    sidecar = json.loads(checkpoint.with_suffix(".json").read_text())
    digest = sha256_of_bytes(data)
    assert sidecar["training"]["source_sha256"] == digest  # the sidecar records the download's sha256
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["files"][0]["sha256"] == digest and manifest["files"][0]["url"] == file.url
    assert not any(downloads_dir().iterdir())  # the download itself is not kept
    assert seen[-1] == (len(data), len(data))  # progress reached the whole file, its size known
    if file.sha256_prefix:
        assert "published" in manifest["files"][0]["check"]
    else:
        assert first_download_sha256(file) == digest and "first download" in manifest["files"][0]["check"]
    if file.google_drive_id:  # through Drive's confirmation page, as gdown handles it
        hosts = [(host, path.split("?")[0]) for host, path, _range in internet.requests]
        assert hosts == [("drive.google.com", "/uc"), ("drive.usercontent.google.com", "/download")]


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_interrupted_download_is_resumed_by_the_next_get(fmt, releases, internet):
    data = releases[fmt]
    file = catalog_file(fmt, data)
    cut = len(data) - 1000  # past gdown's first 512 kB chunk: the part file keeps whole chunks
    serve(internet, file, data, drop_after=cut)
    entry = one_file_set(file)
    with pytest.raises(DownloadError, match=r"interrupted after .*run the same command again to resume"):
        install(entry, _quiet(retries=0), log=print)
    assert not (weights_home() / "test-set").exists()  # nothing installed, no partial file in its place
    [part] = list(downloads_dir().glob("*.part"))
    kept = part.stat().st_size
    assert 0 < kept <= cut  # what arrived in whole chunks before the connection dropped

    install(entry, _quiet(retries=0), log=print)
    assert find_checkpoints(weights_home() / "test-set")[file.architecture]
    assert f"bytes={kept}-" in [r for _host, _path, r in internet.requests]  # resumed, not restarted
    assert _leftovers() == sorted(str(p.relative_to(weights_home())) for p in (weights_home() / "test-set").iterdir())


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_wrong_hash_is_refused_and_nothing_installed(fmt, releases, internet):
    data = releases[fmt]
    file = catalog_file(fmt, data)
    if file.sha256_prefix:
        served = data + b"\0"  # not the bytes the name's digits promise
    else:
        record_first_download(file, sha256_of_bytes(data), file.url)  # the first download had `data`
        served = data[:-1] + bytes([data[-1] ^ 1])
    serve(internet, file, served)
    expected = "its name promises" if file.sha256_prefix else "its first download had"
    with pytest.raises(VerificationError, match=expected):
        install(one_file_set(file), _quiet(), log=print)
    assert _leftovers() == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_web_page_instead_of_the_file_gets_a_clear_message(fmt, releases, internet):
    file = catalog_file(fmt, releases[fmt])
    if file.google_drive_id:
        internet.drive_error_page = drive_quota_page()
        expected = rf"Google Drive did not hand out {file.name} .*Too many users have viewed"
        error: type[DannaSepError] = DownloadError
    else:
        page = "<!DOCTYPE html>\n<html><head><title>429 Too Many Requests</title></head><body>slow down</body></html>"
        serve(internet, file, b"", html=page)
        expected = "returned a web page titled '429 Too Many Requests' instead of"
        error = VerificationError
    with pytest.raises(error, match=expected):
        install(one_file_set(file), _quiet(), log=print)
    assert _leftovers() == []


_FULL_DISK = textwrap.dedent(
    """
    import json, resource, signal, sys
    from conftest import catalog_file, one_file_set
    from dannasep.engine.errors import DannaSepError
    from dannasep.engine.weights.download import DownloadOptions
    from dannasep.engine.weights.install import install

    fmt, size, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    file = catalog_file(fmt, open(sys.argv[4], "rb").read())
    # the kernel refuses writes past RLIMIT_FSIZE as it refuses them on a full disk (EFBIG for ENOSPC)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        install(one_file_set(file), DownloadOptions(retries=0), log=print)
    except DannaSepError as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(2)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_full_disk_gets_a_clear_message_and_leaves_nothing(fmt, releases, internet, tmp_path):
    data = releases[fmt]
    file = catalog_file(fmt, data)
    serve(internet, file, data)
    source = tmp_path / "release.bin"
    source.write_bytes(data)
    tests = os.path.dirname(os.path.dirname(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__), tests]))
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, fmt, str(len(data)), str(len(data) // 3), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    message = json.loads(done.stdout.strip().splitlines()[-1])["error"]
    assert f"no space left for {file.name}" in message and "nothing was kept" in message
    assert _leftovers() == []
