"""Ground-truth hand tracks from engine clips (the ``oracle-hand`` input) and grasp-point error metrics."""
from __future__ import annotations

import numpy as np

from hoi2robot.contracts import HandTrack, HOIClip

__all__ = ["track_from_clip", "gt_grasp_points"]


def track_from_clip(clip: HOIClip, min_visible: int = 15) -> HandTrack:
    """A :class:`HandTrack` holding the clip's ground truth: pixel keypoints, and as "world landmarks" the GT 3D
    keypoints in camera axes centred on the hand (what a perfect MediaPipe would report), valid where the hand is
    present with at least ``min_visible`` keypoints inside the image."""
    cam = clip.camera
    T = clip.num_frames
    R, t = cam.base_T_cam[:3, :3], cam.base_T_cam[:3, 3]
    kp_cam = (clip.keypoints_3d.astype(np.float64) - t) @ R  # base → camera frame
    world = kp_cam - kp_cam.mean(axis=2, keepdims=True)
    valid = clip.hand_present & (clip.visibility.sum(axis=2) >= min_visible)
    world = np.where(valid[..., None, None], world, 0.0)
    kp2 = np.where(valid[..., None, None], clip.keypoints_2d, 0.0)
    z = np.where(valid[..., None], kp_cam[..., 2] - kp_cam[..., 2].mean(axis=2, keepdims=True), 0.0)
    return HandTrack(
        keypoints_2d=kp2.astype(np.float32),
        keypoints_world=world.astype(np.float32),
        score=valid.astype(np.float32),
        valid=valid,
        fps=clip.fps,
        image_size=(cam.width, cam.height),
        source="ground_truth",
        keypoints_depth=z.astype(np.float32),
    )


def gt_grasp_points(clip: HOIClip, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(T×3 GT grasp points in the base frame for the clip's acting hand, T bool hand present)."""
    from policy.retarget.retargeter import grasp_points

    slot = int(np.argmax(clip.hand_present.sum(axis=0)))
    return grasp_points(clip.keypoints_3d[:, slot].astype(np.float64), kind), clip.hand_present[:, slot]
