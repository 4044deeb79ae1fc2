"""`dannasep bench agreement`: does render-ahead playback play what `dannasep separate` writes?

One song is played once from the start through `RenderAheadEngine` on a JACK server with its dummy
driver, recorded with `--record`'s recorder (only blocks that played are recorded, so sample i of a
recording is sample i of the song). Halfway through (or at `switch_at`), the fusion weights switch
to a second preset, as a producer switching presets mid-song would. Then `dannasep separate` writes
the song's stems once with each preset's weights, and each recorded stem is scored against the
offline stems of the weights in force when it played (SDR of the recording against the offline
output, dB), separately for what the offline plan rendered and for what quick chunks rendered
(the callback logs which played blocks came from quick chunks). One block on each side of the
switch is left out: the block it fell in mixes both.

For scale, the offline path is also scored against itself: where two neighbouring plan chunks
overlap, each renders the same samples from a different window. How far they differ is how much
the offline output depends on where its chunks fall, a bound for any quick chunk, whose window is
shorter still.
"""

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.audio.reader import AudioInput
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.control.commands import SetWeights
from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.renderahead.engine import MODE_RENDER, RenderAheadEngine
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.streaming.config import LiveConfig

PARTS = ("plan", "quick", "overlaps")


@dataclass(frozen=True)
class AgreementConfig:
    song: Path
    preset: str = "paper"
    switch_to: str = "searched"
    switch_at: float | None = None
    """Seconds of playing before the switch (default: half the song)."""
    weights_dir: Path | None = None
    size: str | None = None
    precision: str = "auto"
    threads: int = 2
    blocksize: int = 256
    timeout: float = 900.0
    """Seconds of wall time the playing may take (buffering included)."""
    render: RenderAheadSettings = field(default_factory=RenderAheadSettings)


@dataclass
class AgreementRow:
    weights: str
    """The preset in force."""
    part: str
    """"plan", "quick" or "overlaps" (the offline plan's neighbouring chunks against each other)."""
    seconds: float
    """How much of the song this row scores."""
    sdr: dict[str, float]
    """Per stem, dB; empty when `seconds` is 0."""
    below_song: dict[str, float]
    """Per stem, how far (dB) the difference from the offline stem lies below the song over the
    same samples: meaningful where the stem itself is nearly silent, and SDR is not."""


@dataclass
class AgreementReport:
    rows: list[AgreementRow]
    switched_at: float
    """Seconds into the song where the second preset's weights were first heard."""
    dry_exact: bool
    """The recorded dry mix equals the song sample for sample."""
    first_sound_ms: float | None
    engine_underruns: int
    quick_seconds: float


def sdr(reference: np.ndarray, estimate: np.ndarray, level: np.ndarray | None = None) -> float:
    """10 log10(|level|^2 / |reference - estimate|^2) in dB, `level` defaulting to `reference` (SDR)."""
    level = reference if level is None else level
    error = float(np.sum((reference.astype(np.float64) - estimate) ** 2))
    return float(10 * np.log10(max(float(np.sum(level.astype(np.float64) ** 2)), 1e-30) / max(error, 1e-30)))


def _play(config: AgreementConfig, record: Path) -> tuple[int, list[tuple[int, int]], object]:
    """Plays the song once; returns (where the switch was first heard, quick spans, final status)."""
    live = LiveConfig(
        source=config.song,
        preset=config.preset,
        weights_dir=config.weights_dir,
        size=config.size,
        precision=config.precision,
        threads=config.threads,
        blocksize=config.blocksize,
        record_dir=record,
    )
    engine = RenderAheadEngine(live, config.render)
    length = engine.audio.shape[0]
    switch_at = round(config.switch_at * SAMPLE_RATE) if config.switch_at is not None else length // 2
    with jack_server(name="dannasep-agreement", playback_ports=2, period=config.blocksize):
        engine.start()
        try:
            deadline = time.monotonic() + config.timeout
            callback = engine.render_callback
            while callback.position < switch_at and not engine.finished:
                _check(engine, deadline)
            before = callback.weights_taken_at
            engine.control.apply([SetWeights.of(load_preset(config.switch_to))], source="bench")
            while callback.weights_taken_at == before:
                _check(engine, deadline)
            switched = callback.weights_taken_at
            while not engine.finished:
                _check(engine, deadline)
            status = engine.status()
            quick = callback.quick_played_spans()
        finally:
            engine.stop()
    if status.mode != MODE_RENDER:
        raise DannaSepError(f"playback fell back to streaming ({status.fallback}): nothing to compare")
    return switched, quick, status


def _check(engine: RenderAheadEngine, deadline: float) -> None:
    if time.monotonic() > deadline:
        raise DannaSepError("the song did not finish playing in time (is the machine very busy?)")
    engine.check_health()
    time.sleep(0.01)


def separate(config: AgreementConfig, preset: str, out: Path) -> np.ndarray:
    """`dannasep separate` with `preset`, float WAV; returns (4, time, 2) stems."""
    command = [sys.executable, "-m", "dannasep.engine.cli", "separate", str(config.song), "-o", str(out)]
    command += ["--preset", preset, "--bits", "float", "--quiet", "--precision", config.precision]
    command += ["--threads", str(config.threads), "--name", "{stem}.{ext}"]
    command += ["--weights", str(config.weights_dir) if config.weights_dir is not None else "shipped"]
    if config.size is not None:
        command += ["--size", config.size]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return np.stack([sf.read(str(out / f"{stem}.wav"), dtype="float32")[0] for stem in SOURCES])


