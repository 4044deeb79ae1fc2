"""The OSC bridge: a UDP server on 127.0.0.1 (by default) turning messages into control-plane
commands, and echoing every state change back to the clients.

Threads (none of them the audio thread):
- receiver: reads datagrams, rate-limits per client, parses, groups each packet's messages by
  timetag into batches and applies each batch as one control-plane change (so a bundle lands at
  one audio-block boundary); future timetags go to the scheduler.
- scheduler: applies timed batches when their time comes (bounded queue).
- feedback: at most `feedback_hz` times per second, sends what changed since the last send (from
  any source: GUI, OSC, presets) to every client heard from in the last `client_ttl` seconds, and
  meters (/stem/<s>/vu, one bundle, ≤ 30 Hz) to the clients that asked for them.

Bad input never reaches the engine: unknown addresses, wrong types, NaN/Inf and malformed packets
are dropped, out-of-range values clamped, floods rate-limited; each kind is counted and logged at
most once per `log_interval` seconds. Every queue and table is bounded, so memory stays flat.
"""

import heapq
import ipaddress
import logging
import math
import socket
import struct
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pythonosc import osc_bundle_builder, osc_message_builder
from pythonosc.osc_packet import OscPacket, ParseError

from dannasep.engine.constants import SOURCES
from dannasep.engine.control.commands import CommandError, preset_command
from dannasep.engine.control.plane import ControlPlane
from dannasep.engine.control.state import EngineState
from dannasep.engine.control.taper import peak_to_meter
from dannasep.engine.errors import DannaSepError, PresetError
from dannasep.engine.osc import feedback
from dannasep.engine.osc.addresses import OscInputError, PresetRequest, parse

log = logging.getLogger("dannasep.osc")

FEEDBACK_VALUES, FEEDBACK_METERS, FEEDBACK_ENGINE = 1, 2, 4


@dataclass(frozen=True)
class OscConfig:
    host: str = "127.0.0.1"
    port: int = 9010
    allow: tuple[str, ...] = ()
    """Networks (CIDR) allowed to talk when listening beyond loopback; required then."""
    feedback_port: int | None = None
    """Send feedback to this port on each client's host instead of its source port."""
    client_ttl: float = 300.0
    max_clients: int = 32
    rate_limit: float = 1000.0
    """Messages per second accepted from one client; the rest are dropped and counted."""
    feedback_hz: float = 50.0
    meter_hz: float = 30.0
    max_scheduled: int = 256
    log_interval: float = 5.0


@dataclass
class _Client:
    last_seen: float
    feedback_mask: int = FEEDBACK_VALUES | FEEDBACK_ENGINE
    tokens: float = 0.0
    refilled: float = 0.0


@dataclass
class BridgeStats:
    received: int = 0
    applied: int = 0
    dropped: Counter = field(default_factory=Counter)


