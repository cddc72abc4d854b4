"""``hoi-retarget VIDEO.mp4 --camera CAMERA.yaml [--depth DEPTH.npy] [--out DIR]``: any video (real or generated) →
hand track → gripper trajectory in the robot base frame.

Writes into ``--out`` (default ``outputs/retarget/<video name>``): ``track.npz`` (HandTrack), ``ee.npz`` + ``ee.json``
(EETrajectory), ``overlay.mp4`` (the video with the tracked keypoints and the lifted grasp point), ``trajectory.png``
(TCP x/y/z and gripper command over time) and ``report.json`` (hand, grasp type, depth scale, frames without a hand,
warnings). Frames without a hand are reported, not fatal; a video with no hand at all exits with status 2 and says so.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hoi2robot.contracts import CameraModel, EETrajectory, HandTrack

__all__ = ["main", "draw_overlay", "plot_trajectory"]

BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
         (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20)]  # fmt: skip


def draw_overlay(frames: np.ndarray, track: HandTrack, camera: CameraModel, grasp_base: np.ndarray | None,
                 gripper: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """T×H×W×3 frames with each detected hand's skeleton and the grasp point (T×3 base frame, projected; red when
    the gripper command at that frame is closed, green when open)."""
    import cv2

    out = np.ascontiguousarray(frames.copy())
    H, W = out.shape[1:3]
    sx, sy = W / track.image_size[0], H / track.image_size[1]
    r = max(1, round(min(H, W) / 128))
    for t in range(len(out)):
        img = out[t]
        for s in (0, 1):
            if not track.valid[t, s]:
                continue
            kp = (track.keypoints_2d[t, s] + 0.5) * (sx, sy) - 0.5
            colour = (255, 200, 0) if s == 1 else (0, 200, 255)
            for a, b in BONES:
                cv2.line(img, tuple(np.round(kp[a]).astype(int)), tuple(np.round(kp[b]).astype(int)), colour, 1, cv2.LINE_AA)
            for p in kp:
                cv2.circle(img, tuple(np.round(p).astype(int)), r, (255, 255, 255), -1, cv2.LINE_AA)
        if grasp_base is not None:
            uv, z = camera.project(grasp_base[t][None])
            if z[0] > 0 and np.isfinite(uv).all():
                closed = gripper is not None and gripper[t] > 0.5
                uv = (uv[0] + 0.5) * (W / camera.width, H / camera.height) - 0.5
                cv2.drawMarker(img, tuple(np.round(uv).astype(int)), (255, 0, 0) if closed else (0, 255, 0),
                               cv2.MARKER_CROSS, 4 * r + 4, max(1, r), cv2.LINE_AA)  # fmt: skip
        if not track.valid[t].any():
            cv2.putText(img, "no hand", (4, 4 + 10 * r), cv2.FONT_HERSHEY_SIMPLEX, 0.3 * r, (255, 60, 60), 1, cv2.LINE_AA)
    return out


def plot_trajectory(ee: EETrajectory, path: Path) -> Path:
    """PNG: TCP x, y, z (base frame) and the gripper command against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for i, name in enumerate("xyz"):
        ax0.plot(ee.t, ee.position[:, i], label=name)
    ax0.set_ylabel(f"TCP position [m] ({ee.frame_id})")
    ax0.legend(loc="best")
    ax0.grid(alpha=0.3)
    ax1.step(ee.t, ee.gripper, where="post", color="k")
    ax1.set_ylabel("gripper (1 = closed)")
    ax1.set_xlabel("time [s]")
    ax1.set_ylim(-0.1, 1.1)
    ax1.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hoi-retarget", description=__doc__.split("\n\n")[0])
    p.add_argument("video", type=Path, help="input video (mp4 or anything imageio reads)")
    p.add_argument("--camera", type=Path, required=True, help="CameraModel .yaml/.json (intrinsics, base_T_cam)")
    p.add_argument("--depth", type=Path, default=None, help="metric depth .npy: H×W (context frame) or T×H×W")
    p.add_argument("--out", type=Path, default=None, help="output folder (default outputs/retarget/<video stem>)")
    p.add_argument("--config", default="default", help="configs/retarget/<name>.yaml or a YAML path")
    p.add_argument("--fps", type=float, default=None, help="override the video's frame rate")
    p.add_argument("--num-hands", type=int, default=2, choices=(1, 2), help="MediaPipe num_hands")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from hoi2robot.media import read_video, video_fps, write_video
    from hoi_videogen.hands import HandTracker
    from policy.retarget import RetargetError, Retargeter, load_config

    def fail(msg: str) -> int:
        print(f"hoi-retarget: error: {msg}", file=sys.stderr)
        return 2

    if not args.video.is_file():
        return fail(f"no such video: {args.video}")
    if not args.camera.is_file():
        return fail(f"no such camera file: {args.camera}")
    camera = CameraModel.load(args.camera)
    frames = read_video(args.video)
    fps = args.fps or video_fps(args.video)
    depth = np.load(args.depth) if args.depth else None
    out = args.out or Path("outputs") / "retarget" / args.video.stem
    out.mkdir(parents=True, exist_ok=True)

    with HandTracker(num_hands=args.num_hands) as tracker:
        track = tracker.track(frames, fps=fps)
    track.save(out / "track.npz")
    missing = [int(i) for i in np.flatnonzero(~track.valid.any(axis=1))]
    if len(missing) == track.num_frames:
        return fail(f"no hand found in any of the {track.num_frames} frames of {args.video}; nothing to retarget")
    if missing:
        print(f"no hand in {len(missing)}/{track.num_frames} frames: {missing}")
    retargeter = Retargeter(load_config(args.config))
    try:
        ee = retargeter.retarget(track, camera, depth)
    except RetargetError as exc:
        return fail(str(exc))
    rep = retargeter.last_report
    ee.save(out / "ee.npz")
    ee.save(out / "ee.json")
    write_video(out / "overlay.mp4", draw_overlay(frames, track, camera, rep.grasp_point, rep.gripper_frames), fps)
    plot_trajectory(ee, out / "trajectory.png")
    report = dict(rep.to_dict(), video=str(args.video), fps=fps, samples=len(ee), duration_s=ee.duration,
                  depth=str(args.depth) if args.depth else None)  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"{rep.grasp_type} grasp with the {report['hand']} hand, {len(ee)} poses over {ee.duration:.1f} s "
          f"(depth scale {report['scale']:.3f} from {rep.scale_source})")  # fmt: skip
    for w in rep.warnings:
        print(f"warning: {w}")
    print(f"artifacts: {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
