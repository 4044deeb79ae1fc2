"""`dannasep train`: train one model on a MUSDB18-HQ-layout folder (real or synthetic)."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dannasep.engine.cli.common import set_threads
from dannasep.engine.errors import DannaSepError
from dannasep.engine.models.checkpoint import load_checkpoint
from dannasep.engine.models.configs import load_model_config
from dannasep.training.data.musdb import DatasetError, list_tracks
from dannasep.training.trainer.config import as_dict, load_training_config
from dannasep.training.trainer.distributed import setup_distributed, shutdown_distributed
from dannasep.training.trainer.loop import STATE_FILE, RunData, Trainer, git_commit, input_statistics


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on a MUSDB18-HQ-layout folder (resumable, multi-GPU via torchrun)",
        description=(
            "Train one network with the authors' losses and schedules. The data folder has the MUSDB18-HQ "
            "layout (real MUSDB18-HQ, or songs made by 'dannasep synth'). Checkpoints every epoch; best "
            "weights by validation SDR are exported to RUN_DIR/best in the project's format. For several "
            "GPUs or nodes, launch with torchrun (nccl on GPU, gloo on CPU)."
        ),
        epilog=(
            "examples:\n"
            "  dannasep train --model demucs --config presets/models/demucs-live.toml --data data/synth --out runs/d\n"
            "  dannasep train ... --out runs/d --resume            # continue an interrupted run\n"
            "  torchrun --nproc_per_node 4 -m dannasep.training.trainer.cli --model unet --config ... --device cuda"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="architecture: xumx, unet, demucs or demucs_v2")
    parser.add_argument(
        "--config", required=True, type=Path, help="model config TOML (presets/models/NAME-CONFIG.toml)"
    )
    parser.add_argument(
        "--recipe",
        type=Path,
        metavar="TOML",
        help="a [training] table over the config's (e.g. presets/training/xumx-live-gpu.toml)",
    )
    parser.add_argument("--data", required=True, type=Path, help="MUSDB18-HQ-layout folder")
    parser.add_argument("--out", required=True, type=Path, help="run folder (state, logs, best weights)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument(
        "--init", type=Path, metavar="CHECKPOINT", help="start from these weights (e.g. an imported asteroid X-UMX)"
    )
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data order, augmentation and init")
    parser.add_argument("--threads", type=int, help="CPU threads per process")
    parser.add_argument(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        help="stop at the last epoch boundary inside this wall time (state kept: --resume continues)",
    )
    over = parser.add_argument_group("overrides of the config's [training] table")
    over.add_argument("--epochs", type=int)
    over.add_argument("--batch-size", type=int)
    over.add_argument("--samples-per-track", type=int)
    over.add_argument("--segment-seconds", type=float)
    over.add_argument("--learning-rate", type=float)
    over.add_argument("--workers", type=int, help="data loader processes")
    over.add_argument(
        "--data-in-memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="hold the training stems on the device and cut batches there (no loader processes)",
    )
    over.add_argument(
        "--amp",
        choices=("off", "float16", "bfloat16"),
        help="mixed precision: float16 (CUDA, gradient scaling) or bfloat16 (CUDA or CPU)",
    )


def run(args) -> int:
    dist_ctx = setup_distributed(args.device)
    try:
        return _run(args, dist_ctx)
    finally:
        shutdown_distributed(dist_ctx)


def _run(args, dist_ctx) -> int:
    set_threads(args.threads)
    model_config = load_model_config(args.config)
    if model_config.architecture != args.model:
        raise DannaSepError(f"{args.config} is a {model_config.architecture!r} config, not {args.model!r}")
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "samples_per_track": args.samples_per_track,
        "segment_seconds": args.segment_seconds,
        "learning_rate": args.learning_rate,
        "workers": args.workers,
        "data_in_memory": args.data_in_memory,
        "amp": None if args.amp is None else args.amp != "off",
        "amp_dtype": None if args.amp in (None, "off") else args.amp,
    }
    config = load_training_config(args.config, args.model, overrides, args.recipe)
    train, train_problems = list_tracks(args.data, "train")
    valid, valid_problems = list_tracks(args.data, "valid")
    skipped = train_problems + valid_problems
    if dist_ctx.is_main:
        for problem in skipped:
            print(f"skipping track {problem}", file=sys.stderr)
    if not train:
        raise DatasetError(f"{args.data}: no usable training tracks ({len(skipped)} skipped)")
    state = args.out / STATE_FILE
    if state.exists() and not args.resume:
        raise DannaSepError(f"{args.out} already holds a run; pass --resume to continue it or choose another --out")
    if args.resume and not state.exists():
        raise DannaSepError(f"{args.out}: nothing to resume (no {STATE_FILE})")

    torch.manual_seed(args.seed)
    continues = None
    if args.init:
        model = load_checkpoint(args.init, architecture=args.model)
        continues = {"weights": args.init.name, **model.checkpoint_info.get("training", {})}
    else:
        model = model_config.build()
        if config.normalise_input and hasattr(model, "input_means"):
            mean, std = input_statistics(train, model.max_bins, args.seed)
            with torch.no_grad():
                model.input_means.copy_(torch.from_numpy(np.tile(-mean, 4)).float())
                model.input_scale.copy_(torch.from_numpy(np.tile(1.0 / std, 4)).float())
    trainer = Trainer(
        model,
        config,
        RunData(args.data, train, valid, skipped),
        args.out,
        args.seed,
        args.device,
        dist_ctx,
        continues=continues,
    )
    if args.resume:
        trainer.resume()
    elif dist_ctx.is_main:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "run.json").write_text(
            json.dumps(
                {
                    "model": args.model,
                    "config_file": str(args.config),
                    "recipe_file": str(args.recipe) if args.recipe else None,
                    "config_name": model_config.name,
                    "training": as_dict(config),
                    "data": str(args.data),
                    "seed": args.seed,
                    "device": args.device,
                    "init": str(args.init) if args.init else None,
                    "commit": git_commit(),
                    "world_size": dist_ctx.world_size,
                },
                indent=2,
            )
            + "\n"
        )
    if dist_ctx.is_main:
        print(trainer.describe())
    last = trainer.fit(budget_seconds=None if args.time_budget is None else args.time_budget * 60)
    if dist_ctx.is_main:
        if skipped:
            print(f"{len(skipped)} track(s) were skipped (listed above)")
        print(
            f"done: best validation SDR {trainer.best_sdr:.2f} dB at epoch {trainer.best_epoch}; "
            f"weights in {args.out / 'best'}; log {args.out / 'log.csv'}; curves {args.out / 'loss.png'}"
        )
    return 0 if last is not None else 1


if __name__ == "__main__":
    from dannasep.engine.cli import main as _main

    sys.exit(_main(["train", *sys.argv[1:]]))
