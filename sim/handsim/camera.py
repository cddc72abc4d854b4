"""Pinhole models of MuJoCo cameras (OpenCV conventions), and look-at placement of cameras in a spec."""
from __future__ import annotations

import mujoco
import numpy as np

from hoi2robot.contracts import CameraModel

# MuJoCo cameras look along -z with y up; OpenCV's along +z with y down.
_GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def camera_model(model: mujoco.MjModel, data: mujoco.MjData, camera: str, width: int, height: int) -> CameraModel:
    """The :class:`CameraModel` of a MuJoCo camera rendered at ``width``×``height``, posed in the world frame.

    Intrinsics from ``fovy`` (square pixels); principal point at the image centre in the pixel-centres-at-integers
    convention, ``((W-1)/2, (H-1)/2)``. Uses ``data.cam_xpos/cam_xmat``: run ``mj_forward`` (or ``mj_kinematics``
    + ``mj_camlight``) first.
    """
    cam = model.camera(camera)
    f = 0.5 * height / np.tan(np.deg2rad(cam.fovy[0]) / 2)
    K = np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = data.cam_xmat[cam.id].reshape(3, 3) @ _GL_TO_CV
    T[:3, 3] = data.cam_xpos[cam.id]
    return CameraModel(name=camera, K=K, width=width, height=height, base_T_cam=T)


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Quaternion (wxyz) of a MuJoCo camera at ``eye`` looking at ``target`` with image-up towards ``up``."""
    fwd = np.asarray(target, float) - np.asarray(eye, float)
    fwd /= np.linalg.norm(fwd)
    x = np.cross(fwd, up)
    x /= np.linalg.norm(x)
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.column_stack([x, np.cross(x, fwd), -fwd]).ravel())
    return q
