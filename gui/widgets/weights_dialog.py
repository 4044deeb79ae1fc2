"""The Weights dialog: what is installed and what can be fetched, a download with progress and
cancel, and the choice of the weights the app plays with."""

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from dannasep.engine.weights.catalog import CATALOG, megabytes
from dannasep.engine.weights.install import installed_sets, read_manifest
from dannasep.engine.weights.location import weights_home
from dannasep.engine.weights.resolve import SHIPPED
from dannasep.gui.weights_job import WeightsDownload

COLUMNS = ("weights", "status", "size", "licence")


class WeightsDialog(QDialog):
    """Emits `chosen(name)` when the user picks weights to play with (`shipped` or a set's name)."""

    chosen = pyqtSignal(str)

    def __init__(self, playing: str = SHIPPED, mirror: str | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("weights-dialog")
        self.setWindowTitle("Weights")
        self.playing = playing
        self.mirror = mirror
        self.download: WeightsDownload | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("weights-table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.folder_label = QLabel(f"installed in {weights_home()}")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("weights-progress")
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("weights-progress-label")
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("weights-download")
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setObjectName("weights-cancel")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.use_button = QPushButton("Play with these")
        self.use_button.setObjectName("weights-use")
        self.use_button.setToolTip(
            "files render ahead with the paper-size networks where the machine keeps up, and otherwise "
            "fall back to streaming them, at a higher cost than the shipped live-size ones"
        )
        self.use_button.clicked.connect(self.use_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_button, self.use_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addLayout(buttons)
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.poll)
        self.refresh()

    # -- the table -----------------------------------------------------------------------------
    def rows(self) -> list[tuple[str, str, str, str]]:
        """(name, status, size, licence) of the shipped weights, each installed set and each fetchable one."""
        installed = {p.name: p for p in installed_sets()}
        rows = [(SHIPPED, self._status(SHIPPED, True), "", "trained here on synthetic songs")]
        for name, folder in installed.items():
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
            licence = (read_manifest(folder) or {}).get("licence", "see its source")
            rows.append((name, self._status(name, True), megabytes(size), licence))
        for name, entry in CATALOG.items():
            if name not in installed:
                rows.append((name, "can be downloaded", f"≈ {megabytes(entry.approx_bytes)}", entry.licence))
        return rows

    def _status(self, name: str, installed: bool) -> str:
        return ("playing" if name == self.playing else "installed") if installed else "can be downloaded"

    def refresh(self) -> None:
        selected = self.selected()
        rows = self.rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        names = [row[0] for row in rows]
        if selected in names:
            self.table.selectRow(names.index(selected))
        self._update_buttons()

    def selected(self) -> str | None:
        items = self.table.selectedItems()
        return self.table.item(items[0].row(), 0).text() if items else None

    def select(self, name: str) -> None:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == name:
                self.table.selectRow(r)

    def _selected_status(self) -> str:
        items = self.table.selectedItems()
        return self.table.item(items[0].row(), 1).text() if items else ""

    def _update_buttons(self) -> None:
        busy = self.download is not None
        status = self._selected_status()
        self.download_button.setEnabled(not busy and status == "can be downloaded")
        self.cancel_button.setEnabled(busy)
        self.use_button.setEnabled(status == "installed")

    # -- actions -------------------------------------------------------------------------------
    def start_download(self) -> None:
        name = self.selected()
        if name not in CATALOG or self.download is not None:
            return
        self.download = WeightsDownload(CATALOG[name], mirror=self.mirror)
        self.progress_bar.setRange(0, 0)  # busy until the size is known
        self.progress_label.setText(f"{name}: connecting…")
        self.timer.start()
        self._update_buttons()

    def cancel_download(self) -> None:
        if self.download is not None:
            self.download.cancel()
            self.progress_label.setText("cancelling…")

    def poll(self) -> None:
        job = self.download
        if job is None:
            return
        progress = job.progress
        if progress is not None and progress.total:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(1000 * progress.done / progress.total))
            self.progress_label.setText(progress.describe())
        if not job.finished:
            return
        self.timer.stop()
        self.download = None
        self.progress_bar.setRange(0, 1000)
        if job.report is not None:
            self.progress_bar.setValue(1000)
            self.progress_label.setText(f"{job.entry.name} installed in {job.report.folder}")
        elif job.cancelled:
            self.progress_bar.setValue(0)
            self.progress_label.setText(f"{job.entry.name}: cancelled; downloading again resumes where it stopped")
        else:
            self.progress_bar.setValue(0)
            self.progress_label.setText(job.error)
        self.progress_label.setWordWrap(True)
        self.refresh()

    def use_selected(self) -> None:
        name = self.selected()
        if name is None or self._selected_status() != "installed":
            return
        self.playing = name
        self.chosen.emit(name)
        self.refresh()

    def closeEvent(self, event) -> None:
        if self.download is not None:
            self.download.cancel()
            self.download.wait(5.0)
        self.timer.stop()
        super().closeEvent(event)
