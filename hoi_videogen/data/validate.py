"""Validate an HOIClip dataset's hands with MediaPipe: does the tracker find the GT hands, and how close is it?

For each clip, :class:`~hoi_videogen.hands.HandTracker` runs in VIDEO mode over the video and is scored against the
clip's GT ``keypoints_2d`` with :mod:`hoi_videogen.hands.metrics`: detection rate over the hand-frames with at
least ``min_visible`` of 21 GT keypoints inside the image, and keypoint error (px) on the detected ones (tracked
tracked hands matched to GT hands by position, :func:`~hoi_videogen.hands.metrics.match_hands`: MediaPipe often calls
a rendered right hand "left"; those detections are scored and counted in ``mislabelled``). Each task and camera is checked against the
issue's targets (detection rate >= 95%, mean error <= 5 px at 256², scaled for other resolutions): ``pass`` per row
and overall, PASS/FAIL in :func:`format_table`. Writes ``<root>/validate/report.json`` (per task and camera,
overall, per clip, the worst cases) and ``<root>/validate/worst.png`` (GT green, detection red; drawn with
:mod:`hoi2robot.viz`).
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from hoi2robot.config import worker_pool, write_json
from hoi2robot.media import write_image
from hoi2robot.viz import contact_sheet, draw_hand, draw_text, fit_tile
from hoi_videogen.data.dataset import HOIClipDataset
from hoi_videogen.hands.metrics import MIN_VISIBLE, TrackComparison, compare_track, summarize

__all__ = ["VALIDATE_DIR", "check_targets", "draw_case", "format_table", "pick_worst", "track_clip",
           "validate_dataset"]

VALIDATE_DIR = "validate"
TARGET_DETECTION_RATE = 0.95  # issue 3: the tracker finds the hand in >= 95% of eligible hand-frames ...
TARGET_ERROR_PX_256 = 5.0  # ... with a mean keypoint error <= 5 px at 256² (scaled for other resolutions)
GT_COLOR, DET_COLOR = (0, 220, 0), (255, 40, 40)  # RGB
_TRACKERS: dict[str, Any] = {}  # one HandTracker per process and config


def _tracker(config: dict[str, Any]):
    from hoi_videogen.hands import HandTracker, HandTrackerConfig

    key = repr(sorted(config.items()))
    if key not in _TRACKERS:
        _TRACKERS[key] = HandTracker(HandTrackerConfig(**config))
    return _TRACKERS[key]


def track_clip(root: str | Path, record: dict[str, Any], tracker: dict[str, Any], min_visible: int) -> dict[str, Any]:
    """Track one clip (manifest ``record`` of dataset ``root``) and compare with its GT.

    Returns ``id``, ``task``, ``camera``, ``comparison`` (:class:`TrackComparison`), ``det_keypoints``
    (T×2×21×2 float32 tracked pixels) and ``seconds`` (tracking time).
    """
    clip = HOIClipDataset(root, [record])[0]
    t0 = time.perf_counter()
    track = _tracker(tracker).track(clip.video, fps=clip.fps)
    seconds = time.perf_counter() - t0
    comparison = compare_track(
        clip.keypoints_2d, clip.visibility, clip.hand_present, track.keypoints_2d, track.valid, min_visible
    )
    return {
        "id": record["id"],
        "task": record["task"],
        "camera": record.get("camera") or clip.camera.name,
        "comparison": comparison,
        "det_keypoints": track.keypoints_2d,
        "seconds": seconds,
        "size": int(max(clip.video.shape[1:3])),
    }


def pick_worst(results: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The ``n`` cases for the contact sheet: half the largest errors, half missed hands (spread over the misses);
    either half is topped up from the other when short. Each: ``id``, ``t``, ``slot``, ``error_px`` (None = missed),
    ``det_slot``, ``mislabelled``.
    """
    errors, misses = [], []
    for r in results:
        c: TrackComparison = r["comparison"]
        for t, slot in zip(*np.nonzero(c.eligible)):
            case = {"id": r["id"], "t": int(t), "slot": int(slot), "det_slot": int(c.det_slot[t, slot]),
                    "mislabelled": bool(c.mislabelled[t, slot])}  # fmt: skip
            if c.det_slot[t, slot] >= 0:
                errors.append(dict(case, error_px=float(c.error_px[t, slot])))
            else:
                misses.append(dict(case, error_px=None))
    errors.sort(key=lambda c: -c["error_px"])
    n_err = min(len(errors), max(n - len(misses), math.ceil(n / 2)))
    n_miss = min(len(misses), n - n_err)
    spread = np.linspace(0, len(misses) - 1, n_miss).round().astype(int) if n_miss else []
    return errors[:n_err] + [misses[i] for i in spread]


