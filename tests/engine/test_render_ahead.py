"""Render-ahead playback against a real JACK server (dummy driver): what played is compared with
the offline separation (`Separator`, the path `dannasep separate` runs), sample by sample.

As in test_live.py, these tests check behaviour, not speed: one inference thread, and assertions
on what was played (only blocks that played are recorded, so a recording is the song's stems
whatever the machine's load), never on timings or under-run counts (`dannasep bench live`)."""

import gc
import itertools
import json
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import write_song
from test_live import _cli, _recorded

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.bench.render_agreement import (
    AgreementConfig,
    chunk_overlap_agreement,
    format_agreement,
    run_agreement,
)
from dannasep.engine.bench.render_ahead import RenderBenchConfig, format_render_table, run_render_case
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.control.commands import Pause, Play, Seek, SetWeight
from dannasep.engine.renderahead.engine import MODE_STREAM, RenderAheadEngine
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.separation.separator import Separator, SeparatorConfig
from dannasep.engine.streaming.config import LiveConfig
from dannasep.engine.streaming.timing import LiveTiming

THREADS = 1
WEIGHTS = {"xumx": (0.3, 0.2, 0.1, 0.6), "demucs": (0.7, 0.8, 0.9, 0.4)}


@pytest.fixture(scope="module")
def jack():
    with jack_server() as server:
        yield server


def _preset(path: Path, weights: dict[str, tuple[float, ...]]) -> Path:
    tables = [
        f"[weights.{m}]\n" + "".join(f"{s} = {w}\n" for s, w in zip(SOURCES, row, strict=True))
        for m, row in weights.items()
    ]
    path.write_text("\n".join(tables))
    return path


def _offline_per_model(tmp_path: Path, song: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's offline stems, (4, 2, time), from a one-model preset (the same chunk plan as two)."""
    stems = {}
    for model in WEIGHTS:
        preset = _preset(tmp_path / f"{model}.toml", {model: (1, 1, 1, 1)})
        stems[model] = Separator(SeparatorConfig(preset=preset, threads=THREADS)).separate(song.T)
    return stems


def _fused(per_model: dict[str, np.ndarray], weights: dict[str, tuple[float, ...]]) -> np.ndarray:
    totals = np.sum([weights[m] for m in per_model], axis=0)
    return sum(per_model[m] * (np.asarray(weights[m]) / totals)[:, None, None] for m in per_model)


def _sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - estimate) ** 2), 1e-30)))


def _played(engine: RenderAheadEngine) -> int:
    """Samples played so far (buffering waits not counted)."""
    return engine.render_callback.position


def _wait_for(condition, seconds: float, engine: RenderAheadEngine) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        engine.check_health()
        time.sleep(0.1)


def _engine(tmp_path: Path, preset: Path, settings: RenderAheadSettings | None = None, **config) -> RenderAheadEngine:
    return RenderAheadEngine(
        LiveConfig(
            source=tmp_path / "song.wav",
            preset=preset,
            blocksize=256,
            threads=THREADS,
            record_dir=tmp_path / "rec",
            **config,
        ),
        settings,
    )


