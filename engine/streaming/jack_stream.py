"""The JACK backend: dannasep as a JACK client of its own, with labelled ports per stem, its
latency reported to the graph, and connections that come back when a port that went away returns.

JACK's process callback is an adapter around the shared block logic (AudioCallback.block): it
copies the input ports into a preallocated (n, 2) block, lets the callback fill a preallocated
(n, channels) block, and copies each column to its port. No buffer is allocated per block.

Connections are kept as wishes (our port, their port). When their port goes away (its client
closed), the wish stays; when a port of that name registers again, it is connected again. JACK
announces both on its notification thread, where no JACK call may be made, so a watcher thread
of ours does the work and writes a report line for each change.
"""

import errno
import queue
import threading

import jack
import numpy as np

from dannasep.engine.audio.devices import AudioDeviceError
from dannasep.engine.audio.jack_latency import LatencyReporter
from dannasep.engine.audio.jack_ports import (
    INTEGER,
    ORDER,
    PORT_GROUP,
    PRETTY_NAME,
    JackOptions,
    PortSpec,
    input_ports,
    output_ports,
    pair_ports,
)
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.streaming.audio_callback import MAX_BLOCK, AudioCallback


def open_client(name: str) -> jack.Client | None:
    """A client of the running JACK server, or None when no server answers."""
    jack.set_error_function(lambda _message: None)  # a missing server is an answer, not an error
    try:
        return jack.Client(name, no_start_server=True)
    except jack.JackOpenError:
        return None
    finally:
        jack.set_error_function(None)


