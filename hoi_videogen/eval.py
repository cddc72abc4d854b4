"""``hoi-eval-generator``: score a video generator on held-out engine clips (HANDI's metrics + an ablation table).

For each held-out HOIClip (default ``data/hoiclips_eval``: engine seeds 1000+ per task, never used in training) the
generator gets the clip's context frame, instruction, seed and camera; its video is compared with the clip:

* **MA IoU** — the generated motion-area mask (thresholded at 0.5; a T×H×W mask is unioned over time) vs the clip's
  GT MA mask.
* **HS-Err** — HANDI Eq. 2 on normalized keypoints, the definition implemented here: per frame and GT hand slot,
  ``mean_j,xy (v_j·K̂_j − v_j·K_j)²`` with ``K̂`` MediaPipe's keypoints on the generated frame (all zero when it
  finds no matching hand), ``K`` the GT keypoints, both in normalized ``[0, 1]`` image coordinates, ``v_j`` the GT
  visibility (missing joints zeroed on both sides); averaged over the hand-frames where the GT hand is present.
  ``hs_err_detected`` averages only where MediaPipe matched the hand; ``hs_err_kpnet`` uses the project's keypoint
  net Υ instead of MediaPipe; ``hs_err_pair`` is HANDI's one-detector form, MediaPipe on the generated video vs
  MediaPipe on the GT video, each side zeroed where it found no hand (:func:`hs_err_pair`). Measured: on the engine's
  own 128² GT videos MediaPipe finds ~60% of hands, so the zero-filled ``hs_err`` of a perfect video is ~0.1 while
  ``hs_err_detected`` and ``hs_err_pair`` are ~0.
* **hand detection rate** — fraction of eligible GT hand-frames (present, >= 15 joints visible) where MediaPipe
  finds the hand in the generated frame (``gt_detection_rate``: the same on the GT video, the reachable ceiling).
* **PSNR outside the MA** — generated vs GT frames, over the pixels outside the (GT) motion area, all frames pooled
  (capped at :data:`PSNR_CAP` dB for identical pixels). The GT forearm and shadows reach outside the keypoint
  hull, so a perfect background paste does not score the cap here; ``psnr_bg_context`` (generated frames vs the
  context frame outside the generated video's own MA: background preservation) and ``gt_psnr_bg_context`` (the
  GT video vs its context outside the GT MA: how much really changes there) separate the two.
* **MA on the object** — whether the generated motion area reaches the object the clip's GT hand acts on
  (``ma_on_object``), and how often it misses that object but covers another one (``ma_other_object_only``, e.g.
  Stack's second cube): instruction following of stage 1 (:func:`object_coverage`).
* **consistency** — mean absolute difference between consecutive frames (0–255 scale) inside and outside the GT
  MA, for the generated video and, as a reference, the GT video.

``gt_ma_row=true`` adds a row for the same generator given each clip's ground-truth motion area (stage 2 alone),
which separates the errors of the motion-area stage from those of the video stage.

An ablation table like HANDI Table 3 scores a list of checkpoints (no MA / MA only / HRL only / both); a row whose
checkpoint folder does not exist is reported as ``not trained`` rather than faked. Writes the JSON record
(default ``bench/results/generator_eval.json``), prints a table and draws a contact sheet (GT vs generated frames).
"""
from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from hoi2robot.contracts import NUM_JOINTS, GeneratedVideo, HandTrack, HOIClip

__all__ = [
    "PSNR_CAP",
    "ClipScore",
    "consistency",
    "evaluate_generator",
    "format_table",
    "hs_err",
    "mask_iou",
    "object_coverage",
    "psnr",
    "run_ablation",
    "summarize_scores",
]

log = logging.getLogger(__name__)

PSNR_CAP = 100.0  # dB reported for identical pixels (MSE 0)
METRICS = (
    "ma_iou", "hs_err", "hs_err_detected", "hs_err_pair", "hs_err_kpnet", "detection_rate", "gt_detection_rate",
    "psnr_outside_ma", "psnr_bg_context", "gt_psnr_bg_context", "consistency_in", "consistency_out", "gt_consistency_in", "gt_consistency_out",
    "ma_on_object", "ma_other_object_only", "seconds",
)  # fmt: skip
MOVED_M = 0.01  # an object the GT hand displaces by more than this (metres) is the one the instruction acts on


