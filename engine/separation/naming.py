"""Where stems go: an output folder plus a name template.

Placeholders: {track} (input file name without extension), {stem} (drums, bass, other, vocals),
{index} (1-4 in that order), {ext} (wav or flac), {preset}. The default "{track}/{stem}.{ext}"
gives one folder per input, as Demucs does.
"""

import string
from dataclasses import dataclass
from pathlib import Path

from dannasep.engine.constants import SOURCES
from dannasep.engine.errors import OutputError

DEFAULT_TEMPLATE = "{track}/{stem}.{ext}"
PLACEHOLDERS = ("track", "stem", "index", "ext", "preset")


@dataclass(frozen=True)
class OutputNaming:
    out_dir: Path
    template: str = DEFAULT_TEMPLATE
    ext: str = "wav"
    preset: str = "paper"
    overwrite: bool = False

    def __post_init__(self):
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(self.template) if name is not None}
        except ValueError as exc:
            raise OutputError(f"name template {self.template!r} is malformed ({exc})") from exc
        unknown = sorted(fields - set(PLACEHOLDERS))
        if unknown:
            raise OutputError(
                f"name template {self.template!r} uses unknown placeholders {unknown}; "
                f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
        if "stem" not in fields and "index" not in fields:
            raise OutputError(f"name template {self.template!r} must contain {{stem}} or {{index}}")

    def target(self, track: str, stem: str) -> Path:
        name = self.template.format(
            track=track, stem=stem, index=SOURCES.index(stem) + 1, ext=self.ext, preset=self.preset
        )
        path = Path(name)
        if path.is_absolute() or ".." in path.parts:
            raise OutputError(f"name template {self.template!r} must stay inside the output folder")
        return self.out_dir / path

    def targets(self, input_path: Path, stems: tuple[str, ...]) -> dict[str, Path]:
        return {stem: self.target(Path(input_path).stem, stem) for stem in stems}

    def check_free(self, targets: dict[str, Path]) -> None:
        if self.overwrite:
            return
        taken = [p for p in targets.values() if p.exists()]
        if taken:
            raise OutputError(
                f"{taken[0]} already exists; pass --overwrite to replace it"
                + (f" (and {len(taken) - 1} more)" if len(taken) > 1 else "")
            )
