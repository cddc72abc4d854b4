"""``synthetic``: a tiny stand-in clip source for testing the dataset plumbing (not a hand simulator).

A flat skin-coloured hand silhouette (palm polygon + finger strokes drawn on its 21 keypoints) slides over a
blurry random background towards a coloured square, then carries it away. Keypoints, visibility, MA mask, object
poses and the camera are self-consistent and deterministic per (task, seed); nothing else is meaningful.
"""
from __future__ import annotations

import time
import zlib

import cv2
import numpy as np
from omegaconf import DictConfig

from hoi2robot.contracts import CameraModel, HOIClip
from hoi_videogen.data.instructions import canonical_instruction
from hoi_videogen.data.ma_mask import motion_area_mask
from sim.handsim.datagen import register_source

# A right hand, palm towards the camera, fingers up, wrist at the origin, in units of the hand length (MediaPipe order).
TEMPLATE = np.array([
    (0.00, 0.00),
    (-0.17, -0.10), (-0.30, -0.20), (-0.40, -0.30), (-0.48, -0.39),
    (-0.15, -0.50), (-0.17, -0.70), (-0.18, -0.83), (-0.19, -0.95),
    (0.00, -0.53), (0.00, -0.75), (0.00, -0.90), (0.00, -1.00),
    (0.13, -0.50), (0.15, -0.69), (0.16, -0.82), (0.16, -0.92),
    (0.25, -0.43), (0.28, -0.58), (0.30, -0.68), (0.31, -0.76),
])  # fmt: skip
PALM = [0, 1, 5, 9, 13, 17]
FINGERS = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20]]
DEPTH = 0.6  # m: distance of the hand plane from the camera (for the 3D keypoints)


def camera(name: str, size: int, fovy_deg: float = 45.0) -> CameraModel:
    """A square pinhole camera looking straight down from 1.4 m above the base frame origin."""
    f = 0.5 * size / np.tan(np.radians(fovy_deg) / 2)
    K = [[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]]
    base_T_cam = np.eye(4)
    base_T_cam[:3, :3] = [[0, -1, 0], [-1, 0, 0], [0, 0, -1]]  # camera x, y, z axes (columns) in the base frame
    base_T_cam[:3, 3] = (0.0, 0.0, 1.4)
    return CameraModel(name=name, K=np.array(K), width=size, height=size, base_T_cam=base_T_cam)


def _draw_hand(image: np.ndarray, kp: np.ndarray, color: tuple[int, int, int], width: int) -> None:
    shift = 4
    pts = np.round(kp * (1 << shift)).astype(np.int32)
    cv2.fillPoly(image, [pts[PALM]], color, cv2.LINE_AA, shift)
    for finger in FINGERS:
        cv2.polylines(image, [pts[finger]], False, color, width, cv2.LINE_AA, shift)


@register_source("synthetic")
def synthetic_clip(task: str, seed: int, cfg: DictConfig) -> HOIClip:
    """A synthetic HOIClip of ``cfg.num_frames`` frames at ``cfg.resolution`` ² pixels (see the module docstring)."""
    settings = cfg.get("synthetic") or {}
    if settings.get("delay_s"):
        time.sleep(float(settings["delay_s"]))
    size, T = int(cfg.resolution), int(cfg.num_frames)
    rng = np.random.default_rng([seed, zlib.crc32(task.encode())])

    coarse = rng.integers(30, 220, (6, 6, 3), dtype=np.uint8)
    background = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    obj_start = rng.uniform(0.3, 0.7, 2) * size
    obj_end = rng.uniform(0.2, 0.8, 2) * size
    obj_half = size * 0.06
    obj_color = tuple(int(c) for c in rng.integers(0, 256, 3))
    skin = tuple(int(c) for c in np.clip(np.array([224, 172, 140]) + rng.integers(-25, 26, 3), 0, 255))
    hand_len = size * rng.uniform(0.25, 0.35)
    grasp_offset = np.array([0.0, 0.8 * hand_len])  # wrist below the object: the fingers reach it

    # Wrist path: in from the bottom edge, to just below the object, then along with the object to its goal.
    s = np.linspace(0.0, 1.0, T)
    reach, carry = np.clip(s * 2, 0, 1)[:, None], np.clip(s * 2 - 1, 0, 1)[:, None]
    obj = obj_start + carry * (obj_end - obj_start)  # T×2
    entry = np.array([rng.uniform(0.3, 0.7) * size, 1.05 * size])
    wrist = entry + reach * (obj_start + grasp_offset - entry) + carry * (obj_end - obj_start)
    angle = np.radians(rng.uniform(-25, 25) + 10 * np.sin(2 * np.pi * s + rng.uniform(0, 2 * np.pi)))
    rot = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)], -2)
    right = wrist[:, None] + hand_len * np.einsum("tij,kj->tki", rot, TEMPLATE)  # T×21×2

    keypoints_2d = np.zeros((T, 2, 21, 2), np.float32)
    keypoints_2d[:, 1] = right
    hand_present = np.zeros((T, 2), bool)
    hand_present[:, 1] = True
    inside = (keypoints_2d >= 0).all(-1) & (keypoints_2d <= size - 1).all(-1)
    visibility = inside & hand_present[..., None]

    cam = camera(cfg.camera, size)
    keypoints_3d = np.zeros((T, 2, 21, 3), np.float32)
    keypoints_3d[:, 1] = cam.unproject(right.reshape(-1, 2), np.full(T * 21, DEPTH)).reshape(T, 21, 3)
    obj_xyz = cam.unproject(obj, np.full(T, DEPTH + 0.05))
    objects = {"object": np.column_stack([obj_xyz, np.tile([1.0, 0, 0, 0], (T, 1))])}

    video = np.empty((T, size, size, 3), np.uint8)
    width = max(1, round(hand_len * 0.09))
    for t in range(T):
        frame = background.copy()
        lo, hi = np.round(obj[t] - obj_half).astype(int), np.round(obj[t] + obj_half).astype(int)
        cv2.rectangle(frame, tuple(map(int, lo)), tuple(map(int, hi)), obj_color, -1)
        _draw_hand(frame, right[t], skin, width)
        video[t] = frame
    context = background.copy()
    lo, hi = np.round(obj_start - obj_half).astype(int), np.round(obj_start + obj_half).astype(int)
    cv2.rectangle(context, tuple(map(int, lo)), tuple(map(int, hi)), obj_color, -1)

    return HOIClip(
        context=context,
        video=video,
        instruction=canonical_instruction(task),
        task=task,
        seed=seed,
        fps=float(cfg.fps),
        camera=cam,
        keypoints_2d=keypoints_2d,
        keypoints_3d=keypoints_3d,
        visibility=visibility,
        hand_present=hand_present,
        objects=objects,
        ma_mask=motion_area_mask(keypoints_2d, visibility, size, size),
        success=bool(rng.random() < float(settings.get("success_rate", 0.75))),
        meta={"source": "synthetic", "skin_rgb": list(skin)},
    )