class JackStream:
    """Plays `callback` through JACK: the same start/stop/close/active/cpu_load as a sounddevice
    stream, plus reports on connections that went away or came back."""

    def __init__(
        self,
        client: jack.Client,
        callback: AudioCallback,
        latency: int,
        live_input: bool,
        with_mix: bool,
        options: JackOptions,
    ):
        if client.samplerate != SAMPLE_RATE:
            raise AudioDeviceError(
                f"the JACK server runs at {client.samplerate} Hz; dannasep needs {SAMPLE_RATE} Hz "
                f"(restart it with -r {SAMPLE_RATE})"
            )
        self.client = client
        self.callback = callback
        self._in_specs = input_ports() if live_input else ()
        self._out_specs = output_ports(with_mix)
        self._inputs: list[jack.OwnPort] = []
        self._outputs: list[jack.OwnPort] = []
        """Registered once active (see start); the latency callback reads these same lists."""
        self._in_pairs: list[tuple[jack.OwnPort, int]] = []
        self._out_pairs: list[tuple[jack.OwnPort, int]] = []
        self._ready = False
        self._in_block = np.zeros((MAX_BLOCK, 2), dtype=np.float32)
        self._out_block = np.zeros((MAX_BLOCK, callback.mixer.channels), dtype=np.float32)
        self._wishes = self._plan(options, live_input, with_mix)
        self._missing: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._reports: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._xruns = self._xruns_seen = 0
        self.shut_down = ""
        """Why the server dropped us, once it did."""
        self.latency = LatencyReporter(client, self._inputs, self._outputs, latency)
        client.set_process_callback(self._process)
        client.set_xrun_callback(self._on_xrun)
        client.set_shutdown_callback(self._on_shutdown)
        client.set_blocksize_callback(self._on_blocksize)
        client.set_port_registration_callback(self._on_registration, only_available=False)
        self._watcher = threading.Thread(target=self._watch, name="dannasep-jack-ports", daemon=True)

    def _register(self, ports: jack.Ports, spec: PortSpec) -> jack.OwnPort:
        port = ports.register(spec.name)
        # labelled stereo pairs in stem order in patchbays (a server without metadata just ignores this)
        for key, value, kind in (
            (PRETTY_NAME, spec.pretty, ""),
            (PORT_GROUP, spec.group, ""),
            (ORDER, str(spec.order), INTEGER),
        ):
            try:
                self.client.set_property(port, key, value, kind)
            except ValueError:
                break
        return port

    def _plan(self, options: JackOptions, live_input: bool, with_mix: bool) -> list[tuple[str, str]]:
        """(our full port name, their port name) to connect at start and keep connected."""
        wishes = []
        if live_input:
            if options.connect_input is None:
                physical = [p.name for p in self.client.get_ports(is_audio=True, is_output=True, is_physical=True)]
                wishes += list(zip((s.name for s in self._in_specs), physical, strict=False))
            else:
                wishes += pair_ports(self._in_specs, options.connect_input, "--connect-input")
        if options.connect_output is None:
            main = self._out_specs[:2] if with_mix else self._out_specs
            physical = [p.name for p in self.client.get_ports(is_audio=True, is_input=True, is_physical=True)]
            wishes += list(zip((s.name for s in main), physical, strict=False))
        else:
            wishes += pair_ports(self._out_specs, options.connect_output, "--connect-output")
        return [(f"{self.client.name}:{ours}", theirs) for ours, theirs in wishes]

    # -- the stream interface the engine uses --------------------------------------------------
    def start(self) -> None:
        """Activate, then show our ports: a port that appears can be connected at once (JACK refuses
        connections to an inactive client's ports)."""
        self.client.activate()
        self._inputs += [self._register(self.client.inports, spec) for spec in self._in_specs]
        self._outputs += [self._register(self.client.outports, spec) for spec in self._out_specs]
        self._in_pairs = [(port, spec.column) for port, spec in zip(self._inputs, self._in_specs, strict=True)]
        self._out_pairs = [(port, spec.column) for port, spec in zip(self._outputs, self._out_specs, strict=True)]
        self._ready = True
        self.latency.set_latency(self.latency.latency)  # the new ports' ranges, before any connection
        self.client.get_ports()  # JACK-Client then knows every existing port when it unregisters
        for ours, theirs in self._wishes:
            if not self._exists(theirs):
                raise AudioDeviceError(f"there is no JACK port {theirs!r} to connect {ours} to ('jack_lsp' lists them)")
            try:
                self._connect(ours, theirs)
            except jack.JackError as exc:
                raise AudioDeviceError(f"cannot connect {ours} and {theirs}: {exc}") from exc
        self._watcher.start()

    def stop(self) -> None:
        self._events.put(None)
        if self._watcher.is_alive():
            self._watcher.join(timeout=5)
        self.client.deactivate()

    def close(self) -> None:
        self.client.close()

    def abandon(self) -> None:
        """Leave the client to the OS: closing it once its server died can hang."""
        self._events.put(None)
        self._ready = False  # JACK's thread may still call: it must not touch the client from now on
        self.client._ptr = jack._ffi.NULL

    @property
    def active(self) -> bool:
        return not self.shut_down

    @property
    def cpu_load(self) -> float:
        return self.client.cpu_load() / 100.0

    @property
    def blocksize(self) -> int:
        return self.client.blocksize

    def port_names(self) -> list[str]:
        return [port.name for port in (*self._inputs, *self._outputs)]

    def set_latency(self, latency: int) -> None:
        self.latency.set_latency(latency)

    def reports(self) -> list[str]:
        """Lines about connections lost and restored since the last call."""
        lines = []
        while True:
            try:
                lines.append(self._reports.get_nowait())
            except queue.Empty:
                return lines

    def missing(self) -> list[str]:
        """Connections waiting for a port that went away, as "ours -> theirs"."""
        with self._lock:
            return sorted(f"{a} -> {b}" for a, b in self._missing)

    # -- JACK's threads -----------------------------------------------------------------------
    def _process(self, frames: int) -> None:
        """JACK's process thread: ports -> preallocated blocks -> the shared block logic -> ports."""
        if not self._ready:
            return
        block_in = None
        if self._inputs:
            block_in = self._in_block[:frames]
            for port, column in self._in_pairs:
                block_in[:, column] = port.get_array()
        block_out = self._out_block[:frames]
        xruns = self._xruns
        self.callback.block(block_in, block_out, frames, xruns != self._xruns_seen)
        self._xruns_seen = xruns
        for port, column in self._out_pairs:
            port.get_array()[:] = block_out[:, column]

    def _on_xrun(self, _delay_usecs: float) -> None:
        self._xruns += 1

    def _on_shutdown(self, _status: jack.Status, reason: str) -> None:
        self.shut_down = reason or "the JACK server shut down"
        self._events.put(None)

    def _on_blocksize(self, blocksize: int) -> None:
        if blocksize > MAX_BLOCK:
            self.shut_down = f"the JACK period {blocksize} is above the {MAX_BLOCK} frames dannasep handles"

    def _on_registration(self, port: jack.Port | None, registered: bool) -> None:
        self._events.put((port.name if port is not None else None, registered))

    # -- our watcher thread ----------------------------------------------------------------------
    def _watch(self) -> None:
        while (event := self._events.get()) is not None:
            name, registered = event
            if registered:
                self._restore(name)
            else:
                self._forget(name)

    def _restore(self, name: str) -> None:
        with self._lock:
            back = [wish for wish in self._missing if name in wish]
        for ours, theirs in back:
            try:
                self._connect(ours, theirs)
            except jack.JackError as exc:
                self._reports.put(f"JACK: {theirs} is back but could not be connected again: {exc}")
                continue
            with self._lock:
                self._missing.discard((ours, theirs))
            self._reports.put(f"JACK: {theirs} is back; reconnected to {ours}")

    def _forget(self, name: str | None) -> None:
        """A port went away (its name is unknown when JACK-Client never saw it): note each wish whose
        port is gone."""
        for ours, theirs in self._wishes:
            if (ours, theirs) in self._missing or (name is not None and name != theirs):
                continue
            if name is None and self._exists(theirs):
                continue
            with self._lock:
                self._missing.add((ours, theirs))
            self._reports.put(f"JACK: {theirs} went away; {ours} reconnects when it comes back")

    def _exists(self, name: str) -> bool:
        try:
            self.client.get_port_by_name(name)
        except jack.JackError:
            return False
        return True

    def _connect(self, ours: str, theirs: str) -> None:
        mine = self.client.get_port_by_name(ours)
        source, destination = (ours, theirs) if mine.is_output else (theirs, ours)
        try:
            self.client.connect(source, destination)
        except jack.JackErrorCode as exc:
            if exc.code != errno.EEXIST:  # connected already: what we wanted
                raise
