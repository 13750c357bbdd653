"""Tests of scpairing.pl: every plot writes a non-empty PNG and checks its input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scpairing import pl

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8) == PNG_MAGIC and path.stat().st_size > 1000


@pytest.fixture
def embeddings():
    rng = np.random.default_rng(0)
    z_rna = rng.normal(size=(120, 10))
    z_atac = z_rna + rng.normal(scale=0.3, size=z_rna.shape)
    labels = np.repeat(["a", "b", "c"], 40)
    return {"rna": z_rna, "atac": z_atac}, {"rna": labels, "atac": labels}


def test_embedding_writes_png(tmp_path, embeddings):
    zs, labels = embeddings
    path = pl.embedding(zs, labels, path=tmp_path / "sub" / "emb.png", title="test")
    assert path == tmp_path / "sub" / "emb.png"
    assert _is_png(path)
    assert _is_png(pl.embedding(zs, path=tmp_path / "modality_only.png"))


def test_embedding_rejects_bad_input(tmp_path, embeddings):
    zs, labels = embeddings
    with pytest.raises(ValueError, match="same dimension"):
        pl.embedding({"rna": zs["rna"], "atac": zs["atac"][:, :5]}, path=tmp_path / "x.png")
    with pytest.raises(ValueError, match="keys"):
        pl.embedding(zs, {"rna": labels["rna"]}, path=tmp_path / "x.png")
    with pytest.raises(ValueError, match="entries"):
        pl.embedding(
            zs, {"rna": labels["rna"][:3], "atac": labels["atac"]}, path=tmp_path / "x.png"
        )
    with pytest.raises(ValueError, match=".png"):
        pl.embedding(zs, path=tmp_path / "x.pdf")
    with pytest.raises(TypeError, match="embeddings"):
        pl.embedding([], path=tmp_path / "x.png")


def test_similarity_histogram(tmp_path):
    similarity = np.random.default_rng(1).uniform(0, 1, 500)
    assert _is_png(pl.similarity_histogram(similarity, 0.8, path=tmp_path / "sim.png"))
    assert _is_png(pl.similarity_histogram(similarity, path=tmp_path / "nocut.png"))
    overlaid = {"matched": similarity, "true partners": similarity[:100] - 0.2}
    assert _is_png(pl.similarity_histogram(overlaid, 0.5, path=tmp_path / "two.png"))
    with pytest.raises(ValueError, match="similarity"):
        pl.similarity_histogram([np.nan, 0.5], 0.8, path=tmp_path / "bad.png")


def test_correlation_distributions(tmp_path):
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"gene": ["g"] * 300, "peak": ["p"] * 300, "r": rng.normal(0, 0.1, 300)})
    path = pl.correlation_distributions(
        {"real": table, "paired": rng.normal(0, 0.1, 300), "imputed": rng.normal(0.1, 0.3, 300)},
        path=tmp_path / "corr.png",
    )
    assert _is_png(path)
    with pytest.raises(ValueError, match="finite"):
        pl.correlation_distributions({"real": [np.nan]}, path=tmp_path / "bad.png")
    with pytest.raises(TypeError, match="correlations"):
        pl.correlation_distributions({}, path=tmp_path / "bad.png")


def test_import_leaves_the_plot_backend_alone():
    # A notebook's inline backend must survive `import scpairing` and its plots.
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); import scpairing, scpairing.pl; "
        "print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"
