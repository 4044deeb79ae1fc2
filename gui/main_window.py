"""The main window: transport and overview on top, a strip per stem plus the dry mix, the fusion
matrix, and a status line. Widgets only show state and send commands; a 30 Hz timer pulls the
control state, meters and engine status (the audio thread never calls Qt), so changes made over
OSC appear here and changes made here are echoed to OSC clients by the engine's control plane.
"""

from pathlib import Path

from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dannasep.engine.constants import SOURCES
from dannasep.engine.control.commands import (
    Pause,
    Play,
    Seek,
    SetGain,
    SetLoop,
    SetMonitor,
    SetMute,
    SetSolo,
    ToggleMute,
    ToggleSolo,
)
from dannasep.engine.control.state import STRIPS
from dannasep.engine.weights.location import weights_home
from dannasep.gui.export_panel import ExportPanel
from dannasep.gui.fusion_panel import FusionPanel
from dannasep.gui.input_menu import InputMenu, live_status
from dannasep.gui.midi_learn import MidiLearn
from dannasep.gui.midi_link import MidiSettings
from dannasep.gui.output_chooser import OutputChooser
from dannasep.gui.session import Session, SessionSettings
from dannasep.gui.status_text import clock, describe_weights, status_line
from dannasep.gui.widgets.export_dialog import ExportDialog
from dannasep.gui.widgets.strip import StripWidget
from dannasep.gui.widgets.waveform import WaveformView
from dannasep.gui.widgets.weights_dialog import WeightsDialog

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aiff *.aif);;All files (*)"
RECENT_LIMIT = 8


