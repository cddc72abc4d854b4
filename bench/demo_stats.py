"""How demonstration sets differ: per group of successful training demos, their length, when and where the gripper
closes, how fast the object is lifted, and how much the actions of nearby states disagree across demos.

A file collected with ``attempts`` > 1 is split into the seeds that succeeded on their first generation and those
that needed more (``retried``), from its report; every other file given is one group. Action disagreement: for each
state, the mean distance between its translation action and those of its k nearest states (z-scored low-dim
observations) in *other* demos; it falls as a set grows denser, so every group is subsampled to the size of the
smallest one (``--draws`` random subsets, averaged).

    python bench/demo_stats.py runs/policy_sources_least_turn/demos/Lift_generated_x4_200.hdf5 \\
        runs/policy_sources_least_turn/demos/Lift_expert_200.hdf5 --out bench/results/demo_stats_lift_x4.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoi2robot.config import write_json  # noqa: E402
from policy.datasets.hdf5 import Demo, DemoFile, flat_obs  # noqa: E402


def load_groups(paths: list[str]) -> tuple[dict[str, list[Demo]], list[str]]:
    """Successful train-split demos per group (see the module doc), and the low-dim keys of the first file."""
    groups: dict[str, list[Demo]] = {}
    keys: list[str] = []
    for path in paths:
        with DemoFile(path) as f:
            keys = keys or list(f.env_args["lowdim_keys"])
            demos = [f.demo(n) for n in f.successful("train")]
        report = Path(path).with_suffix(".json")
        attempts = {}
        if report.is_file():
            attempts = {r["seed"]: int(r.get("attempts", 1)) for r in json.loads(report.read_text())["per_seed"]}
        name = Path(path).stem
        if any(a > 1 for a in attempts.values()):
            groups[f"{name} first"] = [d for d in demos if attempts.get(d.seed, 1) == 1]
            groups[f"{name} retried"] = [d for d in demos if attempts.get(d.seed, 1) > 1]
        else:
            groups[name] = demos
    return groups, keys


def action_disagreement(demos: list[Demo], keys: list[str], k: int = 5) -> float:
    """Mean distance between a state's translation action and those of its k nearest states in other demos."""
    obs = [flat_obs(d.obs, keys) for d in demos]
    owner = np.concatenate([np.full(len(o), i) for i, o in enumerate(obs)])
    x = np.concatenate(obs)
    a = np.concatenate([d.actions[:, :3] for d in demos])
    z = (x - x.mean(0)) / (x.std(0) + 1e-6)
    _, nearest = cKDTree(z).query(z, k=min(len(z), 12 * k))
    out = []
    for i, row in enumerate(nearest):
        others = [j for j in row if owner[j] != owner[i]][:k]
        if others:
            out.append(np.linalg.norm(a[others] - a[i], axis=1).mean())
    return float(np.mean(out))


def group_stats(demos: list[Demo], keys: list[str]) -> dict[str, float | int | None]:
    lengths = [len(d) for d in demos]
    closes = [int(np.argmax(d.actions[:, -1] > 0)) if (d.actions[:, -1] > 0).any() else None for d in demos]
    grasped = [(d, c) for d, c in zip(demos, closes) if c is not None]
    rel = next((key for key in keys if key.startswith("gripper_to_") and key.endswith("_pos")), None)
    out: dict[str, float | int | None] = {
        "demos": len(demos),
        "length_mean": float(np.mean(lengths)),
        "length_sd": float(np.std(lengths)),
        "grasped": len(grasped),
        "close_step_mean": float(np.mean([c for _, c in grasped])) if grasped else None,
        "close_step_sd": float(np.std([c for _, c in grasped])) if grasped else None,
        "gripper_toggles": float(np.mean([np.sum(np.diff((d.actions[:, -1] > 0).astype(int)) != 0) for d in demos])),
        "steps_after_close": float(np.mean([len(d) - c for d, c in grasped])) if grasped else None,
        "lift_action_z": float(np.mean([d.actions[c:, 2].mean() for d, c in grasped])) if grasped else None,
        "grasp_offset_cm": (float(np.mean([np.linalg.norm(d.obs[rel][c]) for d, c in grasped])) * 100
                            if grasped and rel else None),
    }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="demo .hdf5 files (their .json reports beside them)")
    parser.add_argument("--draws", type=int, default=5, help="random equal-size subsets for action disagreement")
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args(argv)
    groups, keys = load_groups(args.files)
    empty = [g for g, d in groups.items() if len(d) < 2]
    if empty:
        parser.error(f"groups with fewer than 2 successful train demos: {empty}")
    size = min(len(d) for d in groups.values())
    rng = np.random.default_rng(0)
    rows = {}
    for name, demos in groups.items():
        stats = group_stats(demos, keys)
        subsets = [[demos[i] for i in rng.choice(len(demos), size, replace=False)] for _ in range(args.draws)]
        stats["action_disagreement"] = float(np.mean([action_disagreement(s, keys) for s in subsets]))
        rows[name] = stats
    cols = ["demos", "length_mean", "close_step_mean", "close_step_sd", "steps_after_close", "lift_action_z",
            "grasp_offset_cm", "action_disagreement"]
    print(f"{'group':34s}" + "".join(f"{c:>20s}" for c in cols))
    for name, stats in rows.items():
        cells = ["-" if stats[c] is None else (f"{stats[c]:.3f}" if isinstance(stats[c], float) else str(stats[c]))
                 for c in cols]
        print(f"{name:34s}" + "".join(f"{c:>20s}" for c in cells))
    record = {"files": args.files, "subset_size": size, "draws": args.draws, "groups": rows,
              "command": "python bench/demo_stats.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if args.out:
        write_json(args.out, record)
    return record


if __name__ == "__main__":
    main()