def test_render_ahead_plays_the_offline_separation_and_a_weight_change_from_the_next_block(jack, tmp_path):
    """Paused until the whole song is rendered, so every sample plays from the offline plan (two
    chunks, models overlap-added on their own, fused in the callback): it equals the offline
    fusion, before a weight change with the old weights and from the next block with the new."""
    song = write_song(tmp_path / "song.wav", 24.0, seed=11)
    engine = _engine(tmp_path, _preset(tmp_path / "two.toml", WEIGHTS))
    engine.control.apply([Pause()])
    engine.start()
    try:
        _wait_for(lambda: engine._cache.covered_until(0, final=True) >= len(song), 240.0, engine)
        engine.control.apply([Play()])
        _wait_for(lambda: _played(engine) > 8 * SAMPLE_RATE, 60.0, engine)
        taken = engine.render_callback.weights_taken_at
        engine.control.apply([SetWeight("vocals", "demucs", 0.0), SetWeight("drums", "xumx", 2.0)])
        # where the callback took them: a loaded machine may deliver a change some blocks later
        _wait_for(lambda: engine.render_callback.weights_taken_at != taken, 30.0, engine)
        applied_at = engine.render_callback.weights_taken_at
        assert engine.wait(60.0)
        status = engine.status()
    finally:
        engine.stop()
    assert status.mode == "render-ahead" and status.latency_samples == 0
    rec = _recorded(tmp_path / "rec")
    assert np.array_equal(rec["dry"][: len(song)], song)
    changed = {m: tuple(row) for m, row in WEIGHTS.items()}
    changed["demucs"] = (0.7, 0.8, 0.9, 0.0)
    changed["xumx"] = (2.0, 0.2, 0.1, 0.6)
    per_model = _offline_per_model(tmp_path, song)
    before, after = _fused(per_model, WEIGHTS), _fused(per_model, changed)
    block = 256
    for i, stem in enumerate(SOURCES):
        played = rec[stem][: len(song)].T
        assert _sdr(before[i, :, : applied_at - block], played[:, : applied_at - block]) > 60, stem
        assert _sdr(after[i, :, applied_at + block :], played[:, applied_at + block :]) > 60, stem
    assert np.allclose(rec["mix"], sum(rec[s] for s in SOURCES), atol=1e-6)