# ------------------------------------------------------------------------------------------------------- metrics
def mask_iou(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of two masks (H×W, or T×H×W unioned over time) thresholded at ``threshold``; 1.0 when both are empty."""
    pred, gt = np.asarray(pred, np.float32), np.asarray(gt, np.float32)
    if pred.ndim == 3:
        pred = pred.max(0)
    if gt.ndim == 3:
        gt = gt.max(0)
    if pred.shape != gt.shape:
        raise ValueError(f"mask_iou: masks differ in shape: {pred.shape} vs {gt.shape}")
    a, b = pred >= threshold, gt >= threshold
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def object_coverage(ma: np.ndarray, clip: HOIClip, threshold: float = 0.5, radius: int = 1) -> dict[str, float]:
    """Does a motion area reach the object the instruction acts on? The acted-on object is the one the clip's GT hand
    moves most (more than :data:`MOVED_M`); its start position is projected into the image and the mask read in a
    (2·``radius`` + 1)² window around it.

    ``ma_on_object``: 1 when the mask covers it. ``ma_other_object_only``: 1 when the mask misses it but covers
    another object of the clip (Stack's second cube, a target marker): the hand goes to the wrong thing. NaN where
    undefined (no object moves in the clip; no other object)."""
    m = (ma.max(0) if ma.ndim == 3 else ma) >= threshold
    moved = {k: float(np.linalg.norm(v[:, :3] - v[0, :3], axis=1).max()) for k, v in clip.objects.items()}
    if not moved or max(moved.values()) <= MOVED_M:
        return {"ma_on_object": float("nan"), "ma_other_object_only": float("nan")}
    target = max(moved, key=moved.get)

    def covered(name: str) -> bool:
        (u, v), = clip.camera.project(clip.objects[name][0, :3])[0]
        if not (np.isfinite(u) and np.isfinite(v)):
            return False
        u, v = int(round(u)), int(round(v))
        win = m[max(v - radius, 0) : v + radius + 1, max(u - radius, 0) : u + radius + 1]
        return bool(win.any())

    on = covered(target)
    others = [k for k in clip.objects if k != target]
    other = float("nan") if not others else float(not on and any(covered(k) for k in others))
    return {"ma_on_object": float(on), "ma_other_object_only": other}


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, cap: float = PSNR_CAP) -> float:
    """PSNR in dB of two uint8 images/videos (same shape, ...×H×W×3) over the pixels where ``mask`` (H×W or
    ...×H×W, broadcast) is True; ``cap`` when identical, NaN when the mask selects nothing."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        m = np.broadcast_to(np.asarray(mask, bool)[..., None], diff.shape)
        if not m.any():
            return float("nan")
        mse = float(diff[m].mean())
    else:
        mse = float(diff.mean())
    if mse == 0.0:
        return cap
    return float(min(cap, 10.0 * math.log10(255.0**2 / mse)))


def consistency(frames: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean |frame[t+1] − frame[t]| (0–255) inside and outside ``mask`` (H×W bool); NaN for an empty region or
    a single frame."""
    frames = np.asarray(frames, np.float32)
    m = np.asarray(mask, bool)
    if len(frames) < 2:
        return float("nan"), float("nan")
    d = np.abs(np.diff(frames, axis=0)).mean(-1)  # (T-1)×H×W
    inside = float(d[:, m].mean()) if m.any() else float("nan")
    outside = float(d[:, ~m].mean()) if (~m).any() else float("nan")
    return inside, outside


def hs_err(
    det_keypoints: np.ndarray,
    det_valid: np.ndarray,
    gt_keypoints: np.ndarray,
    gt_visibility: np.ndarray,
    gt_present: np.ndarray,
    width: int,
    height: int,
) -> dict[str, float]:
    """HS-Err (see the module docstring) of one clip. Pixel keypoints in HandTrack layout (T×2×21×2).

    Returns ``hs_err`` (NaN if no GT hand is present), ``hs_err_detected`` (NaN if none matched) and the counts
    ``hand_frames`` / ``matched_frames``.
    """
    from hoi_videogen.hands.keypoint_net import normalize_keypoints
    from hoi_videogen.hands.metrics import match_hands

    present = np.asarray(gt_present, bool)
    det_slot, _ = match_hands(gt_keypoints, present, det_keypoints, det_valid)
    T = present.shape[0]
    rows = np.arange(T)[:, None]
    det = normalize_keypoints(np.asarray(det_keypoints)[rows, np.maximum(det_slot, 0)], width, height)  # T×2×21×2
    det = np.where((det_slot >= 0)[..., None, None], det, 0.0)
    gt = normalize_keypoints(gt_keypoints, width, height)
    v = (np.asarray(gt_visibility, bool) & present[..., None])[..., None].astype(np.float64)
    err = ((det * v - gt * v) ** 2).mean((-1, -2))  # T×2
    matched = present & (det_slot >= 0)
    return {
        "hs_err": float(err[present].mean()) if present.any() else float("nan"),
        "hs_err_detected": float(err[matched].mean()) if matched.any() else float("nan"),
        "hand_frames": int(present.sum()),
        "matched_frames": int(matched.sum()),
    }


def hs_err_pair(generated: HandTrack, reference: HandTrack, width: int, height: int) -> float:
    """HANDI's form with one detector on both videos: ``mean (K̂ − K)²`` over frames × slots × joints × xy with
    ``K̂`` = MediaPipe on the generated video, ``K`` = MediaPipe on the GT video, both normalized, each side zero
    where its detector found no hand (so frames where neither finds the hand count as 0)."""
    from hoi_videogen.hands.keypoint_net import normalize_keypoints

    a = np.where(generated.valid[..., None, None], normalize_keypoints(generated.keypoints_2d, width, height), 0.0)
    b = np.where(reference.valid[..., None, None], normalize_keypoints(reference.keypoints_2d, width, height), 0.0)
    return float(((a - b) ** 2).mean())


# ------------------------------------------------------------------------------------------------- per-clip eval
@dataclass
class ClipScore:
    """Metrics of one generated clip (see the module docstring), plus what is needed to draw it."""

    clip_id: str
    task: str
    metrics: dict[str, float]
    video: GeneratedVideo | None = field(default=None, repr=False)


def _fit(video: GeneratedVideo, clip: HOIClip) -> tuple[np.ndarray, np.ndarray]:
    """The generated frames and MA at the clip's size and frame count (resized / frame indices resampled)."""
    T, H, W = clip.video.shape[:3]
    frames, ma = video.frames, video.ma_mask
    if frames.shape[1:3] != (H, W):
        frames = np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR) for f in frames])
        ma = ma[None] if ma.ndim == 2 else ma
        ma = np.stack([cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR) for m in ma])
        ma = ma[0] if video.ma_mask.ndim == 2 else ma
    if len(frames) != T:
        idx = np.linspace(0, len(frames) - 1, T).round().astype(int)
        frames = frames[idx]
        if ma.ndim == 3:
            ma = ma[idx]
    return frames, ma


