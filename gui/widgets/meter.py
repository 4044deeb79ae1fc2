"""A vertical peak meter with a slow fall, drawn with QPainter (-60..0 dBFS, red above -3 dB)."""

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QColor, QPainter
from PyQt6.QtWidgets import QWidget

from dannasep.engine.control.taper import peak_to_meter


class LevelMeter(QWidget):
    FALL_PER_UPDATE = 0.03  # meter units per refresh, about 20 dB/s at 30 Hz

    def __init__(self, parent=None):
        super().__init__(parent)
        self.value = 0.0
        self.setMinimumSize(QSize(12, 80))
        self.setMaximumWidth(16)

    def set_peak(self, peak: float) -> None:
        target = peak_to_meter(peak)
        value = target if target > self.value else max(target, self.value - self.FALL_PER_UPDATE)
        if abs(value - self.value) * self.height() >= 1.0:  # repaint only when a pixel changes
            self.value = value
            self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        rect = self.rect()
        painter.fillRect(rect, QColor(30, 30, 30))
        height = int(rect.height() * self.value)
        if height:
            warn = rect.height() * (57 / 60)  # -3 dBFS
            painter.fillRect(rect.x(), rect.bottom() - height + 1, rect.width(), height, QColor(70, 190, 90))
            if height > warn:
                over = int(height - warn)
                painter.fillRect(rect.x(), rect.bottom() - height + 1, rect.width(), over, QColor(220, 60, 50))
        painter.setPen(Qt.GlobalColor.darkGray)
        painter.drawRect(rect.adjusted(0, 0, -1, -1))
