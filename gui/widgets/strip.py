"""A channel strip: name, gain fader in dB (on the published taper), mute, solo, level meter."""

import math

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from dannasep.engine.control.state import StripState
from dannasep.engine.control.taper import db_to_fader, fader_to_db
from dannasep.gui.widgets.meter import LevelMeter

FADER_STEPS = 1000


def format_db(db: float) -> str:
    return "-inf dB" if not math.isfinite(db) else f"{db:+.1f} dB"


class StripWidget(QWidget):
    gain_changed = pyqtSignal(str, float)
    mute_toggled = pyqtSignal(str, bool)
    solo_toggled = pyqtSignal(str, bool)

    def __init__(self, name: str, can_solo: bool = True, parent=None):
        super().__init__(parent)
        self.name = name
        self.setObjectName(f"strip-{name}")
        self.title = QLabel(name.capitalize())
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.fader = QSlider(Qt.Orientation.Vertical)
        self.fader.setObjectName(f"fader-{name}")
        self.fader.setRange(0, FADER_STEPS)
        self.fader.setToolTip("gain: -60..+12 dB, bottom is silence (double-click the label to reset)")
        self.meter = LevelMeter()
        self.db_label = QLabel(format_db(0.0))
        self.db_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.mute = QPushButton("M")
        self.mute.setObjectName(f"mute-{name}")
        self.mute.setCheckable(True)
        self.mute.setToolTip("mute")
        self.solo = QPushButton("S")
        self.solo.setObjectName(f"solo-{name}")
        self.solo.setCheckable(True)
        self.solo.setToolTip("solo (any solo silences the other stems)")
        self.solo.setVisible(can_solo)
        faders = QHBoxLayout()
        faders.addWidget(self.fader)
        faders.addWidget(self.meter)
        buttons = QHBoxLayout()
        buttons.addWidget(self.mute)
        buttons.addWidget(self.solo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(faders, stretch=1)
        layout.addWidget(self.db_label)
        layout.addLayout(buttons)
        self._updating = False
        self.fader.valueChanged.connect(self._fader_moved)
        self.mute.toggled.connect(lambda on: self._emit(self.mute_toggled, on))
        self.solo.toggled.connect(lambda on: self._emit(self.solo_toggled, on))
        self.show_state(StripState())

    def _emit(self, signal, value) -> None:
        if not self._updating:
            signal.emit(self.name, value)

    def _fader_moved(self, position: int) -> None:
        db = fader_to_db(position / FADER_STEPS)
        self.db_label.setText(format_db(db))
        self._emit(self.gain_changed, db)

    def show_state(self, state: StripState) -> None:
        """Reflect the engine's state without echoing it back as user input."""
        self._updating = True
        try:
            position = round(db_to_fader(state.gain_db) * FADER_STEPS)
            if self.fader.value() != position:
                self.fader.setValue(position)
            self.db_label.setText(format_db(state.gain_db))
            self.mute.setChecked(state.mute)
            self.solo.setChecked(state.solo)
        finally:
            self._updating = False
