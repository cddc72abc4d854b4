"""Does MediaPipe see the simulated hand? Detection rate and keypoint error against the model's ground truth.

Sweeps finger presets × wrist orientations × cameras × hands × skin tones in the preview scene, renders 256²
frames, runs MediaPipe's HandLandmarker (IMAGE mode per frame; VIDEO mode on short scripted reach-and-pinch
clips) and compares its 21 landmarks with the projected keypoint sites (OpenCV pixels, centres at integers;
MediaPipe's normalized ``x·W - 0.5``). Only frames with ≥ 15 of the 21 true keypoints inside the image count.

Wrist orientations are those of a person reaching across the table from the robot's side (-x): ``(yaw, pitch,
roll)`` in degrees, pitch = fingers tipped down, roll = thumb turned up, yaw = fingers turned towards the body's
midline; the left hand uses the mirror image. The forearm is aimed at a natural elbow of a leaning person
(:meth:`sim.handsim.preview.Preview.pose`).

*Demo views* are what scripted demos should show: a grasping posture (not fist/point) with the palm or the back
of the hand towards the camera (``facing`` = |cos| between palm normal and camera ray ≥ 0.5, i.e. within 60°
of face-on). Edge-on views are reported too; MediaPipe misses many of them, as it does on real hands.

Usage::

    python -m sim.handsim.check_detection --model /tmp/hand_landmarker.task [--tones very_light,medium,dark]
        [--arena plain|robosuite] [--msaa 4] [--sheet /tmp/handsim_sheet.png]
"""
from __future__ import annotations

import argparse
import itertools
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from sim.handsim.pose import PRESETS
from sim.handsim.preview import CAMERAS, TABLE_TOP, Preview
from sim.handsim.style import SKIN_TONES, HandStyle
from hoi2robot.viz import contact_sheet, draw_hand

SIZE = 256
MIN_IN_VIEW = 15
MIN_FACING = 0.5
GRASP_POSES = ("open", "relaxed", "pinch_open", "pinch", "power_open", "power")
ORIENTATIONS: dict[str, tuple[float, float, float]] = {
    "reach": (0.0, 20.0, 0.0),
    "level": (0.0, 0.0, 0.0),
    "level_in": (30.0, 5.0, 10.0),
    "top_down": (0.0, 55.0, 0.0),
    "top_down_in": (25.0, 50.0, 15.0),
    "tilted": (10.0, 35.0, 40.0),
    "side": (0.0, 15.0, 80.0),
    "side_in": (20.0, 20.0, 60.0),
    "wrap_in": (60.0, 10.0, 70.0),
}
# Grasp point targets for the right hand (the left uses y -> -y), cycled over trials.
TARGETS = ((0.0, 0.0, TABLE_TOP + 0.07), (0.08, -0.06, TABLE_TOP + 0.10), (-0.08, 0.05, TABLE_TOP + 0.08))
# VIDEO-mode clips: wrist orientation at the start and at the grasp, per camera (a face-on grasp for each view).
CLIP_ORIENT = {"agentview": ("reach", "top_down"), "egocentric": ("reach", "level_in")}
_X, _Y, _Z = np.eye(3)


