"""The audio callback of render-ahead playback: the streaming callback's mixer, meters, recorder
and counters, with the stems read from the render cache at the playhead instead of from the
inference lanes.

After a start or a seek the playhead waits in silence (like a video buffering) until the cache
holds as much audio from it as the renderer says it needs to stay ahead (its READY_AHEAD word,
up to the song's or the loop's end); a block missing after sound started counts as an engine
under-run. Only blocks that played reach the recorder, so a recording is the song's stems without
the buffering gaps.

A fallback to streaming hands over without a gap where the cache allows (`hand_over`): the
streaming callback runs in this one's shadow, fed the song `latency` ahead of the playhead, unheard
and unrecorded, until its output reaches the playhead; from that block on it plays (faded in from
the cached stems over that block), so the song goes on seamlessly. A seek, or a block the cache
does not hold, hands over at once; the streaming output then starts after what is left of its
latency.
"""

import time

import numpy as np

from dannasep.engine.renderahead import cache as slots
from dannasep.engine.renderahead.cache import StemCache, logged_spans
from dannasep.engine.renderahead.playback import QUALITY_QUICK, CachePlayer
from dannasep.engine.streaming.audio_callback import MAX_BLOCK, AudioCallback, CallbackSetup, ControlSlot
from dannasep.engine.streaming.mixer import N_STRIPS

SEEKS_KEPT = 256
QUICK_SPANS_KEPT = 4096


