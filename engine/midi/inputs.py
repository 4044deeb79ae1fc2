"""Where MIDI comes from: a JACK MIDI input port when a JACK server runs, else an ALSA sequencer
port through mido and python-rtmidi. Either hands each raw message to a callback on a thread of
its own, never on JACK's process thread, so applying a command can take a lock."""

import queue
import threading
from collections.abc import Callable, Sequence

from dannasep.engine.errors import DannaSepError

Handler = Callable[[bytes], None]


class MidiInputError(DannaSepError):
    """No MIDI input could be opened; the message says why and what to try."""


class JackMidiInput:
    """A JACK client `<name>` with one MIDI input port `midi_in`, connected at start to `connect`."""

    def __init__(self, handler: Handler, name: str = "dannasep-midi", connect: Sequence[str] = ()):
        import jack

        self._handler = handler
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        try:
            self.client = jack.Client(name, no_start_server=True)
        except jack.JackOpenError as exc:
            raise MidiInputError(f"no JACK server to take MIDI from ({exc}); start one or use --midi alsa") from exc
        self.port = self.client.midi_inports.register("midi_in")
        self.client.set_process_callback(self._process)
        self._thread = threading.Thread(target=self._deliver, name="dannasep-midi", daemon=True)
        self._thread.start()
        self.client.activate()
        for source in connect:
            try:
                self.client.connect(source, self.port)
            except jack.JackError as exc:
                self.close()
                raise MidiInputError(f"cannot connect MIDI from {source!r}: {exc}") from exc

    @property
    def port_name(self) -> str:
        return self.port.name

    def _process(self, _frames: int) -> None:
        for _offset, data in self.port.incoming_midi_events():
            self._queue.put(bytes(data))

    def _deliver(self) -> None:
        while (message := self._queue.get()) is not None:
            self._handler(message)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()
        self._queue.put(None)
        self._thread.join(timeout=5)


class AlsaMidiInput:
    """An ALSA sequencer input: a named existing port, or a virtual port `name` to connect to."""

    def __init__(self, handler: Handler, port: str | None = None, name: str = "dannasep"):
        try:
            import mido

            backend = mido.Backend("mido.backends.rtmidi")
            self._port = (
                backend.open_input(port, callback=self._receive)
                if port
                else backend.open_input(name, virtual=True, callback=self._receive)
            )
        except (OSError, SystemError, RuntimeError, ImportError) as exc:
            raise MidiInputError(
                f"cannot open an ALSA MIDI input ({exc}); is the ALSA sequencer there (/dev/snd/seq)? "
                "With a JACK server running, use --midi jack"
            ) from exc
        self._handler = handler

    def _receive(self, message) -> None:
        self._handler(bytes(message.bytes()))

    def close(self) -> None:
        self._port.close()


def open_midi_input(
    spec: str, handler: Handler, connect: Sequence[str] = (), name: str = "dannasep-midi"
) -> JackMidiInput | AlsaMidiInput:
    """`spec` is 'jack', 'alsa' (a virtual port) or an ALSA port name."""
    if spec == "jack":
        return JackMidiInput(handler, name=name, connect=connect)
    if spec == "alsa":
        return AlsaMidiInput(handler, name=name)
    return AlsaMidiInput(handler, port=spec)
