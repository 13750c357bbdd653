"""The README's Python example runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_python_example():
    assert _python_blocks()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_blocks()[0], str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "pairs of" in out and "FOSCTTM" in out
    assert (tmp_path / "paired.h5mu").is_file() and (tmp_path / "model.pt").is_file()
    # what the example shows is real: the held-out query pairs far better than chance
    assert namespace["scp"].metrics.foscttm(namespace["z_rna"], namespace["z_atac"]) < 0.2
    assert namespace["paired"].n_obs == namespace["result"].n_pairs > 1000
