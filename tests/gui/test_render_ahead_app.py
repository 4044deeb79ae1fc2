"""The app plays files through render-ahead: the real window (offscreen Qt) with a real engine on
a JACK dummy server. The buffer bar follows the render, the status line says the mode and the lead,
export uses the render cache once it holds the whole song (and equals the offline export), and the
streaming engine is one menu action away."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import write_song
from PyQt6.QtCore import QSettings
from test_app import READY_MS, _free_port

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.control.commands import Pause, Play
from dannasep.engine.renderahead.engine import RenderAheadEngine
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.streaming.engine import LiveEngine
from dannasep.gui.cache_export import CacheExportJob
from dannasep.gui.export_job import ExportJob
from dannasep.gui.main_window import MainWindow
from dannasep.gui.session import Session, SessionSettings
from dannasep.gui.widgets.waveform import BAR_HEIGHT

SONG_SECONDS = 30.0
LEAD = 4.0


@pytest.fixture(scope="module")
def jack():
    with jack_server(name="gui-render", playback_ports=10) as server:
        yield server


@pytest.fixture
def window(qtbot, tmp_path):
    preset = tmp_path / "demucs-only.toml"
    preset.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 0.5\n")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    # a short lead keeps the render behind the end of the song while playback is paused
    render = RenderAheadSettings(lead=LEAD)
    session = Session(SessionSettings(preset=str(preset), osc_port=_free_port(), render=render))
    win = MainWindow(session=session, settings=settings)
    qtbot.addWidget(win)
    win.resize(1100, 720)
    win.show()
    yield win
    win.close()


def _sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - estimate) ** 2), 1e-30)))


def _export(window: MainWindow, qtbot, folder) -> ExportJob | CacheExportJob:
    dialog = window.export_dialog(modal=False)
    dialog.folder.setText(str(folder))
    dialog.stem_boxes["drums"].setChecked(False)
    dialog.container.setCurrentText("flac")
    dialog.bits.setCurrentText("16")
    window.start_export(dialog)
    return window.session.export


@pytest.mark.slow
def test_a_file_renders_ahead_with_a_buffer_bar_mode_and_lead_and_exports_from_the_cache(window, jack, qtbot, tmp_path):
    w = window
    write_song(tmp_path / "song.wav", SONG_SECONDS, seed=4)
    w.open_file(tmp_path / "song.wav")
    qtbot.waitUntil(lambda: w.session.engine is not None, timeout=READY_MS)
    engine = w.session.engine
    assert isinstance(engine, RenderAheadEngine)
    w.session.apply([Pause()])
    qtbot.waitUntil(lambda: "render-ahead, lead" in w.status_label.text(), timeout=5000)
    assert "latency 0 ms" in w.status_label.text()
    qtbot.waitUntil(lambda: w.waveform.rendered_seconds(final=True) >= LEAD, timeout=120_000)

    # paused near the start with a short lead: the render stops short of the end, so the export
    # runs the offline path (cancelled here; the comparison below runs one to the end)
    assert engine.complete_cache() is None
    job = _export(w, qtbot, tmp_path / "early")
    assert isinstance(job, ExportJob) and "not covered the whole song" in w.session.export_note
    job.cancel()
    qtbot.waitUntil(lambda: job.poll() != "running", timeout=30_000)

    # playing: the buffer bar grows with the render, ahead of the playhead, until it holds the song
    w.session.apply([Play()])
    early = w.waveform.rendered_seconds()
    qtbot.waitUntil(lambda: w.waveform.rendered_seconds() > early + 2.0, timeout=60_000)
    status = w.session.status()
    assert status.rendered[0][0] == 0.0 and status.rendered[0][1] >= status.position
    qtbot.waitUntil(lambda: engine.complete_cache() is not None, timeout=120_000)
    qtbot.waitUntil(lambda: w.waveform.rendered_seconds(final=True) >= SONG_SECONDS - 0.01, timeout=5000)
    image = w.waveform.grab().toImage()
    bar_row = image.height() - BAR_HEIGHT // 2 - 1
    playhead = w.waveform._x_of(w.waveform.position)
    columns = [x for x in range(0, image.width(), 50) if abs(x - playhead) > 2]  # the playhead's line is white
    assert {image.pixelColor(x, bar_row).name() for x in columns} == {"#c8c8c8"}

    # the whole song rendered: the export fuses the cache and equals the offline export
    job = _export(w, qtbot, tmp_path / "cached")
    assert isinstance(job, CacheExportJob), w.session.export_note
    qtbot.waitUntil(lambda: job.poll() != "running", timeout=60_000)
    assert job.state == "done", job.error
    offline = ExportJob(replace(job.request, out_dir=tmp_path / "offline"))
    qtbot.waitUntil(lambda: offline.poll() != "running", timeout=180_000)
    assert offline.state == "done", offline.error
    for stem in ("bass", "other", "vocals"):
        cached, rate = sf.read(str(tmp_path / "cached/song" / f"{stem}.flac"))
        reference, _ = sf.read(str(tmp_path / "offline/song" / f"{stem}.flac"))
        assert sf.info(str(tmp_path / "cached/song" / f"{stem}.flac")).subtype == "PCM_16"
        assert rate == SAMPLE_RATE and cached.shape == reference.shape == (round(SONG_SECONDS * SAMPLE_RATE), 2)
        assert _sdr(reference, cached) >= 60.0, stem
    assert not (tmp_path / "cached/song/drums.flac").exists()

    # the A/B: the same file through the streaming engine, which the status line says
    w.stream_action.trigger()
    qtbot.waitUntil(lambda: w.session.engine is not None and w.session.engine is not engine, timeout=READY_MS)
    assert type(w.session.engine) is LiveEngine
    qtbot.waitUntil(lambda: w.status_label.text().startswith("streaming · latency"), timeout=5000)
    assert w.settings.value("stream_files", type=bool)
