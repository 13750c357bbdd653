"""The command line beyond RNA + ATAC, its option help, and small-data behaviour (issue 17)."""

from __future__ import annotations

import argparse
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scpairing as scp
from scpairing import _output, cli
from scpairing import evaluation as report
from scpairing.model import _small_bridge


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("scpairing: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"scpairing {cli._version()}"


def test_every_option_has_help():
    parser = cli._build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    assert "--bridge-fraction" in commands.choices["evaluate"].format_help()


def _counts(rng, n_cells, names, rate):
    x = sp.csr_matrix(rng.poisson(rate, size=(n_cells, len(names))).astype(np.float32))
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(rng.choice(["T", "B", "NK"], n_cells))},
        index=[f"c{i}" for i in range(n_cells)],
    )
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=names))


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Small synthetic counts of three modalities; gene and protein names overlap (CD4...)."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("three")
    genes = ["CD4", "CD8A", "MS4A1"] + [f"gene{i}" for i in range(57)]
    proteins = ["CD4", "CD8A", "MS4A1"] + [f"CD{i}" for i in range(100, 109)]
    peaks = [f"chr1:{1000 * i}-{1000 * i + 500}" for i in range(1, 301)]
    data = {
        "rna": _counts(rng, 90, genes, 0.8),
        "atac": _counts(rng, 90, peaks, 0.1),
        "protein": _counts(rng, 90, proteins, 5.0),
    }
    paths = {m: folder / f"{m}.h5ad" for m in data}
    for m, adata in data.items():
        adata.write_h5ad(paths[m])
    return paths


