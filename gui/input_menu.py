"""The Input menu: play a file, or separate a live input (JACK, the default input, a named device)
through the streaming engine. Live input has nothing to play, pause or seek: while it is chosen the
transport controls are disabled, and the status says the input is heard delayed by the latency the
engine reports."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from PyQt6.QtWidgets import QLabel, QMenu

from dannasep.engine.audio.devices import AudioDeviceError, DeviceInfo, list_devices
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.gui.session import Session


class Switchable(Protocol):
    """A widget, QAction or QShortcut."""

    def setEnabled(self, enabled: bool) -> None: ...


@dataclass(frozen=True)
class InputChoice:
    label: str
    device: str | None
    """What Session.load_input takes: a device index, or None for the default input."""


def input_choices(devices: Sequence[DeviceInfo]) -> list[InputChoice]:
    """JACK first (when a server runs), then the default input, then every other stereo input."""
    stereo = [d for d in devices if d.inputs >= 2]
    jack = next((d for d in stereo if "JACK" in d.host_api), None)
    choices = [InputChoice(f"JACK ({jack.name} capture ports)", str(jack.index))] if jack else []
    if stereo:
        choices.append(InputChoice("Default input (JACK when it runs)", None))
    choices += [InputChoice(f"{d.name} [{d.host_api}]", str(d.index)) for d in stereo if d is not jack]
    return choices


def live_status(label: str, latency_samples: int) -> str:
    """What the listener hears with live input, for the status line."""
    return f"live input {label}: you hear it {1000 * latency_samples / SAMPLE_RATE:.0f} ms late (the engine's latency)"


class InputMenu:
    """Fills `menu` when it opens and switches the window between file and live-input mode.

    `transport` are the controls live input disables (buttons, the waveform, menu actions,
    shortcuts: anything with setEnabled)."""

    def __init__(
        self,
        session: Session,
        menu: QMenu,
        transport: Sequence[Switchable],
        open_file: Callable[[], None],
        status: QLabel,
        show_error: Callable[[str], None],
    ):
        self.session, self.menu, self.transport = session, menu, list(transport)
        self.open_file, self.status, self.show_error = open_file, status, show_error
        self.label = ""
        """The live input chosen, as the menu named it."""
        self._devices: list[DeviceInfo] = []
        self._live = False
        menu.aboutToShow.connect(self.fill)

    def devices(self) -> list[DeviceInfo]:
        """The devices the engine can open. PortAudio is re-initialised only while no stream is open
        (re-initialising closes streams) and no load is opening one; otherwise the last list is kept."""
        session = self.session
        try:
            if session.engine is not None:
                self._devices = list_devices(fresh=False)
            elif not session.loading:
                self._devices = list_devices()
        except AudioDeviceError as exc:
            self.show_error(str(exc))
        return self._devices

    def fill(self) -> None:
        self.menu.clear()
        self.menu.addAction("Play a &file…", self.open_file)
        self.menu.addSeparator()
        self.menu.addAction("Live input (separated as it comes in):").setEnabled(False)
        choices = input_choices(self.devices())
        if not choices and self.session.loading:
            self.menu.addAction("the engine is starting: open this menu again in a moment").setEnabled(False)
        elif not choices:
            self.menu.addAction("no input devices (start JACK or connect a sound card)").setEnabled(False)
        for choice in choices:
            action = self.menu.addAction(choice.label, lambda c=choice: self.choose(c))
            action.setCheckable(True)
            action.setChecked(self.session.live_input is not None and choice.label == self.label)

    def choose(self, choice: InputChoice) -> None:
        self.label = choice.label
        self.session.load_input(choice.device)
        self.status.setText(f"starting live input {choice.label} (the models take a few seconds)…")
        self.sync()

    @property
    def live(self) -> bool:
        return self.session.live_input is not None

    def sync(self) -> None:
        """Enable or disable the transport when the session switched between a file and live input."""
        if self.live != self._live:
            self._live = self.live
            for control in self.transport:
                control.setEnabled(not self._live)
