"""The export dialog: stems, format, bit depth, folder and name template; then progress with ETA
and a cancel button while the export runs in the background."""

from pathlib import Path

from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dannasep.engine.constants import SOURCES
from dannasep.engine.separation.naming import DEFAULT_TEMPLATE
from dannasep.gui.export_job import ExportRequest


class ExportDialog(QDialog):
    def __init__(
        self,
        source: Path,
        folder: str,
        template: str = DEFAULT_TEMPLATE,
        container: str = "wav",
        bits: str = "24",
        parent=None,
    ):
        super().__init__(parent)
        self.setObjectName("export-dialog")
        self.setWindowTitle(f"Export stems of {source.name}")
        self.source = source
        self.stem_boxes = {}
        stems_row = QWidget()
        stems_layout = QHBoxLayout(stems_row)
        stems_layout.setContentsMargins(0, 0, 0, 0)
        for stem in SOURCES:
            box = QCheckBox(stem)
            box.setChecked(True)
            box.setObjectName(f"export-{stem}")
            self.stem_boxes[stem] = box
            stems_layout.addWidget(box)
        self.container = QComboBox()
        self.container.addItems(["wav", "flac"])
        self.container.setCurrentText(container)
        self.bits = QComboBox()
        self.bits.addItems(["16", "24", "float"])
        self.bits.setCurrentText(bits)
        self.folder = QLineEdit(folder)
        self.folder.setObjectName("export-folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QWidget()
        folder_layout = QHBoxLayout(folder_row)
        folder_layout.setContentsMargins(0, 0, 0, 0)
        folder_layout.addWidget(self.folder)
        folder_layout.addWidget(browse)
        self.template = QLineEdit(template)
        self.template.setToolTip("placeholders: {track} {stem} {index} {ext} {preset}")
        self.overwrite = QCheckBox("replace existing files")
        form = QFormLayout()
        form.addRow("Stems", stems_row)
        form.addRow("Format", self.container)
        form.addRow("Sample format", self.bits)
        form.addRow("Folder", folder_row)
        form.addRow("Name", self.template)
        form.addRow("", self.overwrite)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def request(self, preset: str, weights_dir: Path | None, size: str | None = None) -> ExportRequest:
        return ExportRequest(
            source=self.source,
            out_dir=Path(self.folder.text()).expanduser(),
            stems=tuple(s for s, box in self.stem_boxes.items() if box.isChecked()),
            container=self.container.currentText(),
            bits=self.bits.currentText(),
            template=self.template.text(),
            preset=preset,
            weights_dir=weights_dir,
            size=size,
            overwrite=self.overwrite.isChecked(),
        )