def chunk_overlap_agreement(config: AgreementConfig, song: np.ndarray) -> AgreementRow:
    """Scores, with the first preset's weights, each overlap of two neighbouring plan chunks as the
    earlier chunk renders it (reference) against as the later one does. song: (time, 2)."""
    import torch

    from dannasep.engine.dsp.overlap_add import plan_chunks
    from dannasep.engine.separation.config import SeparatorConfig
    from dannasep.engine.separation.fusion import fuse
    from dannasep.engine.separation.runner import ArrayReader, chunk_stems, shared_plan
    from dannasep.engine.separation.separator import load_model

    preset = load_preset(config.preset)
    separator = SeparatorConfig(
        preset=config.preset, weights_dir=config.weights_dir, size=config.size, precision=config.precision
    )
    torch.set_num_threads(config.threads)
    estimators = {arch: load_model(arch, separator).estimator for arch in preset.models}
    plan = shared_plan(estimators)
    reader = ArrayReader(song.T)
    chunks = plan_chunks(reader.length, plan.segment, plan.overlap)

    def rendered(chunk) -> np.ndarray:
        stems = {arch: chunk_stems(reader, est, chunk, plan.contexts[arch]) for arch, est in estimators.items()}
        return fuse(stems, preset).numpy()

    earlier, later, level = [], [], []
    previous = None
    for chunk in chunks:
        current = rendered(chunk)
        if previous is not None:
            before, stems = previous
            start, stop = chunk.start, before.stop
            earlier.append(stems[..., start - before.start : stop - before.start])
            later.append(current[..., : stop - start])
            level.append(song[start:stop].T)
        previous = chunk, current
    if not earlier:
        return AgreementRow(config.preset, "overlaps", 0.0, {}, {})
    a, b, level = np.concatenate(earlier, -1), np.concatenate(later, -1), np.concatenate(level, -1)
    return AgreementRow(
        config.preset,
        "overlaps",
        a.shape[-1] / SAMPLE_RATE,
        {stem: sdr(a[i], b[i]) for i, stem in enumerate(SOURCES)},
        {stem: sdr(a[i], b[i], level) for i, stem in enumerate(SOURCES)},
    )


def run_agreement(config: AgreementConfig) -> AgreementReport:
    with tempfile.TemporaryDirectory(prefix="dannasep-agreement-") as folder:
        folder = Path(folder)
        switched, quick, status = _play(config, folder / "rec")
        recorded = {
            name: sf.read(str(folder / "rec" / f"{name}.wav"), dtype="float32")[0] for name in (*SOURCES, "dry")
        }
        offline = {
            p: separate(config, p, folder / f"offline-{i}") for i, p in enumerate((config.preset, config.switch_to))
        }
    length = offline[config.preset].shape[1]
    with AudioInput.open(config.song) as source:
        song = source.read_all().T
    played_quick = np.zeros(length, dtype=bool)
    for start, stop in quick:
        played_quick[start:stop] = True
    block = config.blocksize
    positions = np.arange(length)
    in_force = {
        config.preset: positions < switched - block,
        config.switch_to: positions >= switched + block,
    }
    rows = []
    for preset, span in in_force.items():
        for part, mask in zip(PARTS[:2], (~played_quick, played_quick), strict=True):
            scored = span & mask
            scores, below = {}, {}
            if scored.any():
                for i, stem in enumerate(SOURCES):
                    scores[stem] = sdr(offline[preset][i][scored], recorded[stem][:length][scored])
                    below[stem] = sdr(offline[preset][i][scored], recorded[stem][:length][scored], song[scored])
            rows.append(AgreementRow(preset, part, float(scored.sum()) / SAMPLE_RATE, scores, below))
    rows.append(chunk_overlap_agreement(config, song))
    return AgreementReport(
        rows=rows,
        switched_at=switched / SAMPLE_RATE,
        dry_exact=bool(np.array_equal(recorded["dry"][:length], song)),
        first_sound_ms=status.first_sound_ms,
        engine_underruns=status.underruns,
        quick_seconds=float(played_quick.sum()) / SAMPLE_RATE,
    )


PART_NAMES = {
    "plan": "offline plan",
    "quick": "quick chunks",
    "overlaps": "offline plan against itself (its chunks' overlaps)",
}


def format_agreement(report: AgreementReport, config: AgreementConfig, machine: str) -> str:
    lines = [
        f"Render-ahead playback of {config.song.name} (recorded, whole song) against `dannasep separate`, "
        f"SDR in dB of the recording against the offline stems of the weights in force (in brackets: how far "
        f"the difference lies below the song, which stays meaningful where a stem is nearly silent); `{config.preset}` "
        f"until {report.switched_at:.2f} s, then `{config.switch_to}`. "
        f"First sound {report.first_sound_ms or 0:.0f} ms, "
        f"{report.quick_seconds:.2f} s played from quick chunks, {report.engine_underruns} engine under-runs, "
        f"dry mix {'sample-exact' if report.dry_exact else 'NOT sample-exact'}. Machine: {machine}.",
        "",
        "| weights | rendered by | seconds | " + " | ".join(SOURCES) + " |",
        "|---|---|---:|" + "---:|" * len(SOURCES),
    ]
    for row in report.rows:
        cells = [f"{row.sdr[s]:.1f} ({row.below_song[s]:.0f})" if s in row.sdr else "-" for s in SOURCES]
        part = PART_NAMES[row.part]
        lines.append(f"| {row.weights} | {part} | {row.seconds:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
