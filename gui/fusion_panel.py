"""The fusion box of the main window: the weight matrix, model switches and presets (load, open,
save). It sends commands to the session's control plane and shows its state."""

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from dannasep.engine.constants import SOURCES
from dannasep.engine.control.commands import SetWeight, SetWeights
from dannasep.engine.control.state import EngineState
from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import list_presets, load_preset, make_preset, preset_to_toml
from dannasep.engine.fusion.weights import contributing_models
from dannasep.gui.session import Session
from dannasep.gui.widgets.fusion import FusionMatrix

MODELS = ("xumx", "unet", "demucs")


class FusionPanel(QGroupBox):
    def __init__(self, session: Session, settings: QSettings, show_error: Callable[[str], None]):
        super().__init__("Fusion weights (per stem, normalised to 100%)")
        self.session, self.settings, self.show_error = session, settings, show_error
        self._remembered: dict[str, tuple[float, ...]] = {}
        """Raw weights of switched-off models, for when they come back."""
        self._preset_rows = dict(session.control.state.weights)
        """The latest preset's raw weights: what a model switched on without remembered weights gets."""
        self.matrix = FusionMatrix(list(MODELS))
        self.matrix.weight_changed.connect(lambda stem, model, v: session.apply([SetWeight(stem, model, v)]))
        self.matrix.model_toggled.connect(self._model_toggled)
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("preset")
        self.preset_combo.addItems(list_presets())
        self.preset_combo.activated.connect(lambda _i: self.load_preset(self.preset_combo.currentText()))
        save = QPushButton("Save preset…")
        save.clicked.connect(lambda _checked=False: self.save_preset())
        open_preset = QPushButton("Load preset…")
        open_preset.clicked.connect(self.open_preset_file)
        presets_row = QHBoxLayout()
        presets_row.addWidget(QLabel("Preset"))
        presets_row.addWidget(self.preset_combo)
        presets_row.addWidget(open_preset)
        presets_row.addWidget(save)
        presets_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(presets_row)
        layout.addWidget(self.matrix)

    def show_state(self, state: EngineState) -> None:
        self.matrix.show_weights(dict(state.weights), state.normalised_weights())
        index = self.preset_combo.findText(state.preset)
        if index >= 0 and index != self.preset_combo.currentIndex():
            self.preset_combo.setCurrentIndex(index)

    def _model_toggled(self, model: str, on: bool) -> None:
        raw = dict(self.session.control.state.weights)
        if not on:
            self._remembered[model] = raw.get(model, (0.0,) * len(SOURCES))
            raw[model] = (0.0,) * len(SOURCES)
        elif model in self._remembered or model in self._preset_rows:
            raw[model] = self._remembered.pop(model, None) or self._preset_rows[model]
        if not contributing_models(raw):
            self.show_error("at least one model must stay enabled")
            return
        self.session.apply([SetWeights(tuple(raw.items()), self.session.control.state.preset)])

    def load_preset(self, name_or_path: str) -> None:
        try:
            preset = load_preset(name_or_path)
        except DannaSepError as exc:
            self.show_error(str(exc))
            return
        self._preset_rows.update((m, row) for m, row in preset.weights.items() if any(row))
        self.session.apply([SetWeights.of(preset)])
        self.settings.setValue("preset", name_or_path)

    def open_preset_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load fusion preset", str(Path.home()), "Presets (*.toml)")
        if path:
            self.load_preset(path)

    def save_preset(self, path: str | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save fusion preset", str(Path.home() / "my-preset.toml"), "Presets (*.toml)"
            )
        if not path:
            return None
        state = self.session.control.state
        try:
            preset = make_preset(Path(path).stem, dict(state.weights), f"saved from Danna-Sep Live ({state.preset})")
            Path(path).write_text(preset_to_toml(preset))
        except (DannaSepError, OSError) as exc:
            self.show_error(f"cannot save the preset: {exc}")
            return None
        return Path(path)
