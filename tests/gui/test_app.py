"""The real PyQt6 window, driven by clicks and keys (pytest-qt, offscreen Qt), with a real engine
playing on a JACK dummy server, real OSC over UDP, and real background exports."""

import socket
from pathlib import Path

import pytest
import soundfile as sf
from audio_fixtures import write_song
from PyQt6.QtCore import QSettings, Qt
from pythonosc.udp_client import SimpleUDPClient

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.constants import SOURCES
from dannasep.engine.control.commands import SetGain, SetMute, SetWeight
from dannasep.engine.streaming.engine import LiveEngine
from dannasep.gui.main_window import MainWindow
from dannasep.gui.session import Session, SessionSettings

READY_MS = 180_000  # loading the models on a machine loaded several times over


@pytest.fixture(scope="module")
def jack():
    with jack_server(name="gui", playback_ports=10) as server:
        yield server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _open_window(qtbot, tmp_path, preset: str) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    session = Session(SessionSettings(preset=preset, osc_port=_free_port()))
    win = MainWindow(session=session, settings=settings)
    qtbot.addWidget(win)
    win.resize(1100, 720)
    win.show()
    return win


@pytest.fixture
def window(qtbot, tmp_path):
    preset = tmp_path / "demucs-only.toml"  # one light model keeps the machine free for the window
    preset.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    win = _open_window(qtbot, tmp_path, str(preset))
    yield win
    win.close()


@pytest.fixture
def playing(window, jack, qtbot, tmp_path):
    write_song(tmp_path / "song.wav", 20.0)
    window.open_file(tmp_path / "song.wav")
    qtbot.waitUntil(lambda: window.session.engine is not None, timeout=READY_MS)
    return window


def test_window_opens_empty_with_every_control(window):
    assert window.status_label.text() == "no file loaded"
    assert set(window.strips) == {*SOURCES, "dry"}
    assert len(window.fusion.cells) == 3 * 4
    assert window.preset_combo.count() >= 2


@pytest.mark.slow
def test_clicks_and_keys_change_the_engine(playing, qtbot):
    w = playing
    control = w.session.control
    qtbot.mouseClick(w.strips["vocals"].mute, Qt.MouseButton.LeftButton)
    assert control.state.strip_state("vocals").mute
    qtbot.keyClick(w, Qt.Key.Key_1)
    assert control.state.strip_state("drums").solo
    qtbot.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ShiftModifier)
    assert control.state.strip_state("bass").mute
    w.strips["other"].fader.setValue(500)  # halfway: -24 dB on the taper
    assert control.state.strip_state("other").gain_db == pytest.approx(-24.0)
    w.fusion.cells[("demucs", "vocals")].setValue(0.5)
    assert dict(control.state.weights)["demucs"][3] == pytest.approx(0.5)
    qtbot.keyClick(w, Qt.Key.Key_A)
    assert control.state.monitor == "original"
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert not control.state.transport.playing
    qtbot.mouseClick(w.play_button, Qt.MouseButton.LeftButton)
    assert control.state.transport.playing
    # the waveform: a click seeks, a drag marks a loop region
    before = control.state.transport.seek_id
    qtbot.mouseClick(w.waveform, Qt.MouseButton.LeftButton, pos=w.waveform.rect().center())
    assert control.state.transport.seek_id == before + 1
    assert control.state.transport.seek_to == pytest.approx(10.0, abs=0.5)


@pytest.mark.slow
def test_engine_and_osc_changes_update_the_widgets(playing, qtbot):
    w = playing
    w.session.apply([SetMute("bass", True), SetGain("drums", -12.0), SetWeight("vocals", "demucs", 0.25)])
    qtbot.waitUntil(lambda: w.strips["bass"].mute.isChecked(), timeout=2000)
    assert w.strips["drums"].db_label.text() == "-12.0 dB"
    assert w.fusion.cells[("demucs", "vocals")].value() == pytest.approx(0.25)
    client = SimpleUDPClient("127.0.0.1", w.session.bridge.address[1])
    client.send_message("/stem/other/solo", 1)
    client.send_message("/stem/vocals/fader", 0.0)
    qtbot.waitUntil(lambda: w.strips["other"].solo.isChecked(), timeout=3000)
    qtbot.waitUntil(lambda: w.strips["vocals"].db_label.text() == "-inf dB", timeout=3000)


@pytest.mark.slow
def test_meters_move_and_status_shows_latency_and_weights(playing, qtbot):
    w = playing
    qtbot.waitUntil(lambda: w.strips["dry"].meter.value > 0.1, timeout=10_000)
    qtbot.waitUntil(lambda: "latency" in w.status_label.text(), timeout=3000)
    assert "samples" in w.status_label.text() and "OSC" in w.status_label.text()
    assert w.weights_label.text() == "weights: shipped (live size)"  # the weights playing