def score_clip(
    video: GeneratedVideo,
    clip: HOIClip,
    mp_tracker: Any | None,
    kp_tracker: Any | None = None,
    gt_track: HandTrack | None = None,
) -> dict[str, float]:
    """All metrics of ``video`` against ``clip`` (trackers: objects with ``track(frames, fps) -> HandTrack``)."""
    from hoi_videogen.hands.metrics import compare_track, detection_rate

    frames, ma = _fit(video, clip)
    H, W = clip.video.shape[1:3]
    gt_ma = clip.ma_mask >= 0.5
    m: dict[str, float] = {"ma_iou": mask_iou(ma, clip.ma_mask)}
    m["psnr_outside_ma"] = psnr(frames, clip.video, ~gt_ma)
    own_ma = (ma.max(0) if ma.ndim == 3 else ma) >= 0.5
    m["psnr_bg_context"] = psnr(frames, np.broadcast_to(clip.context, frames.shape), ~own_ma)
    m["gt_psnr_bg_context"] = psnr(clip.video, np.broadcast_to(clip.context, clip.video.shape), ~gt_ma)
    m["consistency_in"], m["consistency_out"] = consistency(frames, gt_ma)
    m["gt_consistency_in"], m["gt_consistency_out"] = consistency(clip.video, gt_ma)
    m.update(object_coverage(ma, clip))
    gt = (clip.keypoints_2d, clip.visibility, clip.hand_present)
    if mp_tracker is not None:
        track = mp_tracker.track(np.ascontiguousarray(frames), clip.fps)
        m.update(hs_err(track.keypoints_2d, track.valid, *gt, W, H))
        comp = compare_track(*gt, track.keypoints_2d, track.valid)
        m["detection_rate"] = detection_rate(comp.detected, comp.eligible)
        m["eligible_frames"] = int(comp.eligible.sum())
        if gt_track is None:
            gt_track = mp_tracker.track(clip.video, clip.fps)
        gcomp = compare_track(*gt, gt_track.keypoints_2d, gt_track.valid)
        m["gt_detection_rate"] = detection_rate(gcomp.detected, gcomp.eligible)
        m["hs_err_pair"] = hs_err_pair(track, gt_track, W, H)
    if kp_tracker is not None:
        kt = kp_tracker.track(np.ascontiguousarray(frames), clip.fps)
        m["hs_err_kpnet"] = hs_err(kt.keypoints_2d, kt.valid, *gt, W, H)["hs_err"]
    return m


