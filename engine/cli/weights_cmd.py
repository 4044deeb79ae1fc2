"""`dannasep weights list|get|remove|path`: the official weights, fetched, verified and imported."""

import argparse
from pathlib import Path

from tqdm import tqdm

from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.paths import shipped_weights_dir
from dannasep.engine.weights.catalog import CATALOG, RemoteFile, megabytes
from dannasep.engine.weights.download import DownloadOptions
from dannasep.engine.weights.install import catalog_entry, install, installed_sets, read_manifest, remove
from dannasep.engine.weights.location import weights_home
from dannasep.engine.weights.resolve import choose_weights
from dannasep.engine.weights.sidecars import find_checkpoints, read_sidecar


def register(subparsers) -> None:
    fetchable = "\n".join(f"  {e.name:14s} {megabytes(e.approx_bytes):>8s}  {e.title}" for e in CATALOG.values())
    parser = subparsers.add_parser(
        "weights",
        help="list, download (verified and imported), remove the official MUSDB18-trained weights",
        description=(
            "The official weights trained on MUSDB18-HQ, in the user's data folder (DANNASEP_WEIGHTS "
            "overrides it). Once installed, separate, gui, eval and bench use them without flags."
        ),
        epilog=(
            f"fetchable:\n{fetchable}\n\n"
            "examples:\n"
            "  dannasep weights get danna-sep              # the paper's three networks\n"
            "  dannasep weights get demucs48_hq --mirror https://example.org/models/\n"
            "  dannasep weights get danna-sep --mirror ~/Downloads   # files downloaded by hand\n"
            "  dannasep weights list; dannasep weights remove xumx-asteroid"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="action", required=True)
    actions.add_parser("list", help="installed and fetchable weights, and which each command uses").set_defaults(
        handler=run_list
    )
    get = actions.add_parser("get", help="download, verify and import weight sets")
    get.add_argument("names", nargs="+", metavar="NAME", choices=list(CATALOG), help=", ".join(CATALOG))
    get.add_argument(
        "--mirror",
        metavar="URL-or-DIR",
        help="fetch from this URL or folder instead, which holds each file under its original name at its root",
    )
    get.add_argument("--force", action="store_true", help="download and install again even if installed")
    get.add_argument("--retries", type=int, default=3, help="reconnections per file, each resuming (default: 3)")
    get.add_argument("--quiet", action="store_true", help="no progress bar")
    get.set_defaults(handler=run_get)
    rm = actions.add_parser("remove", help="delete an installed weights set")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(handler=run_remove)
    actions.add_parser("path", help="print the weights folder").set_defaults(handler=run_path)


class ByteProgress:
    """A tqdm bar per file, in bytes, with speed and ETA."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bars: dict[str, tqdm] = {}

    def __call__(self, file: RemoteFile, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(file.name)
        if bar is None:
            bar = tqdm(total=total, initial=done, desc=file.name, unit="B", unit_scale=True, unit_divisor=1024)
            self._bars[file.name] = bar
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def run_get(args) -> int:
    progress = ByteProgress(enabled=not args.quiet)
    options = DownloadOptions(mirror=args.mirror, retries=args.retries, progress=progress)
    for name in dict.fromkeys(args.names):
        entry = catalog_entry(name)
        if (weights_home() / name).is_dir() and not args.force:
            print(f"{name}: already installed in {weights_home() / name} (--force downloads it again)")
            continue
        print(f"{name}: {entry.title}; about {megabytes(entry.approx_bytes)} from {entry.source}")
        print(f"{name}: licence {entry.licence}")
        try:
            report = install(entry, options, log=lambda line: tqdm.write(line))
        finally:
            progress.close()
        for path in report.checkpoints:
            print(f"installed {path}")
    return 0


def run_remove(args) -> int:
    folder = remove(args.name)
    print(f"removed {folder}")
    return 0


def run_path(_args) -> int:
    print(weights_home())
    return 0


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _models(folder: Path) -> str:
    stems = sorted(p.name for paths in find_checkpoints(folder).values() for p in paths)
    return ", ".join(stems)


def _origin(folder: Path) -> str:
    """downloaded (a manifest), imported or trained (from the sidecars' training records)."""
    if read_manifest(folder) is not None:
        return "downloaded"
    hows = set()
    for paths in find_checkpoints(folder).values():
        for path in paths:
            training = read_sidecar(path).get("training", {})
            hows.add("imported" if isinstance(training, dict) and training.get("kind") else "trained")
    return "/".join(sorted(hows)) or "?"


def run_list(_args) -> int:
    home = weights_home()
    print(f"installed (in {home}):")
    shipped = shipped_weights_dir()
    size = megabytes(_folder_size(shipped))
    print(f"  {'shipped':14s} {size:>8s}  trained here on synthetic songs; {_models(shipped)}")
    sets = installed_sets()
    for folder in sets:
        manifest = read_manifest(folder) or {}
        licence = manifest.get("licence", "see the source")
        print(f"  {folder.name:14s} {megabytes(_folder_size(folder)):>8s}  {_origin(folder)}; {_models(folder)}")
        print(f"  {'':14s} {'':>8s}  licence: {licence}")
        for item in manifest.get("files", []):
            print(f"  {'':14s} {'':>8s}  {item.get('name')}: sha256 {item.get('sha256')} ({item.get('check')})")
    fetchable = [e for e in CATALOG.values() if not (home / e.name).is_dir()]
    if fetchable:
        print("fetchable (dannasep weights get NAME):")
        for entry in fetchable:
            print(f"  {entry.name:14s} {megabytes(entry.approx_bytes):>8s}  {entry.title}")
            print(f"  {'':14s} {'':>8s}  licence: {entry.licence}; from {entry.source}")
    print("used without --weights:")
    for command, preset, streaming in (
        ("separate, eval, gui export (preset paper)", "paper", False),
        ("live, gui playback, bench live (preset paper)", "paper", True),
    ):
        print(f"  {command}: {_used(preset, streaming)}")
    for preset in ("demucs-v2",):
        print(f"  preset {preset}: {_used(preset, False)}")
    print("  bench offline: seeded random weights (its timings do not depend on the values)")
    return 0


def _used(preset: str, streaming: bool) -> str:
    try:
        choice = choose_weights(None, load_preset(preset).models, streaming=streaming)
        return choice.describe().removeprefix("weights: ")
    except Exception as exc:  # a missing set is a line of the listing, not a failure of it
        return str(exc)