def wrist_quat(side: str, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Wrist orientation (wxyz) from reach angles in degrees (see module doc), mirrored for the left hand."""
    s = 1.0 if side == "right" else -1.0
    q = np.array([1.0, 0.0, 0.0, 0.0])
    for axis, deg in ((_Z, s * yaw), (_Y, pitch), (_X, s * roll)):  # R = Rz Ry Rx
        r, out = np.zeros(4), np.zeros(4)
        mujoco.mju_axisAngle2Quat(r, axis, np.deg2rad(deg))
        mujoco.mju_mulQuat(out, q, r)
        q = out
    return q


def mirror_y(p, side: str) -> np.ndarray:
    p = np.array(p, float)
    if side == "left":
        p[1] = -p[1]
    return p


def grasp_kind(pose_name: str) -> str:
    return "pinch" if pose_name.startswith("pinch") or pose_name == "point" else "power"


def show_only(pv: Preview, side: str, style: HandStyle) -> None:
    pv.restyle(side, style)
    for other in set(pv.hands) - {side}:
        pv.park(other)


# ----------------------------------------------------------------------------------------------------- MediaPipe
def landmarker(model_path: str, video: bool):
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.HandLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=model_path),
        running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
        num_hands=1,
    )
    return vision.HandLandmarker.create_from_options(opts)


def detect(lm, image: np.ndarray, t_ms: int | None = None):
    """(21×2 pixels in OpenCV convention, handedness label) or (None, None)."""
    import mediapipe as mp

    img = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
    res = lm.detect(img) if t_ms is None else lm.detect_for_video(img, t_ms)
    if not res.hand_landmarks:
        return None, None
    h, w = image.shape[:2]
    uv = np.array([(p.x * w - 0.5, p.y * h - 0.5) for p in res.hand_landmarks[0]])
    return uv, res.handedness[0][0].category_name.lower()


# ------------------------------------------------------------------------------------------------------ records
@dataclass
class Frame:
    camera: str
    side: str
    tone: str
    pose: str
    orient: str
    in_view: int
    facing: float  # |cos| of the angle between the palm normal and the ray to the camera (1 = palm/back on)
    detected: bool
    error: float  # mean px over 21 keypoints (nan when missed)
    handed_ok: bool

    @property
    def demo_view(self) -> bool:
        return self.pose in GRASP_POSES and self.facing >= MIN_FACING


def render_trial(pv: Preview, cam: str, side: str):
    """(image, 21×2 true keypoints in pixels, how many lie inside the image, facing)."""
    img = pv.render(cam)
    camera = pv.camera(cam)
    hand = pv.hands[side]
    uv, _ = camera.project(hand.keypoints(pv.data))
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] <= SIZE - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] <= SIZE - 0.5)
    return img, uv, int(inside.sum()), facing(pv, hand, camera)


def facing(pv: Preview, hand, camera) -> float:
    """|cos| between the hand's palm normal and the ray from the palm centre to the camera."""
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, hand.wrist_pose(pv.data)[1])
    ray = camera.base_T_cam[:3, 3] - hand.grasp_point(pv.data, "power")
    return float(abs(R.reshape(3, 3)[:, 2] @ ray) / np.linalg.norm(ray))


def sweep(pv: Preview, lm, tones, sides, sheet_every: int = 7):
    """IMAGE mode over presets × orientations × cameras for each tone and side; also sample tiles for a sheet."""
    frames, tiles = [], []
    trial = 0
    for tone, side in itertools.product(tones, sides):
        show_only(pv, side, HandStyle.preset(tone))
        for (pname, pose), (oname, ang) in itertools.product(PRESETS.items(), ORIENTATIONS.items()):
            target = mirror_y(TARGETS[trial % len(TARGETS)], side)
            trial += 1
            pv.pose(side, pose, grasp_kind(pname), target, wrist_quat(side, *ang))
            for cam in CAMERAS:
                img, gt, n_in, face = render_trial(pv, cam, side)
                uv, label = detect(lm, img)
                err = float(np.linalg.norm(uv - gt, axis=1).mean()) if uv is not None else float("nan")
                f = Frame(cam, side, tone, pname, oname, n_in, face, uv is not None, err, label == side)
                frames.append(f)
                if f.demo_view and len(frames) % sheet_every == 0:
                    tile = draw_hand(img, gt, (0, 255, 0), label=f"{side[0]} {tone} {pname} {oname}")
                    tiles.append(tile if uv is None else draw_hand(tile, uv, (255, 0, 0), points_only=True))
    return frames, tiles


def clip_frame(s: float, side: str, cam: str):
    """Reach-and-pinch clip at time ``s`` in [0, 1]: (pose, grasp-point target, wrist orientation angles).

    0-0.5: reach from above the near table edge to the object, relaxed → pinch pre-shape, wrist turning from the
    camera's start to its grasp orientation (:data:`CLIP_ORIENT`); 0.5-0.75: pinch closes; 0.75-1: lift 12 cm.
    """
    start, grasp = mirror_y((-0.12, -0.08, TABLE_TOP + 0.2), side), mirror_y(TARGETS[0], side)
    a0, a1 = (np.array(ORIENTATIONS[o]) for o in CLIP_ORIENT[cam])
    reach, close, lift = np.clip([s / 0.5, (s - 0.5) / 0.25, (s - 0.75) / 0.25], 0.0, 1.0)
    pose = PRESETS["relaxed"].lerp(PRESETS["pinch_open"], reach).lerp(PRESETS["pinch"], close)
    target = start + (grasp - start) * reach + np.array([0.0, 0.0, 0.12 * lift])
    return pose, target, a0 + (a1 - a0) * reach


