"""Procedural songs as note lists: deterministic by seed.

A plan has a genre (rock, pop, electronic, hip-hop, jazz, ballad), which sets its tempo range,
swing, drum grooves, bass lines and the instrument families that play; a key and mode, a
four-chord progression looped over the song, a drum groove with fills and crashes, a bass line
that follows the chord roots, one to three "other" instruments (chords, comping, arpeggios,
strums) and a singable melody in 2-bar phrases with rests, chord tones on strong beats. Longer
songs get an arrangement: an intro without vocals and a breakdown without drums, as real songs
have sections where a stem is silent. Times are in seconds.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = (
    (0, 4, 5, 3),
    (5, 3, 0, 4),
    (0, 5, 3, 4),
    (0, 3, 4, 3),
    (1, 4, 0, 0),
    (0, 6, 3, 0),
    (0, 3, 5, 4),
    (3, 4, 0, 5),
    (0, 4, 3, 4),
    (5, 4, 3, 4),
    (0, 2, 3, 4),
    (0, 0, 3, 4),
)
GROOVES = ("rock", "half-time", "four-on-the-floor", "funk", "boom-bap", "jazz-ride", "ballad")
BASS_PATTERNS = ("eighths", "root-fifth", "octaves", "syncopated", "whole", "walking", "sub")
BASS_PROGRAMS = (32, 33, 34, 35, 36, 37, 38, 39)
OTHER_PROGRAMS = {
    "piano": (0, 1, 2, 4, 5),
    "organ": (16, 17, 18, 19),
    "guitar": (24, 25, 26, 27, 29),
    "strings": (48, 49, 50, 51),
    "pad": (88, 89, 90, 91, 92, 94, 95),
    "brass": (56, 57, 61, 62),
    "synth": (80, 81, 84, 87),
    "lead": (80, 81, 82, 83, 84, 85, 86, 87),
}
STYLES = {
    "piano": ("chords", "comping", "arpeggio"),
    "organ": ("chords", "comping"),
    "guitar": ("strum", "comping", "arpeggio"),
    "strings": ("chords",),
    "pad": ("chords",),
    "brass": ("comping", "chords"),
    "synth": ("arpeggio", "comping"),
    "lead": ("arpeggio", "comping"),
}


def song_details(setting) -> dict:
    """A drawn setting (a dataclass) as song.json records it: every field, floats to 4 digits."""
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(setting).items()}


@dataclass(frozen=True)
class Genre:
    """What makes a genre in this generator: tempo, feel, grooves, bass lines and who plays."""

    tempo: tuple[int, int]
    swing: tuple[float, ...]
    minor_share: float
    grooves: tuple[str, ...]
    bass_patterns: tuple[str, ...]
    families: tuple[str, ...]  # "other" instrument families to draw from
    synth_share: float  # share of bass and synth/pad/lead parts played by the numpy synths


GENRES = {
    "rock": Genre(
        (95, 160),
        (0.0,),
        0.4,
        ("rock", "half-time"),
        ("eighths", "root-fifth", "octaves"),
        ("guitar", "guitar", "organ", "piano"),
        0.1,
    ),
    "pop": Genre(
        (90, 130),
        (0.0, 0.0, 0.12),
        0.3,
        ("rock", "four-on-the-floor", "funk"),
        ("eighths", "syncopated", "octaves", "root-fifth"),
        ("piano", "guitar", "strings", "pad", "synth", "brass"),
        0.3,
    ),
    "electronic": Genre(
        (118, 140),
        (0.0,),
        0.5,
        ("four-on-the-floor",),
        ("octaves", "syncopated", "sub", "eighths"),
        ("synth", "pad", "lead", "piano"),
        0.7,
    ),
    "hip-hop": Genre(
        (76, 100),
        (0.1, 0.2, 0.25),
        0.6,
        ("boom-bap",),
        ("sub", "syncopated", "whole"),
        ("piano", "pad", "strings", "synth", "brass"),
        0.5,
    ),
    "jazz": Genre(
        (90, 180), (0.25, 0.33), 0.4, ("jazz-ride",), ("walking",), ("piano", "brass", "guitar", "organ"), 0.0
    ),
    "ballad": Genre(
        (60, 84),
        (0.0, 0.15),
        0.5,
        ("ballad", "half-time"),
        ("whole", "root-fifth"),
        ("piano", "strings", "pad", "guitar"),
        0.2,
    ),
}
SYLLABLES = (
    "la",
    "love",
    "night",
    "you",
    "me",
    "oh",
    "day",
    "go",
    "light",
    "home",
    "way",
    "be",
    "so",
    "now",
    "heart",
    "sky",
    "dream",
    "fire",
    "time",
    "stay",
    "run",
    "sing",
    "high",
    "ride",
)

# GM drum keys
KICK, SIDE_STICK, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46
LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = 45, 47, 50, 49, 51


@dataclass(frozen=True)
class Note:
    start: float
    end: float
    pitch: int
    velocity: int
    lyric: str = ""


@dataclass(frozen=True)
class Part:
    name: str
    program: int
    notes: tuple[Note, ...]
    is_drum: bool = False
    style: str = ""


@dataclass(frozen=True)
class SongPlan:
    seed: int
    seconds: float
    tempo: float
    key: int
    minor: bool
    progression: tuple[int, ...]
    groove: str
    drums: Part
    bass: Part
    others: tuple[Part, ...]
    vocals: Part
    swing: float = 0.0
    genre: str = "pop"
    bass_pattern: str = ""
    sections: tuple[str, ...] = ()
    details: dict = field(default_factory=dict, compare=False)

    @property
    def key_name(self) -> str:
        return f"{KEY_NAMES[self.key]} {'minor' if self.minor else 'major'}"


class _Grid:
    """Positions on a 16th-note grid with swing and a little human timing."""

    def __init__(self, tempo: float, swing: float, rng: np.random.Generator):
        self.sixteenth = 60.0 / tempo / 4
        self.swing = swing
        self.rng = rng

    def time(self, bar: int, step: float, jitter: float = 0.008) -> float:
        t = (bar * 16 + step) * self.sixteenth
        if int(step) % 2 == 1:
            t += self.swing * self.sixteenth
        return max(0.0, t + float(self.rng.normal(0, jitter)))


def _chord(key: int, scale: tuple[int, ...], degree: int, octave: int) -> list[int]:
    """A triad on `degree` of the scale, root in `octave` (MIDI octave numbering, C4 = 60)."""
    notes = []
    for step in (0, 2, 4):
        index = degree + step
        notes.append(12 * (octave + 1) + key + scale[index % 7] + 12 * (index // 7))
    return notes


def _drums(plan_rng, grid: _Grid, groove: str, bars: int) -> list[Note]:
    notes: list[Note] = []
    rng = plan_rng
    hat_16ths = groove == "funk" or rng.random() < 0.3
    ride = rng.random() < 0.2
    for bar in range(bars):
        fill = bar % 4 == 3 and rng.random() < 0.6
        last_step = 8 if fill else 16
        if bar % 4 == 0:
            notes.append(Note(grid.time(bar, 0), grid.time(bar, 0) + 1.0, CRASH, int(rng.integers(95, 120))))
        kicks = {
            "rock": (0, 8, 10) if rng.random() < 0.5 else (0, 8),
            "half-time": (0, 11),
            "four-on-the-floor": (0, 4, 8, 12),
            "funk": (0, 3, 10),
            "boom-bap": (0, 7, 10) if rng.random() < 0.5 else (0, 3, 10),
            "jazz-ride": (0,) if rng.random() < 0.5 else (),
            "ballad": (0, 10) if rng.random() < 0.5 else (0,),
        }[groove]
        snares = {"half-time": (8,), "ballad": (8,), "jazz-ride": (14,) if rng.random() < 0.5 else ()}.get(
            groove, (4, 12)
        )
        for step in kicks:
            if step < last_step:
                notes.append(Note(grid.time(bar, step), grid.time(bar, step) + 0.2, KICK, int(rng.integers(95, 125))))
        for step in snares:
            if step < last_step:
                notes.append(Note(grid.time(bar, step), grid.time(bar, step) + 0.2, SNARE, int(rng.integers(90, 120))))
        if groove == "funk":
            for step in (7, 9, 14):
                if step < last_step and rng.random() < 0.6:
                    notes.append(
                        Note(grid.time(bar, step), grid.time(bar, step) + 0.1, SNARE, int(rng.integers(30, 55)))
                    )
        if groove == "jazz-ride":  # spang-a-lang on the ride, hi-hat foot on 2 and 4
            for step in (0, 4, 7, 8, 12, 15):
                if step < last_step:
                    notes.append(
                        Note(grid.time(bar, step), grid.time(bar, step) + 0.3, RIDE, int(rng.integers(60, 100)))
                    )
            for step in (4, 12):
                notes.append(
                    Note(grid.time(bar, step), grid.time(bar, step) + 0.1, PEDAL_HAT, int(rng.integers(50, 80)))
                )
            hat_steps: range = range(0)
        else:
            hat_steps = range(0, last_step, 1 if hat_16ths else (4 if groove == "ballad" else 2))
        for step in hat_steps:
            key = RIDE if ride else CLOSED_HAT
            if groove == "four-on-the-floor" and step % 4 == 2:
                key = OPEN_HAT
            accent = 100 if step % 4 == 0 else 75
            notes.append(
                Note(
                    grid.time(bar, step), grid.time(bar, step) + 0.1, key, int(np.clip(rng.normal(accent, 8), 40, 127))
                )
            )
        if fill:
            toms = [HIGH_TOM, HIGH_TOM, MID_TOM, MID_TOM, LOW_TOM, LOW_TOM, SNARE, SNARE]
            for i, step in enumerate(range(8, 16)):
                notes.append(
                    Note(grid.time(bar, step), grid.time(bar, step) + 0.15, toms[i], int(rng.integers(85, 120)))
                )
    return notes


def _bass(rng, grid: _Grid, roots: list[int], bars: int, pattern: str) -> list[Note]:
    notes: list[Note] = []
    for bar in range(bars):
        root = roots[bar % len(roots)]
        if pattern == "whole":
            hits = [(0, 16, root)]
        elif pattern == "eighths":
            hits = [(s, 2, root) for s in range(0, 16, 2)]
        elif pattern == "root-fifth":
            hits = [(0, 4, root), (4, 4, root + 7), (8, 4, root), (12, 4, root + 7)]
        elif pattern == "walking":  # quarter notes: root, then steps that lead to the next root
            target = roots[(bar + 1) % len(roots)]
            hits = [
                (0, 4, root),
                (4, 4, root + int(rng.choice([2, 3, 4]))),
                (8, 4, root + 7),
                (12, 4, target + int(rng.choice([-1, 1, 2]))),
            ]
        elif pattern == "sub":  # long low notes with a pickup, as 808 basses
            hits = [(0, 10, root - 12 if root >= 36 else root), (10, 6, root)]
        elif pattern == "octaves":
            hits = [(s, 2, root + (12 if (s // 2) % 2 else 0)) for s in range(0, 16, 2)]
        else:
            hits = [(0, 3, root), (3, 3, root), (6, 2, root + 7), (10, 2, root), (12, 4, root + 12)]
        for step, length, pitch in hits:
            start = grid.time(bar, step)
            notes.append(Note(start, grid.time(bar, step + length, 0.0) - 0.02, pitch, int(rng.integers(85, 115))))
    return notes


def _other(rng, grid: _Grid, chords: list[list[int]], bars: int, style: str) -> list[Note]:
    notes: list[Note] = []
    for bar in range(bars):
        chord = chords[bar % len(chords)]
        if style == "chords":
            for pitch in chord:
                notes.append(Note(grid.time(bar, 0), grid.time(bar, 16, 0.0) - 0.05, pitch, int(rng.integers(60, 90))))
        elif style == "comping":
            for step in (0, 3, 6, 10, 12) if rng.random() < 0.5 else (2, 6, 10, 14):
                for pitch in chord:
                    notes.append(
                        Note(grid.time(bar, step), grid.time(bar, step + 1.5, 0.0), pitch, int(rng.integers(60, 95)))
                    )
        elif style == "arpeggio":
            sequence = [*chord, chord[0] + 12, chord[1] + 12, chord[2], chord[1], chord[0]]
            for step in range(16):
                notes.append(
                    Note(
                        grid.time(bar, step),
                        grid.time(bar, step + 1, 0.0),
                        sequence[step % len(sequence)],
                        int(rng.integers(55, 90)),
                    )
                )
        else:  # strum
            for step in (0, 4, 6, 8, 12, 14):
                for i, pitch in enumerate(chord):
                    start = grid.time(bar, step) + 0.012 * i
                    notes.append(Note(start, grid.time(bar, step + 2, 0.0), pitch, int(rng.integers(60, 95))))
    return notes


def _melody(rng, grid: _Grid, key: int, scale, chords: list[list[int]], bars: int) -> list[Note]:
    low = int(rng.integers(57, 63))
    high = low + int(rng.integers(12, 17))
    pool = [p for p in range(low, high + 1) if (p - key) % 12 in scale]
    notes: list[Note] = []
    current = pool[len(pool) // 2]
    for bar in range(0, bars, 2):
        step = float(rng.choice([0, 2, 4]))
        end_step = 24 + float(rng.choice([0, 2, 4]))  # sing about a bar and a half, then breathe
        while step < end_step:
            length = float(rng.choice([2, 2, 4, 4, 6, 8]))
            length = min(length, end_step - step)
            absolute_bar = bar + int(step // 16)
            if absolute_bar >= bars:
                break
            chord = chords[absolute_bar % len(chords)]
            if step % 8 == 0:  # strong beats: a chord tone near the current note
                candidates = [p for p in pool if (p - chord[0]) % 12 in {(c - chord[0]) % 12 for c in chord}]
            else:
                index = pool.index(current) if current in pool else len(pool) // 2
                candidates = pool[max(0, index - 2) : index + 3]
            current = int(min(candidates, key=lambda p: abs(p - current) + rng.random() * 3))
            start = grid.time(bar, step, 0.004)
            end = grid.time(bar, step + length, 0.0) - 0.03
            notes.append(Note(start, end, current, int(rng.integers(80, 110)), str(rng.choice(SYLLABLES))))
            step += length
    return notes


def _arrangement(rng, bars: int) -> tuple[str, ...]:
    """A section name per bar: an intro without vocals and a breakdown without drums, in songs
    long enough to still have every stem sound in most bars."""
    sections = ["main"] * bars
    if bars >= 8 and rng.random() < 0.6:
        sections[0] = "intro"
    if bars >= 10 and rng.random() < 0.5:
        start = int(rng.integers(bars // 2, bars - 3))
        sections[start : start + 2] = ["breakdown", "breakdown"]
    return tuple(sections)


def _silence(notes: list[Note], grid: _Grid, sections: tuple[str, ...], silent_in: str) -> tuple[Note, ...]:
    bar_seconds = 16 * grid.sixteenth
    return tuple(n for n in notes if sections[min(int(n.start / bar_seconds), len(sections) - 1)] != silent_in)


def plan_song(seed: int, seconds: float) -> SongPlan:
    rng = np.random.default_rng(seed)
    genre_name = str(rng.choice(list(GENRES)))
    genre = GENRES[genre_name]
    tempo = float(rng.integers(genre.tempo[0], genre.tempo[1] + 1))
    key = int(rng.integers(12))
    minor = bool(rng.random() < genre.minor_share)
    scale = MINOR if minor else MAJOR
    progression = tuple(PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))])
    groove = str(rng.choice(genre.grooves))
    swing = float(rng.choice(genre.swing))
    grid = _Grid(tempo, swing, rng)
    bar_seconds = 16 * grid.sixteenth
    bars = int(np.ceil(seconds / bar_seconds)) + 1
    sections = _arrangement(rng, bars)
    chords = [_chord(key, scale, d, 4) for d in progression]
    roots = [_chord(key, scale, d, 2)[0] for d in progression]
    drum_notes = _silence(_drums(rng, grid, groove, bars), grid, sections, "breakdown")
    drums = Part("drums", 0, drum_notes, is_drum=True, style=groove)
    bass_pattern = str(rng.choice(genre.bass_patterns))
    bass = Part(
        "bass", int(rng.choice(BASS_PROGRAMS)), tuple(_bass(rng, grid, roots, bars, bass_pattern)), style=bass_pattern
    )
    others = []
    families = sorted(set(genre.families))
    for family in rng.choice(families, size=int(rng.integers(1, min(3, len(families)) + 1)), replace=False):
        style = str(rng.choice(STYLES[str(family)]))
        octave_shift = 12 if family in ("synth", "lead") and style == "arpeggio" else 0
        shifted = [[p + octave_shift for p in chord] for chord in chords]
        program = int(rng.choice(OTHER_PROGRAMS[str(family)]))
        others.append(Part(str(family), program, tuple(_other(rng, grid, shifted, bars, style)), style=style))
    melody = _silence(_melody(rng, grid, key, scale, chords, bars), grid, sections, "intro")
    vocals = Part("vocals", int(rng.choice([52, 53, 54])), melody)
    return SongPlan(
        seed,
        seconds,
        tempo,
        key,
        minor,
        progression,
        groove,
        drums,
        bass,
        tuple(others),
        vocals,
        swing,
        genre_name,
        bass_pattern,
        sections,
    )
