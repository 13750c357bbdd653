"""Command line: ``scpairing demo | evaluate | train | pair``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# Training is capped so the full demo takes a few minutes on 2 CPU cores; a stratified subset
# and a shorter cap make ``demo --quick`` a smoke test of well under a minute.
DEMO_EPOCHS = 60
QUICK_CELLS = 2500
QUICK_EPOCHS = 30


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--cutoff", type=float, default=0.8, help="pair similarity cutoff (default 0.8)"
    )
    parser.add_argument("--max-epochs", type=int, default=None, help="cap on training epochs")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scpairing",
        description="Integrate single-cell multiomics data and generate paired data.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="held-out evaluation on the bundled SNARE-seq2 data, with a report"
    )
    demo.add_argument("--out", required=True, type=Path, help="output directory")
    demo.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_CELLS} cells, {QUICK_EPOCHS} epochs instead of {DEMO_EPOCHS} (a smoke test)",
    )
    _add_common(demo)

    evaluate = commands.add_parser(
        "evaluate", help="held-out evaluation of paired RNA + ATAC h5ad files"
    )
    evaluate.add_argument("--rna", required=True, type=Path, help="RNA counts (.h5ad)")
    evaluate.add_argument(
        "--atac", required=True, type=Path, help="ATAC counts (.h5ad), same cells"
    )
    evaluate.add_argument("--out", required=True, type=Path, help="output directory")
    evaluate.add_argument("--label-key", default="cell_type", help="obs column of cell labels")
    evaluate.add_argument("--bridge-fraction", type=float, default=0.3)
    evaluate.add_argument("--links", type=Path, help="genes x peaks links (scipy .npz)")
    _add_common(evaluate)

    train = commands.add_parser("train", help="train a model on a paired bridge")
    train.add_argument("--rna", required=True, type=Path, help="bridge RNA counts (.h5ad)")
    train.add_argument("--atac", required=True, type=Path, help="bridge ATAC counts (.h5ad)")
    train.add_argument("--out", required=True, type=Path, help="model file to write")
    train.add_argument("--latent-dim", type=int, default=10)
    train.add_argument("--batch-key", default=None, help="obs column of batch labels")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--max-epochs", type=int, default=None, help="cap on training epochs")

    pair = commands.add_parser("pair", help="pair unpaired RNA and ATAC cells with a model")
    pair.add_argument("--model", required=True, type=Path, help="model file from `train`")
    pair.add_argument("--rna", required=True, type=Path, help="query RNA counts (.h5ad)")
    pair.add_argument("--atac", required=True, type=Path, help="query ATAC counts (.h5ad)")
    pair.add_argument("--out", required=True, type=Path, help="paired data to write (.h5mu)")
    pair.add_argument(
        "--cutoff", type=float, default=0.8, help="pair similarity cutoff (default 0.8)"
    )
    return parser


def _read_h5ad(path: Path, argname: str):
    import anndata as ad

    if not path.is_file():
        raise FileNotFoundError(f"`{argname}`: no file at {str(path)!r}.")
    return ad.read_h5ad(path)


def _train_kwargs(args: argparse.Namespace) -> dict:
    return {} if args.max_epochs is None else {"max_epochs": args.max_epochs}


def _print_result(result: dict, name: str) -> None:
    from .report import format_table, headline

    print(format_table({name: headline(result)}))
    if "files" in result:
        print(f"report: {result['files']['report']}")


def _demo(args: argparse.Namespace) -> None:
    from . import datasets
    from .report import evaluate_held_out

    rna, atac = datasets.snareseq2_mop()
    links = datasets.snareseq2_mop_links()
    cap = QUICK_EPOCHS if args.quick else DEMO_EPOCHS
    train_kwargs = {"max_epochs": cap if args.max_epochs is None else args.max_epochs}
    if args.quick:
        keep, _ = datasets.bridge_query_split(
            rna.n_obs, rna.obs["cell_type"], bridge_fraction=QUICK_CELLS / rna.n_obs, seed=args.seed
        )
        rna, atac = rna[keep].copy(), atac[keep].copy()
    print(
        f"SNARE-seq2 mouse motor cortex: {rna.n_obs} cells, {rna.n_vars} genes, {atac.n_vars} peaks"
    )
    result = evaluate_held_out(
        rna,
        atac,
        seed=args.seed,
        cutoff=args.cutoff,
        links=links,
        out_dir=args.out,
        train_kwargs=train_kwargs,
        progress=False,
    )
    _print_result(result, "demo" + (" (quick)" if args.quick else ""))


def _evaluate(args: argparse.Namespace) -> None:
    import scipy.sparse as sp

    from .report import evaluate_held_out

    rna = _read_h5ad(args.rna, "--rna")
    atac = _read_h5ad(args.atac, "--atac")
    links = None
    if args.links is not None:
        if not args.links.is_file():
            raise FileNotFoundError(f"`--links`: no file at {str(args.links)!r}.")
        links = sp.load_npz(args.links)
    result = evaluate_held_out(
        rna,
        atac,
        label_key=args.label_key,
        bridge_fraction=args.bridge_fraction,
        seed=args.seed,
        cutoff=args.cutoff,
        links=links,
        out_dir=args.out,
        train_kwargs=_train_kwargs(args),
    )
    _print_result(result, args.rna.stem)


def _train(args: argparse.Namespace) -> None:
    from .model import ScPairing

    data = {"rna": _read_h5ad(args.rna, "--rna"), "atac": _read_h5ad(args.atac, "--atac")}
    model = ScPairing(
        data, batch_key=args.batch_key, latent_dim=args.latent_dim, seed=args.seed
    ).train(**_train_kwargs(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"trained {model!r} for {len(model.history)} epochs; saved to {args.out}")


def _pair(args: argparse.Namespace) -> None:
    from .model import ScPairing
    from .pairing import bridge_pair

    if not args.model.is_file():
        raise FileNotFoundError(f"`--model`: no file at {str(args.model)!r}.")
    model = ScPairing.load(args.model)
    queries = {"rna": _read_h5ad(args.rna, "--rna"), "atac": _read_h5ad(args.atac, "--atac")}
    paired = bridge_pair(model, queries, cutoff=args.cutoff)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import mudata

    with mudata.set_options(pull_on_update=False):  # mudata's future default, no warning
        paired.write(args.out)
    print(f"{paired.n_obs} pairs written to {args.out}")


_COMMANDS = {"demo": _demo, "evaluate": _evaluate, "train": _train, "pair": _pair}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for usage errors, 1 for bad input)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        _COMMANDS[args.command](args)
    except (ValueError, TypeError, KeyError, FileNotFoundError) as error:
        print(f"scpairing {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0