def video_clips(pv: Preview, model_path: str, tones, sides, n: int = 40):
    """VIDEO mode on scripted reach-and-pinch clips (:func:`clip_frame`), one per tone × side × camera.

    Returns rows (camera, side, tone, frames in view, detected, mean error px).
    """
    rows = []
    for tone, side, cam in itertools.product(tones, sides, CAMERAS):
        show_only(pv, side, HandStyle.preset(tone))
        lm = landmarker(model_path, video=True)
        hits, errs, in_view = 0, [], 0
        for i in range(n):
            pose, target, ang = clip_frame(i / (n - 1), side, cam)
            pv.pose(side, pose, "pinch", target, wrist_quat(side, *ang))
            img, gt, n_in, _ = render_trial(pv, cam, side)
            uv, _ = detect(lm, img, t_ms=int(i * 1000 / 20))
            if n_in >= MIN_IN_VIEW:
                in_view += 1
                if uv is not None:
                    hits += 1
                    errs.append(np.linalg.norm(uv - gt, axis=1).mean())
        lm.close()
        rows.append((cam, side, tone, in_view, hits, float(np.mean(errs)) if errs else float("nan")))
    return rows


# -------------------------------------------------------------------------------------------------------- report
def table(frames: list[Frame], keys: tuple[str, ...], title: str) -> str:
    """Detection %, mean error and handedness accuracy grouped by ``keys`` (frames in view only)."""
    groups: dict[tuple, list[Frame]] = defaultdict(list)
    for f in frames:
        if f.in_view >= MIN_IN_VIEW:
            groups[tuple(getattr(f, k) for k in keys)].append(f)
    head = " | ".join(f"{k:<12}" for k in keys) + " |    n | facing | detected | err px | handed ok"
    lines = [title, head, "-" * len(head)]
    for key in sorted(groups):
        g = groups[key]
        det = [f for f in g if f.detected]
        err = np.mean([f.error for f in det]) if det else float("nan")
        hand = 100 * np.mean([f.handed_ok for f in det]) if det else float("nan")
        lines.append(
            " | ".join(f"{str(k):<12}" for k in key)
            + f" | {len(g):4d} | {np.mean([f.facing for f in g]):6.2f} | {100 * len(det) / len(g):7.1f}%"
            + f" | {err:6.2f} | {hand:8.1f}%"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="/tmp/hand_landmarker.task", help="hand_landmarker.task bundle")
    ap.add_argument("--tones", default="very_light,medium,dark", help=f"comma list of {sorted(SKIN_TONES)}")
    ap.add_argument("--sides", default="right,left")
    ap.add_argument("--arena", default="plain", choices=("plain", "robosuite"))
    ap.add_argument("--msaa", type=int, default=4, help="offscreen MSAA samples (0 = the engine's fast setting)")
    ap.add_argument("--sheet", default="/tmp/handsim_sheet.png")
    ap.add_argument("--no-video", action="store_true")
    a = ap.parse_args(argv)
    tones, sides = a.tones.split(","), a.sides.split(",")
    t0 = time.time()
    pv = Preview(tuple(sides), size=SIZE, arena=a.arena, msaa=a.msaa)
    lm = landmarker(a.model, video=False)
    frames, tiles = sweep(pv, lm, tones, sides)
    lm.close()
    in_view = [f for f in frames if f.in_view >= MIN_IN_VIEW]
    demo = [f for f in in_view if f.demo_view]
    print(f"IMAGE mode: {len(frames)} frames, {len(in_view)} with >= {MIN_IN_VIEW}/21 keypoints in view, "
          f"{len(demo)} demo views ({time.time() - t0:.0f} s)\n")  # fmt: skip
    print(table(demo, ("camera",), "DEMO VIEWS (grasp postures, palm/back within 60° of the camera)"))
    print("\n" + table(in_view, ("camera",), "ALL FRAMES"))
    print("\n" + table(demo, ("camera", "pose"), "demo views by pose"))
    print("\n" + table(demo, ("camera", "tone"), "demo views by skin tone"))
    print("\n" + table(demo, ("camera", "side"), "demo views by hand"))
    print("\n" + table(in_view, ("camera", "orient"), "all frames by wrist orientation"))
    print("\n" + table(in_view, ("camera", "pose"), "all frames by pose"))
    if not a.no_video:
        t1 = time.time()
        rows = video_clips(pv, a.model, tones, sides)
        print(f"\nVIDEO mode: reach-and-pinch clips of 40 frames ({time.time() - t1:.0f} s)")
        print("camera       | side  | tone       | in view | detected | err px")
        for cam, side, tone, nv, hits, err in rows:
            print(f"{cam:<12} | {side:<5} | {tone:<10} | {nv:7d} | {100 * hits / max(nv, 1):7.1f}% | {err:6.2f}")
    if a.sheet and tiles:
        contact_sheet(tiles[:40], cols=8, path=Path(a.sheet))
        print(f"\ncontact sheet of demo views (green = ground truth, red = MediaPipe): {a.sheet}")
    pv.close()


if __name__ == "__main__":
    main()
