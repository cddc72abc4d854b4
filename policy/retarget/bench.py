"""Retargeting benchmark: grasp-point accuracy of tracked hands vs ground truth, and track + retarget latency.

    python -m policy.retarget.bench [--tasks Lift Stack PickPlaceCan Push] [--seeds 5] [--latency-clips 5]

``--latency-clips 0`` skips the latency run and ``--seeds 0`` the grasp errors; the skipped part's numbers are kept
from the previous ``--out`` file (marked ``latency_from`` / ``grasp_from``).

For each (task, seed) engine demo (:func:`policy.retarget.rows.demo_clip`, 256², 32 frames, egoview), MediaPipe
tracks the rendered video and the retargeter lifts it twice — with the context frame's depth and without depth
(table-plane prior). The 3D grasp point (same definition on the GT keypoints) is compared with the ground truth:

* ``median_all_cm``: median over every frame where the hand was detected and kept;
* ``median_contact_cm``: median over the contact frames (the first three frames of each grasp / the frame before each
  release; for pushes the lowest fifth of the frames).

Latency: MediaPipe tracking + retargeting (with the context depth) of a 16-frame clip (``make_clip(...,
num_frames=16)``), after one warm-up, median over clips, for each of :data:`TRACKER_VARIANTS`; 1 torch/OpenMP
thread. Prints the tables and writes ``bench/results/retarget.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "grasp_errors", "TRACKER_VARIANTS"]

# tracker presets (configs/tracker/<name>.yaml) whose latency is measured: the default (zoom search on frames without
# a hand: magnified crops around the last hand, then a 3×3 grid) and realtime (one hand; crops only around a hand seen
# a few frames before or after)
TRACKER_VARIANTS: tuple[str, ...] = ("mediapipe", "realtime")


def _contacts(rep) -> np.ndarray:
    """Contact frames of a retarget report: the first three frames of each grasp and the frame before each release;
    for a push the lowest fifth of the frames."""
    g = rep.gripper_frames > 0.5
    T = len(g)
    out = np.zeros(T, bool)
    if rep.has_grasp:
        for i in range(T):
            if g[i] and (i == 0 or not g[i - 1]):
                out[i : i + 3] = g[i : i + 3]
            if i < T - 1 and g[i] and not g[i + 1]:
                out[i] = True
    else:
        z = np.where(rep.valid, rep.lifted_point[:, 2], np.inf)
        order = np.argsort(z)[: max(1, int(rep.valid.sum()) // 5)]
        out[order] = True
    return out & rep.valid


def grasp_errors(clip, track, depth, mode: str) -> dict:
    """Grasp-point errors (m) of one tracked clip retargeted in lift ``mode``: ``all`` frames where the hand was seen
    and kept, ``contact`` frames (:func:`_contacts`), each against the same grasp point of the ground-truth
    keypoints."""
    from policy.retarget import Retargeter
    from policy.retarget.retargeter import grasp_points
    from policy.retarget.rows import _retarget_cfg

    # the lifted hand's accuracy: without the release clearance, a deliberate offset of the robot's release point
    rt = Retargeter(_retarget_cfg(mode).replace(lift={"release_clearance": 0.0}))
    rt.retarget(track, clip.camera, depth)
    rep = rt.last_report
    cfg = rt.cfg.grasp
    slot = int(np.argmax(clip.hand_present.sum(axis=0)))
    gt = grasp_points(clip.keypoints_3d[:, slot].astype(np.float64), rep.grasp_type, cfg.power_depth, cfg.pinch_point)
    m = rep.valid & clip.hand_present[:, slot]
    err = np.linalg.norm(rep.lifted_point - gt, axis=1)
    c = _contacts(rep) & m
    return {
        "grasp_type": rep.grasp_type,
        "all": err[m].tolist(),
        "contact": err[c].tolist(),
    }


def _previous(path: Path) -> dict:
    """The record of an earlier run at ``path`` ({} when there is none or it is unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m policy.retarget.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=["Lift", "Stack", "PickPlaceCan", "Push"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--latency-clips", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path("bench/results/retarget.json"))
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from hoi2robot.config import machine_info
    from hoi_videogen.hands import HandTracker, HandTrackerConfig
    from policy.retarget import Retargeter
    from policy.retarget.rows import _retarget_cfg, context_depth, demo_clip

    rows: dict[str, dict] = {}
    pooled = {"depth": {"all": [], "contact": []}, "plane": {"all": [], "contact": []}}
    with HandTracker() as tracker:
        for task in args.tasks if args.seeds > 0 else []:
            acc = {"depth": {"all": [], "contact": []}, "plane": {"all": [], "contact": []}}
            det = []
            for seed in range(args.seeds):
                clip = demo_clip(task, seed)
                track = tracker.track(clip.video, fps=clip.fps)
                det.append(track.detection_rate())
                if not track.valid.any():
                    continue
                for mode, depth in (("depth", context_depth(task, seed)), ("plane", None)):
                    try:
                        e = grasp_errors(clip, track, depth, mode)
                    except Exception as exc:  # a clip that cannot be retargeted counts as missing
                        print(f"{task} seed {seed} {mode}: {exc}")
                        continue
                    acc[mode]["all"] += e["all"]
                    acc[mode]["contact"] += e["contact"]
            rows[task] = {"detection_rate": float(np.mean(det))}
            for mode in acc:
                for k in ("all", "contact"):
                    v = acc[mode][k]
                    rows[task][f"{mode}_median_{k}_cm"] = float(np.median(v) * 100) if v else float("nan")
            for mode in acc:
                for k in ("all", "contact"):
                    pooled[mode][k] += acc[mode][k]
    # latency of a 16-frame clip for each tracker preset; clips are rendered first so that only tracking +
    # retargeting is timed; detection = share of the frames with >= 15 of the hand's 21 keypoints in view
    # --latency-clips 0: no latency run; the latency of the previous --out file (if any) is kept, marked as such
    from sim.handsim.engine import make_clip

    n_clips = args.latency_clips + 1 if args.latency_clips > 0 else 0
    clips = [make_clip(args.tasks[k % len(args.tasks)], 1000 + k, resolution=256, num_frames=16, camera="egoview")
             for k in range(n_clips)]  # fmt: skip
    depths = [context_depth(clip.task, clip.seed) if clip.seed >= 0 else None for clip in clips]
    rt = Retargeter(_retarget_cfg("depth"))
    lat_all: dict[str, dict[str, list[float]]] = {}
    load_before = os.getloadavg()
    for variant in TRACKER_VARIANTS:
        lat = lat_all[variant] = {"track": [], "retarget": [], "total": [], "detection": []}
        with HandTracker(HandTrackerConfig.preset(variant)) as tracker:
            for k, (clip, depth) in enumerate(zip(clips, depths)):
                t0 = time.perf_counter()
                track = tracker.track(clip.video, fps=clip.fps)
                t1 = time.perf_counter()
                try:
                    rt.retarget(track, clip.camera, depth)
                except Exception as exc:
                    print(f"latency clip {k} ({variant}): {exc}")
                t2 = time.perf_counter()
                if k == 0:
                    continue  # warm-up (imports, first landmarker)
                lat["track"].append(t1 - t0)
                lat["retarget"].append(t2 - t1)
                lat["total"].append(t2 - t0)
                eligible = (clip.visibility.sum(axis=-1) >= 15).any(axis=1)
                lat["detection"].append(float(track.valid.any(axis=1)[eligible].mean()) if eligible.any() else 1.0)
    all_tasks = {m: float(np.nanmedian([rows[t][f"{m}_median_all_cm"] for t in rows])) if rows else float("nan")
                 for m in ("depth", "plane")}  # fmt: skip
    pooled_cm = {f"{m}_median_{k}_cm": float(np.median(v) * 100) if v else float("nan")
                 for m, d in pooled.items() for k, v in d.items()}  # fmt: skip
    seeds, grasp_from = args.seeds, "this run"
    if args.seeds <= 0:  # --seeds 0: latency only; the grasp errors of the previous --out file are kept
        old = _previous(args.out)
        rows, pooled_cm, all_tasks = old.get("tasks", {}), old.get("pooled_cm", {}), old.get("median_of_task_medians_all_cm", {})
        seeds, grasp_from = old.get("seeds_per_task", 0), old.get("grasp_from", "this run")
        if grasp_from == "this run":
            grasp_from = f"kept from the previous {args.out} ({old.get('command', '?')})"
    latency = {v: {k: float(np.median(x)) for k, x in lat.items()} for v, lat in lat_all.items()}
    latency_from = "this run"
    if args.latency_clips <= 0:
        lat_all, latency, latency_from = {}, {}, "not measured"
        old = _previous(args.out)
        if old:
            latency, lat_all = old.get("latency_16_frames_s", {}), old.get("latency_samples", {})
            latency_from = old.get("latency_from", "this run")
            if latency_from == "this run":  # name the run that measured it, also when kept more than once
                latency_from = f"kept from the previous {args.out} ({old.get('command', '?')})"
    print(f"\n3D grasp-point error of tracked keypoints vs ground truth (median, cm; contact = grasp/release frames; "
          f"{grasp_from})\n")
    print("| task | detection | with depth: all frames | with depth: contact | no depth: all frames | no depth: contact |")
    print("|---|---|---|---|---|---|")
    for t, r in rows.items():
        print(f"| {t} | {r['detection_rate']:.2f} | {r['depth_median_all_cm']:.2f} | {r['depth_median_contact_cm']:.2f} "
              f"| {r['plane_median_all_cm']:.2f} | {r['plane_median_contact_cm']:.2f} |")  # fmt: skip
    p = {k: pooled_cm.get(k, float("nan")) for k in ("depth_median_all_cm", "depth_median_contact_cm",
                                                       "plane_median_all_cm", "plane_median_contact_cm")}
    print(f"| all (pooled) | | {p['depth_median_all_cm']:.2f} | {p['depth_median_contact_cm']:.2f} "
          f"| {p['plane_median_all_cm']:.2f} | {p['plane_median_contact_cm']:.2f} |")  # fmt: skip
    print(f"\nlatency of a 16-frame 256² clip, median of {args.latency_clips} (s; {latency_from})\n")
    print("| tracker | track | retarget | total | detection |")
    print("|---|---|---|---|---|")
    for v, l in latency.items():
        print(f"| {v} | {l['track']:.3f} | {l['retarget']:.3f} | {l['total']:.3f} "
              f"| {l['detection']:.2f} |")  # fmt: skip
    record = {
        "command": "python -m policy.retarget.bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "seeds_per_task": seeds,
        "grasp_from": grasp_from,
        "tasks": rows,
        "pooled_cm": pooled_cm,
        "median_of_task_medians_all_cm": all_tasks,
        "latency_16_frames_s": latency,
        "latency_from": latency_from,
        "tracker_variants": {v: vars(HandTrackerConfig.preset(v)) for v in TRACKER_VARIANTS},
        "load_average_before_latency": load_before if n_clips else None,
        "latency_samples": lat_all,
        "threads": {"torch": 1, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "machine": machine_info(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
