"""Tests of the command line (scpairing.cli)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from scpairing import cli, datasets
from scpairing.report import format_table, headline


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "evaluate", "train", "pair"):
        assert command in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["demo"], "--out"),
        (["demo", "--out", "x", "--seed", "one"], "invalid int"),
        (["train", "--rna", "a.h5ad"], "required"),
        (["pair", "--model", "m.pt", "--rna", "a", "--atac", "b"], "--out"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_input_file_is_a_clear_error(tmp_path, capsys):
    code = cli.main(
        [
            "train",
            "--rna",
            str(tmp_path / "missing.h5ad"),
            "--atac",
            str(tmp_path / "x.h5ad"),
            "--out",
            str(tmp_path / "m.pt"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "--rna" in err and "missing.h5ad" in err


@pytest.fixture
def small_real(tmp_path):
    """A stratified 300-cell subset of the bundled data written as h5ad files."""
    rna, atac = datasets.snareseq2_mop()
    keep, _ = datasets.bridge_query_split(
        rna.n_obs, rna.obs["cell_type"], bridge_fraction=300 / rna.n_obs, seed=0
    )
    paths = {"rna": tmp_path / "rna.h5ad", "atac": tmp_path / "atac.h5ad"}
    rna[keep].copy().write_h5ad(paths["rna"])
    atac[keep].copy().write_h5ad(paths["atac"])
    return paths


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


def test_headline_and_format_table():
    result = {"foscttm": 0.25, "recovery": {"top1": 0.1, "top10": 0.4}, "train_seconds": 3.0}
    numbers = headline(result)
    assert numbers["FOSCTTM"] == 0.25 and numbers["top-10"] == 0.4
    assert np.isnan(numbers["kNN RNA->ATAC"])  # absent entries are NaN, not invented
    table = format_table({"seed 0": numbers, "seed 1": {**numbers, "FOSCTTM": 0.5}})
    lines = table.splitlines()
    assert "seed 0" in lines[0] and "seed 1" in lines[0]
    assert lines[2].split() == ["FOSCTTM", "0.250", "0.500"]
