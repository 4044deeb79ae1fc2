"""Training settings, read from the ``[training]`` table of a model config TOML.

Defaults follow the authors' recipe for each architecture; every field can be set
in the TOML, and the CLI overrides a few for quick runs.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import tomllib

from dannasep.engine.errors import PresetError
from dannasep.engine.models.base import config_from_dict

SCHEDULES = ("multistep", "plateau", "constant")
AMP_DTYPES = ("float16", "bfloat16")
LOSSES = ("combination", "l1")


@dataclass(frozen=True)
class TrainingConfig:
    segment_seconds: float = 6.0
    samples_per_track: int = 64
    batch_size: int = 4
    accumulation: int = 1
    epochs: int = 70
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    schedule: str = "multistep"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.3
    plateau_patience: int = 500
    loss: str = "combination"
    wiener_iterations: int = 0
    """EM iterations of the Wiener filter inside the loss (X-UMX trains through 1)."""
    validation_wiener_iterations: int = 0
    validation_seconds: float = 0.0
    """Length of validation segments; 0 uses segment_seconds."""
    amp: bool = False
    """Mixed precision in `amp_dtype`: float16 (with gradient scaling) on CUDA only, bfloat16 on CUDA or CPU."""
    amp_dtype: str = "float16"
    workers: int = 2
    """Data loader processes (unused with data_in_memory)."""
    data_in_memory: bool = False
    """Hold every training stem on the training device and cut batches there (training/data/memory.py)."""
    speed_perturb_probability: float = 0.0
    random_mix: bool = True
    normalise_input: bool = False
    """Initialise X-UMX's input mean/scale from training-set magnitude statistics."""

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise PresetError(f"[training] schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        if self.loss not in LOSSES:
            raise PresetError(f"[training] loss must be one of {LOSSES}, not {self.loss!r}")
        if self.amp_dtype not in AMP_DTYPES:
            raise PresetError(f"[training] amp_dtype must be one of {AMP_DTYPES}, not {self.amp_dtype!r}")
        if self.data_in_memory and self.speed_perturb_probability > 0:
            raise PresetError("[training] speed_perturb_probability needs data_in_memory = false (resampling)")
        if min(self.batch_size, self.accumulation, self.epochs, self.samples_per_track) < 1:
            raise PresetError("[training] batch_size, accumulation, epochs and samples_per_track must be >= 1")


DEFAULTS = {
    "xumx": dict(
        segment_seconds=6.0,
        samples_per_track=64,
        batch_size=4,
        epochs=70,
        learning_rate=1e-4,
        weight_decay=1e-5,
        schedule="multistep",
        milestones=(45,),
        loss="combination",
        wiener_iterations=1,
        validation_wiener_iterations=1,
        normalise_input=True,
    ),
    "unet": dict(
        segment_seconds=11.88,
        samples_per_track=32,
        batch_size=16,
        epochs=700,
        learning_rate=2e-4,
        schedule="multistep",
        milestones=(560,),
        loss="combination",
    ),
    "demucs": dict(
        segment_seconds=10.0,
        samples_per_track=150,
        batch_size=3,
        accumulation=21,
        epochs=340,
        learning_rate=3e-4,
        schedule="plateau",
        plateau_patience=500,
        loss="l1",
        amp=True,
    ),
    "demucs_v2": dict(
        segment_seconds=10.0,
        samples_per_track=150,
        batch_size=4,
        epochs=360,
        learning_rate=3e-4,
        schedule="constant",
        loss="l1",
    ),
}


def load_training_config(
    path: Path, architecture: str, overrides: dict | None = None, recipe: Path | None = None
) -> TrainingConfig:
    """The architecture's defaults, then the model TOML's [training] table, then the [training]
    table of a `recipe` TOML (presets/training/), then `overrides`."""
    data = _training_table(path)
    recipe_data = _training_table(recipe) if recipe is not None else {}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values = {**DEFAULTS.get(architecture, {}), **data, **recipe_data, **given}
    where = f"{path} [training]" + (f" + {recipe} [training]" if recipe is not None else "")
    return config_from_dict(TrainingConfig, values, where)


def _training_table(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text()).get("training", {})
    except OSError as exc:
        raise PresetError(f"cannot read {path} ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML ({exc})") from exc


def as_dict(config: TrainingConfig) -> dict:
    return dataclasses.asdict(config)