class MainWindow(QMainWindow):
    def __init__(
        self, session: Session | None = None, settings: QSettings | None = None, midi: MidiSettings | None = None
    ):
        """`midi`: where MIDI comes from and which map it uses; None: no MIDI."""
        super().__init__()
        self.settings = settings or QSettings("dannasep", "Danna-Sep Live")
        self.session = session or Session(
            SessionSettings(
                preset=str(self.settings.value("preset", "paper")),
                multichannel=self.settings.value("multichannel", False, type=bool),
                output_device=self.settings.value("output_device", None) or None,
                osc_port=self.settings.value("osc_port", 9010, type=int) or None,
                weights=self._restored_weights(),
                stream_files=self.settings.value("stream_files", False, type=bool),
            )
        )
        self.setWindowTitle("Danna-Sep Live")
        self.setObjectName("main-window")
        self.setAcceptDrops(True)
        self.error_box: QMessageBox | None = None
        self._build()
        self._build_menus()
        self._build_shortcuts()
        self.inputs = InputMenu(
            self.session,
            self.input_menu,
            [self.play_button, self.waveform, *self.transport_actions, self.space_shortcut],
            self.open_dialog,
            self.status_label,
            self.show_error,
        )
        self.midi = MidiLearn(self.session, midi, self.statusBar()) if midi is not None else None
        if self.midi is not None:
            for strip in self.strips.values():
                self.midi.attach_strip(strip)
            self.midi.attach_fusion(self.fusion_panel)
            self.midi.attach_transport(self.play_button)
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._ticks = 0
        self.timer = QTimer(self)
        self.timer.setInterval(33)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("play / pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.ab_button = QPushButton("Split")
        self.ab_button.setObjectName("ab")
        self.ab_button.setCheckable(True)
        self.ab_button.setToolTip("A/B: hear the split stems or the original mix (A)")
        self.ab_button.toggled.connect(self._ab_toggled)
        self.time_label = QLabel("0:00.0 / 0:00.0")
        self.time_label.setMinimumWidth(120)
        self.output = OutputChooser(self.session, self.settings)
        top = QHBoxLayout()
        for widget in (self.play_button, self.ab_button, self.time_label):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.output)
        self.waveform = WaveformView()
        self.waveform.seek_requested.connect(lambda t: self.session.apply([Seek(t)]))
        self.waveform.loop_requested.connect(self._loop_requested)
        self.strips: dict[str, StripWidget] = {}
        strips_row = QHBoxLayout()
        for name in STRIPS:
            strip = StripWidget(name, can_solo=name != "dry")
            strip.gain_changed.connect(lambda s, db: self.session.apply([SetGain(s, db)]))
            strip.mute_toggled.connect(lambda s, on: self.session.apply([SetMute(s, on)]))
            strip.solo_toggled.connect(lambda s, on: self.session.apply([SetSolo(s, on)]))
            self.strips[name] = strip
            strips_row.addWidget(strip)
        self.fusion_panel = FusionPanel(self.session, self.settings, self.show_error)
        self.fusion, self.preset_combo = self.fusion_panel.matrix, self.fusion_panel.preset_combo
        self.load_preset, self.save_preset = self.fusion_panel.load_preset, self.fusion_panel.save_preset
        self.export_panel = ExportPanel(
            self.session, self.settings, self.show_error, lambda text: self.statusBar().showMessage(text, 10_000)
        )
        self.export_cancel = self.export_panel.cancel_button
        self.start_export, self._refresh_export = self.export_panel.start, self.export_panel.refresh
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(top)
        layout.addWidget(self.waveform)
        layout.addLayout(strips_row, stretch=1)
        layout.addWidget(self.fusion_panel)
        layout.addWidget(self.export_panel)
        self.setCentralWidget(central)
        self.status_label = QLabel("no file loaded")
        self.status_label.setObjectName("status")
        self.weights_label = QLabel()
        self.weights_label.setObjectName("weights")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.weights_label)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open…", QKeySequence.StandardKey.Open, self.open_dialog)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._action(file_menu, "&Export stems…", "Ctrl+E", self.export_dialog)
        self._action(file_menu, "&Weights…", "Ctrl+Shift+W", self.weights_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        transport = self.menuBar().addMenu("&Transport")
        self.transport_actions = [  # what live input disables: it cannot be paused, sought or looped
            self._action(transport, "Play / Pause", None, self.toggle_play),
            self._action(transport, "Back to start", "Home", lambda: self.session.apply([Seek(0.0)])),
            self._action(transport, "Back 5 s", "Left", lambda: self.seek_by(-5.0)),
            self._action(transport, "Forward 5 s", "Right", lambda: self.seek_by(5.0)),
            self._action(transport, "Clear loop", "L", lambda: self.session.apply([SetLoop(None)])),
        ]
        self._action(transport, "A/B split / original", "A", lambda: self.ab_button.toggle())
        transport.addSeparator()
        self.stream_action = self._action(transport, "Stream files (A/B with render-ahead)", None, self._stream_files)
        self.stream_action.setCheckable(True)
        self.stream_action.setChecked(self.session.settings.stream_files)
        self.input_menu = self.menuBar().addMenu("&Input")
        self._refresh_recent()

    def _action(self, menu, text: str, shortcut, slot) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _build_shortcuts(self) -> None:
        self.space_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self, activated=self.toggle_play)
        for i, stem in enumerate(SOURCES, start=1):
            QShortcut(QKeySequence(str(i)), self, activated=lambda s=stem: self.session.apply([ToggleSolo(s)]))
            QShortcut(QKeySequence(f"Shift+{i}"), self, activated=lambda s=stem: self.session.apply([ToggleMute(s)]))
            # Shift+1 types "!" on many layouts
            QShortcut(QKeySequence("!@#$"[i - 1]), self, activated=lambda s=stem: self.session.apply([ToggleMute(s)]))

    # -- files -------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(self.settings.value("last_folder", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", start, AUDIO_FILTER)
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> None:
        self.session.load(Path(path))
        self.settings.setValue("last_folder", str(Path(path).parent))
        recent = [p for p in self.settings.value("recent", [], type=list) if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:RECENT_LIMIT])
        self._refresh_recent()
        self.waveform.set_overview(None)
        self.status_label.setText(f"loading {Path(path).name} (the models take a few seconds)…")

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.value("recent", [], type=list):
            self.recent_menu.addAction(path, lambda p=path: self.open_file(Path(p)))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_file(Path(urls[0].toLocalFile()))

    def _stream_files(self) -> None:
        """Play files through the streaming engine (checked) or render-ahead; restarts the file."""
        self.session.settings.stream_files = self.stream_action.isChecked()
        self.settings.setValue("stream_files", self.session.settings.stream_files)
        if self.session.source is not None:
            self.open_file(self.session.source)

    # -- transport and mixer ---------------------------------------------------------------------
    def toggle_play(self) -> None:
        playing = self.session.control.state.transport.playing
        self.session.apply([Pause() if playing else Play()])

    def seek_by(self, seconds: float) -> None:
        self.session.apply([Seek(max(0.0, self.session.audible_position() + seconds))])

    def _ab_toggled(self, original: bool) -> None:
        self.session.apply([SetMonitor("original" if original else "split")])

    def _loop_requested(self, region) -> None:
        self.session.apply([SetLoop(None) if region is None else SetLoop(*region)])

    # -- weights ---------------------------------------------------------------------------------
    def _restored_weights(self) -> str | None:
        """The weights chosen last time, if still installed (a removed set falls back to the default)."""
        name = str(self.settings.value("weights", "") or "")
        if name == "shipped" or (name and (weights_home() / name).is_dir()):
            return name
        return None

    def weights_dialog(self, modal: bool = True) -> WeightsDialog:
        """Installed and fetchable weights; `modal=False` returns the dialog unshown (scripts, tests)."""
        playing = self.session.weights.name if self.session.weights is not None else "shipped"
        dialog = WeightsDialog(playing, parent=self)
        dialog.chosen.connect(self.use_weights)
        if modal:
            dialog.exec()
        return dialog

    def use_weights(self, name: str) -> None:
        """Play with `name` (`shipped` or an installed set, at paper size): reloads what is playing."""
        self.session.settings.weights = name
        self.session.settings.size = None if name == "shipped" else "paper"
        self.settings.setValue("weights", name)
        if self.session.source is not None:
            self.open_file(self.session.source)  # the window's own bookkeeping of an opened file too
        else:
            self.session.reload()

    # -- export ----------------------------------------------------------------------------------
    def export_dialog(self, modal: bool = True) -> ExportDialog | None:
        """Ask where and what to export; `modal=False` returns the dialog unshown (scripts, tests)."""
        if self.session.source is None:
            self.show_error("open a file first; export separates the loaded file")
            return None
        dialog = ExportDialog(
            self.session.source, str(self.settings.value("export_folder", str(Path.home()))), parent=self
        )
        if modal and dialog.exec():
            self.start_export(dialog)
        return dialog

    # -- refresh -----------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        if self.error_box is None:
            self.error_box = QMessageBox(
                QMessageBox.Icon.Warning, "Danna-Sep Live", message, QMessageBox.StandardButton.Ok, self
            )
            self.error_box.setObjectName("error-box")
        self.error_box.setText(message)
        self.error_box.show()

    def refresh(self) -> None:
        event = self.session.poll()
        if event == "failed":
            self.show_error(self.session.error)
            self.waveform.set_overview(None)
        elif event == "ready":
            self.waveform.set_overview(self.session.overview)
            playing = self.session.source.name if self.session.source is not None else "live input"
            self.setWindowTitle(f"Danna-Sep Live — {playing}")
        self.inputs.sync()
        state = self.session.control.state
        for name, strip in self.strips.items():
            strip.show_state(state.strip_state(name))
        self.fusion_panel.show_state(state)
        self.play_button.blockSignals(True)
        self.play_button.setChecked(state.transport.playing and self.session.engine is not None)
        self.play_button.setText("Pause" if self.play_button.isChecked() else "Play")
        self.play_button.blockSignals(False)
        self.ab_button.blockSignals(True)
        self.ab_button.setChecked(state.monitor == "original")
        self.ab_button.setText("Original" if state.monitor == "original" else "Split")
        self.ab_button.blockSignals(False)
        levels = self.session.levels()
        for i, name in enumerate(STRIPS):
            self.strips[name].meter.set_peak(float(levels[i]))
        self._ticks += 1
        # text changes relayout the window; the numbers are readable at a few updates per second
        if self._ticks % 8 == 0:
            self._refresh_status(state)
            self._refresh_export()
        elif self._ticks % 3 == 0:
            self._refresh_position(state)

    @staticmethod
    def _set_text(label: QLabel, text: str) -> None:
        if label.text() != text:
            label.setText(text)

    def _refresh_position(self, state) -> None:
        status = self.session.status()
        if status is None:
            return
        if self.inputs.live:
            self._set_text(self.time_label, "live input")
            return
        heard = self.session.audible_position()
        self.waveform.set_position(heard, state.transport.loop)
        self.waveform.set_rendered(getattr(status, "rendered", []), getattr(status, "final", []))
        self._set_text(self.time_label, f"{clock(heard)} / {clock(status.duration or 0.0)}")

    def _refresh_status(self, state) -> None:
        status = self.session.status()
        if status is None:
            if not self.session.loading:
                self._set_text(self.status_label, self.session.error or "no file loaded")
            return
        self._refresh_position(state)
        bridge = self.session.bridge
        osc = f"OSC {bridge.address[1]} ({len(bridge.clients)} clients)" if bridge else "OSC off"
        line = status_line(status, state, osc)
        if self.inputs.live:
            line = f"{live_status(self.inputs.label, status.latency_samples)} · {line}"
        self._set_text(self.status_label, line)
        trained = all("UNTRAINED" not in p for p in status.models.values())
        playing = self.session.weights.short if self.session.weights is not None else "?"
        self._set_text(self.weights_label, f"weights: {playing}" + ("" if trained else " UNTRAINED (random)"))
        self.weights_label.setStyleSheet("" if trained else "color: #d33; font-weight: bold")
        self.weights_label.setToolTip("\n".join(f"{m}: {describe_weights(p)}" for m, p in status.models.items()))

    def closeEvent(self, event) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.timer.stop()
        self.session.shutdown()
        if self.midi is not None:
            self.midi.close()
        self.export_panel.close()
        super().closeEvent(event)
