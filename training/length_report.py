"""Every translation run's scores by English sentence length on both test sets, as the Markdown table that
docs/many_to_many.md shows: greedy and beam 5, single-reference BLEU / multi-reference BLEU / chrF.

    python -m training.length_report        # the shipped runs
"""

from __future__ import annotations

import argparse

from models.many_to_many import LENGTH_BUCKETS, length_cells


def length_report(runs) -> str:
    """Markdown: every run's greedy (and beam) scores on both test sets, overall and per length bucket, as
    single-reference BLEU / multi-reference BLEU / chrF."""
    header = ["run", "test set", "decoding", "all", *(name.removeprefix("len_") for name in LENGTH_BUCKETS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        for split in ("new_test", "test"):
            for suffix, decoding in (("", "greedy"), ("_beam5", "beam 5")):
                if f"{split}_chrf{suffix}" not in run.metrics:
                    continue
                cells = length_cells(run.metrics, split, ("bleu_single", "bleu", "chrf"), suffix).values()
                shown = "rule-based" if run.evaluation_only else decoding
                lines.append(f"| {run.run_name} | {split} | {shown} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    argparse.ArgumentParser(prog="python -m training.length_report", description=__doc__.split("\n")[0]).parse_args(
        argv
    )
    from models import store

    print(length_report(store.shipped_bundles("many_to_many")))


if __name__ == "__main__":
    main()