def evaluate_generator(
    generator: Any,
    clips: Sequence[HOIClip],
    mp_tracker: Any | None = None,
    kp_tracker: Any | None = None,
    keep_videos: int = 0,
    progress: bool = True,
    clip_ids: Sequence[str] | None = None,
    gt_ma: bool = False,
) -> list[ClipScore]:
    """Generate one video per clip (context frame, instruction, seed = the clip's engine seed, camera) and score it.

    ``keep_videos``: keep the generated videos of the first N clips (for the contact sheet).
    ``gt_ma``: give the generator the clip's ground-truth motion area (``generate(..., ma_mask=)``), so the scores
    are those of its video stage alone.
    """
    from tqdm import tqdm

    if gt_ma and "ma_mask" not in inspect.signature(generator.generate).parameters:
        raise TypeError(f"generator {getattr(generator, 'name', generator)!r} takes no ma_mask, so it cannot be "
                        "scored on the ground-truth motion area (gt_ma_row)")
    scores = []
    for i, clip in enumerate(tqdm(clips, desc=f"eval {getattr(generator, 'name', 'generator')}", disable=not progress)):
        t0 = time.perf_counter()
        extra = {"ma_mask": clip.ma_mask} if gt_ma else {}
        video = generator.generate(clip.context, clip.instruction, seed=clip.seed, camera=clip.camera, **extra)
        seconds = time.perf_counter() - t0
        if not isinstance(video, GeneratedVideo):
            raise TypeError(f"generator returned {type(video).__name__}, expected a GeneratedVideo")
        metrics = score_clip(video, clip, mp_tracker, kp_tracker)
        metrics["seconds"] = seconds
        cid = clip_ids[i] if clip_ids else f"{clip.task}_{clip.seed:06d}"
        scores.append(ClipScore(cid, clip.task, metrics, video if i < keep_videos else None))
    return scores


def summarize_scores(scores: Sequence[ClipScore]) -> dict[str, Any]:
    """Mean of every metric over clips (NaNs skipped), overall and per task; pooled detection rate."""

    def mean(rows: Sequence[ClipScore]) -> dict[str, float]:
        out: dict[str, float] = {"clips": len(rows)}
        for k in METRICS:
            vals = np.array([r.metrics.get(k, np.nan) for r in rows], np.float64)
            out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        # detection rate pooled over hand-frames rather than averaged over clips
        elig = np.array([r.metrics.get("eligible_frames", 0) for r in rows], np.float64)
        rates = np.array([r.metrics.get("detection_rate", np.nan) for r in rows], np.float64)
        ok = np.isfinite(rates) & (elig > 0)
        if ok.any():
            out["detection_rate"] = float((rates[ok] * elig[ok]).sum() / elig[ok].sum())
        return out

    tasks = sorted({s.task for s in scores})
    return {"all": mean(scores), "per_task": {t: mean([s for s in scores if s.task == t]) for t in tasks}}


# ----------------------------------------------------------------------------------------------------- ablation
def _missing_checkpoint(gen_cfg: dict[str, Any]) -> str | None:
    for key in ("path", "pretrained", "checkpoint"):
        p = gen_cfg.get(key)
        if p and not Path(str(p)).exists():
            return f"{key} {p} does not exist"
    return None


