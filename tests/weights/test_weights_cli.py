"""`dannasep weights list|get|remove|path` and the commands picking up what it installs."""

import hashlib
import shutil

import pytest
from audio_fixtures import write_song
from conftest import catalog_file, serve
from fake_internet import FakeInternet, Served

from dannasep.engine.cli import main
from dannasep.engine.weights.catalog import CATALOG
from dannasep.engine.weights.download import DownloadOptions
from dannasep.engine.weights.install import install
from dannasep.engine.weights.location import weights_home
from dannasep.engine.weights.resolve import choose_weights

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
DANNA_FILES = ("xumx.onnx", "unet_attention.pth", "demucs_4_decoders.pth")


def _serve_danna_sep(world: FakeInternet, releases) -> None:
    for fmt in DANNA_FILES:
        serve(world, catalog_file(fmt, releases[fmt]), releases[fmt])


def test_path_follows_xdg_data_home_and_the_override(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("DANNASEP_WEIGHTS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert main(["weights", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "xdg" / "dannasep" / "weights")
    monkeypatch.setenv("DANNASEP_WEIGHTS", str(tmp_path / "mine"))
    assert main(["weights", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "mine")


@pytest.mark.slow
def test_get_list_separate_remove(releases, internet, tmp_path, capsys):
    """The paper's system in one command; separate then uses it without flags, and not after remove."""
    _serve_danna_sep(internet, releases)
    song = tmp_path / "song.wav"
    write_song(song, seconds=2.0, seed=3)

    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "fetchable" in listing and "danna-sep" in listing and "973 MB" in listing and "MIT" in listing
    assert "separate, eval, gui export (preset paper): shipped" in listing

    assert main(["weights", "get", "danna-sep", "--quiet"]) == 0
    out = capsys.readouterr().out
    for fmt in DANNA_FILES:
        digest = hashlib.sha256(releases[fmt]).hexdigest()
        assert f"{fmt}: sha256 {digest} (not published by the source; recorded as this file's first download)" in out
    folder = weights_home() / "danna-sep"
    assert sorted(p.name for p in folder.iterdir()) == [
        "demucs-paper.json", "demucs-paper.safetensors", "unet-paper.json", "unet-paper.safetensors",
        "weights-set.json", "xumx-paper.json", "xumx-paper.onnx",
    ]  # fmt: skip

    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "danna-sep" in listing.split("fetchable")[0] and "downloaded;" in listing
    assert f"sha256 {hashlib.sha256(releases['xumx.onnx']).hexdigest()}" in listing
    assert f"(preset paper): danna-sep (paper size, {folder})" in listing
    assert "(preset paper): shipped (live size" in listing  # the live stream keeps live-size networks

    assert main(["separate", str(song), "-o", str(tmp_path / "stems"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"weights: danna-sep (paper size, {folder})" in out
    assert f"unet: {folder / 'unet-paper.safetensors'} (imported from the Danna-Sep authors' TorchScript" in out
    assert "from unet_attention.pth (sha256" in out

    assert main(["separate", str(song), "-o", str(tmp_path / "shipped"), "--weights", "shipped", "--quiet"]) == 0
    assert "weights: shipped (live size" in capsys.readouterr().out

    assert main(["weights", "get", "danna-sep"]) == 0  # already there: nothing downloaded again
    assert "already installed" in capsys.readouterr().out

    assert main(["weights", "remove", "danna-sep"]) == 0
    assert not folder.exists()
    capsys.readouterr()
    assert main(["separate", str(song), "-o", str(tmp_path / "after"), "--quiet"]) == 0
    assert "weights: shipped (live size" in capsys.readouterr().out


def test_remove_of_something_not_installed_is_one_sentence(internet, capsys):
    assert main(["weights", "remove", "danna-sep"]) == 2
    assert "no weights set 'danna-sep' is installed" in capsys.readouterr().err
    assert main(["weights", "remove", "../etc"]) == 2


def test_demucs48_hq_must_carry_its_published_hash(releases, internet, capsys):
    """The real catalog entry: our stand-in bytes cannot start with 28a1282c, so they are refused."""
    real = CATALOG["demucs48_hq"].files[0]
    serve(internet, real, releases["demucs48_hq"])
    assert main(["weights", "get", "demucs48_hq", "--quiet"]) == 4
    err = capsys.readouterr().err
    assert "demucs48_hq-28a1282c.th from https://dl.fbaipublicfiles.com/demucs/v3.0/demucs48_hq-28a1282c.th" in err
    assert "its name promises 28a1282c" in err and "nothing was installed" in err
    assert not (weights_home() / "demucs48_hq").exists()


@pytest.mark.slow
def test_mirror_url_and_mirror_folder(releases, internet, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for fmt in DANNA_FILES:
        (mirror / fmt).write_bytes(releases[fmt])
        internet.plain[("127.0.0.1", f"/models/{fmt}")] = Served(releases[fmt], fmt)
    url = internet.server.url + "/models/"
    assert main(["weights", "get", "danna-sep", "--mirror", url, "--quiet"]) == 0
    assert all(host == "127.0.0.1" for host, _path, _range in internet.requests)  # not Google Drive
    assert main(["weights", "remove", "danna-sep"]) == 0
    internet.requests.clear()
    assert main(["weights", "get", "danna-sep", "--mirror", str(mirror), "--quiet"]) == 0
    assert internet.requests == []
    assert (weights_home() / "danna-sep" / "unet-paper.safetensors").is_file()
    assert all((mirror / fmt).is_file() for fmt in DANNA_FILES)  # a mirror's files are left alone
    shutil.rmtree(mirror)
    assert main(["weights", "get", "danna-sep", "--force", "--mirror", str(mirror)]) == 4
    assert "not in the mirror folder" in capsys.readouterr().err


def test_offline_gives_one_sentence_with_the_manual_route(internet, monkeypatch, capsys):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens: as without network
    assert main(["weights", "get", "danna-sep", "--retries", "0", "--quiet"]) == 4
    err = capsys.readouterr().err.strip()
    url = CATALOG["danna-sep"].files[0].url
    assert err.count("\n") == 0
    assert f"cannot download {url} (no connection): download {url} by hand" in err
    assert f"`dannasep import dannasep-onnx xumx.onnx -o {weights_home() / 'danna-sep'}`" in err
    assert not (weights_home() / "danna-sep").exists()


@pytest.mark.slow
def test_the_demucs_v2_preset_needs_no_toml_once_demucs48_hq_is_installed(releases, internet, tmp_path, capsys):
    song = tmp_path / "song.wav"
    write_song(song, seconds=2.0, seed=4)
    assert main(["separate", str(song), "-o", str(tmp_path / "a"), "--preset", "demucs-v2", "--quiet"]) == 2
    assert "`dannasep weights get demucs48_hq`" in capsys.readouterr().err
    file = catalog_file("demucs48_hq", releases["demucs48_hq"])  # its stand-in, whose name carries its hash
    serve(internet, file, releases["demucs48_hq"])
    entry = CATALOG["demucs48_hq"]
    install(type(entry)(entry.name, entry.title, (file,), entry.licence, entry.source, entry.architectures),
            DownloadOptions(), log=print)  # fmt: skip
    assert main(["separate", str(song), "-o", str(tmp_path / "b"), "--preset", "demucs-v2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"weights: demucs48_hq (paper size, {weights_home() / 'demucs48_hq'})" in out
    assert sorted(p.name for p in (tmp_path / "b").rglob("*.wav"))  # four stems written


@pytest.mark.slow
def test_choice_for_the_live_stream_keeps_live_size(releases, internet):
    _serve_danna_sep(internet, releases)
    assert main(["weights", "get", "danna-sep", "--quiet"]) == 0
    streaming = choose_weights(None, ["xumx", "unet", "demucs"], streaming=True)
    assert streaming.folder is None and "playback keeps live-size networks" in streaming.note
    for option in ("danna-sep", None):  # told otherwise: by name, or by asking for paper size
        forced = choose_weights(option, ["xumx", "unet", "demucs"], size="paper", streaming=True)
        assert forced.folder == weights_home() / "danna-sep" and forced.size == "paper"
