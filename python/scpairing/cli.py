"""Command line: ``scpairing demo | evaluate | train | pair``.

Every user error is one line on stderr, ``scpairing: error: <message>``, and a non-zero exit
status: 2 for a usage error (a missing or malformed option, a value out of range), 1 for bad
input (a missing, unreadable or wrong kind of file, data scpairing refuses, an output that
cannot be written). Options, inputs and outputs are all checked before any training starts.
Unexpected internal errors still show their traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# Training is capped so the full demo takes a few minutes on 2 CPU cores; a stratified subset
# and a shorter cap make ``demo --quick`` a smoke test of well under a minute.
DEMO_EPOCHS = 60
QUICK_CELLS = 2500
QUICK_EPOCHS = 30
MAX_SEED = 2**32 - 1

EXIT_INPUT = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the command's input that the user can fix; printed as one line."""

    def __init__(self, message: str, status: int = EXIT_INPUT):
        super().__init__(message)
        self.status = status


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _fail(message: str, status: int) -> NoReturn:
    print(f"scpairing: error: {_one_line(message)}", file=sys.stderr)
    raise SystemExit(status)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``scpairing: error: ... (see 'PROG --help')``."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see '{self.prog} --help')", EXIT_USAGE)


# ------------------------------------------------------------------------------ option types
def _integer(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be {bounds}; got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _number(low: float, high: float, *, low_open: bool = False, high_open: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if not math.isfinite(value) or too_low or too_high:
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"must be a number in {interval}; got {text}")
        return value

    parse.__name__ = "number"
    return parse


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _add_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", type=_integer(0, MAX_SEED), default=0, help="random seed (default 0)"
    )


def _add_cutoff(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cutoff",
        type=_number(-1.0, 1.0),
        default=0.8,
        help="pair similarity cutoff, a cosine similarity in [-1, 1] (default 0.8)",
    )


def _add_max_epochs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-epochs", type=_integer(1), default=None, help="cap on training epochs (>= 1)"
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    _add_seed(parser)
    _add_cutoff(parser)
    _add_max_epochs(parser)


MODALITIES = ("rna", "atac", "protein")
_WHAT = {"rna": "RNA", "atac": "ATAC", "protein": "protein (ADT)"}
_REDUCTION = {
    "rna": ("RNAReduction", "PCA", 50),
    "atac": ("ATACReduction", "LSI", 200),
    "protein": ("ProteinReduction", "PCA", 20),
}


def _add_components(parser: argparse.ArgumentParser, modalities: Sequence[str]) -> None:
    for m in modalities:
        name, method, default = _REDUCTION[m]
        parser.add_argument(
            f"--{m}-components",
            type=_integer(1),
            default=None,
            metavar="N",
            help=f"components of the {_WHAT[m]} {method} fitted on the bridge (default "
            f"{default}, capped at half the bridge cells on a small bridge, with a warning)",
        )


def _add_latent_dim(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--latent-dim",
        type=_integer(2),
        default=10,
        metavar="D",
        help="dimension of the shared latent sphere the modalities are embedded on (>= 2, "
        "default 10)",
    )


def _add_modality_files(parser: argparse.ArgumentParser, role: str) -> None:
    group = parser.add_argument_group(
        "modalities (give two or three; cells are matched by position and name)"
        if role == "bridge"
        else "modalities (give those the model was trained on)"
    )
    for m in MODALITIES:
        same = ", the same cells in the same order" if role == "bridge" else ""
        group.add_argument(
            f"--{m}",
            type=Path,
            metavar="FILE",
            help=f"{role} {_WHAT[m]} counts (.h5ad){same}",
        )


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scpairing",
        description="Integrate single-cell multiomics data and generate paired data: train on "
        "a paired bridge (RNA + ATAC, RNA + protein or all three), then pair unpaired cells.",
        epilog="Exit status: 0 success, 1 bad input, 2 usage error. "
        "Run 'scpairing COMMAND --help' for a command's options.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}", help="show the version"
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    _add_demo(commands)
    _add_evaluate(commands)
    _add_train(commands)
    _add_pair(commands)
    return parser


