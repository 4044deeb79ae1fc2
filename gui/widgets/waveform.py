"""The song overview: the waveform envelope, a moving playhead, a loop region, and (render-ahead
playback) a buffer bar along the bottom: what the render holds, brighter where the offline plan
made it than where only quick chunks did; what it holds is also tinted behind the envelope.

Click to seek; drag to mark a loop region; right-click clears the loop.
"""

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPainterPath
from PyQt6.QtWidgets import QWidget

from dannasep.gui.session import Overview

BAR_HEIGHT = 5


class WaveformView(QWidget):
    seek_requested = pyqtSignal(float)
    loop_requested = pyqtSignal(object)  # (start, end) in seconds, or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("waveform")
        self.overview: Overview | None = None
        self.position = 0.0
        self.loop: tuple[float, float] | None = None
        self.rendered: list[tuple[float, float]] = []
        """Song spans (seconds) the render holds, quick chunks included."""
        self.final: list[tuple[float, float]] = []
        """The part of `rendered` the offline plan made."""
        self._drag_from: float | None = None
        self._drag_to: float | None = None
        self._path: QPainterPath | None = None  # the envelope, rebuilt only on resize or a new file
        self._path_width = -1
        self.setMinimumSize(QSize(400, 90))
        self.setToolTip(
            "click to seek, drag to loop a region, right-click to clear the loop; the bar at the bottom: "
            "what the render holds (grey: the offline separation, amber: quick chunks)"
        )

    def sizeHint(self) -> QSize:
        return QSize(900, 110)

    def set_overview(self, overview: Overview | None) -> None:
        self.overview = overview
        self.rendered, self.final = [], []
        self._path = None
        self.update()

    def set_position(self, seconds: float, loop: tuple[float, float] | None) -> None:
        moved = self.overview is not None and abs(self._x_of(seconds) - self._x_of(self.position)) >= 1.0
        if moved or loop != self.loop:
            self.position, self.loop = seconds, loop
            self.update()

    def set_rendered(self, rendered: list[tuple[float, float]], final: list[tuple[float, float]]) -> None:
        """Show the render's progress; repaints only when a span's edge moved by a pixel."""
        if self._pixels(rendered) != self._pixels(self.rendered) or self._pixels(final) != self._pixels(self.final):
            self.update()
        self.rendered, self.final = list(rendered), list(final)

    def rendered_seconds(self, final: bool = False) -> float:
        return sum(stop - start for start, stop in (self.final if final else self.rendered))

    def _pixels(self, spans: list[tuple[float, float]]) -> list[tuple[int, int]]:
        return [(round(self._x_of(start)), round(self._x_of(stop))) for start, stop in spans]

    def _envelope(self) -> QPainterPath:
        width, middle = self.width(), self.height() / 2
        if self._path is None or self._path_width != width:
            peaks = self.overview.peaks
            columns = np.minimum(len(peaks) - 1, (np.arange(width) / max(width, 1) * len(peaks)).astype(int))
            heights = peaks[columns] * middle * 0.95
            path = QPainterPath(QPointF(0, middle))
            for x, h in enumerate(heights):
                path.lineTo(QPointF(x, middle - float(h)))
            for x in range(width - 1, -1, -1):
                path.lineTo(QPointF(x, middle + float(heights[x])))
            self._path, self._path_width = path, width
        return self._path

    def _seconds_at(self, x: float) -> float:
        if self.overview is None or self.width() <= 0:
            return 0.0
        return max(0.0, min(self.overview.duration, x / self.width() * self.overview.duration))

    def _x_of(self, seconds: float) -> float:
        if self.overview is None or self.overview.duration <= 0:
            return 0.0
        return seconds / self.overview.duration * self.width()

    def mousePressEvent(self, event) -> None:
        if self.overview is None:
            return
        if event.button() == Qt.MouseButton.RightButton:
            self.loop_requested.emit(None)
            return
        self._drag_from = self._drag_to = self._seconds_at(event.position().x())

    def mouseMoveEvent(self, event) -> None:
        if self._drag_from is not None:
            self._drag_to = self._seconds_at(event.position().x())
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_from is None:
            return
        start, end = sorted((self._drag_from, self._seconds_at(event.position().x())))
        self._drag_from = self._drag_to = None
        if end - start > 0.1:
            self.loop_requested.emit((start, end))
        else:
            self.seek_requested.emit(start)
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 26, 30))
        if self.overview is None:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a file (Ctrl+O) or drop one here")
            return
        height = self.height()
        for start, stop in self.rendered:
            x0, x1 = self._x_of(start), self._x_of(stop)
            painter.fillRect(QRectF(x0, 0, x1 - x0, height), QColor(40, 46, 56))
        painter.fillPath(self._envelope(), QColor(90, 140, 200))
        bar = QRectF(0, height - BAR_HEIGHT, self.width(), BAR_HEIGHT)
        if self.rendered:
            painter.fillRect(bar, QColor(50, 50, 50))
        for spans, color in ((self.rendered, QColor(200, 150, 60)), (self.final, QColor(200, 200, 200))):
            for start, stop in spans:
                x0, x1 = self._x_of(start), self._x_of(stop)
                painter.fillRect(QRectF(x0, bar.top(), x1 - x0, BAR_HEIGHT), color)
        region = self.loop
        if self._drag_from is not None and self._drag_to is not None:
            region = tuple(sorted((self._drag_from, self._drag_to)))
        if region is not None:
            x0, x1 = self._x_of(region[0]), self._x_of(region[1])
            painter.fillRect(QRectF(x0, 0, x1 - x0, height), QColor(255, 210, 80, 60))
        x = self._x_of(self.position)
        painter.setPen(QColor(255, 255, 255))
        painter.drawLine(QPointF(x, 0), QPointF(x, height))