def run_ablation(
    rows: Sequence[dict[str, Any]],
    clips: Sequence[HOIClip],
    mp_tracker: Any | None,
    kp_tracker: Any | None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Score each ``{"name": label, "generator": {...build_generator config...}}``.

    A row whose checkpoint (``path``/``pretrained``/``checkpoint`` key) is missing, or whose generator raises
    :class:`FileNotFoundError` when built, is reported as ``{"status": "not trained", "reason": ...}``.
    """
    from hoi_videogen.generators import build_generator

    out = []
    for row in rows:
        label, gen_cfg = row["name"], {k: v for k, v in dict(row["generator"]).items() if v is not None}
        reason = _missing_checkpoint(gen_cfg)
        if reason is None:
            try:
                gen = build_generator(gen_cfg)
            except FileNotFoundError as exc:
                reason = str(exc).splitlines()[0]
        if reason is not None:
            out.append({"name": label, "generator": gen_cfg, "status": "not trained", "reason": reason})
            continue
        scores = evaluate_generator(gen, clips, mp_tracker, kp_tracker, progress=progress)
        out.append({"name": label, "generator": gen_cfg, "status": "ok", **summarize_scores(scores)})
    return out


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per evaluated generator/ablation row."""
    cols = [("MA IoU", "ma_iou", ".3f"), ("HS-Err", "hs_err", ".4f"), ("HS-Err det", "hs_err_detected", ".4f"),
            ("HS-Err MP2", "hs_err_pair", ".4f"), ("HS-Err Υ", "hs_err_kpnet", ".4f"), ("det.rate", "detection_rate", ".2f"),
            ("GT det.", "gt_detection_rate", ".2f"), ("PSNR out", "psnr_outside_ma", ".1f"), ("PSNR bg", "psnr_bg_context", ".1f"),
            ("cons.in", "consistency_in", ".1f"), ("cons.out", "consistency_out", ".2f"), ("MA obj", "ma_on_object", ".2f"),
            ("MA other", "ma_other_object_only", ".2f"), ("s/clip", "seconds", ".2f")]  # fmt: skip
    width = max([len(r["name"]) for r in rows] + [10]) + 2
    head = f"{'row':<{width}}" + "".join(f"{c[0]:>11}" for c in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"{r['name']:<{width}}  {r.get('status')}: {r.get('reason', '')}")
            continue
        s = r["all"]
        lines.append(f"{r['name']:<{width}}" + "".join(f"{format(s.get(k, float('nan')), f):>11}" for _, k, f in cols))
    return "\n".join(lines)


def contact_sheet(scores: Sequence[ClipScore], clips: Sequence[HOIClip], frames: int = 6, tile: int = 128) -> np.ndarray:
    """Per kept clip two rows: GT frames and generated frames (``frames`` evenly spaced), each ``tile`` px, with the
    generated MA outlined in the first generated tile."""
    tiles_rows = []
    for s, clip in zip(scores, clips):
        if s.video is None:
            continue
        gen, ma = _fit(s.video, clip)
        idx = np.linspace(0, len(gen) - 1, frames).round().astype(int)
        for src, label in ((clip.video, f"GT {s.clip_id}"), (gen, "generated")):
            row = []
            for k, t in enumerate(idx):
                im = cv2.resize(src[t], (tile, tile), interpolation=cv2.INTER_NEAREST)
                if label == "generated" and k == 0:
                    m = (cv2.resize((ma.max(0) if ma.ndim == 3 else ma), (tile, tile)) >= 0.5).astype(np.uint8)
                    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                    im = cv2.drawContours(np.ascontiguousarray(im), contours, -1, (255, 255, 0), 1)
                if k == 0:
                    im = np.ascontiguousarray(im)
                    cv2.putText(im, label[:22], (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 255), 1, cv2.LINE_AA)
                row.append(im)
            tiles_rows.append(np.concatenate(row, 1))
    if not tiles_rows:
        return np.zeros((tile, tile * frames, 3), np.uint8)
    return np.concatenate(tiles_rows, 0)


# ----------------------------------------------------------------------------------------------------------- CLI
def _load_eval_clips(root: str, tasks: Sequence[str] | None, max_clips: int | None) -> tuple[list[HOIClip], list[str]]:
    from hoi_videogen.data import HOIClipDataset

    path = Path(root)
    if not (path / "manifest.jsonl").is_file():
        raise FileNotFoundError(
            f"no HOIClip dataset at {root}. Make the held-out set with: hoi-datagen seed_offset=1000 clips_per_task=20 "
            f"resolution=128 out={root}"
        )
    ds = HOIClipDataset(root)
    clips, ids = [], []
    for task in tasks or sorted({r["task"] for r in ds.records}):
        recs = [r for r in ds.records if r["task"] == task]
        if max_clips is not None:
            recs = recs[:max_clips]
        for r in recs:
            clips.append(ds.get(r["id"]))
            ids.append(r["id"])
    if not clips:
        raise ValueError(f"no clips of tasks {tasks} in {root}")
    return clips, ids


def run(cfg: dict[str, Any], out_dir: Path | None = None) -> dict[str, Any]:
    """Run the evaluation described by a plain ``configs/eval_generator.yaml`` dict; returns the JSON record."""
    import torch

    from hoi2robot import media
    from hoi2robot.config import write_json
    from hoi_videogen.generators import build_generator

    torch.set_num_threads(int(cfg.get("threads", 1)))
    clips, ids = _load_eval_clips(cfg["data"], cfg.get("tasks"), cfg.get("max_clips_per_task"))
    mp = kp = None
    if cfg.get("mediapipe", True):
        from hoi_videogen.hands import HandTracker

        mp = HandTracker(**(cfg.get("tracker") or {}))
    if cfg.get("keypoint_net", True):
        from hoi_videogen.hands.keypoint_net import KeypointNetNotFoundError, KeypointNetTracker

        try:
            kp = KeypointNetTracker(cfg.get("keypoint_net_path"))
        except KeypointNetNotFoundError as exc:
            log.warning("no keypoint net, hs_err_kpnet skipped: %s", exc)
    gen_cfg = {k: v for k, v in dict(cfg["generator"]).items() if v is not None}  # null keys: backend default
    rows: list[dict[str, Any]] = []
    reason = _missing_checkpoint(gen_cfg)
    gen = None
    if reason is None:
        try:
            gen = build_generator(gen_cfg)
        except FileNotFoundError as exc:
            reason = str(exc).splitlines()[0]
    scores: list[ClipScore] = []
    if gen is not None:
        scores = evaluate_generator(gen, clips, mp, kp, keep_videos=int(cfg.get("sheet_clips", 4)), clip_ids=ids)
        main_row = {"name": gen_cfg.get("name", "generator"), "generator": gen_cfg, "status": "ok", **summarize_scores(scores)}
        main_row["clips"] = [{"id": s.clip_id, "task": s.task, **s.metrics} for s in scores]
    else:
        main_row = {"name": gen_cfg.get("name", "generator"), "generator": gen_cfg, "status": "not trained", "reason": reason}
    rows.append(main_row)
    gt_row = None
    if gen is not None and cfg.get("gt_ma_row", False):
        gt_scores = evaluate_generator(gen, clips, mp, kp, clip_ids=ids, gt_ma=True)
        gt_row = {"name": f"{main_row['name']} + GT MA", "generator": gen_cfg, "status": "ok", "ma": "ground truth",
                  **summarize_scores(gt_scores)}  # fmt: skip
        rows.append(gt_row)
    ablation = run_ablation(cfg.get("ablation") or [], clips, mp, kp)
    table = format_table(rows + ablation)
    print(table)
    record: dict[str, Any] = {
        "config": cfg,
        "data": cfg["data"],
        "num_clips": len(clips),
        "hs_err_definition": "mean over GT-present hand-frames of mean_j,xy (v*K_det - v*K_gt)^2, normalized coords, "
        "undetected = zeros, v = GT visibility (HANDI Eq. 2 form); HANDI reports 0.0151",
        "result": main_row,
        "result_gt_ma": gt_row,
        "ablation": ablation,
        "table": table,
    }
    if scores:
        sheet = contact_sheet(scores, clips[: len(scores)], int(cfg.get("sheet_frames", 6)))
        sheet_paths = [Path(cfg["sheet"])] if cfg.get("sheet") else []
        if out_dir is not None:
            sheet_paths.append(out_dir / "contact_sheet.png")
        for p in sheet_paths:
            p.parent.mkdir(parents=True, exist_ok=True)
            media.write_image(p, sheet)
        record["contact_sheet"] = [str(p) for p in sheet_paths]
    if cfg.get("results"):
        write_json(cfg["results"], record)
        print(f"wrote {cfg['results']}")
    if out_dir is not None:
        write_json(out_dir / "generator_eval.json", record)
    for t in (mp, kp):
        if t is not None:
            t.close()
    return record


def main() -> None:
    """``hoi-eval-generator [generator.name=tiny data=data/hoiclips_eval ...]`` (Hydra, configs/eval_generator.yaml)."""
    import hydra

    from hoi2robot.config import CONFIG_PATH, run_dir, to_plain

    @hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="eval_generator")
    def _main(cfg: Any) -> None:
        run(to_plain(cfg), run_dir())

    _main()


if __name__ == "__main__":
    main()