def _add_demo(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        help="held-out evaluation on the bundled SNARE-seq2 data, with a report",
        description="Train on a 30%% bridge of the bundled SNARE-seq2 mouse motor cortex data, "
        "embed the other 70%%'s RNA and ATAC separately, pair them and write a report.",
    )
    demo.add_argument("--out", required=True, type=Path, help="output directory")
    demo.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_CELLS} cells, {QUICK_EPOCHS} epochs instead of {DEMO_EPOCHS} (a smoke test)",
    )
    _add_common(demo)


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="held-out evaluation of paired RNA + ATAC h5ad files",
        description="Split paired RNA + ATAC cells into a bridge (trained on) and a query "
        "(RNA and ATAC embedded separately), then report integration and pairing metrics, "
        "figures and a generated paired dataset.",
    )
    evaluate.add_argument("--rna", required=True, type=Path, help="RNA counts (.h5ad)")
    evaluate.add_argument(
        "--atac", required=True, type=Path, help="ATAC counts (.h5ad), same cells"
    )
    evaluate.add_argument("--out", required=True, type=Path, help="output directory")
    evaluate.add_argument(
        "--label-key",
        type=_text,
        default="cell_type",
        help="obs column of the RNA file with cell labels, used to stratify the split and for "
        "label-transfer metrics (default cell_type)",
    )
    evaluate.add_argument(
        "--bridge-fraction",
        type=_number(0.0, 1.0, low_open=True, high_open=True),
        default=0.3,
        metavar="F",
        help="fraction of the cells in the paired bridge the model is trained on; the rest is "
        "the held-out query, in (0, 1) (default 0.3)",
    )
    evaluate.add_argument(
        "--links",
        type=Path,
        metavar="FILE",
        help="genes x peaks links (scipy .npz, rows as the RNA var, columns as the ATAC var) "
        "for the gene-peak correlation comparison (skipped without it)",
    )
    _add_latent_dim(evaluate)
    _add_components(evaluate, ("rna", "atac"))
    _add_common(evaluate)


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="train a model on a paired bridge (two or three modalities)",
        description="Train on a paired bridge: two or three of --rna, --atac, --protein, "
        "holding the same cells in the same order.",
    )
    _add_modality_files(train, "bridge")
    train.add_argument("--out", required=True, type=Path, help="model file to write (.pt)")
    _add_latent_dim(train)
    train.add_argument(
        "--batch-key",
        type=_text,
        default=None,
        help="obs column (of the first file) with batch labels: adds an adversarial batch "
        "discriminator",
    )
    _add_components(train, MODALITIES)
    _add_seed(train)
    _add_max_epochs(train)


def _add_pair(commands: argparse._SubParsersAction) -> None:
    pair = commands.add_parser(
        "pair",
        help="pair unpaired cells of two or three modalities with a trained model",
        description="Embed unpaired query files with a model from 'train' and pair their "
        "cells one-to-one; writes the paired data (.h5mu) and the unpaired cells' names.",
    )
    pair.add_argument("--model", required=True, type=Path, help="model file from `train`")
    _add_modality_files(pair, "query")
    pair.add_argument("--out", required=True, type=Path, help="paired data to write (.h5mu)")
    pair.add_argument(
        "--unpaired",
        type=Path,
        metavar="FILE",
        help="where to write the unpaired cells (tab-separated: modality, cell; default: next "
        "to --out, as OUT_STEM.unpaired.tsv)",
    )
    _add_cutoff(pair)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scpairing")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


# ------------------------------------------------------------------------------ checks
def _check_readable(path: Path, option: str) -> None:
    """The input exists, is a file and can be read."""
    if not path.exists():
        raise UserError(f"{option}: no file at '{path}'.")
    if not path.is_file():
        raise UserError(f"{option}: '{path}' is a directory, not a file.")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise UserError(f"{option}: cannot read '{path}' ({error.strerror or error}).") from None


