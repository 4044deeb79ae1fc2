"""MIDI and live input in the real window (offscreen Qt): MIDI from a JACK client of the test's own
moves the widgets, MIDI learn binds a right-clicked control and the user's map survives a restart,
a MIDI change reaches an OSC client over UDP, and live input from JACK disables the transport."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from audio_fixtures import write_song
from midi_keyboard import Keyboard, cc, note_on
from PyQt6.QtCore import QSettings
from PyQt6.QtGui import QContextMenuEvent
from PyQt6.QtWidgets import QApplication
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.midi.mapping import load_midi_map, midi_maps_dir
from dannasep.gui.main_window import MainWindow
from dannasep.gui.midi_link import LearnTarget, MidiSettings
from dannasep.gui.session import Session, SessionSettings
from dannasep.gui.widgets.strip import FADER_STEPS

READY_MS = 180_000  # loading the models on a machine loaded several times over


@pytest.fixture(scope="module")
def jack():
    # synchronous: a late MIDI client delays the graph rather than losing the events of its cycle
    with jack_server(name="guimidi", playback_ports=2, period=256, sync=True) as server:
        yield server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _window(qtbot, tmp_path: Path, preset: str = "paper", osc_port: int | None = None) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    session = Session(SessionSettings(preset=preset, osc_port=osc_port))
    midi = MidiSettings(user_map=tmp_path / "config" / "midi.toml")  # auto: JACK, as a server runs
    win = MainWindow(session=session, settings=settings, midi=midi)
    qtbot.addWidget(win)
    win.show()
    return win


def _right_click(qtbot, win: MainWindow, widget) -> list:
    """Right-click `widget` (the context-menu event Qt's window sends on a right-click; QTest's mouse
    events go to the widget directly, past that); returns the actions of the MIDI menu it opened."""
    win.midi.menu = None
    centre = widget.rect().center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre, widget.mapToGlobal(centre))
    QApplication.sendEvent(widget, event)
    qtbot.waitUntil(lambda: win.midi.menu is not None and win.midi.menu.isVisible(), timeout=2000)
    actions = win.midi.menu.actions()
    win.midi.menu.close()
    return actions


def _action(actions: list, text: str):
    (found,) = [a for a in actions if a.text() == text]
    return found


def test_a_cc_and_a_note_from_a_jack_client_move_the_widgets(jack, qtbot, tmp_path):
    win = _window(qtbot, tmp_path)
    assert win.midi.label.text() == "MIDI in: JACK port dannasep-midi:midi_in"
    keyboard = Keyboard(win.midi.link.input.port_name)
    try:
        keyboard.send(cc(3, 0), cc(0, 127), note_on(37))  # default map: vocals and drums faders, bass mute pad
        qtbot.waitUntil(lambda: win.strips["vocals"].fader.value() == 0, timeout=10_000)
        qtbot.waitUntil(lambda: win.strips["drums"].fader.value() == FADER_STEPS, timeout=5000)
        qtbot.waitUntil(lambda: win.strips["bass"].mute.isChecked(), timeout=5000)
        assert win.strips["vocals"].db_label.text() == "-inf dB"
    finally:
        keyboard.close()
        win.close()


def test_midi_learn_binds_right_clicked_controls_and_the_users_map_is_saved_and_reloaded(jack, qtbot, tmp_path):
    shipped = (midi_maps_dir() / "default.toml").read_bytes()
    user_map = tmp_path / "config" / "midi.toml"
    win = _window(qtbot, tmp_path)
    keyboard = Keyboard(win.midi.link.input.port_name)
    try:
        actions = _right_click(qtbot, win, win.strips["bass"].fader)
        assert [a.text() for a in actions] == ["MIDI learn", "Forget MIDI (CC 1)"]  # the default map's fader
        _action(actions, "MIDI learn").trigger()
        assert win.midi.label.text().startswith("MIDI learn: move a knob or press a key for bass gain")
        keyboard.send(cc(90, 10))
        qtbot.waitUntil(lambda: win.midi.link.pending is None, timeout=10_000)
        assert win.midi.label.text().endswith("CC 90 on channel 1 → bass gain")
        keyboard.send(cc(90, 127))
        qtbot.waitUntil(lambda: win.strips["bass"].fader.value() == FADER_STEPS, timeout=5000)
        unmapped = win.midi.link.control.stats.unmapped
        keyboard.send(cc(1, 0))  # the fader's old CC is free now
        qtbot.waitUntil(lambda: win.midi.link.control.stats.unmapped == unmapped + 1, timeout=5000)
        assert win.strips["bass"].fader.value() == FADER_STEPS
        # the preset selector: one learn entry per preset; a note loads the preset
        actions = _right_click(qtbot, win, win.preset_combo)
        _action(actions, "MIDI learn: preset fast").trigger()
        keyboard.send(note_on(60))
        qtbot.waitUntil(lambda: win.midi.link.pending is None, timeout=10_000)
        keyboard.send(note_on(60))
        qtbot.waitUntil(lambda: win.preset_combo.currentText() == "fast", timeout=5000)
        saved = load_midi_map(user_map)
        assert [(b.kind, b.number) for b in saved.bound_to("/stem/bass/fader")] == [("cc", 90)]
        assert [(b.kind, b.number) for b in saved.bound_to("/preset", "fast")] == [("note", 60)]
    finally:
        keyboard.close()
        win.close()
    # the next start takes the user's map
    again = _window(qtbot, tmp_path)
    keyboard = Keyboard(again.midi.link.input.port_name)
    try:
        keyboard.send(cc(90, 0))
        qtbot.waitUntil(lambda: again.strips["bass"].fader.value() == 0, timeout=10_000)
        actions = _right_click(qtbot, again, again.strips["bass"].fader)
        _action(actions, "Forget MIDI (CC 90)").trigger()
        assert load_midi_map(user_map).bound_to("/stem/bass/fader") == ()
        assert [a.text() for a in _right_click(qtbot, again, again.strips["bass"].fader)] == ["MIDI learn"]
    finally:
        keyboard.close()
        again.close()
    assert (midi_maps_dir() / "default.toml").read_bytes() == shipped


def test_a_broken_user_map_is_reported_and_left_alone(qtbot, tmp_path):
    user_map = tmp_path / "midi.toml"
    user_map.write_text('bind = [ { cc = 1, address = "/stem/piano/fader" } ]\n')
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(Session(SessionSettings(osc_port=None)), settings, MidiSettings(input="off", user_map=user_map))
    qtbot.addWidget(win)
    text = win.midi.label.text()
    assert text.startswith("MIDI off · ") and str(user_map) in text and "unknown strip 'piano'" in text
    assert "not saved" in text and win.midi.link.mapping.bound_to("/stem/drums/fader")  # the default map
    menu = win.midi.menu_for([LearnTarget("drums gain", "/stem/drums/fader")])
    assert not _action(menu.actions(), "MIDI learn (no MIDI input)").isEnabled()
    _action(menu.actions(), "Forget MIDI (CC 0)").trigger()
    assert not win.midi.link.mapping.bound_to("/stem/drums/fader")
    assert "not saved" in win.midi.label.text()
    assert "/stem/piano/fader" in user_map.read_text()  # the user's file, left for them to fix
    win.close()


def test_without_jack_or_alsa_the_app_runs_without_midi_and_says_so(qtbot, tmp_path, monkeypatch):
    if Path("/dev/snd/seq").exists():
        pytest.skip("this machine has an ALSA sequencer")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "dannasep-no-such-server")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(Session(SessionSettings(osc_port=None)), settings, MidiSettings(user_map=tmp_path / "midi.toml"))
    qtbot.addWidget(win)
    assert win.midi.link.input is None
    assert win.midi.label.text() == (
        "MIDI off: no JACK server runs and ALSA has no sequencer (start JACK, or pass --midi)"
    )
    win.close()


def test_gui_refuses_a_bad_midi_map_before_opening_a_window(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('bind = [ { cc = 1, address = "/stem/piano/fader" } ]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "dannasep.engine.cli", "gui", "--midi-map", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"dannasep: error: {bad}: bind entry 1: unknown strip 'piano'; use drums, bass, other, vocals, dry or 1..4"
    )


def _osc(address: str) -> bytes:
    return OscMessageBuilder(address).build().dgram


@pytest.mark.slow
def test_live_input_disables_the_transport_and_midi_changes_reach_osc_clients(jack, qtbot, tmp_path):
    preset = tmp_path / "demucs-only.toml"  # one light model keeps the machine free for the window
    preset.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    win = _window(qtbot, tmp_path, str(preset), osc_port=_free_port())
    keyboard = Keyboard(win.midi.link.input.port_name)
    osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    osc.bind(("127.0.0.1", 0))
    osc.settimeout(0.05)
    try:
        win.inputs.fill()
        choices = [a for a in win.input_menu.actions() if a.text().startswith("JACK (")]
        assert [a.text() for a in choices] == ["JACK (system capture ports)"]
        choices[0].trigger()
        assert not win.play_button.isEnabled() and not win.waveform.isEnabled()
        assert not any(a.isEnabled() for a in win.transport_actions) and not win.space_shortcut.isEnabled()
        qtbot.waitUntil(lambda: win.session.engine is not None, timeout=READY_MS)
        assert win.session.engine.config.source is None
        latency_ms = round(1000 * win.session.engine.latency_samples / 44100)
        qtbot.waitUntil(
            lambda: (
                f"live input JACK (system capture ports): you hear it {latency_ms} ms late" in win.status_label.text()
            ),
            timeout=5000,
        )
        assert win.time_label.text() == "live input"
        # listing the inputs again while the input plays keeps its stream open
        called = win.session.engine.callback.last_called
        win.inputs.fill()
        qtbot.waitUntil(lambda: win.session.engine.callback.last_called > called + 0.5, timeout=10_000)
        assert win.session.poll() is None and win.session.engine is not None
        # MIDI moves the widget, and the OSC client hears the change
        osc.sendto(_osc("/engine/latency"), ("127.0.0.1", win.session.bridge.address[1]))  # registers it
        deadline = time.monotonic() + 10
        while not win.session.bridge.clients:
            assert time.monotonic() < deadline, "the OSC bridge never heard the client"
            time.sleep(0.02)
        keyboard.send(cc(2, 0))
        qtbot.waitUntil(lambda: win.strips["other"].fader.value() == 0, timeout=10_000)
        heard: dict[str, list] = {}
        while heard.get("/stem/other/fader") != [0.0]:
            assert time.monotonic() < deadline + 10, f"no OSC feedback of the MIDI change: {heard}"
            try:
                data = osc.recv(65536)
            except TimeoutError:
                continue
            for timed in OscPacket(data).messages:
                heard[timed.message.address] = list(timed.message.params)
        # back to a file: the transport comes back
        write_song(tmp_path / "song.wav", 5.0)
        win.open_file(tmp_path / "song.wav")
        qtbot.waitUntil(lambda: win.play_button.isEnabled(), timeout=2000)
        assert win.waveform.isEnabled() and win.space_shortcut.isEnabled() and win.transport_actions[0].isEnabled()
        qtbot.waitUntil(lambda: win.session.engine is not None, timeout=READY_MS)
        assert win.session.engine.config.source == tmp_path / "song.wav"
    finally:
        osc.close()
        keyboard.close()
        win.close()
