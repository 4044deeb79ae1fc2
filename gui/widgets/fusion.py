"""The fusion-weight matrix: one row per model, one column per stem.

Each cell is the raw weight the user sets; beside it, the normalised share the engine uses (each
stem's weights sum to 1). A checkbox per model enables it (disabling sets its weights to 0 and
remembers them for when it comes back).
"""

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QDoubleSpinBox, QGridLayout, QLabel, QWidget

from dannasep.engine.constants import SOURCES

MODEL_LABELS = {"xumx": "X-UMX", "unet": "U-Net", "demucs": "Demucs"}


class FusionMatrix(QWidget):
    weight_changed = pyqtSignal(str, str, float)  # stem, model, value
    model_toggled = pyqtSignal(str, bool)

    def __init__(self, models: list[str], parent=None):
        super().__init__(parent)
        self.setObjectName("fusion")
        self.models = list(models)
        grid = QGridLayout(self)
        for column, stem in enumerate(SOURCES, start=1):
            grid.addWidget(QLabel(f"<b>{stem}</b>"), 0, column)
        self.cells: dict[tuple[str, str], QDoubleSpinBox] = {}
        self.shares: dict[tuple[str, str], QLabel] = {}
        self.enabled: dict[str, QCheckBox] = {}
        self._updating = False
        for row, model in enumerate(self.models, start=1):
            box = QCheckBox(MODEL_LABELS.get(model, model))
            box.setObjectName(f"enable-{model}")
            box.setChecked(True)
            box.toggled.connect(lambda on, m=model: self._emit_toggle(m, on))
            self.enabled[model] = box
            grid.addWidget(box, row, 0)
            for column, stem in enumerate(SOURCES, start=1):
                spin = QDoubleSpinBox()
                spin.setObjectName(f"weight-{model}-{stem}")
                spin.setRange(0.0, 1.0)
                spin.setSingleStep(0.05)
                spin.setDecimals(2)
                spin.valueChanged.connect(lambda v, s=stem, m=model: self._emit_weight(s, m, v))
                share = QLabel("")
                share.setToolTip("share of this stem after normalisation")
                cell = QWidget()
                cell_layout = QGridLayout(cell)
                cell_layout.setContentsMargins(0, 0, 0, 0)
                cell_layout.addWidget(spin, 0, 0)
                cell_layout.addWidget(share, 0, 1)
                grid.addWidget(cell, row, column)
                self.cells[(model, stem)] = spin
                self.shares[(model, stem)] = share

    def _emit_weight(self, stem: str, model: str, value: float) -> None:
        if not self._updating:
            self.weight_changed.emit(stem, model, value)

    def _emit_toggle(self, model: str, on: bool) -> None:
        if not self._updating:
            self.model_toggled.emit(model, on)

    def show_weights(self, raw: dict[str, tuple[float, ...]], normalised: dict[str, tuple[float, ...]]) -> None:
        self._updating = True
        try:
            for (model, stem), spin in self.cells.items():
                i = SOURCES.index(stem)
                value = raw.get(model, (0.0,) * len(SOURCES))[i]
                if abs(spin.value() - value) > 1e-6:
                    spin.setValue(value)
                share = normalised.get(model, (0.0,) * len(SOURCES))[i]
                self.shares[(model, stem)].setText(f"{100 * share:3.0f}%")
            for model, box in self.enabled.items():
                box.setChecked(any(raw.get(model, (0.0,))))
        finally:
            self._updating = False
