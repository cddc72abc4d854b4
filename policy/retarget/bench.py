"""Retargeting benchmark: grasp-point accuracy of tracked hands vs ground truth, and track + retarget latency.

    python -m policy.retarget.bench [--tasks Lift Stack PickPlaceCan Push] [--seeds 5] [--latency-clips 5]  (0: no latency run, the previous --out file's is kept)

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
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "grasp_errors", "TRACKER_VARIANTS"]

# HandTracker settings whose latency is measured: the default (zoom search on frames without a hand: magnified crops
# around the last hand, then a 3×3 grid) and a fast one (one hand, no zoom search)
TRACKER_VARIANTS: dict[str, dict] = {"default": {}, "fast": {"num_hands": 1, "zoom_grid": 0}}


def _contacts(rep) -> np.ndarray:
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
    """Grasp-point errors (m) of one tracked clip retargeted in lift ``mode``."""
    from policy.retarget import Retargeter
    from policy.retarget.oracle import gt_grasp_points
    from policy.retarget.rows import _retarget_cfg

    rt = Retargeter(_retarget_cfg(mode))
    rt.retarget(track, clip.camera, depth)
    rep = rt.last_report
    cfg = rt.cfg.grasp
    slot = int(np.argmax(clip.hand_present.sum(axis=0)))
    from policy.retarget.retargeter import grasp_points

    gt = grasp_points(clip.keypoints_3d[:, slot].astype(np.float64), rep.grasp_type, cfg.power_depth, cfg.pinch_point)
    m = rep.valid & clip.hand_present[:, slot]
    err = np.linalg.norm(rep.lifted_point - gt, axis=1)
    c = _contacts(rep) & m
    return {
        "grasp_type": rep.grasp_type,
        "all": err[m].tolist(),
        "contact": err[c].tolist(),
    }


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
    from hoi_videogen.hands import HandTracker
    from policy.retarget import Retargeter
    from policy.retarget.rows import _retarget_cfg, context_depth, demo_clip

    rows: dict[str, dict] = {}
    pooled = {"depth": {"all": [], "contact": []}, "plane": {"all": [], "contact": []}}
    with HandTracker() as tracker:
        for task in args.tasks:
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
    # latency of a 16-frame clip: the default tracker (zoom search on frames without a hand) and a fast one (one
    # hand, no zoom search); clips are rendered first so that only tracking + retargeting is timed
    # --latency-clips 0: no latency run; the latency of the previous --out file (if any) is kept, marked as such
    from sim.handsim.engine import make_clip

    n_clips = args.latency_clips + 1 if args.latency_clips > 0 else 0
    clips = [make_clip(args.tasks[k % len(args.tasks)], 1000 + k, resolution=256, num_frames=16, camera="egoview")
             for k in range(n_clips)]  # fmt: skip
    depths = [context_depth(clip.task, clip.seed) if clip.seed >= 0 else None for clip in clips]
    rt = Retargeter(_retarget_cfg("depth"))
    lat_all: dict[str, dict[str, list[float]]] = {}
    for variant, overrides in TRACKER_VARIANTS.items():
        lat = lat_all[variant] = {"track": [], "retarget": [], "total": [], "detection": []}
        with HandTracker(**overrides) as tracker:
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
                lat["detection"].append(track.detection_rate())
    all_tasks = {m: float(np.nanmedian([rows[t][f"{m}_median_all_cm"] for t in rows])) for m in ("depth", "plane")}
    pooled_cm = {f"{m}_median_{k}_cm": float(np.median(v) * 100) if v else float("nan")
                 for m, d in pooled.items() for k, v in d.items()}  # fmt: skip
    latency = {v: {k: float(np.median(x)) for k, x in lat.items()} for v, lat in lat_all.items()}
    latency_from = "this run"
    if args.latency_clips <= 0:
        lat_all, latency, latency_from = {}, {}, "not measured"
        if args.out.is_file():
            try:
                old = json.loads(args.out.read_text())
                latency, lat_all = old.get("latency_16_frames_s", {}), old.get("latency_samples", {})
                latency_from = f"kept from the previous {args.out} ({old.get('command', '?')})"
            except (OSError, ValueError):
                pass
    print("\n3D grasp-point error of tracked keypoints vs ground truth (median, cm; contact = grasp/release frames)\n")
    print("| task | detection | with depth: all frames | with depth: contact | no depth: all frames | no depth: contact |")
    print("|---|---|---|---|---|---|")
    for t, r in rows.items():
        print(f"| {t} | {r['detection_rate']:.2f} | {r['depth_median_all_cm']:.2f} | {r['depth_median_contact_cm']:.2f} "
              f"| {r['plane_median_all_cm']:.2f} | {r['plane_median_contact_cm']:.2f} |")  # fmt: skip
    p = pooled_cm
    print(f"| all (pooled) | | {p['depth_median_all_cm']:.2f} | {p['depth_median_contact_cm']:.2f} "
          f"| {p['plane_median_all_cm']:.2f} | {p['plane_median_contact_cm']:.2f} |")  # fmt: skip
    print(f"\nlatency of a 16-frame 256² clip, median of {args.latency_clips} (s; {latency_from})\n")
    print("| tracker | track | retarget | total | detection |")
    print("|---|---|---|---|---|")
    for v, l in latency.items():
        print(f"| {v} {TRACKER_VARIANTS.get(v) or ''} | {l['track']:.3f} | {l['retarget']:.3f} | {l['total']:.3f} "
              f"| {l['detection']:.2f} |")  # fmt: skip
    record = {
        "command": "python -m policy.retarget.bench " + " ".join(argv or []),
        "seeds_per_task": args.seeds,
        "tasks": rows,
        "pooled_cm": pooled_cm,
        "median_of_task_medians_all_cm": all_tasks,
        "latency_16_frames_s": latency,
        "latency_from": latency_from,
        "tracker_variants": TRACKER_VARIANTS,
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
