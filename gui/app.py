"""Starting the app: a QApplication, the main window, optionally a file to open."""

import os
import sys
from pathlib import Path

from PyQt6.QtWidgets import QApplication

from dannasep.gui.main_window import MainWindow
from dannasep.gui.midi_link import MidiSettings


def has_display() -> bool:
    """Whether Qt can open a real window here (an offscreen platform counts, for tests)."""
    return bool(
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen")
    )


def run(file: Path | None = None, midi: MidiSettings | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Danna-Sep Live")
    app.setOrganizationName("dannasep")
    window = MainWindow(midi=midi)
    window.resize(1100, 720)
    window.show()
    if file is not None:
        window.open_file(Path(file))
    return app.exec()