def _run(capsys, argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("modalities", [("rna", "protein"), ("rna", "atac", "protein")])
def test_train_and_pair_other_modalities(tmp_path, capsys, three, modalities):
    files = [x for m in modalities for x in (f"--{m}", three[m])]
    model = tmp_path / "m.pt"
    code, out, err = _run(capsys, ["train", *files, "--out", model, "--max-epochs", "1"])
    assert code == 0, err
    # The default RNA PCA (50) is capped at half the 90 cells, said as one warning line.
    assert "scpairing: warning: small bridge: 90 cells" in err and "n_components=45" in err
    assert scp.ScPairing.load(model).modalities == list(modalities)
    out_path = tmp_path / "paired.h5mu"
    argv = ["pair", "--model", model, *files, "--out", out_path, "--cutoff", "0.5"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # none from mudata in our write path
        code, out, err = _run(capsys, argv)
    assert code == 0, err
    paired = _output.read_h5mu(out_path)
    assert paired.var_names.is_unique  # protein CD4 next to gene CD4
    assert list(paired.mod["rna"].var_names[:2]) == ["CD4", "CD8A"]
    assert paired.mod["protein"].var_names[0] == "protein:CD4"
    assert paired.mod["protein"].var["source_name"].iloc[0] == "CD4"
    assert "protein" in paired.uns["scpairing"]["var_names"]
    unpaired = pd.read_csv(tmp_path / "paired.unpaired.tsv", sep="\t")
    for m in modalities:
        n_unpaired = int((unpaired["modality"] == m).sum())
        assert n_unpaired == len(paired.uns["unpaired"][m])
        assert paired.n_obs + n_unpaired == 90
        assert f"{m}: 90 cells, {paired.n_obs} paired, {n_unpaired} unpaired" in out
    assert "unpaired cells listed in" in out


def test_modality_options_are_checked(tmp_path, capsys, three):
    code, _, err = _run(capsys, ["train", "--rna", three["rna"], "--out", tmp_path / "m.pt"])
    assert code == 2 and "give two or three of --rna, --atac, --protein" in _one_error_line(err)
    files = ["--rna", three["rna"], "--protein", three["protein"]]
    model = tmp_path / "m.pt"
    assert _run(capsys, ["train", *files, "--out", model, "--max-epochs", "1"])[0] == 0
    argv = ["pair", "--model", model, "--rna", three["rna"], "--atac", three["atac"]]
    code, _, err = _run(capsys, [*argv, "--out", tmp_path / "p.h5mu"])
    line = _one_error_line(err)
    assert code == 2 and "trained on rna + protein" in line and "not --atac" in line


def test_components_option_too_large_names_the_option(tmp_path, capsys, three):
    files = ["--rna", three["rna"], "--protein", three["protein"]]
    argv = ["train", *files, "--out", tmp_path / "m.pt", "--rna-components", "95"]
    code, _, err = _run(capsys, argv)
    line = _one_error_line(err)
    assert code == 2 and "--rna-components 95 is too large" in line and "at most 59" in line
    argv[-1] = "10"
    assert _run(capsys, [*argv, "--max-epochs", "1"])[0] == 0
    assert scp.ScPairing.load(tmp_path / "m.pt").input_dims["rna"] == 10


def test_missing_metrics_are_explained_not_nan(capsys):
    result = {
        "n_bridge": 150,
        "n_query": 350,
        "epochs": 3,
        "train_seconds": 1.0,
        "seed": 0,
        "cutoff": 0.8,
        "knn_k": 15,
        "foscttm": 0.3,
        "pairing_same": {"n_pairs": 10, "label_match": 0.5, "exact_partner": 0.1},
        "pairing_disjoint": {"n_pairs": 0, "label_match": float("nan")},
    }
    cli._print_result(result, "x")
    out = capsys.readouterr().out
    assert "nan" not in out
    assert "KS paired-real: not computed: no gene-peak links given" in out
    assert "pair label (disjoint): no pair reached the similarity cutoff 0.8" in out
    markdown = report._markdown(result)
    assert "nan" not in markdown and "Not reported:" in markdown


def test_rare_label_classes_are_pooled_and_named():
    labels = np.array(["T"] * 20 + ["B"] * 20 + ["HSC", "Plasma cell"])
    with pytest.warns(UserWarning, match=r"obs\['cell_type'\]: 2 classes .*'HSC', 'Plasma cell'"):
        bridge, query = scp.evaluation.bridge_query_split(
            labels.size, labels, bridge_fraction=0.5, seed=0, what="obs['cell_type']"
        )
    assert bridge.size + query.size == labels.size
    with pytest.warns(UserWarning, match="random, not stratified"):
        scp.evaluation.bridge_query_split(10, np.arange(10) % 5, bridge_fraction=0.3, seed=0)
    with warnings.catch_warnings():  # common labels: no warning, the split sklearn makes
        warnings.simplefilter("error")
        scp.evaluation.bridge_query_split(40, np.arange(40) % 4, seed=0)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_small_bridge_warning_trigger():
    rng = np.random.default_rng(0)
    n, d = 200, 10
    base = _unit(rng.normal(size=(n, d)))
    train_idx, val_idx = np.arange(20, n), np.arange(20)
    # Training cells aligned, held-out cells noisy: a model that memorised its bridge.
    other = base.copy()
    other[val_idx] = _unit(base[val_idx] + 1.5 * rng.normal(size=(20, d)))
    report_ = _small_bridge.generalisation({"rna": base, "atac": other}, train_idx, val_idx)
    assert report_["train_foscttm"] < 0.01 and report_["gap"] > _small_bridge.MAX_GAP
    assert "too small to generalise" in _small_bridge.overfit_message(report_)
    with pytest.warns(UserWarning, match=r"train\(\): the bridge looks too small"):
        _small_bridge.warn_if_overfit({"auc": 0.9, "generalisation": report_}, "train()")
    # Held-out cells as good as the training cells: no warning.
    same = _unit(base + 0.3 * rng.normal(size=base.shape))
    fine = _small_bridge.generalisation({"rna": base, "atac": same}, train_idx, val_idx)
    assert abs(fine["gap"]) < _small_bridge.MAX_GAP
    assert _small_bridge.overfit_message(fine) is None
    # The no-signal warning, when it applies, is the one given.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _small_bridge.warn_if_overfit(
            {"auc": 0.5, "foscttm": 0.5, "n_cells": 20, "generalisation": report_}, "train()"
        )


def test_correlation_axis_fits_the_data():
    rng = np.random.default_rng(0)
    bulk = rng.normal(0, 0.02, 2000)
    low, high, outside = scp.pl._axis_range([np.r_[bulk, -0.27, 0.56], bulk])
    assert -0.1 < low < -0.03 and 0.03 < high < 0.1 and outside >= 2
