"""MIDI learn on the window's controls: right-click a control, choose "MIDI learn", move a knob.

Each control names the OSC address (or addresses) that drive it: a stem's fader, mute and solo,
each fusion weight, the presets in the preset selector, and play / pause / back to start on the
play button. The context menu also offers "Forget MIDI" for what is bound to the control now.
"""

from collections.abc import Callable

from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtWidgets import QLabel, QMenu, QStatusBar, QWidget

from dannasep.engine.constants import SOURCES
from dannasep.gui.fusion_panel import FusionPanel
from dannasep.gui.midi_link import LearnTarget, MidiLink, MidiSettings, describe_binding
from dannasep.gui.session import Session
from dannasep.gui.widgets.fusion import MODEL_LABELS
from dannasep.gui.widgets.strip import StripWidget

Targets = Callable[[], list[LearnTarget]]


class MidiLearn:
    """The app's MIDI: the link, its status label and the learn menus of the controls."""

    def __init__(self, session: Session, settings: MidiSettings, status_bar: QStatusBar):
        self.link = MidiLink(session, settings)
        self.label = QLabel(self.link.status)
        self.label.setObjectName("midi")
        status_bar.addPermanentWidget(self.label)
        self.link.changed.connect(lambda: self.label.setText(self.link.status))
        self.menu: QMenu | None = None
        """The menu shown last (tests pick its actions)."""

    def attach(self, widget: QWidget, targets: Targets) -> None:
        """Give `widget` a context menu to learn and forget MIDI for `targets()` (asked when it opens)."""
        widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        widget.customContextMenuRequested.connect(lambda pos: self._popup(widget, targets(), pos))

    def _popup(self, widget: QWidget, targets: list[LearnTarget], pos: QPoint) -> None:
        if self.menu is not None:
            self.menu.deleteLater()  # one menu at a time, not one per right-click
        self.menu = self.menu_for(targets, widget)
        self.menu.popup(widget.mapToGlobal(pos))

    def menu_for(self, targets: list[LearnTarget], parent: QWidget | None = None) -> QMenu:
        menu = QMenu(parent)
        listening = self.link.input is not None
        for target in targets:
            text = "MIDI learn" if len(targets) == 1 else f"MIDI learn: {target.label}"
            learn = menu.addAction(text if listening else f"{text} (no MIDI input)")
            learn.triggered.connect(lambda _checked=False, t=target: self.link.learn(t))
            learn.setEnabled(listening)
            bound = self.link.mapping.bound_to(target.address, target.value)
            if bound:
                which = ", ".join(describe_binding(b) for b in bound)
                label = "Forget MIDI" if len(targets) == 1 else f"Forget MIDI: {target.label}"
                forget = menu.addAction(f"{label} ({which})")
                forget.triggered.connect(lambda _checked=False, t=target: self.link.forget(t))
        if self.link.pending is not None:
            menu.addSeparator()
            menu.addAction("Cancel MIDI learn", self.link.cancel_learn)
        return menu

    def attach_strip(self, strip: StripWidget) -> None:
        name = strip.name
        self.attach(strip.fader, lambda: [LearnTarget(f"{name} gain", f"/stem/{name}/fader")])
        self.attach(strip.mute, lambda: [LearnTarget(f"{name} mute", f"/stem/{name}/mute/toggle")])
        if name in SOURCES:
            self.attach(strip.solo, lambda: [LearnTarget(f"{name} solo", f"/stem/{name}/solo/toggle")])

    def attach_fusion(self, panel: FusionPanel) -> None:
        for (model, stem), spin in panel.matrix.cells.items():
            label = f"{MODEL_LABELS.get(model, model)} weight of {stem}"
            self.attach(spin, lambda label=label, a=f"/stem/{stem}/weight/{model}": [LearnTarget(label, a)])
        combo = panel.preset_combo
        self.attach(
            combo,
            lambda: [
                LearnTarget(f"preset {combo.itemText(i)}", "/preset", combo.itemText(i)) for i in range(combo.count())
            ],
        )

    def attach_transport(self, play_button: QWidget) -> None:
        self.attach(
            play_button,
            lambda: [
                LearnTarget("play", "/transport/play"),
                LearnTarget("pause", "/transport/pause"),
                LearnTarget("back to start", "/transport/seek", 0.0),
            ],
        )

    def close(self) -> None:
        self.link.close()
