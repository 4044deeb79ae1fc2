"""The main window's export row: progress, time left and cancel for the session's export job,
which separates the loaded file offline with the fusion weights heard at the start (or, when the
render-ahead cache already holds the whole song as the offline path makes it, fuses the cache)."""

import tempfile
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import make_preset, preset_to_toml
from dannasep.gui.session import Session
from dannasep.gui.widgets.export_dialog import ExportDialog


class ExportPanel(QWidget):
    def __init__(
        self,
        session: Session,
        settings: QSettings,
        show_error: Callable[[str], None],
        show_message: Callable[[str], None],
    ):
        super().__init__()
        self.session, self.settings = session, settings
        self.show_error, self.show_message = show_error, show_message
        self._tempdir = tempfile.TemporaryDirectory(prefix="dannasep-gui-")
        self.bar = QProgressBar()
        self.bar.setObjectName("export-progress")
        self.bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setObjectName("export-cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, stretch=1)
        row.addWidget(self.cancel_button)

    def start(self, dialog: ExportDialog) -> None:
        """Export what is heard: the current fusion weights, written to a temporary preset."""
        state = self.session.control.state
        preset_path = Path(self._tempdir.name) / "current.toml"
        try:
            preset_path.write_text(preset_to_toml(make_preset("current", dict(state.weights))))
            # export is the offline quality path: the installed paper-size set when there is one
            weights = self.session.weights_for(streaming=False)
            request = dialog.request(str(preset_path), weights.folder, weights.size)
            if not request.stems:
                raise DannaSepError("choose at least one stem to export")
            job = self.session.start_export(request)
        except DannaSepError as exc:
            self.show_error(str(exc))
            return
        if not job.from_cache:
            self.show_message(f"exporting with the offline separation: {self.session.export_note}")
        self.settings.setValue("export_folder", str(request.out_dir))
        self.bar.setVisible(True)
        self.cancel_button.setVisible(True)
        self.bar.setValue(0)

    def cancel(self) -> None:
        if self.session.export is not None:
            self.session.export.cancel()

    def refresh(self) -> None:
        job = self.session.export
        if job is None or self.bar.isHidden():  # isVisible() is False while the window is hidden
            return
        state = job.poll()
        self.bar.setValue(round(100 * job.done_fraction))
        eta = job.eta_seconds
        self.bar.setFormat(f"exporting %p%  (ETA {eta:.0f} s)" if eta is not None else "exporting %p%")
        if state != "running":
            self.bar.setVisible(False)
            self.cancel_button.setVisible(False)
            if state == "done":
                how = " from the render cache" if job.from_cache else ""
                self.show_message(f"exported {len(job.outputs)} stems{how} to {job.request.out_dir}")
            elif state == "cancelled":
                self.show_message("export cancelled; nothing was written")
            else:
                self.show_error(f"export failed: {job.error}")

    def close(self) -> None:
        self._tempdir.cleanup()
