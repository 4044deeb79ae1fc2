"""User-facing errors: one clear sentence naming the file or value, shown without a traceback."""


class DannaSepError(Exception):
    """An error caused by the user's input or environment, reported as one line by the CLI."""

    exit_code = 2


class AudioInputError(DannaSepError):
    """An input file that cannot be separated (unreadable, empty, truncated, NaN/Inf...)."""


class OutputError(DannaSepError):
    """An output location that cannot be written, or files that would be overwritten."""


class CheckpointError(DannaSepError):
    """A checkpoint that does not match the model it is loaded into, or fails its hash."""


class PresetError(DannaSepError):
    """A fusion preset or model config that is malformed or names unknown models."""
