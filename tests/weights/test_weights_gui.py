"""The app's Weights dialog: installed and fetchable weights, a download with progress and
cancel, and switching the weights the app plays with."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported anywhere

import pytest
from conftest import catalog_file, serve
from PyQt6.QtCore import QSettings

from dannasep.engine.weights.location import downloads_dir, weights_home
from dannasep.gui.main_window import MainWindow
from dannasep.gui.session import Session, SessionSettings
from dannasep.gui.weights_job import DownloadProgress
from dannasep.gui.widgets.weights_dialog import WeightsDialog

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
DANNA_FILES = ("xumx.onnx", "unet_attention.pth", "demucs_4_decoders.pth")


def _statuses(dialog: WeightsDialog) -> dict[str, str]:
    return {row[0]: row[1] for row in dialog.rows()}


def test_download_with_progress_then_play_with_it(releases, internet, qtbot, tmp_path):
    for fmt in DANNA_FILES:
        serve(internet, catalog_file(fmt, releases[fmt]), releases[fmt])
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(Session(SessionSettings(osc_port=None)), settings)
    qtbot.addWidget(window)
    dialog = window.weights_dialog(modal=False)
    qtbot.addWidget(dialog)
    assert _statuses(dialog) == {
        "shipped": "playing", "danna-sep": "can be downloaded", "demucs48_hq": "can be downloaded",
        "xumx-asteroid": "can be downloaded",
    }  # fmt: skip
    dialog.select("danna-sep")
    assert dialog.download_button.isEnabled() and not dialog.use_button.isEnabled()
    dialog.download_button.click()
    assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.download is None, timeout=120_000)
    assert dialog.progress_bar.value() == 1000
    assert dialog.progress_label.text() == f"danna-sep installed in {weights_home() / 'danna-sep'}"
    assert _statuses(dialog)["danna-sep"] == "installed"

    dialog.select("danna-sep")
    with qtbot.waitSignal(dialog.chosen, timeout=1000) as chosen:
        dialog.use_button.click()
    assert chosen.args == ["danna-sep"] and _statuses(dialog)["danna-sep"] == "playing"
    assert window.session.settings.weights == "danna-sep" and window.session.settings.size == "paper"
    playback = window.session.weights_for(streaming=True)
    assert playback.folder == weights_home() / "danna-sep" and playback.short == "danna-sep (paper size)"
    assert window.settings.value("weights") == "danna-sep"
    window.close()


def test_a_download_can_be_cancelled_and_resumes_later(releases, internet, qtbot):
    for fmt in DANNA_FILES:
        serve(internet, catalog_file(fmt, releases[fmt]), releases[fmt], pace=0.05)  # about 1.3 MB/s
    dialog = WeightsDialog()
    qtbot.addWidget(dialog)
    dialog.select("danna-sep")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.download.progress is not None, timeout=30_000)
    qtbot.waitUntil(lambda: " MB/s" in dialog.progress_label.text(), timeout=10_000)  # speed and time left
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.download is None, timeout=30_000)
    assert "cancelled; downloading again resumes where it stopped" in dialog.progress_label.text()
    assert _statuses(dialog)["danna-sep"] == "can be downloaded"
    assert not (weights_home() / "danna-sep").exists()
    assert [p.suffix for p in downloads_dir().iterdir()] == [".part"]  # kept for the next download


def test_progress_says_speed_and_time_left():
    progress = DownloadProgress("unet_attention.pth", 20_000_000, 63_000_000, 4_300_000.0)
    assert progress.describe() == "unet_attention.pth: 20.0 of 63.0 MB, 4.3 MB/s, 0:10 left"
