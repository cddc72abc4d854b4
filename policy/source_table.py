"""The data-source table: the same policy trained on expert / oracle-hand / tracked-hand / generated demos (the
same number of demos, the same seeds), evaluated closed loop on held-out seeds.

For each task × source × algorithm × training seed: collect ``num_demos`` demos (seeds 0 ..; reused if the file
exists), train (resumable: a rerun continues), and evaluate the last ``last_checkpoints`` checkpoints on
``eval_seeds`` held-out seeds. Reported as the diffusion-policy papers do: per training seed the max over those
checkpoints and their mean, then averaged over training seeds. Also the ratio of every source to ``expert``
(the issue's target: generated >= 90% of expert). ``collect.attempts=K`` lets sources that draw noise (``generated``)
retry each demo seed up to K times until it succeeds (:mod:`policy.datasets.collect`); their demos and runs are kept
under ``<source>_x<K>`` and their cells are named ``<source> ≤K tries``. Such a set extends the one of the same
seeds with the most attempts below K, when there is one (``collect.extend``): only the new attempts run.

    python -m policy.source_table tasks=[Lift] sources=[expert,oracle-hand] algos=[bc,diffusion] num_demos=50
    -> table on stdout, bench/results/policy_sources.json and .png (:func:`plot_table`)
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from hoi2robot.config import CONFIG_PATH, hoi2robot_env, machine_info, to_plain, write_json
from policy.datasets.hdf5 import DemoFile

log = logging.getLogger(__name__)

__all__ = ["add_expert_ratios", "algo_config", "format_table", "main", "plot_table", "run_table", "series",
           "series_order", "source_attempts"]


def algo_config(name: str) -> dict[str, Any]:
    """The values of ``configs/policy/<name>.yaml`` (the ``policy`` group) as a dict with ``name``."""
    from importlib.resources import files

    path = files("hoi2robot.configs") / "policy" / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"no policy config {name!r} (expected {path})")
    return OmegaConf.to_container(OmegaConf.load(str(path)), resolve=True)


def source_attempts(cfg: DictConfig, source: str) -> int:
    """Attempts per demo seed for ``source``: ``collect.attempts`` for sources that draw noise beyond their seed
    (:func:`sim.bench.takes_attempt`, e.g. ``generated``), 1 for the others (another run would repeat the first)."""
    from sim.bench import load_rows, takes_attempt

    attempts = int(cfg.collect.get("attempts", 1))
    return attempts if attempts > 1 and takes_attempt(load_rows()[source]) else 1


def _source_key(source: str, attempts: int) -> str:
    """``source``, or ``source_x<K>`` when its seeds are retried: demos and runs of other attempts never mix."""
    return source if attempts == 1 else f"{source}_x{attempts}"


def _demo_name(cfg: DictConfig, task: str, source: str, attempts: int) -> str:
    """The demo file of ``task`` × ``source`` at ``attempts`` per seed, in ``<root>/demos/``."""
    return f"{task}_{_source_key(source, attempts)}_{cfg.num_demos}.hdf5"


def _demos(cfg: DictConfig, path: Path, task: str, source: str, attempts: int) -> Path:
    """``path``, collected first (``attempts`` per seed) if it is not there yet."""
    from policy.datasets.collect import CollectConfig, collect, extend_problem, reuse_problem

    collect_cfg = CollectConfig(task=task, source=source, num_demos=cfg.num_demos, seed_offset=0,
                                render=cfg.collect.render, workers=cfg.collect.workers, attempts=attempts,
                                out=str(path))
    if path.is_file() and not cfg.get("reuse_only", False):  # a finished set is reused only if it was made the same way
        problem = reuse_problem(collect_cfg, path)
        if problem:
            raise ValueError(f"{path} {problem}; give the table another root (or reuse_only=true to re-tabulate old "
                             "results)")
    if not path.is_file():
        # the same seeds collected with fewer attempts: extend the largest such set instead of rerunning its attempts
        for fewer in range(attempts - 1, 0, -1):
            base = path.with_name(_demo_name(cfg, task, source, fewer))
            if base.is_file() and extend_problem(collect_cfg, base) is None:
                collect_cfg.extend = str(base)
                break
        collect(collect_cfg)
    return path


def _train(cfg: DictConfig, dataset: Path, runs: Path, algo: str, seed: int) -> tuple[Path, dict]:
    from policy.train import TrainConfig, train

    pol = algo_config(algo)
    values = {**pol, **to_plain(cfg.algo_overrides).get(algo, {})}
    values.pop("name")
    train_cfg = {**to_plain(cfg.train), **to_plain(cfg.algo_train).get(algo, {})}
    out = runs / algo / f"seed{seed}"
    tc = TrainConfig(dataset=str(dataset), out=str(out), policy=algo, policy_cfg=values, seed=seed, resume=True,
                     keep_last=max(cfg.last_checkpoints, 1), **train_cfg)
    done = out / "train_summary.json"
    if done.is_file():  # finished earlier with the same budget: reuse (keeps the measured training time)
        summary = json.loads(done.read_text())
        same = summary.get("epochs") == tc.epochs and (tc.epochs is not None or summary.get("step") == tc.steps)
        if same or cfg.reuse_only:
            return out, summary
    if cfg.reuse_only:
        raise FileNotFoundError(f"reuse_only: no finished training run at {out}")
    summary = train(tc)
    write_json(done, summary)
    return out, summary


def _evaluate(cfg: DictConfig, run: Path, task: str) -> list[dict]:
    from policy.evaluate import EvalConfig, evaluate

    ckpts = sorted((run / "checkpoints").glob("step_*"))[-cfg.last_checkpoints :]
    out = []
    for ckpt in ckpts:
        ec = EvalConfig(checkpoint=str(ckpt), task=task, seeds=cfg.eval_seeds, seed_offset=cfg.eval_seed_offset,
                        workers=cfg.eval_workers, videos=cfg.videos, num_threads=cfg.train.num_threads)
        prev = ckpt / "eval" / "eval.json"
        rec = json.loads(prev.read_text()) if prev.is_file() else None
        if rec is None or (rec["config"]["seeds"], rec["config"]["seed_offset"]) != (ec.seeds, ec.seed_offset):
            if cfg.reuse_only:  # report what was evaluated; say so in the record
                log.warning("reuse_only: %s has no evaluation on these seeds; left out", ckpt)
                continue
            rec = evaluate(ec, ckpt / "eval")  # else: reuse the evaluation of this checkpoint on the same seeds
        out.append({"checkpoint": ckpt.name, "step": rec["step"], "success_rate": rec["success_rate"],
                    "episodes": rec["episodes"], "wall_seconds": rec["wall_seconds"]})
    return out


def add_expert_ratios(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set each cell's ``ratio_to_expert_mean``: its mean over that of the expert cell of the same task, algorithm
    and demo seeds (None without one, or when the expert's mean is 0). Returns ``cells``."""
    experts = {(c["task"], c["algo"], c["demo_seeds"]): c for c in cells if c["source"] == "expert"}
    for c in cells:
        ref = experts.get((c["task"], c["algo"], c["demo_seeds"]))
        c["ratio_to_expert_mean"] = (c["mean"] / ref["mean"]) if ref and ref["mean"] > 0 else None
    return cells


