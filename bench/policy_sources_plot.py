"""One picture of several data-source table records (``hoi-policy-sources`` JSONs): success by demo source.

Cells are keyed by task × source (with its attempts per seed, :func:`policy.source_table.series`) × algorithm × demo
seeds (``num_demos``); where two records hold the same key the later file wins
(so list the records measured before a default changed first). A record given as ``LABEL=PATH`` names the generator
weights of its ``generated`` cells: they get a series of their own, ``generated ≤4 tries (LABEL)``, beside those of
other weights (its expert cells are keyed as usual). Each cell's ratio to expert is recomputed within the
combined set, against the expert cell of the same task, algorithm and demo seeds. Writes the PNG and a JSON that
names the record every cell came from; prints the combined table.

    python bench/policy_sources_plot.py bench/results/policy_sources_least_turn.json \\
        bench/results/policy_sources_generated_200.json --out bench/results/policy_sources_summary.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def split_label(arg: str | Path) -> tuple[str | None, Path]:
    """``LABEL=PATH`` → (LABEL, PATH); a plain path (or one that exists as written) → (None, path)."""
    text = str(arg)
    if "=" not in text or Path(text).exists():
        return None, Path(text)
    label, path = text.split("=", 1)
    if not label.strip() or not path:
        raise ValueError(f"{text!r}: expected PATH or LABEL=PATH")
    return label.strip(), Path(path)


def combine(paths: list[str | Path]) -> list[dict]:
    """The cells of the records at ``paths`` (each a path or ``LABEL=PATH``; later files win on equal keys), each with
    ``record`` (its file) and ``ratio_to_expert_mean`` recomputed over the combined cells."""
    from policy.source_table import add_expert_ratios, series

    cells: dict[tuple, dict] = {}
    for arg in paths:
        label, p = split_label(arg)
        rec = json.loads(Path(p).read_text())
        if "cells" not in rec:
            raise ValueError(f"{p}: not a hoi-policy-sources record (no 'cells')")
        for c in rec["cells"]:
            c = {**c, "demo_seeds": c.get("demo_seeds", rec["config"]["num_demos"]), "record": str(p),
                 "env": rec.get("env", {})}  # records before demo_seeds: the table's num_demos
            if label and c["source"] == "generated":
                c["label"] = label
            cells[(c["task"], series(c), c["algo"], c["demo_seeds"])] = c

    return add_expert_ratios(list(cells.values()))


def main(argv: list[str] | None = None) -> dict:
    from hoi2robot.config import write_json
    from policy.source_table import format_table, plot_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", nargs="+", help="hoi-policy-sources result JSONs, oldest first; LABEL=PATH names the "
                    "generator weights of that record's generated cells")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "policy_sources_summary.png"))
    ap.add_argument("--title", default="")
    args = ap.parse_args(argv)
    cells = combine(args.records)
    png = plot_table(cells, args.out, args.title)
    keys = ("task", "source", "attempts", "label", "generator_weights", "algo", "demo_seeds", "demos",
            "demos_successful", "max", "mean", "ratio_to_expert_mean", "record", "env")
    summary = {"records": args.records, "cells": [{k: c[k] for k in keys if k in c} for c in cells]}
    write_json(png.with_suffix(".json"), summary)
    print(format_table({"cells": cells}))
    print(f"plot: {png}")
    return summary


if __name__ == "__main__":
    main()
