"""Tests of the command line (scpairing.cli)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import anndata as ad
import numpy as np
import pytest

from scpairing import cli, datasets, evaluation
from scpairing.evaluation import format_table, headline


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "evaluate", "train", "pair"):
        assert command in out


def _one_error_line(err: str) -> str:
    """The single stderr line of a user error (no traceback, no usage block)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("scpairing: error: "), err
    assert "Traceback" not in err
    return lines[0]


_EVAL = ["evaluate", "--rna", "a", "--atac", "b", "--out", "o"]
_TRAIN = ["train", "--rna", "a", "--atac", "b", "--out", "m"]
_PAIR = ["pair", "--model", "m", "--rna", "a", "--atac", "b", "--out", "o"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "COMMAND"),
        (["frobnicate"], "invalid choice"),
        (["demo"], "--out"),
        (["demo", "--out", "x", "--seed", "one"], "--seed: must be a whole number"),
        (["demo", "--out", "x", "--seed", "2.7"], "--seed: must be a whole number"),
        (["demo", "--out", "x", "--seed", "-1"], "--seed: must be in [0, 4294967295]"),
        (["demo", "--out", "x", "--seed", str(2**70)], "--seed"),
        (["demo", "--out", "x", "--cutoff", "1.5"], "--cutoff: must be a number in [-1, 1]"),
        (["demo", "--out", "x", "--cutoff", "nan"], "--cutoff"),
        (["demo", "--out", "x", "--cutoff", "high"], "--cutoff: must be a number"),
        (["demo", "--out", "x", "--max-epochs", "0"], "--max-epochs: must be >= 1"),
        (["demo", "--out", "x", "--max-epochs", "2.7"], "--max-epochs: must be a whole number"),
        (["demo", "--out", "x", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["train", "--rna", "a.h5ad"], "required: --out"),
        ([*_TRAIN, "--atac-components", "0"], "--atac-components: must be >= 1"),
        ([*_EVAL, "--rna-components", "x"], "--rna-components: must be a whole number"),
        ([*_EVAL, "--protein-components", "5"], "unrecognized arguments: --protein-components"),
        ([*_TRAIN, "--latent-dim", "1"], "--latent-dim: must be >= 2"),
        ([*_TRAIN, "--batch-key", ""], "--batch-key: must not be empty"),
        ([*_EVAL, "--bridge-fraction", "1"], "--bridge-fraction: must be a number in (0, 1)"),
        ([*_EVAL, "--label-key", " "], "--label-key: must not be empty"),
        (["pair", "--model", "m.pt", "--rna", "a", "--atac", "b"], "--out"),
        ([*_PAIR, "--cutoff", "-2"], "--cutoff"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert message in line
    assert "--help" in line  # says where the usage is


def _no_training(monkeypatch):
    """Fail the test if training (the long work) starts."""
    from scpairing import evaluation as report
    from scpairing.model import ScPairing

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(ScPairing, "train", refuse)
    monkeypatch.setattr(report, "evaluate_held_out", refuse)


def _run_cli(capsys, argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, _one_error_line(capsys.readouterr().err)


@pytest.fixture
def bad_files(tmp_path):
    """Files of the wrong kind: plain text, HDF5 that is not AnnData, a directory."""
    import h5py

    text = tmp_path / "notes.h5ad"
    text.write_text("cell,gene\n")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as handle:
        handle["values"] = np.arange(3)
    folder = tmp_path / "folder.h5ad"
    folder.mkdir()
    return {"text": text, "hdf5": other, "dir": folder, "missing": tmp_path / "missing.h5ad"}


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "--rna: no file at"),
        ("dir", "--rna: .* is a directory"),
        ("text", "--rna: .* is not an HDF5 file"),
        ("hdf5", "--rna: .* is an HDF5 file but not an AnnData .h5ad file"),
    ],
)
@pytest.mark.parametrize("command", ["train", "evaluate", "pair"])
def test_bad_input_files_are_one_line(
    tmp_path, capsys, monkeypatch, bad_files, small_real, kind, message, command
):
    _no_training(monkeypatch)
    rna = bad_files[kind]
    if command == "pair":
        argv = ["pair", "--model", small_real["model"], "--rna", rna]
        argv += ["--atac", small_real["atac"], "--out", tmp_path / "o.h5mu"]
    else:
        out = tmp_path / ("m.pt" if command == "train" else "out")
        argv = [command, "--rna", rna, "--atac", small_real["atac"], "--out", out]
    code, line = _run_cli(capsys, argv)
    assert code == 1
    assert re.search(message, line), line


def test_missing_input_file_is_a_clear_error(tmp_path, capsys):
    argv = ["train", "--rna", tmp_path / "missing.h5ad", "--atac", tmp_path / "x.h5ad"]
    code, line = _run_cli(capsys, [*argv, "--out", tmp_path / "m.pt"])
    assert code == 1
    assert "--rna" in line and "missing.h5ad" in line