def run_table(cfg: DictConfig) -> dict[str, Any]:
    """Run every cell of the table; returns the JSON record (also written to ``cfg.results``)."""
    t_start = time.perf_counter()
    cells: list[dict[str, Any]] = []
    for task in cfg.tasks:
        for source in cfg.sources:
            attempts = source_attempts(cfg, source)
            key = _source_key(source, attempts)
            dataset = Path(cfg.root) / "demos" / _demo_name(cfg, task, source, attempts)
            if cfg.reuse_only and not dataset.is_file():
                log.warning("reuse_only: no demos %s; cell left out", dataset)
                continue
            _demos(cfg, dataset, task, source, attempts)
            with open(dataset.with_suffix(".json")) as f:
                collect_report = json.load(f)
            with DemoFile(dataset) as f:
                trainable = len(f.successful("train"))
            for algo in cfg.algos:
                cell = {"task": task, "source": source, "algo": algo, "demo_seeds": int(cfg.num_demos),
                        "attempts": int(collect_report["config"].get("attempts", 1)),
                        "attempts_run": int(collect_report.get("attempts_run", collect_report["episodes"])),
                        "demos": collect_report["demos_written"],
                        "demos_successful": collect_report["successful"], "demos_trained_on": trainable}
                if weights := collect_report.get("key", {}).get("generator_weights"):  # which weights made the demos
                    cell["generator_weights"] = weights
                if trainable == 0:  # nothing to imitate: no policy, so the robot succeeds on no seed
                    log.warning("%s / %s: no successful demo in the train split of %s; cell counted as 0%%",
                                task, source, dataset)
                    cells.append({**cell, "checkpoints_evaluated": [], "max": 0.0, "mean": 0.0, "train_seeds": [],
                                  "note": "no successful demo to train on; counted as 0% success"})
                    continue
                per_seed = []
                for seed in cfg.train_seeds:
                    try:
                        run, summary = _train(cfg, dataset, Path(cfg.root) / task / key, algo, int(seed))
                    except FileNotFoundError as exc:
                        log.warning("%s", exc)
                        continue
                    evals = _evaluate(cfg, run, task)
                    if not evals:
                        continue
                    rates = [e["success_rate"] for e in evals]
                    per_seed.append({"train_seed": int(seed), "run": str(run), "train_seconds": summary["seconds"],
                                     "final_train_loss": summary["final_train_loss"], "checkpoints": evals,
                                     "max": max(rates), "mean": float(np.mean(rates))})
                if not per_seed:
                    continue
                cells.append({
                    **cell,
                    "checkpoints_evaluated": [len(s["checkpoints"]) for s in per_seed],
                    "max": float(np.mean([s["max"] for s in per_seed])),
                    "mean": float(np.mean([s["mean"] for s in per_seed])),
                    "train_seeds": per_seed,
                })
                log.info("%s / %s / %s: max %.2f mean %.2f", task, source, algo, cells[-1]["max"], cells[-1]["mean"])
    add_expert_ratios(cells)
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_seconds": time.perf_counter() - t_start,
        "config": to_plain(cfg),
        "env": hoi2robot_env(),
        "machine": machine_info(),
        "protocol": (f"per training seed: success over {cfg.eval_seeds} held-out seeds (from {cfg.eval_seed_offset}) "
                     f"of each of the last {cfg.last_checkpoints} checkpoints; max and mean over those checkpoints, "
                     f"averaged over {len(cfg.train_seeds)} training seed(s)"),
        "cells": cells,
    }
    record["json"] = str(write_json(Path(cfg.results), record))
    return record