def draw_case(
    frame: np.ndarray,
    gt: np.ndarray,
    gt_visible: np.ndarray,
    det: np.ndarray | None,
    lines: list[str],
    tile_px: int,
) -> np.ndarray:
    """A tile_px² RGB tile of ``frame`` (H×W×3 uint8) with the GT hand (21×2 px, visible joints) in green, the
    detection (21×2 px, or None) in red, and text ``lines`` at the top."""
    tile, scale = fit_tile(frame, tile_px)
    tile = draw_hand(tile, gt, GT_COLOR, visible=gt_visible, scale=scale)
    if det is not None:
        tile = draw_hand(tile, det, DET_COLOR, scale=scale)
    return draw_text(tile, lines)


def _worst_sheet(ds: HOIClipDataset, results: list[dict[str, Any]], cases: list[dict[str, Any]], tile_px: int):
    by_id = {r["id"]: r for r in results}
    clips = {clip_id: ds.get(clip_id) for clip_id in dict.fromkeys(c["id"] for c in cases)}  # each loaded once
    tiles = []
    for c in cases:
        clip, t, slot = clips[c["id"]], c["t"], c["slot"]
        det = by_id[c["id"]]["det_keypoints"][t, c["det_slot"]] if c["det_slot"] >= 0 else None
        status = "MISSED" if c["error_px"] is None else f"{c['error_px']:.1f}px" + (" mislabelled" if c["mislabelled"] else "")
        lines = [c["id"], f"t={t} {('left', 'right')[slot]} {status}"]
        gt, visible = clip.keypoints_2d[t, slot], clip.visibility[t, slot]
        tiles.append(draw_case(clip.video[t], gt, visible, det, lines, tile_px))
    if not tiles:
        blank = np.zeros((tile_px, tile_px, 3), np.uint8)
        tiles = [draw_case(blank, np.zeros((21, 2)), np.zeros(21, bool), None, ["no eligible", "hand-frames"], tile_px)]
    return contact_sheet(tiles, cols=4)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN floats become None."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def validate_dataset(
    root: str | Path,
    tracker: dict[str, Any] | None = None,
    min_visible: int = MIN_VISIBLE,
    worst: int = 16,
    tile_px: int = 192,
    max_clips: int | None = None,
    workers: int = 1,
    target_detection_rate: float = TARGET_DETECTION_RATE,
    target_error_px_256: float = TARGET_ERROR_PX_256,
) -> dict[str, Any]:
    """Track every clip of the dataset at ``root`` and score it against its GT; write and return the report.

    Args:
        tracker: :class:`~hoi_videogen.hands.HandTrackerConfig` fields (default config when None).
        min_visible: GT keypoints (of 21) inside the image for a hand-frame to count.
        worst: tiles in ``worst.png``; tile_px: their size.
        max_clips: validate at most this many clips, evenly spread over the manifest (None = all).
        workers: processes tracking clips in parallel (spawned; 1 = this process).
        target_detection_rate, target_error_px_256: the targets each task and camera is checked against (PASS
            when its detection rate is at least the first and its mean error at most the second, scaled by the
            clips' resolution / 256); in the report as ``pass`` per row and overall.
    """
    root = Path(root)
    ds = HOIClipDataset(root)
    records = ds.records
    if max_clips is not None and len(records) > max_clips:
        records = [records[i] for i in np.unique(np.linspace(0, len(records) - 1, max_clips).round().astype(int))]
    tracker = dict(tracker or {})
    t0 = time.perf_counter()
    args = [(root, r, tracker, min_visible) for r in records]
    if workers == 1 or len(records) <= 1:
        results = [track_clip(*a) for a in args]
    else:
        with worker_pool(min(workers, len(records))) as pool:
            results = list(pool.map(track_clip, *zip(*args)))
    groups: dict[tuple[str, str], list[TrackComparison]] = defaultdict(list)
    for r in results:
        groups[(r["task"], r["camera"])].append(r["comparison"])
    per_task: dict[str, dict[str, Any]] = defaultdict(dict)
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    for r in results:
        sizes[(r["task"], r["camera"])] = max(sizes[(r["task"], r["camera"])], r["size"])
    for (task, camera), comps in sorted(groups.items()):
        row = dict(clips=len(comps), **summarize(comps))
        row.update(check_targets(row, sizes[(task, camera)], target_detection_rate, target_error_px_256))
        per_task[task][camera] = row
    cases = pick_worst(results, worst)
    out = root / VALIDATE_DIR
    frames = sum(int(r["comparison"].eligible.shape[0]) for r in results)
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "dataset": str(root.resolve()),
        "tracker": tracker,
        "min_visible": min_visible,
        "targets": {"detection_rate": target_detection_rate, "mean_error_px_at_256": target_error_px_256},
        "pass": bool(per_task) and all(row["pass"] for cams in per_task.values() for row in cams.values()),
        "clips": len(results),
        "frames": frames,
        "seconds": time.perf_counter() - t0,
        "track_ms_per_frame": 1000 * sum(r["seconds"] for r in results) / frames if frames else None,
        "overall": summarize(r["comparison"] for r in results),
        "per_task": dict(per_task),
        "per_clip": [
            dict(id=r["id"], task=r["task"], camera=r["camera"], **summarize([r["comparison"]])) for r in results
        ],
        "worst": cases,
        "worst_png": str(write_image(out / "worst.png", _worst_sheet(ds, results, cases, tile_px))),
    }
    report["json"] = str(out / "report.json")
    write_json(out / "report.json", _clean(report))
    return _clean(report)