class RenderAheadCallback(AudioCallback):
    def __init__(
        self, setup: CallbackSetup, slot: ControlSlot, cache: StemCache, weights: ControlSlot, seek_asked: np.ndarray
    ):
        """weights: publishes `playback.fusion_matrix` arrays; seek_asked: (SEEKS_KEPT,) monotonic
        times at which each seek id was asked for, written by the control thread."""
        super().__init__(setup, slot)
        self.cache = cache
        self.weights = weights
        self.source = CachePlayer(setup.audio, cache, weights.latest(), MAX_BLOCK)
        self._seek_asked = seek_asked
        self.streaming: AudioCallback | None = None
        """Set when a fallback's hand-over is done: it plays every block from then on."""
        self.shadow: AudioCallback | None = None
        """A streaming callback being handed over to (see the module docstring)."""
        self._shadow_out = np.zeros(MAX_BLOCK * 2 * (N_STRIPS + 1), dtype=np.float32)
        """The shadow's unheard device output: room for every strip and the mix."""
        self.handed_over_at: int | None = None
        """Stream position (of what played, as a recording holds it) where streaming took over."""
        self.handover_gap = 0
        """Samples of silence the streaming output began with at the take-over (0: seamless)."""
        self.sounding = False
        self.asked_at = time.monotonic()
        """When the current wait for sound began (start or seek)."""
        self.first_sound_ms: float | None = None
        self.seek_ms = np.zeros(SEEKS_KEPT)
        self.seeks = 0
        self._waiting_seek = -1
        self.quick_frames_played = 0
        self.quick_played = np.zeros((QUICK_SPANS_KEPT, 2), dtype=np.int64)
        """[start, stop) stream positions (what a recording holds) that played quick-chunk stems, a
        ring of the latest QUICK_SPANS_KEPT spans; quick_played_count spans were logged in all."""
        self.quick_played_count = 0
        self.weights_taken_at = 0
        """Stream position of the block that first fused with the newest weights."""
        self.publish_transport()

    def block(self, indata: np.ndarray | None, outdata: np.ndarray, frames: int, underflow: bool) -> None:
        if self.stopped:  # whichever callback was playing, nothing plays once the engine stops
            outdata.fill(0.0)
        elif self.streaming is not None:
            self.streaming.block(indata, outdata, frames, underflow)
        else:
            super().block(indata, outdata, frames, underflow)

    def heard(self) -> AudioCallback:
        return self.streaming if self.streaming is not None else self

    def hand_over(self, streaming: AudioCallback) -> None:
        """From the next block, run `streaming` in this callback's shadow until it can take over
        (called from a control thread; its recorder waits for the take-over)."""
        streaming.recorder = None
        self.shadow = streaming

    def _take_over(self, indata: np.ndarray | None, outdata: np.ndarray, frames: int, underflow: bool) -> None:
        streaming, self.shadow = self.shadow, None
        self.handed_over_at = self.position
        self.handover_gap = max(0, streaming.setup.latency - streaming.position)
        streaming.recorder = self.recorder
        self.streaming = streaming
        streaming.block(indata, outdata, frames, underflow)

    def _clock_shadow(self, song_position: int, frames: int, channels: int) -> None:
        """Run the shadow on the block just played from `song_position`, its output unheard."""
        shadow = self.shadow
        if shadow.position == 0:  # its output at stream position q is the song at song_position + q
            shadow.player.start_ahead(song_position, shadow.setup.latency)
        shadow.block(None, self._shadow_out[: frames * channels].reshape(frames, channels), frames, False)

    def publish_transport(self) -> None:
        """Tell the renderer where the playhead goes and what loops (it reads these in order)."""
        control = self.cache.control
        loop = self.source.loop
        control[slots.LOOP_START], control[slots.LOOP_END] = loop if loop is not None else (-1, -1)
        control[slots.PLAYHEAD] = self.source.wanted
        control[slots.SEEK_ID] = self.control.state.transport.seek_id

    def _fill(self, indata: np.ndarray | None, outdata: np.ndarray, frames: int, underflow: bool) -> None:
        now = self._begin_block(underflow)
        transport = self.control.state.transport
        source = self.source
        if self.shadow is not None and transport.seek_id != self._seek_id:
            return self._take_over(indata, outdata, frames, underflow)
        if transport.seek_id != self._seek_id:
            self._seek_id = transport.seek_id
            source.seek(transport.seek_to)
            self.sounding, self.asked_at = False, self._seek_asked[self._seek_id % SEEKS_KEPT] or now
            self._waiting_seek = self._seek_id
        if transport.loop != self._loop:
            self._loop = transport.loop
            source.set_loop(transport.loop)
        self.publish_transport()
        if not transport.playing or self.finished or self.stopped:
            outdata.fill(0.0)
            return
        weights = self.weights.latest()
        if weights is not source.weights:
            source.weights, self.weights_taken_at = weights, self.position
        out = self._output_block[:frames]
        song_position = source.wanted
        if not self.sounding and self.shadow is None and not self._ready(song_position):
            outdata.fill(0.0)
            return
        if not source.play_block(out):
            if self.shadow is not None:
                return self._take_over(indata, outdata, frames, underflow)
            outdata.fill(0.0)
            if self.sounding:
                self._count_xrun(self.position)
                self.underruns += 1
            return
        if not self.sounding:
            self._heard(now)
        if self.shadow is not None:
            if self.shadow.position >= self.shadow.setup.latency:  # its output has reached the playhead
                self.shadow.cross_fade_from(out)
                return self._take_over(indata, outdata, frames, underflow)
            self._clock_shadow(song_position, frames, outdata.shape[1])
        if source.quality == QUALITY_QUICK:
            self._log_quick(frames)
        self._play(out, outdata)
        self.cache.control[slots.PLAYHEAD] = source.wanted
        if source.ended:
            self.finished = True

    def _ready(self, position: int) -> bool:
        """Whether the cache holds enough audio from `position` on for sound to start."""
        need = int(self.cache.counters[slots.READY_AHEAD])
        loop = self.source.loop
        end = loop[1] if loop is not None and loop[0] <= position < loop[1] else self.cache.length
        until = min(position + need, end)
        return self.cache.covered_until(position, stop=until) >= until

    def _log_quick(self, frames: int) -> None:
        self.quick_frames_played += frames
        count, spans = self.quick_played_count, self.quick_played
        if count and spans[(count - 1) % QUICK_SPANS_KEPT, 1] == self.position:
            spans[(count - 1) % QUICK_SPANS_KEPT, 1] += frames
        else:
            spans[count % QUICK_SPANS_KEPT] = (self.position, self.position + frames)
            self.quick_played_count = count + 1

    def quick_played_spans(self) -> list[tuple[int, int]]:
        """The logged spans, oldest first (read from a control thread: the newest may still grow)."""
        return logged_spans(self.quick_played, self.quick_played_count)

    def _heard(self, now: float) -> None:
        self.sounding = True
        waited = 1000.0 * (now - self.asked_at)
        if self._waiting_seek >= 0:
            self.seek_ms[self.seeks % SEEKS_KEPT] = waited
            self.seeks += 1
            self._waiting_seek = -1
        elif self.first_sound_ms is None:
            self.first_sound_ms = waited