def test_unreadable_input_is_one_line(tmp_path, capsys, small_real):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    locked = tmp_path / "locked.h5ad"
    locked.write_bytes(small_real["rna"].read_bytes())
    locked.chmod(0)
    argv = ["train", "--rna", locked, "--atac", small_real["atac"], "--out", tmp_path / "m.pt"]
    code, line = _run_cli(capsys, argv)
    assert code == 1 and "--rna: cannot read" in line


@pytest.mark.parametrize("command", ["train", "pair", "evaluate", "demo"])
def test_unwritable_out_is_found_before_training(
    tmp_path, capsys, monkeypatch, small_real, command
):
    _no_training(monkeypatch)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "sub" / ("m.pt" if command in ("train", "pair") else "out")
    inputs = ["--rna", small_real["rna"], "--atac", small_real["atac"]]
    argv = {
        "train": ["train", *inputs, "--out", out],
        "pair": ["pair", "--model", small_real["model"], *inputs, "--out", out],
        "evaluate": ["evaluate", *inputs, "--out", out],
        "demo": ["demo", "--out", out],
    }[command]
    code, line = _run_cli(capsys, argv)
    assert code == 1
    assert "--out: cannot write" in line and "is a file, not a directory" in line


def test_out_that_is_a_directory_or_read_only(tmp_path, capsys, monkeypatch, small_real):
    _no_training(monkeypatch)
    argv = ["train", "--rna", small_real["rna"], "--atac", small_real["atac"], "--out", tmp_path]
    code, line = _run_cli(capsys, argv)
    assert code == 1 and "--out" in line and "is a directory; give a file name" in line
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return  # root writes into read-only folders
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    argv[-1] = locked / "m.pt"
    code, line = _run_cli(capsys, argv)
    assert code == 1 and "--out: cannot write to the directory" in line


def test_wrong_obs_keys_and_unpaired_files_are_named(tmp_path, capsys, monkeypatch, small_real):
    _no_training(monkeypatch)
    inputs = ["--rna", small_real["rna"], "--atac", small_real["atac"]]
    code, line = _run_cli(
        capsys, ["evaluate", *inputs, "--out", tmp_path / "o", "--label-key", "no_such_column"]
    )
    assert code == 1 and "--label-key: no obs column 'no_such_column'" in line
    code, line = _run_cli(
        capsys, ["train", *inputs, "--out", tmp_path / "m.pt", "--batch-key", "no_such_column"]
    )
    assert code == 1 and "--batch-key: no obs column 'no_such_column'" in line
    atac = ad.read_h5ad(small_real["atac"])
    atac[:100].copy().write_h5ad(tmp_path / "short.h5ad")
    argv = ["train", "--rna", small_real["rna"], "--atac", tmp_path / "short.h5ad"]
    code, line = _run_cli(capsys, [*argv, "--out", tmp_path / "m.pt"])
    assert code == 1 and "--rna and --atac must hold the same cells" in line


def test_bad_model_and_links_files_are_one_line(tmp_path, capsys, bad_files, small_real):
    inputs = ["--rna", small_real["rna"], "--atac", small_real["atac"]]
    for kind in ("text", "hdf5"):
        argv = ["pair", "--model", bad_files[kind], *inputs, "--out", tmp_path / "o.h5mu"]
        code, line = _run_cli(capsys, argv)
        assert code == 1 and "--model:" in line and "not a readable scpairing model" in line
    argv = ["evaluate", *inputs, "--out", tmp_path / "o", "--links", bad_files["text"]]
    code, line = _run_cli(capsys, argv)
    assert code == 1 and "--links:" in line and "not a scipy sparse .npz" in line


def test_library_errors_are_one_line(tmp_path, capsys, small_real):
    """scpairing's own ValueError (here: too few cells to train) becomes one line, exit 1."""
    rna, atac = ad.read_h5ad(small_real["rna"]), ad.read_h5ad(small_real["atac"])
    rna[:20].copy().write_h5ad(tmp_path / "r.h5ad")
    atac[:20].copy().write_h5ad(tmp_path / "a.h5ad")
    argv = ["train", "--rna", tmp_path / "r.h5ad", "--atac", tmp_path / "a.h5ad"]
    code, line = _run_cli(capsys, [*argv, "--out", tmp_path / "m.pt"])
    assert code == 1 and "20 cells" in line
    assert not (tmp_path / "m.pt").exists()