@pytest.mark.slow
def test_export_runs_to_completion_while_playing_and_can_be_cancelled(playing, qtbot, tmp_path):
    w = playing
    # streamed: the export is the offline one in its own process (from a render-ahead cache that
    # holds the song, it could end before the cancel below; test_render_ahead_app.py tests that one)
    w.stream_action.trigger()
    qtbot.waitUntil(lambda: type(w.session.engine) is LiveEngine, timeout=READY_MS)
    dialog = w.export_dialog(modal=False)
    dialog.folder.setText(str(tmp_path / "stems"))
    for stem in ("drums", "bass"):
        dialog.stem_boxes[stem].setChecked(False)
    dialog.bits.setCurrentText("16")
    before = w.session.status().position
    w.start_export(dialog)
    qtbot.waitUntil(lambda: w.session.export.state != "running", timeout=180_000)
    assert w.session.export.state == "done", w.session.export.error
    files = sorted(p.relative_to(tmp_path / "stems").as_posix() for p in (tmp_path / "stems").rglob("*.wav"))
    assert files == ["song/other.wav", "song/vocals.wav"]
    assert sf.info(str(tmp_path / "stems/song/other.wav")).subtype == "PCM_16"
    # live playback went on beside the export (whether every block was in time on a busy machine
    # is for `dannasep bench live` to measure)
    assert w.session.engine is not None and w.session.status().position > before
    # again, cancelled: nothing is left behind
    dialog = w.export_dialog(modal=False)
    dialog.folder.setText(str(tmp_path / "cancelled"))
    w.start_export(dialog)
    # cancel at once: the export process sees the request at its first progress report, after the
    # first chunk went into the temporary stem files (the 20 s song exports in about a second, so
    # any wait for progress here races the end)
    qtbot.mouseClick(w.export_cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.session.export.state != "running", timeout=30_000)
    assert w.session.export.state == "cancelled"
    leftovers = (
        [p for p in (tmp_path / "cancelled").rglob("*") if p.is_file()] if (tmp_path / "cancelled").exists() else []
    )
    assert leftovers == []


@pytest.mark.slow
def test_a_bad_file_shows_an_error_and_the_app_keeps_running(window, jack, qtbot, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my lyrics, not audio")
    window.open_file(bad)
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=10_000)
    assert "notes.wav" in window.error_box.text() and "not an audio file" in window.error_box.text()
    window.error_box.close()
    write_song(tmp_path / "good.wav", 5.0)
    window.open_file(tmp_path / "good.wav")
    qtbot.waitUntil(lambda: window.session.engine is not None, timeout=READY_MS)


@pytest.mark.slow
def test_missing_weights_and_an_unwritable_export_folder_are_reported(window, jack, qtbot, tmp_path):
    window.session.settings.weights_dir = tmp_path / "empty-weights"
    (tmp_path / "empty-weights").mkdir()
    write_song(tmp_path / "song.wav", 5.0)
    window.open_file(tmp_path / "song.wav")
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=READY_MS)
    assert "no demucs checkpoint" in window.error_box.text()
    window.error_box.close()
    window.session.settings.weights_dir = None
    window.session.source = tmp_path / "song.wav"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    dialog = window.export_dialog(modal=False)
    dialog.folder.setText(str(blocker / "stems"))
    window.start_export(dialog)
    qtbot.waitUntil(lambda: window.session.export.state != "running", timeout=120_000)
    window._refresh_export()
    qtbot.waitUntil(lambda: window.error_box.isVisible(), timeout=5000)
    assert "cannot create the output folder" in window.error_box.text()


def test_recent_files_and_settings_are_remembered(window, tmp_path):
    for name in ("a.wav", "b.wav"):
        write_song(tmp_path / name, 1.0)
    window.session.load = lambda path, input_device=None: None  # only the bookkeeping is under test
    window.open_file(tmp_path / "a.wav")
    window.open_file(tmp_path / "b.wav")
    again = QSettings(window.settings.fileName(), QSettings.Format.IniFormat)
    assert again.value("recent", [], type=list)[:2] == [str(tmp_path / "b.wav"), str(tmp_path / "a.wav")]
    assert [a.text() for a in window.recent_menu.actions()][:2] == [str(tmp_path / "b.wav"), str(tmp_path / "a.wav")]


def test_choosing_multichannel_output_restarts_the_file_on_one_pair_per_strip(playing, qtbot):
    first = playing.session.engine
    assert not first.config.multichannel
    playing.output.multichannel_box.setChecked(True)
    qtbot.waitUntil(lambda: playing.session.engine not in (None, first), timeout=READY_MS)
    assert playing.session.engine.config.multichannel
    again = QSettings(playing.settings.fileName(), QSettings.Format.IniFormat)
    assert again.value("multichannel", False, type=bool)


