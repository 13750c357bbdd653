"""Quality of the held-out protocol on the bundled SNARE-seq2 data, seeds 0-2.

For each seed: 30% of the cells (stratified by cell type) form the paired bridge the model is
trained on; the remaining query cells' RNA and ATAC are embedded separately and judged against
their known pairing. Prints one row per seed and the mean, plus the gene-peak correlation
comparison (paired vs imputed, both against the real pairs of the same RNA cells).

Usage: ``python benchmarks/bench_quality.py [--seeds 0 1 2] [--cells N] [--max-epochs E]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scpairing import datasets, evaluation
from scpairing.cli import DEMO_EPOCHS
from scpairing.evaluation import evaluate_held_out, format_table, headline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cells", type=int, default=None, help="stratified subset (default: all)")
    parser.add_argument("--max-epochs", type=int, default=DEMO_EPOCHS, help="as in the demo")
    parser.add_argument("--cutoff", type=float, default=0.8)
    args = parser.parse_args()

    rna, atac = datasets.snareseq2_mop()
    links = datasets.snareseq2_mop_links()
    if args.cells is not None and args.cells < rna.n_obs:
        keep, _ = evaluation.bridge_query_split(
            rna.n_obs, rna.obs["cell_type"], bridge_fraction=args.cells / rna.n_obs, seed=0
        )
        rna, atac = rna[keep].copy(), atac[keep].copy()
    train_kwargs = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    print(
        f"SNARE-seq2 MOp: {rna.n_obs} cells, bridge fraction 0.3, cutoff {args.cutoff}, "
        f"max_epochs {args.max_epochs or 'default'}"
    )

    rows, correlation_rows = {}, {}
    for seed in args.seeds:
        start = time.perf_counter()
        result = evaluate_held_out(
            rna, atac, seed=seed, cutoff=args.cutoff, links=links, train_kwargs=train_kwargs
        )
        rows[f"seed {seed}"] = {**headline(result), "total s": time.perf_counter() - start}
        corr = result["correlation"]
        correlation_rows[f"seed {seed}"] = {
            "real sd": corr["real"]["sd"],
            "paired sd": corr["paired"]["sd"],
            "imputed sd": corr["imputed"]["sd"],
            "real mean": corr["real"]["mean"],
            "paired mean": corr["paired"]["mean"],
            "imputed mean": corr["imputed"]["mean"],
            "KS paired": corr["paired_vs_real"]["ks"],
            "KS imputed": corr["imputed_vs_real"]["ks"],
            "link r paired": corr["paired_vs_real"].get("link_r", np.nan),
            "link r imputed": corr["imputed_vs_real"].get("link_r", np.nan),
        }
        print(f"seed {seed} done in {rows[f'seed {seed}']['total s']:.0f} s", flush=True)

    for table in (rows, correlation_rows):
        columns = next(iter(table.values()))
        table["mean"] = {c: float(np.mean([r[c] for r in table.values()])) for c in columns}
    print("\nHeld-out query (FOSCTTM lower is better; iLISI modality in [1, 2], higher is mixed):")
    print(format_table(rows))
    print("\nGene-peak correlations of the same RNA cells with real, paired and imputed ATAC:")
    print(format_table(correlation_rows))
    closer = sum(
        r["KS paired"] < r["KS imputed"] for n, r in correlation_rows.items() if n != "mean"
    )
    print(f"\npaired closer to real than imputed (KS) in {closer} of {len(args.seeds)} seeds")


if __name__ == "__main__":
    main()