class OscBridge:
    """Serve OSC for a control plane. `latency_samples` and `levels` come from the engine."""

    def __init__(
        self,
        control: ControlPlane,
        config: OscConfig | None = None,
        latency_samples: Callable[[], int] = lambda: 0,
        levels: Callable[[], Sequence[float]] | None = None,
    ):
        self.control = control
        self.config = config or OscConfig()
        self._latency = latency_samples
        self._levels = levels
        self._networks = self._check_exposure(self.config)
        self.stats = BridgeStats()
        self._clients: OrderedDict[tuple[str, int], _Client] = OrderedDict()
        self._clients_lock = threading.Lock()
        self._scheduled: list[tuple[float, int, list]] = []
        self._scheduled_lock = threading.Condition()
        self._sequence = 0
        self._sent_state: EngineState | None = control.state
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._last_log: dict[str, float] = {}
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    @staticmethod
    def _check_exposure(config: OscConfig):
        address = ipaddress.ip_address(socket.gethostbyname(config.host)) if config.host else None
        if address is not None and address.is_loopback:
            return None
        if not config.allow:
            raise DannaSepError(
                f"listening on {config.host} exposes the engine to the network; name the allowed clients "
                "with --osc-allow (e.g. --osc-allow 192.168.1.0/24)"
            )
        try:
            return [ipaddress.ip_network(net, strict=False) for net in config.allow]
        except ValueError as exc:
            raise DannaSepError(f"bad --osc-allow network: {exc}") from exc

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "OscBridge":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as exc:
            sock.close()
            raise DannaSepError(
                f"cannot listen for OSC on {self.config.host}:{self.config.port} "
                f"({exc.strerror}); choose another --osc-port"
            ) from exc
        sock.settimeout(0.2)
        self._sock = sock
        self.control.subscribe(self._on_change)
        for target, name in (
            (self._receive, "osc-receive"),
            (self._schedule_loop, "osc-schedule"),
            (self._feedback_loop, "osc-feedback"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def address(self) -> tuple[str, int]:
        return self._sock.getsockname() if self._sock else (self.config.host, self.config.port)

    def stop(self) -> None:
        self._stop.set()
        with self._scheduled_lock:
            self._scheduled_lock.notify_all()
        self._dirty.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.control.unsubscribe(self._on_change)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "OscBridge":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def clients(self) -> list[tuple[str, int]]:
        with self._clients_lock:
            return list(self._clients)

    # -- receiving ---------------------------------------------------------------------------
    def _drop(self, reason: str, detail: str = "") -> None:
        self.stats.dropped[reason] += 1
        now = time.monotonic()
        if now - self._last_log.get(reason, -math.inf) >= self.config.log_interval:
            self._last_log[reason] = now
            log.warning(
                "OSC: ignored %s (%d so far)%s", reason, self.stats.dropped[reason], f": {detail}" if detail else ""
            )

    def _admit(self, sender: tuple[str, int]) -> _Client | None:
        """Register the sender and take one token from its bucket; None if it must be dropped."""
        if self._networks is not None and not any(ipaddress.ip_address(sender[0]) in n for n in self._networks):
            self._drop("a client outside --osc-allow", sender[0])
            return None
        now = time.monotonic()
        with self._clients_lock:
            client = self._clients.get(sender)
            if client is None:
                client = _Client(now, tokens=self.config.rate_limit, refilled=now)
                self._clients[sender] = client
                while len(self._clients) > self.config.max_clients:
                    self._clients.popitem(last=False)
            self._clients.move_to_end(sender)
            client.last_seen = now
        client.tokens = min(self.config.rate_limit, client.tokens + (now - client.refilled) * self.config.rate_limit)
        client.refilled = now
        if client.tokens < 1.0:
            self._drop("a flood (rate limit)")
            return None
        client.tokens -= 1.0
        return client

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.stats.received += 1
            client = self._admit(sender)
            if client is None:
                continue
            try:
                packet = OscPacket(data)
            except (ParseError, ValueError, IndexError, struct.error) as exc:
                self._drop("a malformed packet", str(exc)[:80])
                continue
            self.handle(packet.messages, sender, client)

    def handle(self, timed_messages, sender: tuple[str, int], client: _Client | None = None) -> None:
        """Apply a packet's messages: one batch per timetag, queries answered to the sender."""
        batches: dict[float, list] = {}
        for timed in timed_messages:
            address, args = timed.message.address, list(timed.message.params)
            if self._answer_query(address, args, sender, client):
                continue
            try:
                command = parse(address, args)
            except OscInputError as exc:
                self._drop("bad input", str(exc))
                continue
            if isinstance(command, PresetRequest):
                command = self._preset_command(command.name)
            if command is not None:
                batches.setdefault(timed.time, []).append(command)
        now = time.time()
        for when, commands in sorted(batches.items()):
            if when > now + 0.001:
                self._schedule(when, commands)
            else:
                self._apply(commands)

    def _preset_command(self, name: str):
        try:
            return preset_command(name)
        except PresetError as exc:
            self._drop("an unknown preset", str(exc))
            return None

    def _apply(self, commands: list) -> None:
        result = self.control.apply(commands, source="osc")
        self.stats.applied += result.applied
        for command, reason in result.rejected:
            self._drop("a rejected command", f"{command}: {reason}")

    def _answer_query(self, address: str, args: list, sender, client: _Client | None) -> bool:
        if address == "/stems/refresh":
            self._send_bundle(sender, feedback.full_state(self.control.state, self._latency()))
        elif address == "/engine/latency":
            self._send_bundle(sender, feedback.latency(self._latency()))
        elif address in ("/set_surface/feedback", "/stems/meters"):
            if client is None or len(args) != 1 or isinstance(args[0], (str, bytes)):
                self._drop("bad input", f"{address} takes one integer")
                return True
            value = int(args[0])
            if address == "/stems/meters":
                value = (client.feedback_mask | FEEDBACK_METERS) if value else (client.feedback_mask & ~FEEDBACK_METERS)
            client.feedback_mask = value
        else:
            return False
        return True

    # -- scheduling --------------------------------------------------------------------------
    def _schedule(self, when: float, commands: list) -> None:
        with self._scheduled_lock:
            if len(self._scheduled) >= self.config.max_scheduled:
                self._drop("a timed bundle (too many pending)")
                return
            self._sequence += 1
            heapq.heappush(self._scheduled, (when, self._sequence, commands))
            self._scheduled_lock.notify()

    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            with self._scheduled_lock:
                if not self._scheduled:
                    self._scheduled_lock.wait(0.5)
                    continue
                when = self._scheduled[0][0]
                delay = when - time.time()
                if delay > 0:
                    self._scheduled_lock.wait(min(delay, 0.5))
                    continue
                _, _, commands = heapq.heappop(self._scheduled)
            self._apply(commands)

    # -- feedback ----------------------------------------------------------------------------
    def _on_change(self, _old: EngineState, _new: EngineState, _source: str) -> None:
        self._dirty.set()  # coalesced: the feedback thread sends the net change

    def _targets(self, mask: int) -> list[tuple[str, int]]:
        now = time.monotonic()
        with self._clients_lock:
            for sender in [s for s, c in self._clients.items() if now - c.last_seen > self.config.client_ttl]:
                del self._clients[sender]
            chosen = [s for s, c in self._clients.items() if c.feedback_mask & mask]
        if self.config.feedback_port is not None:
            chosen = sorted({(host, self.config.feedback_port) for host, _ in chosen})
        return chosen

    def _feedback_loop(self) -> None:
        period = 1.0 / self.config.feedback_hz
        meter_period = 1.0 / self.config.meter_hz
        next_meter = time.monotonic()
        last_latency = self._latency()
        while not self._stop.is_set():
            self._dirty.wait(period if self._levels is None else min(period, meter_period))
            self._dirty.clear()
            state = self.control.state
            if state != self._sent_state:
                messages = feedback.changes(self._sent_state, state)
                self._sent_state = state
                for target in self._targets(FEEDBACK_VALUES):
                    self._send_bundle(target, messages)
            latency = self._latency()
            if latency != last_latency:
                last_latency = latency
                for target in self._targets(FEEDBACK_ENGINE):
                    self._send_bundle(target, feedback.latency(latency))
            now = time.monotonic()
            if self._levels is not None and now >= next_meter:
                next_meter = now + meter_period
                targets = self._targets(FEEDBACK_METERS)
                if targets:
                    levels = self._levels()
                    meters = [(f"/stem/{s}/vu", [peak_to_meter(levels[i])]) for i, s in enumerate(SOURCES)]
                    for target in targets:
                        self._send_bundle(target, meters)
            time.sleep(period)

    def _send_bundle(self, target: tuple[str, int], messages: list) -> None:
        if not messages or self._sock is None:
            return
        bundle = osc_bundle_builder.OscBundleBuilder(osc_bundle_builder.IMMEDIATELY)
        for address, args in messages:
            builder = osc_message_builder.OscMessageBuilder(address)
            for arg in args:
                builder.add_arg(arg)
            bundle.add_content(builder.build())
        try:
            self._sock.sendto(bundle.build().dgram, target)
        except OSError as exc:
            self._drop("feedback that could not be sent", f"{target}: {exc.strerror}")


__all__ = ["CommandError", "OscBridge", "OscConfig"]