def test_user_presets_save_and_load(qtbot, tmp_path):
    window = _open_window(qtbot, tmp_path, "paper")  # all three models; nothing loaded, nothing runs
    window.session.apply([SetWeight("vocals", "unet", 0.9)])
    path = window.save_preset(str(tmp_path / "mine.toml"))
    window.load_preset("paper")
    assert dict(window.session.control.state.weights)["unet"][3] == pytest.approx(0.4)
    window.load_preset(str(path))
    normalised = window.session.control.state.normalised_weights()
    assert normalised["unet"][3] == pytest.approx(0.9 / (0.9 + 0.2 + 0.4))


def test_models_switch_off_and_back_on_with_their_weights(qtbot, tmp_path):
    window = _open_window(qtbot, tmp_path, "paper")  # nothing loaded: the idle control plane
    paper = dict(window.session.control.state.weights)
    for model in ("xumx", "demucs"):
        window.fusion.enabled[model].setChecked(False)
    weights = dict(window.session.control.state.weights)
    assert weights["xumx"] == weights["demucs"] == (0.0,) * 4 and weights["unet"] == paper["unet"]
    assert window.session.control.state.normalised_weights()["unet"] == (1.0,) * 4
    window.fusion.enabled["unet"].setChecked(False)  # the last one stays
    assert window.error_box is not None and "at least one model" in window.error_box.text()
    assert dict(window.session.control.state.weights)["unet"] == paper["unet"]
    window.fusion.enabled["xumx"].setChecked(True)
    assert dict(window.session.control.state.weights)["xumx"] == paper["xumx"]


def test_no_module_of_the_gui_imports_torch():
    import ast

    for path in Path(__file__).resolve().parents[2].joinpath("gui").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(n.split(".")[0] == "torch" for n in names), path


@pytest.mark.slow
def test_the_fuzz_corpus_through_open_gives_messages_and_the_app_keeps_running(window, jack, qtbot, tmp_path):
    """Each corpus file through the app's open: a message naming the file, or it plays; the app
    runs on, and plays a good file at the end. Of the intact files only two are played (each starts
    an engine; `dannasep separate` takes them all). The mode-000 file is left out: this process runs
    as root, whom file permissions do not stop; the FIFO stands for an input that cannot be read."""
    from fuzz_corpus import CASES, make_corpus

    paths = make_corpus(tmp_path / "corpus")
    played = ("flac-length-unknown.flac", "wav-8-channels.wav")
    for case in CASES:
        if case.unreadable or (case.expect == "stems" and case.name not in played):
            continue
        window.open_file(paths[case.name])
        qtbot.waitUntil(
            lambda: (
                (window.error_box is not None and window.error_box.isVisible()) or window.session.engine is not None
            ),
            timeout=READY_MS,
        )
        if window.session.engine is None:
            assert case.expect != "stems", window.error_box.text()
            assert case.name in window.error_box.text() and "Traceback" not in window.error_box.text()
            window.error_box.close()
        else:
            assert case.expect != "error", case.name
    write_song(tmp_path / "good.wav", 5.0)
    window.open_file(tmp_path / "good.wav")
    qtbot.waitUntil(lambda: window.session.engine is not None, timeout=READY_MS)
    assert window.session.source.name == "good.wav"


def test_a_file_replaced_or_the_window_closed_while_loading_leaves_one_engine_then_none(jack, qtbot, tmp_path):
    """Opening a second file before the first has loaded, and closing the window while the second
    loads: the superseded engine is stopped as soon as it is ready, and closing waits for the
    load, so no inference process outlives the window and no device is opened after it closed."""
    import multiprocessing

    preset = tmp_path / "demucs-only.toml"
    preset.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    win = _open_window(qtbot, tmp_path, str(preset))
    write_song(tmp_path / "first.wav", 5.0)
    write_song(tmp_path / "second.wav", 5.0, seed=1)
    win.open_file(tmp_path / "first.wav")
    win.open_file(tmp_path / "second.wav")  # the first is still loading
    qtbot.waitUntil(lambda: win.session.engine is not None, timeout=READY_MS)
    assert win.session.engine.config.source == tmp_path / "second.wav"
    qtbot.waitUntil(lambda: len(multiprocessing.active_children()) == 1, timeout=READY_MS)  # one lane
    win.open_file(tmp_path / "first.wav")
    win.close()  # while it loads
    assert multiprocessing.active_children() == []
    assert win.session.engine is None