def _read_h5ad(path: Path, option: str):
    """Read an AnnData .h5ad file, or raise a one-line UserError saying what is wrong with it."""
    import anndata as ad
    import h5py

    _check_readable(path, option)
    if not h5py.is_hdf5(path):
        raise UserError(
            f"{option}: '{path}' is not an HDF5 file, so not an AnnData .h5ad file "
            "(write one with AnnData.write_h5ad)."
        )
    try:
        with h5py.File(path, "r") as handle:
            keys = set(handle.keys())
    except OSError as error:
        raise UserError(f"{option}: cannot open '{path}' as HDF5 ({error}).") from None
    if not {"obs", "var"} <= keys:
        raise UserError(
            f"{option}: '{path}' is an HDF5 file but not an AnnData .h5ad file "
            f"(no 'obs'/'var' groups; it holds {sorted(keys) or 'nothing'})."
        )
    try:
        return ad.read_h5ad(path)
    except Exception as error:  # anndata raises many kinds for a damaged file
        raise UserError(
            f"{option}: '{path}' could not be read as AnnData ({type(error).__name__}: {error})."
        ) from None


def _check_obs_key(adata, key: str | None, option: str, path: Path) -> None:
    if key is not None and key not in adata.obs.columns:
        columns = ", ".join(map(str, adata.obs.columns)) or "none"
        raise UserError(f"{option}: no obs column {key!r} in '{path}'; its columns: {columns}.")


def _check_paired(data: dict, paths: dict) -> None:
    """The bridge files hold the same cells in the same order."""
    (first, a), *others = data.items()
    for m, b in others:
        if a.n_obs != b.n_obs or not (a.obs_names == b.obs_names).all():
            raise UserError(
                f"--{first} and --{m} must hold the same cells in the same order (paired "
                f"data); '{paths[first]}' has {a.n_obs} cells, '{paths[m]}' has {b.n_obs}."
            )


def _modality_paths(args: argparse.Namespace, known: Sequence[str] | None = None) -> dict:
    """``{modality: path}`` of the modality options given; two or three (or ``known``'s)."""
    paths = {m: getattr(args, m) for m in MODALITIES if getattr(args, m, None) is not None}
    if len(paths) < 2:
        given = ", ".join(f"--{m}" for m in paths) or "none"
        raise UserError(
            f"give two or three of --rna, --atac, --protein (the {args.command} command's "
            f"modalities); given: {given} (see 'scpairing {args.command} --help')",
            EXIT_USAGE,
        )
    if known is None:
        return paths
    extra = [m for m in paths if m not in known]
    if extra or len(paths) < 2:
        trained = " + ".join(known)
        raise UserError(
            f"the model was trained on {trained}; give two or three of "
            f"{', '.join('--' + m for m in known)}"
            + (f" (not {', '.join('--' + m for m in extra)})" if extra else "")
            + f" (see 'scpairing {args.command} --help')",
            EXIT_USAGE,
        )
    return paths


def _probe_directory(directory: Path, option: str, given: Path) -> None:
    """Create ``directory`` if needed and prove a file can be written in it."""
    for folder in (directory, *directory.parents):
        if folder.exists():
            if not folder.is_dir():
                raise UserError(
                    f"{option}: cannot write '{given}': '{folder}' is a file, not a directory."
                )
            break
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise UserError(
            f"{option}: cannot write to the directory '{directory}' ({reason})."
        ) from None


def _check_output_dir(path: Path, option: str = "--out") -> None:
    _probe_directory(path, option, path)