def format_table(record: dict[str, Any]) -> str:
    lines = ["| task | source | algo | demos | success max | success mean | mean / expert |", "|---|---|---|---|---|---|---|"]
    for c in record["cells"]:
        ratio = "–" if c["ratio_to_expert_mean"] is None else f"{100 * c['ratio_to_expert_mean']:.0f}%"
        lines.append(f"| {c['task']} | {series(c)} | {c['algo']} | {c['demos']} | {100 * c['max']:.0f}% | "
                     f"{100 * c['mean']:.0f}% | {ratio} |")
    return "\n".join(lines)


SOURCE_COLORS = {"expert": "#4c4c4c", "oracle-hand": "#1f77b4", "tracked-hand": "#2ca02c", "generated": "#d62728"}
LABEL_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def series(cell: dict[str, Any]) -> str:
    """A cell's source as the table and chart name it: ``generated ≤4 tries`` when its demo seeds were retried
    (``collect.attempts``), so it stands beside, not over, the cell of one attempt per seed; a cell's ``label`` (the
    generator weights' name, set by ``bench/policy_sources_plot.py``) follows in parentheses."""
    attempts = int(cell.get("attempts", 1))
    name = cell["source"] if attempts == 1 else f"{cell['source']} ≤{attempts} tries"
    return f"{name} ({cell['label']})" if cell.get("label") else name


