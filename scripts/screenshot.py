"""Render the main window, with the demo song loaded and playing, into a PNG (for the README).

Needs a display; `scripts/screenshot.sh` provides one with Xvfb and a JACK dummy server for audio.
    python scripts/screenshot.py docs/main-window.png
"""

import sys
import tempfile
import time
from pathlib import Path

from PyQt6.QtWidgets import QApplication

from dannasep.engine.audio.jack_server import jack_server
from dannasep.gui.main_window import MainWindow
from dannasep.gui.session import Session, SessionSettings
from dannasep.training.demo import render_demo_song

PLAY_SECONDS = 8.0


def _pump(app: QApplication, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def main(out: Path) -> int:
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp, jack_server(name="screenshot"):
        song, _truth = render_demo_song(Path(tmp), 20.0)
        window = MainWindow(session=Session(SessionSettings(osc_port=None)))
        window.resize(1180, 760)
        window.show()
        window.open_file(song)
        deadline = time.monotonic() + 120
        while window.session.engine is None and time.monotonic() < deadline:
            _pump(app, 0.2)
        if window.session.engine is None:
            print(f"the engine did not start: {window.session.error}", file=sys.stderr)
            return 1
        if not window.session.control.state.transport.playing:
            window.toggle_play()
        _pump(app, PLAY_SECONDS)
        out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out))
        window.close()
        _pump(app, 0.5)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/main-window.png")))