def test_key_error_shows_its_message(monkeypatch, capsys):
    def fail(args):
        raise KeyError("`modality` 'rna' is missing")

    monkeypatch.setitem(cli._COMMANDS, "demo", fail)
    assert cli.main(["demo", "--out", "x"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line == "scpairing: error: `modality` 'rna' is missing"


def test_internal_errors_keep_their_traceback(monkeypatch):
    def fail(args):
        raise RuntimeError("bug")

    monkeypatch.setitem(cli._COMMANDS, "demo", fail)
    with pytest.raises(RuntimeError, match="bug"):
        cli.main(["demo", "--out", "x"])


def test_entry_point_prints_one_line(tmp_path, bad_files):
    """The real ``python -m scpairing``: one stderr line, exit status 1, no traceback."""
    argv = ["train", "--rna", bad_files["text"], "--atac", bad_files["text"]]
    done = subprocess.run(
        [sys.executable, "-m", "scpairing", *map(str, argv), "--out", str(tmp_path / "m.pt")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "not an HDF5 file" in _one_error_line(done.stderr)


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A stratified 300-cell subset of the bundled data as h5ad files, and a model trained on
    it for one epoch (shared by the tests, which only read them)."""
    from scpairing.model import ScPairing

    folder = tmp_path_factory.mktemp("cli_files")
    rna, atac = datasets.snareseq2_mop()
    keep, _ = evaluation.bridge_query_split(
        rna.n_obs, rna.obs["cell_type"], bridge_fraction=300 / rna.n_obs, seed=0
    )
    paths = {"rna": folder / "rna.h5ad", "atac": folder / "atac.h5ad", "model": folder / "m.pt"}
    rna, atac = rna[keep].copy(), atac[keep].copy()
    rna.write_h5ad(paths["rna"])
    atac.write_h5ad(paths["atac"])
    model = ScPairing({"rna": rna, "atac": atac}, seed=0)
    model.train(max_epochs=1, progress=False)
    model.save(paths["model"])
    return paths


@pytest.fixture
def small_real(cli_files):
    return cli_files


def test_train_then_pair(tmp_path, small_real, capsys):
    pytest.importorskip("scpairing.pairing")
    model_path = tmp_path / "model.pt"
    argv = ["train", "--rna", str(small_real["rna"]), "--atac", str(small_real["atac"])]
    assert cli.main([*argv, "--out", str(model_path), "--max-epochs", "2"]) == 0
    assert model_path.is_file()
    out_path = tmp_path / "paired.h5mu"
    argv = ["pair", "--model", str(model_path), "--rna", str(small_real["rna"])]
    argv += ["--atac", str(small_real["atac"]), "--out", str(out_path), "--cutoff", "-1"]
    assert cli.main(argv) == 0
    import mudata

    with mudata.set_options(pull_on_update=False):
        paired = mudata.read_h5mu(out_path)
    assert set(paired.mod) == {"rna", "atac"}
    # With no cutoff nearly every cell is matched (a pair of negative similarity would lower the
    # total, so maximum-weight matching may leave such cells unpaired); none is lost.
    assert paired.n_obs >= 290
    assert paired.n_obs + len(paired.uns["unpaired"]["rna"]) == 300
    assert f"{paired.n_obs} pairs" in capsys.readouterr().out


def test_train_rejects_unpaired_inputs(tmp_path, small_real, capsys):
    atac = ad.read_h5ad(small_real["atac"])
    atac[:100].copy().write_h5ad(tmp_path / "short.h5ad")
    argv = ["train", "--rna", str(small_real["rna"]), "--atac", str(tmp_path / "short.h5ad")]
    assert cli.main([*argv, "--out", str(tmp_path / "m.pt"), "--max-epochs", "1"]) == 1
    assert "cells" in capsys.readouterr().err


# End-to-end on real data, kept fast: the quick demo (a stratified subset of the bundled
# SNARE-seq2 cells) with training capped at 3 epochs. Runs in well under 60 s on 2 cores.
def test_demo_quick_end_to_end(tmp_path, capsys):
    pytest.importorskip("scpairing.pairing")
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--quick", "--max-epochs", "3"]) == 0
    printed = capsys.readouterr().out
    assert "FOSCTTM" in printed and "report:" in printed
    for name in (
        "report.md",
        "metrics.json",
        "embedding.png",
        "pair_similarity.png",
        "gene_peak_correlation.png",
        "paired.h5mu",
        "model.pt",
    ):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "Gene-peak correlations" in report
    import json

    result = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= result["foscttm"] <= 1.0
    # A stratified subset of QUICK_CELLS / n of the cells (rounding may drop one).
    assert abs(result["n_bridge"] + result["n_query"] - cli.QUICK_CELLS) <= 1
    for name in ("paired_vs_real", "imputed_vs_real"):
        assert np.isfinite(result["correlation"][name]["ks"])
        assert np.isfinite(result["correlation"][name]["link_r"])
    # The report shows the generated pairs' confidence by bin and the validation figures.
    assert "## Confidence of the generated pairs" in report and "validation" in report.lower()
    bins = result["confidence"]["bins"]
    assert sum(b["n"] for b in bins) == result["paired_file"]["n_pairs"]
    assert all(0 <= b["low"] <= b["high"] <= 1 and 0 <= b["label_match"] <= 1 for b in bins)
    assert [b["low"] for b in bins] == sorted(b["low"] for b in bins)


def test_headline_and_format_table():
    result = {"foscttm": 0.25, "recovery": {"top1": 0.1, "top10": 0.4}, "train_seconds": 3.0}
    numbers = headline(result)
    assert numbers["FOSCTTM"] == 0.25 and numbers["top-10"] == 0.4
    assert np.isnan(numbers["kNN RNA->ATAC"])  # absent entries are NaN, not invented
    table = format_table({"seed 0": numbers, "seed 1": {**numbers, "FOSCTTM": 0.5}})
    lines = table.splitlines()
    assert "seed 0" in lines[0] and "seed 1" in lines[0]
    assert lines[2].split() == ["FOSCTTM", "0.250", "0.500"]