def _check_output_file(path: Path, option: str = "--out") -> None:
    """The file can be (over)written: its folder is writable and it is not a directory."""
    if path.is_dir():
        raise UserError(f"{option}: '{path}' is a directory; give a file name.")
    _probe_directory(path.parent, option, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{option}: '{path}' exists and is not writable.")


# ------------------------------------------------------------------------------ commands
def _train_kwargs(args: argparse.Namespace) -> dict:
    return {} if args.max_epochs is None else {"max_epochs": args.max_epochs}


def _reductions(args: argparse.Namespace, modalities: Sequence[str]) -> dict:
    """Reductions set on the command line (``--rna-components`` ...); the others default."""
    from . import pp

    out = {}
    for m in modalities:
        value = getattr(args, f"{m}_components", None)
        if value is not None:
            out[m] = getattr(pp, _REDUCTION[m][0])(n_components=value, seed=args.seed)
    return out


def _check_components(reductions: dict, bridge: dict, where: str, command: str) -> None:
    """A component count set on the command line fits the bridge, or a one-line error."""
    from .model._small_bridge import max_components

    for m, reduction in reductions.items():
        most = max_components(reduction, bridge[m])
        if most is not None and reduction.n_components > most:
            adata = bridge[m]
            raise UserError(
                f"--{m}-components {reduction.n_components} is too large for {where} of "
                f"{adata.n_obs} cells ({_REDUCTION[m][1]} on their counts supports at most "
                f"{most}); give a smaller value, or leave the option out to use the default "
                f"(capped for a small bridge) (see 'scpairing {command} --help')",
                EXIT_USAGE,
            )


def _print_result(result: dict, name: str) -> None:
    from .evaluation import format_table, headline, missing_reasons

    reasons = missing_reasons(result)
    numbers = {k: v for k, v in headline(result).items() if k not in reasons}
    print(format_table({name: numbers}))
    for title, why in reasons.items():
        print(f"{title}: {why}")
    if "files" in result:
        print(f"report: {result['files']['report']}")


def _demo(args: argparse.Namespace) -> None:
    _check_output_dir(args.out)
    from . import datasets
    from .evaluation import bridge_query_split, evaluate_held_out

    rna, atac = datasets.snareseq2_mop()
    links = datasets.snareseq2_mop_links()
    cap = QUICK_EPOCHS if args.quick else DEMO_EPOCHS
    train_kwargs = {"max_epochs": cap if args.max_epochs is None else args.max_epochs}
    if args.quick:
        keep, _ = bridge_query_split(
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


def _read_links(path: Path):
    import scipy.sparse as sp

    _check_readable(path, "--links")
    try:
        return sp.load_npz(path)
    except Exception as error:  # numpy/zipfile raise several kinds for a wrong file
        raise UserError(
            f"--links: '{path}' is not a scipy sparse .npz file (write one with "
            f"scipy.sparse.save_npz): {type(error).__name__}: {error}."
        ) from None


def _evaluate_bridge(rna, atac, args: argparse.Namespace) -> dict:
    """The bridge cells :func:`report.evaluate_held_out` will train on (the same split)."""
    import warnings

    import numpy as np

    from .evaluation import bridge_query_split

    labels = rna.obs[args.label_key]
    names = labels.astype("category").cat.categories.astype(str).to_numpy()
    codes = labels.astype("category").cat.codes.to_numpy()
    if (codes < 0).any():
        return {}  # missing labels: evaluate_held_out says so
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # evaluate_held_out gives the same warnings
        bridge, _ = bridge_query_split(
            rna.n_obs, names[codes], bridge_fraction=args.bridge_fraction, seed=args.seed
        )
    bridge = np.asarray(bridge)
    return {"rna": rna[bridge], "atac": atac[bridge]}


def _evaluate(args: argparse.Namespace) -> None:
    from .evaluation import evaluate_held_out

    for path, option in ((args.rna, "--rna"), (args.atac, "--atac")):
        _check_readable(path, option)
    if args.links is not None:
        _check_readable(args.links, "--links")
    _check_output_dir(args.out)
    rna = _read_h5ad(args.rna, "--rna")
    atac = _read_h5ad(args.atac, "--atac")
    _check_paired({"rna": rna, "atac": atac}, {"rna": args.rna, "atac": args.atac})
    _check_obs_key(rna, args.label_key, "--label-key", args.rna)
    links = _read_links(args.links) if args.links is not None else None
    reductions = _reductions(args, ("rna", "atac"))
    if reductions:
        bridge = _evaluate_bridge(rna, atac, args)
        if bridge:
            _check_components(
                reductions,
                bridge,
                f"the bridge (--bridge-fraction {args.bridge_fraction})",
                "evaluate",
            )
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
        model_kwargs={"latent_dim": args.latent_dim, "reductions": reductions},
    )
    _print_result(result, args.rna.stem)


def _train(args: argparse.Namespace) -> None:
    from .model import ScPairing

    paths = _modality_paths(args)
    for m, path in paths.items():
        _check_readable(path, f"--{m}")
    _check_output_file(args.out)
    data = {m: _read_h5ad(path, f"--{m}") for m, path in paths.items()}
    _check_paired(data, paths)
    first = next(iter(paths))
    _check_obs_key(data[first], args.batch_key, "--batch-key", paths[first])
    reductions = _reductions(args, list(data))
    _check_components(reductions, data, "the bridge", "train")
    model = ScPairing(
        data,
        reductions=reductions,
        batch_key=args.batch_key,
        latent_dim=args.latent_dim,
        seed=args.seed,
    )
    model.train(**_train_kwargs(args))
    model.save(args.out)
    print(f"trained {model!r} for {len(model.history)} epochs; saved to {args.out}")


def _unpaired_path(args: argparse.Namespace) -> Path:
    if args.unpaired is not None:
        return args.unpaired
    return args.out.with_name(args.out.stem + ".unpaired.tsv")


def _pair(args: argparse.Namespace) -> None:
    from ._output import write_h5mu
    from .bridge import bridge_pair
    from .model import ScPairing

    given = _modality_paths(args)
    _check_readable(args.model, "--model")
    for m, path in given.items():
        _check_readable(path, f"--{m}")
    _check_output_file(args.out)
    unpaired_path = _unpaired_path(args)
    _check_output_file(unpaired_path, "--out" if args.unpaired is None else "--unpaired")
    try:
        model = ScPairing.load(args.model)
    except (ValueError, TypeError, KeyError) as error:
        message = _message(error).removeprefix("`path`: ")
        raise UserError(f"--model: {message}") from None
    paths = _modality_paths(args, known=model.modalities)
    queries = {m: _read_h5ad(path, f"--{m}") for m, path in paths.items()}
    paired = bridge_pair(model, queries, cutoff=args.cutoff)
    write_h5mu(paired, args.out)
    unpaired = paired.uns["unpaired"]
    with unpaired_path.open("w") as handle:
        handle.write("modality\tcell\n")
        for m in queries:
            handle.writelines(f"{m}\t{cell}\n" for cell in unpaired[m])
    print(f"{paired.n_obs} pairs written to {args.out} (similarity cutoff {args.cutoff})")
    for m, adata in queries.items():
        print(f"  {m}: {adata.n_obs} cells, {paired.n_obs} paired, {len(unpaired[m])} unpaired")
    print(f"unpaired cells listed in {unpaired_path}")


_COMMANDS = {"demo": _demo, "evaluate": _evaluate, "train": _train, "pair": _pair}


def _message(error: BaseException) -> str:
    # str(KeyError("x")) is "'x'": show the message itself.
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, ``scpairing: warning: <message>`` (third-party ones name their
    category)."""
    kind = "" if category is UserWarning else f"{category.__name__}: "
    print(f"scpairing: warning: {kind}{_one_line(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 bad input).

    Usage errors (options) exit through ``SystemExit(2)`` with one line on stderr.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores the previous display on return
            warnings.showwarning = _show_warning
            _COMMANDS[args.command](args)
    except UserError as error:
        print(f"scpairing: error: {_one_line(error)}", file=sys.stderr)
        return error.status
    except (ValueError, TypeError, KeyError) as error:
        # scpairing's own checks of the data (named arguments, how to fix them).
        print(f"scpairing: error: {_one_line(_message(error))}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as error:  # e.g. the disk filled up while writing the output
        print(f"scpairing: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("scpairing: error: interrupted", file=sys.stderr)
        return 130
    return 0
