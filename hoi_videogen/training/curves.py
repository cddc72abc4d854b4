"""Loss curves of a training run: ``losses.csv`` (written atomically) and a ``losses.png`` plot."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["write_curves"]

CURVE_KEYS = ("loss", "noise", "recon", "miou", "hrl")


def write_curves(history: list[dict[str, Any]], out: str | Path, *, panel_key: str | None = None,
                 panels: Sequence[str] = (), title: str = "", keys: Sequence[str] = CURVE_KEYS) -> None:
    """Write ``history`` (rows with a ``step``) to ``out/losses.csv`` and plot ``keys`` (log scale) to ``losses.png``.

    With ``panel_key`` one panel per value in ``panels`` (e.g. the generator's stages), titled ``title`` + value.
    A failing plot only prints a line: it must never stop training.
    """
    if not history:
        return
    out = Path(out)
    fieldnames = list(dict.fromkeys(k for row in history for k in row))
    tmp = out / ".losses.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames)
        w.writeheader()
        w.writerows(history)
    os.replace(tmp, out / "losses.csv")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        groups = ([(f"{title}{p}", [r for r in history if r.get(panel_key) == p]) for p in panels
                   if any(r.get(panel_key) == p for r in history)] if panel_key else [(title, history)])  # fmt: skip
        fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.2), squeeze=False)
        for ax, (name, rows) in zip(axes[0], groups):
            for k in keys:
                ys = [r.get(k) for r in rows]
                if any(y is not None and y != "" for y in ys):
                    ax.plot([r["step"] for r in rows], [np.nan if y in (None, "") else y for y in ys], label=k)
            ax.set_title(name)
            ax.set_xlabel("step")
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "losses.png", dpi=90)
        plt.close(fig)
    except Exception as exc:  # a plot must never stop training
        print(f"[train] could not plot losses: {exc}")
