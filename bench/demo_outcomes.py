"""What the robot physically did in each demonstration of a collection, failed ones included: which object it lifted,
pushed, or whether it moved nothing. Tells a generator's failures apart (no grasp seen in the video → the plan
became a push; a grasp of the wrong object; a lift that was then lost) without re-running anything.

Objects are the task's movable objects (``TaskSpec.objects``: their ``<name>_pos`` observations). Per demo: an object
is *lifted* if it rose ``--lift-cm`` above its rest height (the lowest of its first 5 steps: objects settle onto the
table in the first step), *moved* if its final table position is ``--move-cm`` from its start (the tasks' success
checks stop a demo early: a Lift demo ends once the cube is about 1.5 cm up). The outcome is ``lifts <obj>`` (the
object that rose most), else ``pushes <obj>`` (the one moved most), else ``moves nothing``. A collection made with
``attempts`` > 1 keeps the last attempt of each failed seed.

    python bench/demo_outcomes.py runs/policy_sources_third/demos/Stack_generated_x4_200.hdf5 \\
        --out bench/results/demo_outcomes_stack_third_x4.json
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoi2robot.config import write_json  # noqa: E402
from policy.datasets.hdf5 import Demo, DemoFile  # noqa: E402
from sim.tasks.specs import TASKS  # noqa: E402


def outcome(demo: Demo, lift_cm: float = 1.0, move_cm: float = 2.0) -> dict:
    """The demo's outcome (see the module doc), with each object's rise and displacement in cm."""
    objects = TASKS[demo.task].objects if demo.task in TASKS else {}
    pos = {name: demo.obs[f"{name}_pos"] for name in objects if f"{name}_pos" in demo.obs}
    if not pos:
        raise ValueError(f"demo of seed {demo.seed} (task {demo.task!r}): no object position observations "
                         "(<name>_pos of the task's objects) to judge by")
    # above the rest height: the lowest of the first steps (an object spawns above the table and falls to it on the
    # first step, which is not a lift, so that step's height does not count either)
    rise = {k: 100 * float(np.max(p[1:, 2] if len(p) > 1 else p[:, 2]) - np.min(p[:5, 2])) for k, p in pos.items()}
    moved = {k: 100 * float(np.linalg.norm(p[-1, :2] - p[0, :2])) for k, p in pos.items()}
    top = max(rise, key=rise.get)
    push = max(moved, key=moved.get)
    if rise[top] >= lift_cm:
        what = f"lifts {top}"
    elif moved[push] >= move_cm:
        what = f"pushes {push}"
    else:
        what = "moves nothing"
    return {"seed": demo.seed, "success": bool(demo.success), "outcome": what,
            "rise_cm": {k: round(v, 2) for k, v in rise.items()}, "moved_cm": {k: round(v, 2) for k, v in moved.items()}}


def summarize(path: str | Path, lift_cm: float = 1.0, move_cm: float = 2.0) -> dict:
    """Outcomes of every demo in ``path``, counted separately for successful and failed demos."""
    with DemoFile(path) as f:
        rows = [outcome(f.demo(n), lift_cm, move_cm) for n in f.demo_names()]
    counts = {label: dict(Counter(r["outcome"] for r in rows if r["success"] == ok).most_common())
              for label, ok in (("successful", True), ("failed", False))}
    return {"file": str(path), "demos": len(rows), "lift_cm": lift_cm, "move_cm": move_cm, "counts": counts,
            "per_demo": rows}


def format_summary(summary: dict) -> str:
    outcomes = sorted({o for c in summary["counts"].values() for o in c})
    lines = [f"{summary['file']} ({summary['demos']} demos)", "| outcome | successful | failed |", "|---|---|---|"]
    for o in outcomes:
        lines.append(f"| {o} | {summary['counts']['successful'].get(o, 0)} | {summary['counts']['failed'].get(o, 0)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="demo HDF5 files (hoi-collect-demos)")
    ap.add_argument("--lift-cm", type=float, default=1.0)
    ap.add_argument("--move-cm", type=float, default=2.0)
    ap.add_argument("--out", help="JSON to write (all files)")
    args = ap.parse_args(argv)
    out = [summarize(p, args.lift_cm, args.move_cm) for p in args.files]
    for s in out:
        print(format_summary(s))
    if args.out:
        write_json(Path(args.out), {"records": out})
    return out


if __name__ == "__main__":
    main()
