"""The output device chooser and the multichannel switch: a change is stored in the settings and
restarts what plays (a file or the live input) on the new output."""

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QWidget

from dannasep.engine.audio.devices import AudioDeviceError, list_devices
from dannasep.gui.session import Session


class OutputChooser(QWidget):
    def __init__(self, session: Session, settings: QSettings):
        super().__init__()
        self.session, self.settings = session, settings
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("device")
        self.device_combo.setToolTip("output device (the file restarts on it)")
        self.multichannel_box = QCheckBox("multichannel")
        self.multichannel_box.setObjectName("multichannel")
        self.multichannel_box.setToolTip("each stem and the dry mix on their own channel pair, for a DAW")
        self.multichannel_box.setChecked(session.settings.multichannel)
        self.multichannel_box.toggled.connect(self._changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Output"))
        layout.addWidget(self.device_combo)
        layout.addWidget(self.multichannel_box)
        self._fill_devices()

    def _fill_devices(self) -> None:
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        self.device_combo.addItem("default (JACK if running)", None)
        try:
            for device in list_devices():
                if device.outputs >= 2:
                    self.device_combo.addItem(f"{device.name} [{device.host_api}]", device.name)
        except AudioDeviceError:
            pass
        wanted = self.session.settings.output_device
        index = self.device_combo.findData(wanted) if wanted else 0
        self.device_combo.setCurrentIndex(max(0, index))
        self.device_combo.blockSignals(False)
        self.device_combo.currentIndexChanged.connect(self._changed)

    def _changed(self, *_args) -> None:
        self.session.settings.output_device = self.device_combo.currentData()
        self.session.settings.multichannel = self.multichannel_box.isChecked()
        self.settings.setValue("output_device", self.session.settings.output_device or "")
        self.settings.setValue("multichannel", self.session.settings.multichannel)
        self.session.reload()