def series_order(cells: list[dict[str, Any]]) -> list[str]:
    """The cells' series in chart order: by source (expert, oracle-hand, tracked-hand, generated, then others by
    name), then by tries per demo seed (1, 4, 8, 12: numerically), then by label."""
    order = list(SOURCE_COLORS)
    rank = {series(c): (order.index(c["source"]) if c["source"] in order else len(order), c["source"],
                        int(c.get("attempts", 1)), c.get("label") or "") for c in cells}
    return sorted(rank, key=rank.get)


def plot_table(cells: list[dict[str, Any]], out: str | Path, title: str = "") -> Path:
    """Bar chart of table cells: one group per task × algorithm × demo seeds, one bar per source (height: the mean
    over the last checkpoints, tick: the max), labelled with the successful demos and the ratio to expert; a dashed
    line at 90% of the expert's mean (the issue's target). Returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not cells:
        raise ValueError("plot_table: no cells to plot")
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        groups.setdefault((c["task"], c["algo"], c["demo_seeds"]), []).append(c)
    sources = series_order(cells)
    # colour by source (by label for other generator weights), hatch by tries
    base = {series(c): (c["source"], int(c.get("attempts", 1)), c.get("label")) for c in cells}
    tries = sorted({t for _, t, _ in base.values()} - {1})
    labels = sorted({label for _, _, label in base.values() if label})
    colors = {s: (LABEL_COLORS[labels.index(base[s][2]) % len(LABEL_COLORS)] if base[s][2]
                  else SOURCE_COLORS.get(base[s][0], "#9467bd")) for s in sources}
    hatch = {s: "/" * (2 + tries.index(base[s][1])) if base[s][1] > 1 else None for s in sources}  # denser: more
    width = 0.8 / max(len(sources), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) + 1.5), 3.6))
    for g, (key, members) in enumerate(groups.items()):
        for c in members:
            name = series(c)
            x = g - 0.4 + width * (sources.index(name) + 0.5)
            ax.bar(x, 100 * c["mean"], width * 0.9, color=colors[name], hatch=hatch[name], edgecolor="white")
            ax.plot([x - width * 0.4, x + width * 0.4], [100 * c["max"]] * 2, color="black", lw=1.5)
            ratio = c.get("ratio_to_expert_mean")
            label = f"{c['demos_successful']}"
            if ratio is not None and c["source"] != "expert":
                label += f"\n{100 * ratio:.0f}%"
            ax.text(x, 100 * c["max"] + 1.5, label, ha="center", va="bottom", fontsize=6.5)
        expert = next((c for c in members if c["source"] == "expert"), None)
        if expert is not None:
            ax.plot([g - 0.42, g + 0.42], [90 * expert["mean"]] * 2, ls="--", color="gray", lw=1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{t}\n{a}, {n} seeds" for t, a, n in groups], fontsize=8)
    ax.set_ylim(0, 118)
    ax.set_ylabel("success (%): bar mean, tick max")
    ax.set_title(title or "policy success by demo source (label: successful demos, % of expert)", fontsize=9)
    for s in sources:
        ax.bar(np.nan, np.nan, color=colors[s], hatch=hatch[s], edgecolor="white", label=s)
    ax.plot([], [], ls="--", color="gray", lw=1, label="90% of expert")
    ax.legend(fontsize=7, ncol=min(len(sources) + 1, 5), loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="policy/source_table")
def main(cfg: DictConfig) -> None:
    record = run_table(cfg)
    print(format_table(record))
    print(f"results: {record['json']}")
    if record["cells"]:
        print(f"plot: {plot_table(record['cells'], Path(record['json']).with_suffix('.png'))}")


if __name__ == "__main__":
    main()
