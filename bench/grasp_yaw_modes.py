"""How far the gripper turns about the vertical before it closes, against the box's yaw, in demo HDF5 files.

A parallel gripper can hold a cube across either pair of side faces and at two yaws half a turn apart, so one
scene has four equivalent grasps. A source that picks among them inconsistently (``objects.grasp_yaw: hand``
follows the hand's closing axis) gives demos whose wrist turns differ by ±90° on similar scenes, and a policy
trained on them averages the modes. This plots each demo's turn at the first close against the object's yaw, one
panel per file, and writes the points to JSON.

    python bench/grasp_yaw_modes.py runs/policy_sources/demos/Lift_expert_50.hdf5 \\
        runs/policy_sources/demos/Lift_oracle-hand_50.hdf5 runs/policy_sources_least_turn/demos/Lift_oracle-hand_50.hdf5 \\
        --labels expert "oracle-hand, grasp_yaw hand" "oracle-hand, grasp_yaw least_turn"
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[1]


def _rot(q_wxyz: np.ndarray) -> Rotation:
    return Rotation.from_quat(np.roll(np.asarray(q_wxyz, float), -1))  # scipy wants (x, y, z, w)


def grasp_turns(path: str | Path, obj: str = "cube") -> list[dict]:
    """Per demo: seed, success, the object's yaw (deg, wrapped to the cube's [-45, 45)), the gripper's turn about the
    vertical from its start to the first gripper-close action (deg, in (-180, 180])."""
    from policy.datasets.hdf5 import read_demos

    key = f"{obj}_quat"
    out = []
    for d in read_demos(path):
        if key not in d.obs:
            raise KeyError(f"{path}: demos have no observation {key!r} (choose --object)")
        closes = np.flatnonzero(d.actions[:, 6] > 0)
        if not len(closes):
            continue
        i = int(closes[0])
        obj_yaw = _rot(d.obs[key][0]).as_euler("zyx", degrees=True)[0]
        q0, qi = _rot(d.obs["robot0_eef_quat"][0]), _rot(d.obs["robot0_eef_quat"][i])
        turn = (qi * q0.inv()).as_rotvec(degrees=True)[2]  # about the base z axis
        out.append({"seed": d.seed, "success": bool(d.success), "object_yaw": float((obj_yaw + 45) % 90 - 45),
                    "turn": float(turn), "close_step": i})
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="demo HDF5 files (hoi-collect-demos)")
    ap.add_argument("--labels", nargs="+", default=None, help="one panel title per file (default: file names)")
    ap.add_argument("--object", default="cube", help="the grasped object's observation prefix (<object>_quat)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "grasp_yaw_modes.json"))
    args = ap.parse_args(argv)
    labels = args.labels or [Path(f).stem for f in args.files]
    if len(labels) != len(args.files):
        ap.error(f"{len(args.files)} files but {len(labels)} labels")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hoi2robot.config import write_json

    panels = {label: grasp_turns(f, args.object) for label, f in zip(labels, args.files)}
    spread = {k: float(np.mean([abs(p["turn"] - p["object_yaw"]) for p in v])) if v else float("nan")
              for k, v in panels.items()}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), sharey=True, squeeze=False)
    for ax, (label, pts) in zip(axes[0], panels.items()):
        x = np.array([p["object_yaw"] for p in pts])
        y = np.array([p["turn"] for p in pts])
        ok = np.array([p["success"] for p in pts])
        ax.scatter(x[ok], y[ok], s=14, label="demo succeeded")
        ax.scatter(x[~ok], y[~ok], s=14, marker="x", color="tab:red", label="demo failed")
        for k in (-1, 0, 1):  # the equivalent grasps: the object's yaw plus quarter turns
            ax.plot([-45, 45], [-45 + 90 * k, 45 + 90 * k], color="0.8", lw=0.8, zorder=0)
        ax.set_title(f"{label}\nmean |turn − object yaw| {spread[label]:.0f}°", fontsize=9)
        ax.set_xlabel("object yaw (deg, mod 90)")
        ax.set_xlim(-47, 47)
        ax.set_ylim(-140, 140)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("gripper turn before the close (deg)")
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    png = Path(args.out).with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    record = {"files": dict(zip(labels, map(str, args.files))), "object": args.object, "demos": panels,
              "mean_abs_turn_minus_yaw": spread}
    write_json(args.out, record)
    for k, v in record["mean_abs_turn_minus_yaw"].items():
        print(f"{k:40s} {len(panels[k]):3d} demos  mean |turn - object yaw| {v:5.1f} deg")
    print(f"plot: {png}\nrecord: {args.out}")
    return record


if __name__ == "__main__":
    main()