def check_targets(
    row: dict[str, Any], resolution: int, target_detection_rate: float, target_error_px_256: float
) -> dict[str, Any]:
    """PASS/FAIL of one summary row (:func:`summarize`) of clips at ``resolution`` px: ``target_error_px`` (the
    256² target scaled to the resolution), ``resolution``, ``pass`` (a row without eligible hand-frames fails)."""
    rate, err = row["detection_rate"], row["mean_error_px"]
    target_err = target_error_px_256 * resolution / 256.0
    ok = (
        row["eligible"] > 0
        and not math.isnan(rate)
        and rate >= target_detection_rate
        and not math.isnan(err)
        and err <= target_err
    )
    return {"resolution": int(resolution), "target_error_px": target_err, "pass": bool(ok)}


def format_table(report: dict[str, Any]) -> str:
    """Markdown table of a :func:`validate_dataset` report: one line per task and camera with the targets and
    PASS/FAIL, then overall."""

    def fmt(x: float | None, spec: str) -> str:
        return "–" if x is None else format(x, spec)

    targets = report.get("targets", {})
    rate_t = targets.get("detection_rate")
    lines = [
        "| task | camera | clips | hand-frames | detected | det. rate | mean px | median px | mislabelled | target"
        " | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(t, c, s) for t, cams in report["per_task"].items() for c, s in cams.items()]
    rows.append(("all", "", dict(clips=report["clips"], **report["overall"])))
    for task, camera, s in rows:
        if "pass" in s and rate_t is not None:
            target = f">= {rate_t:.0%}, <= {s['target_error_px']:.1f} px @{s['resolution']}"
            result = "PASS" if s["pass"] else "FAIL"
        else:
            target, result = "", ("PASS" if report.get("pass") else "FAIL") if task == "all" else ""
        lines.append(
            f"| {task} | {camera} | {s['clips']} | {s['eligible']} | {s['detected']} | "
            f"{fmt(s['detection_rate'], '.0%')} | {fmt(s['mean_error_px'], '.1f')} | "
            f"{fmt(s['median_error_px'], '.1f')} | {s['mislabelled']} | {target} | {result} |"
        )
    return "\n".join(lines)
