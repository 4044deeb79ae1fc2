"""Read a foreign torch file without running its code: ``torch.load(weights_only=True)`` only.

Every failure becomes one `CheckpointError` sentence naming the file. The safe unpickler accepts
tensors, plain containers, numbers, strings, bytes and None; anything that names a Python class or
function (a pickled model, demucs' package format with its ``klass``, an argparse Namespace) is
refused rather than retried unsafely, because loading it could run arbitrary code.
"""

import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch.torch_version import TorchVersion

from dannasep.engine.errors import CheckpointError

# torch.save's zip container starts with a local file header; the legacy (pre-1.6) format starts
# with a protocol-2 pickle of torch's magic number 0x1950a86a20f9469cfc6c.
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"
# torch's refusal names the offending global as "GLOBAL module.name was not an allowed global"
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
# asteroid's serialize() records torch.__version__, a str subclass since torch 1.10; rebuilding it
# runs no code beyond str's constructor
_SAFE_GLOBALS = [TorchVersion]


def load_torch_file(path: Path) -> Any:
    """The object `path` holds, loaded on CPU by torch's weights-only unpickler."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(_LEGACY_MAGIC))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise CheckpointError(f"{path}: the file is empty")
    try:
        with warnings.catch_warnings():
            # protocol-4 pickles (plain pickle.dump) trigger a warning before the refusal we explain
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            with torch.serialization.safe_globals(_SAFE_GLOBALS):
                loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types here (KeyError, EOFError, RuntimeError...)
        raise _explain(path, head, exc) from exc
    if _is_quantized_demucs(loaded):
        raise CheckpointError(
            f"{path}: is a quantized demucs file ({{'compressed': ...}}), and quantized demucs files "
            "are not supported; use the full-precision release (e.g. demucs48_hq)"
        )
    return loaded


def _explain(path: Path, head: bytes, exc: Exception) -> CheckpointError:
    message = str(exc)
    refused = _GLOBAL.search(message) if "Weights only load failed" in message else None
    if refused:
        hint = "re-save the bare state dict (torch.save(model.state_dict(), path)) and import that"
        if _looks_like_demucs_package(path):
            hint = (
                "it looks like a demucs package {klass, args, kwargs, state, ...}: pass the bare state "
                'dict instead, e.g. torch.save(pkg["state"], "state.th")'
            )
        return CheckpointError(
            f"{path}: references Python code such as {refused.group(1)} and is refused because loading "
            f"it could run arbitrary code; {hint}"
        )
    if head.startswith(_ZIP_MAGIC) or head.startswith(_LEGACY_MAGIC):
        # torch's first sentence says what broke; the rest is advice about how files get corrupted
        detail = message.split(". ")[0].strip() if message else type(exc).__name__
        return CheckpointError(f"{path}: is a truncated or corrupt torch file ({detail})")
    return CheckpointError(f"{path}: is not a torch file (torch.save output) that can be loaded safely")


def _looks_like_demucs_package(path: Path) -> bool:
    """Whether the pickle inside `path` has demucs' package keys, read as bytes (never unpickled)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                data = archive.read(pickles[0]) if pickles else b""
        else:
            data = path.read_bytes()[: 1 << 20]  # the legacy format's pickle comes first
    except (OSError, zipfile.BadZipFile):
        return False
    return all(key in data for key in (b"klass", b"kwargs", b"state"))


def _is_quantized_demucs(loaded: Any) -> bool:
    return isinstance(loaded, dict) and isinstance(loaded.get("compressed"), bytes)
