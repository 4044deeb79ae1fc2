"""`dannasep models`: the architectures and configurations available, with their sizes."""

from dannasep.engine.models.configs import list_model_configs
from dannasep.engine.paths import shipped_weights_dir
from dannasep.engine.weights.sidecars import find_checkpoints


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list model architectures and configs with parameter counts and sizes",
        description="List every model config in presets/models with its parameter count, fp32 size "
        "and whether shipped weights exist for it.",
    )
    parser.set_defaults(handler=run)


def run(_args) -> int:
    shipped = {p.stem for paths in find_checkpoints(shipped_weights_dir()).values() for p in paths}
    rows = []
    for config in list_model_configs():
        model = config.build()
        params = model.num_parameters()
        rows.append(
            (
                config.architecture,
                config.name,
                f"{params:,}",
                f"{params * 4 / 2**20:.1f}",
                "yes" if config.key in shipped else "no",
                config.description,
            )
        )
    header = ("name", "config", "parameters", "fp32 MB", "weights", "description")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [
            str(c).rjust(w) if i in (2, 3) else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join([*cells, str(row[-1])]))
    return 0