def test_quick_chunks_are_close_and_replaced_by_the_offline_plan_served_from_the_cache_on_the_loop(jack, tmp_path):
    """Play at once: the first seconds come from quick chunks, close to the offline output; once the
    plan has replaced them (the second pass of the loop on a quiet machine, later on a busy one),
    the loop plays the offline stems from the cache."""
    song = write_song(tmp_path / "song.wav", 12.0, seed=12)
    n = len(song)
    engine = _engine(tmp_path, _preset(tmp_path / "two.toml", WEIGHTS), loop=True)
    engine.start()
    try:
        _wait_for(lambda: engine._cache.covered_until(0, final=True) >= n, 240.0, engine)
        final_pass = (_played(engine) // n + 1) * n  # the first pass that starts after the plan covered all
        _wait_for(lambda: _played(engine) > final_pass + n + SAMPLE_RATE, 240.0, engine)
        status = engine.status()
        quick = engine.quick_spans()
    finally:
        engine.stop()
    assert status.first_sound_ms is not None and not engine.finished
    assert quick and quick[0][0] == 0, "play did not start with a quick chunk"
    rec = _recorded(tmp_path / "rec")
    offline = _fused(_offline_per_model(tmp_path, song), WEIGHTS)
    first = np.zeros(n, bool)
    for start, stop in quick:
        first[start:stop] = True
    for i, stem in enumerate(SOURCES):
        first_pass, later_pass = rec[stem][:n].T, rec[stem][final_pass : final_pass + n].T
        assert _sdr(offline[i][:, first], first_pass[:, first]) > 20, stem  # README: quick chunks fall short of 30 dB
        # the loop seam fades the start in over 256 samples; after it, the offline stems exactly
        assert _sdr(offline[i][:, 256:], later_pass[:, 256:]) > 60, stem


def test_seeks_into_and_out_of_the_cache_pause_and_end_of_file(jack, tmp_path):
    song = write_song(tmp_path / "song.wav", 30.0, seed=13)
    demucs = _preset(tmp_path / "demucs.toml", {"demucs": (1, 1, 1, 1)})
    engine = _engine(tmp_path, demucs, RenderAheadSettings(lead=10.0))
    engine.start()
    landings = []
    try:
        _wait_for(lambda: _played(engine) > 2 * SAMPLE_RATE, 120.0, engine)
        engine.control.apply([Pause()])
        time.sleep(0.3)
        paused_at = engine.status().position
        time.sleep(0.6)
        assert engine.status().position == paused_at and not engine.status().playing
        engine.control.apply([Play()])
        for target in (25.0, 1.0, 26.0, 28.0):  # out of the cache, back into it, forward into it, to the end
            at = int(target * SAMPLE_RATE)
            if target == 25.0:
                assert engine._cache.covered_until(at) == at, "the seek target was already rendered"
            else:
                _wait_for(lambda at=at: engine._cache.covered_until(at) > at + SAMPLE_RATE, 60.0, engine)
            since = _played(engine)
            landings.append((since, target))
            engine.control.apply([Seek(target)])
            _wait_for(lambda since=since: _played(engine) > since + SAMPLE_RATE // 2, 60.0, engine)
            if target == 25.0:
                assert any(start <= 25.0 < stop for start, stop in engine.status().rendered)
        assert engine.wait(30.0), "end of file was not reached"
        status = engine.status()
    finally:
        engine.stop()
    assert len(status.seek_ms) == 4 and status.first_sound_ms is not None
    dry = _recorded(tmp_path / "rec")["dry"]
    fade, probe = 256, 4000
    for at, target in landings:
        start = int(target * SAMPLE_RATE) + fade
        found = [
            j
            for j in range(at, at + 2048)
            if np.array_equal(dry[j + fade : j + fade + probe], song[start : start + probe])
        ]
        assert found, f"the seek to {target} s did not play the song from there"
    rest = len(song) - start
    assert np.array_equal(dry[found[0] + fade : found[0] + fade + rest], song[start:]), "it did not play to the end"
    assert not dry[found[0] + fade + rest :].any()


def test_a_render_that_cannot_keep_ahead_falls_back_to_streaming_and_says_so(jack, tmp_path):
    song = write_song(tmp_path / "song.wav", 30.0, seed=14)
    demucs = _preset(tmp_path / "demucs.toml", {"demucs": (1, 1, 1, 1)})
    slowed = RenderAheadSettings(throttle=3.0, fallback_after=4.0)
    engine = _engine(tmp_path, demucs, slowed, timing=LiveTiming(safety=2 * SAMPLE_RATE))
    engine.start()
    try:
        _wait_for(lambda: engine.mode == MODE_STREAM, 120.0, engine)
        switched_at = engine._recorder._written  # samples recorded before the streaming engine took over
        heard_from = switched_at + engine.latency_samples  # the streaming engine's first output
        _wait_for(
            lambda: engine.status().hops >= 3 and engine._recorder._written > heard_from + SAMPLE_RATE, 120.0, engine
        )
        status = engine.status()
    finally:
        engine.stop()
    assert status.mode == MODE_STREAM and "could not keep ahead" in status.fallback
    assert engine._render is None, "the render process outlived the fallback"
    dry = _recorded(tmp_path / "rec")["dry"]
    assert len(dry) > switched_at + engine.latency_samples and dry[switched_at + engine.latency_samples :].any()
    assert np.abs(dry).max() <= np.abs(song).max() + 1e-6


def test_a_fallback_with_the_cache_ahead_hands_over_to_streaming_without_a_gap(jack, tmp_path):
    """The render is declared too slow as soon as it is measured, while the cache already holds
    more than the streaming latency: streaming runs in the shadow and takes over at the playhead,
    so the recorded dry mix is the song sample for sample across the switch, and the stems go on."""
    song = write_song(tmp_path / "song.wav", 30.0, seed=17)
    demucs = _preset(tmp_path / "demucs.toml", {"demucs": (1, 1, 1, 1)})
    engine = _engine(tmp_path, demucs, RenderAheadSettings(fallback_rtf=1e-6), timing=LiveTiming(safety=SAMPLE_RATE))
    engine.control.apply([Pause()])
    engine.start()
    try:
        # paused until the plan has rendered the song, so the cache holds the hand-over on any machine
        _wait_for(lambda: engine._cache.covered_until(0, final=True) >= len(song), 240.0, engine)
        meters = engine.level_reader()
        engine.control.apply([Play()])
        _wait_for(lambda: engine.mode == MODE_STREAM, 120.0, engine)
        _wait_for(lambda: engine.render_callback.streaming is not None, 60.0, engine)
        meters()
        time.sleep(0.5)
        assert meters().max() > 0, "the meters stopped at the hand-over"
        assert engine.wait(120.0)
        status, period = engine.status(), engine.jack_period()
    finally:
        engine.stop()
    callback = engine.render_callback
    assert status.mode == MODE_STREAM and status.fallback_gap_ms == 0.0
    assert 0 < callback.handed_over_at < len(song)
    rec = _recorded(tmp_path / "rec")
    fade = slice(callback.handed_over_at, callback.handed_over_at + period)  # one block, faded over in float32
    assert np.allclose(rec["dry"][fade], song[fade], rtol=0, atol=1e-6)
    rec["dry"][fade] = song[fade]
    assert np.array_equal(rec["dry"][: len(song)], song), "the song did not go on seamlessly"
    after = slice(callback.handed_over_at, len(song))
    for stem in SOURCES:  # the streaming stems play on: each stem still sums with the others to the song
        assert np.abs(rec[stem][after]).max() > 0, stem
    residual = sum(rec[stem][after] for stem in SOURCES) - song[after]
    assert _sdr(song[after].T, (song[after] + residual).T) > 10


def test_a_song_that_ends_before_the_hand_over_ends_playback(jack, tmp_path):
    """A fallback (here while paused) whose streaming output has not reached the playhead when
    the song ends: playback ends (it used to wait for the streaming callback, which never took over)."""
    song = write_song(tmp_path / "song.wav", 2.0, seed=19)
    demucs = _preset(tmp_path / "demucs.toml", {"demucs": (1, 1, 1, 1)})
    engine = _engine(tmp_path, demucs, RenderAheadSettings(fallback_rtf=1e-6, fallback_after=0.0))
    engine.control.apply([Pause()])
    engine.start()
    try:
        _wait_for(lambda: engine.mode == MODE_STREAM, 240.0, engine)
        assert engine.latency_samples > len(song)  # the song ends before the streaming output reaches it
        engine.control.apply([Play()])
        assert engine.wait(60.0), "playback never ended"
    finally:
        engine.stop()
    assert engine.render_callback.streaming is None
    assert np.array_equal(_recorded(tmp_path / "rec")["dry"][: len(song)], song)


def test_a_stopped_engine_and_its_stem_cache_are_freed(jack, tmp_path):
    """The start freezes the garbage collector's view of everything it made (no long collections
    during playback); the stop must undo that, or every song the app opens stays mapped."""
    write_song(tmp_path / "song.wav", 4.0, seed=18)
    engine = _engine(tmp_path, _preset(tmp_path / "demucs.toml", {"demucs": (1, 1, 1, 1)}))
    engine.start()
    assert engine.wait(120.0)
    engine.stop()
    cache = weakref.ref(engine._cache)
    del engine
    gc.collect()
    assert cache() is None, "the stopped engine's stem cache is still alive"


def test_cli_plays_files_by_render_ahead_and_reports_it(jack, tmp_path):
    song = write_song(tmp_path / "song.wav", 4.0, seed=15)
    demucs = _preset(tmp_path / "demucs.toml", {"demucs": (1, 1, 1, 1)})
    proc = _cli(tmp_path / "song.wav", "--preset", demucs, "--json", "--record", tmp_path / "rec", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["mode"] == "render-ahead" and summary["latency_samples"] == 0
    assert summary["first_sound_ms"] > 0 and summary["cache_mb"] > 0 and summary["seek_ms"] is None
    assert summary["lead_seconds"]["min"] <= summary["lead_seconds"]["median"]
    assert isinstance(summary["engine_underruns"], int)
    quick = sum(stop - start for start, stop in summary["quick_played"])
    assert quick == pytest.approx(summary["quick_seconds_played"], abs=0.01)
    assert np.array_equal(_recorded(tmp_path / "rec")["dry"][: len(song)], song)


@pytest.mark.slow
def test_render_ahead_bench_case_reports_a_real_run(tmp_path):
    """One `dannasep bench live` render-ahead case, short: it played, sought and measured (what the
    numbers are is the bench's business)."""
    preset = _preset(tmp_path / "demucs-only.toml", {"demucs": (1, 1, 1, 1)})
    write_song(tmp_path / "song.wav", 10.0, seed=6)
    # no fallback to streaming, whatever the machine's load: the row is what is under test
    render = RenderAheadSettings(fallback_rtf=1e9)
    bench = RenderBenchConfig(seconds=8.0, presets=(str(preset),), sizes=("live",), seeks=2, render=render, threads=1)
    row = run_render_case(bench, str(preset), "live", tmp_path / "song.wav")
    assert row.seconds >= 8.0 and row.blocksize == 256 and row.file_seconds == pytest.approx(10.0)
    assert row.mode == "render-ahead" and not row.fallback and row.dropped == ()
    assert row.first_sound_ms is not None and row.first_sound_ms > 0
    assert row.seek_ms is not None and 0 < row.seek_ms[0] <= row.seek_ms[1]
    assert row.lead_seconds is not None and row.lead_seconds[0] <= row.lead_seconds[1]
    assert row.render_rtf > 0 and row.cpu_percent > 0 and min(row.ram_mb) > 100
    assert row.ram_together_mb > 100 and row.offline_ram_mb is None
    assert row.cache_mb == pytest.approx(10.0 * SAMPLE_RATE * 32 / 2**20, rel=0.1)
    table = format_render_table([row], bench, "test machine")
    assert "demucs-only.toml | live | 10 s | 256 |" in table and "render-ahead" in table and "test machine" in table


@pytest.mark.slow
def test_agreement_bench_scores_what_played_against_dannasep_separate(jack, tmp_path):
    """`dannasep bench agreement` on a short song: the parts the offline plan rendered equal the
    offline output on both sides of a mid-song preset switch, quick parts are scored apart."""
    write_song(tmp_path / "song.wav", 20.0, seed=16)
    first = _preset(tmp_path / "first.toml", WEIGHTS)
    second = _preset(tmp_path / "second.toml", {"xumx": (0.9, 0.5, 0.5, 0.1), "demucs": (0.1, 0.5, 0.5, 0.9)})
    config = AgreementConfig(
        song=tmp_path / "song.wav",
        preset=str(first),
        switch_to=str(second),
        switch_at=12.0,
        threads=THREADS,
        render=RenderAheadSettings(fallback_rtf=1e9),
    )
    report = run_agreement(config)
    assert report.dry_exact and 12.0 <= report.switched_at < 19.0
    rows = {(row.weights, row.part): row for row in report.rows}
    played = [row for row in report.rows if row.part != "overlaps"]
    assert sum(row.seconds for row in played) == pytest.approx(20.0 - 2 * 256 / SAMPLE_RATE, abs=1e-3)
    assert rows[(str(first), "overlaps")].seconds == 0  # a 20-s song is one plan chunk for these networks
    assert rows[(str(second), "plan")].seconds > 0  # by then the plan has rendered the song on any machine
    for row in report.rows:
        if row.part == "plan" and row.seconds > 0:
            assert min(row.sdr.values()) > 60, row
    assert rows[(str(first), "quick")].seconds == pytest.approx(report.quick_seconds, abs=0.01)
    table = format_agreement(report, config, "test machine")
    assert "| offline plan |" in table and "against itself" in table and "test machine" in table


def test_the_offline_plan_is_scored_against_itself_where_its_chunks_overlap(tmp_path):
    """For scale beside the quick chunks: each overlap of two neighbouring plan chunks, as each of
    them renders it; two different windows, so finite SDRs, over exactly the plan's overlaps."""
    from dannasep.engine.dsp.overlap_add import plan_chunks
    from dannasep.engine.separation.runner import shared_plan
    from dannasep.engine.separation.separator import load_model

    song = write_song(tmp_path / "song.wav", 45.0, seed=17)
    preset = _preset(tmp_path / "first.toml", WEIGHTS)
    row = chunk_overlap_agreement(
        AgreementConfig(song=tmp_path / "song.wav", preset=str(preset), threads=THREADS), song
    )
    estimators = {m: load_model(m, SeparatorConfig(preset=preset)).estimator for m in WEIGHTS}
    plan = shared_plan(estimators)
    chunks = plan_chunks(song.shape[0], plan.segment, plan.overlap)
    overlap = sum(earlier.stop - later.start for earlier, later in itertools.pairwise(chunks))
    assert len(chunks) > 1 and row.seconds == pytest.approx(overlap / SAMPLE_RATE)
    assert row.part == "overlaps" and all(0 < value < 120 for value in row.sdr.values()), row
