"""MuJoCo cameras as :class:`hoi2robot.contracts.CameraModel`, metric depth, and render settings.

Conventions (see :mod:`hoi2robot.contracts`): OpenCV camera axes (x right, y down, z forward), pixel centres at
integer ``(u, v)``, images right side up, poses in the robot base frame (body ``robot0_base``).

MuJoCo renders a symmetric frustum: the optical axis hits the image centre, which in continuous image
coordinates (pixel ``i`` spanning ``[i, i+1)``) is ``W/2``. With pixel centres at integers that is
``(W - 1) / 2``, so robosuite's intrinsics (``cx = W/2``) are shifted by half a pixel here.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from hoi2robot.contracts import CameraModel
from sim.tasks import _robosuite  # noqa: F401  (quiet robosuite import)
from robosuite.utils import camera_utils

__all__ = [
    "BASE_BODY",
    "RenderSettings",
    "apply_scene_flags",
    "camera_model",
    "depth_to_metres",
    "look_at_quat",
    "world_T_body",
]

BASE_BODY = "robot0_base"


@dataclass(frozen=True)
class RenderSettings:
    """Offscreen rendering options.

    The defaults are the fast ones: on CPU rendering (llvmpipe) 4× MSAA and the planar reflections of the floor
    and the table legs cost more than the rest of the frame, while the scene content (objects, hands, robot,
    geometry) is unchanged; only edges are aliased and the floor loses its faint mirror image. No light in the
    robosuite arenas casts shadows, so ``shadows`` changes nothing there. ``sim.speed_bench`` measures each.

    Attributes:
        msaa_samples: MuJoCo ``visual/quality/offsamples`` (robosuite's default 4).
        shadows: render shadows (``mjRND_SHADOW``).
        reflections: render reflections (``mjRND_REFLECTION``).
    """

    msaa_samples: int = 0
    shadows: bool = False
    reflections: bool = False

    @classmethod
    def robosuite_default(cls) -> "RenderSettings":
        """MuJoCo/robosuite's own settings (4× MSAA, shadows and reflections on)."""
        return cls(msaa_samples=4, shadows=True, reflections=True)


def apply_scene_flags(sim, settings: RenderSettings) -> None:
    """Set the shadow/reflection flags of ``sim``'s offscreen render context (no-op without one)."""
    ctx = sim._render_context_offscreen
    if ctx is not None:
        ctx.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(settings.shadows)
        ctx.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = int(settings.reflections)


def look_at_quat(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """MuJoCo camera quaternion (w, x, y, z) looking from ``eye`` (3) at ``target`` (3), world z up on screen.

    A MuJoCo camera looks along its -z axis with +y up and +x to the right.
    """
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    mat = np.column_stack([right, up, -forward])  # camera axes x, y, z in world coordinates
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, mat.ravel())
    return quat


_GL_TO_CV = np.diag([1.0, -1.0, -1.0])  # MuJoCo cameras look along -z with y up; OpenCV's along +z with y down


def mj_camera_model(model: mujoco.MjModel, data: mujoco.MjData, camera: str, width: int, height: int) -> CameraModel:
    """The :class:`CameraModel` of a camera of a plain MuJoCo model, posed in the world frame.

    Same conventions as :func:`camera_model` (fx = fy from ``fovy``, principal point ``((W-1)/2, (H-1)/2)``).
    Uses ``data.cam_xpos/cam_xmat``: run ``mj_forward`` (or ``mj_kinematics`` + ``mj_camlight``) first.
    """
    cam = model.camera(camera)
    f = 0.5 * height / np.tan(np.deg2rad(cam.fovy[0]) / 2)
    K = np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = data.cam_xmat[cam.id].reshape(3, 3) @ _GL_TO_CV
    T[:3, 3] = data.cam_xpos[cam.id]
    return CameraModel(name=camera, K=K, width=width, height=height, base_T_cam=T)


def world_T_body(sim, body: str) -> np.ndarray:
    """4×4 pose of MuJoCo body ``body`` in the world frame (from the current ``sim.data``)."""
    T = np.eye(4)
    T[:3, :3] = sim.data.get_body_xmat(body)
    T[:3, 3] = sim.data.get_body_xpos(body)
    return T


def camera_model(sim, camera_name: str, width: int, height: int, base_body: str = BASE_BODY) -> CameraModel:
    """The pinhole model of MuJoCo camera ``camera_name`` rendering ``width``×``height`` images.

    Args:
        sim: robosuite ``MjSim`` (``env.sim``); its kinematics must be current (after reset/step/forward).
        camera_name: a camera in the model.
        width, height: image size in pixels.
        base_body: body whose frame ``base_T_cam`` maps into.

    Returns:
        CameraModel with K (3×3; fx = fy from MuJoCo's vertical fovy, principal point at the image centre in the
        integer-pixel-centre convention) and base_T_cam (4×4, OpenCV camera axes).
    """
    K = camera_utils.get_camera_intrinsic_matrix(sim, camera_name, camera_height=height, camera_width=width)
    K = np.array(K, dtype=np.float64)
    K[0, 2] -= 0.5  # robosuite: cx = W/2 (continuous coords); integer pixel centres: (W - 1)/2
    K[1, 2] -= 0.5
    world_T_cam = camera_utils.get_camera_extrinsic_matrix(sim, camera_name)  # OpenCV axes already
    base_T_cam = np.linalg.inv(world_T_body(sim, base_body)) @ world_T_cam
    base_T_cam[3] = (0.0, 0.0, 0.0, 1.0)
    return CameraModel(name=camera_name, K=K, width=width, height=height, base_T_cam=base_T_cam)


def depth_to_metres(sim, depth: np.ndarray) -> np.ndarray:
    """Convert MuJoCo's normalized depth buffer (H×W in [0, 1]) to metric z-depth (H×W float32, metres).

    The values are distances along the optical axis (camera-frame z), not along the pixel ray.
    """
    return camera_utils.get_real_depth_map(sim, np.clip(depth, 0.0, 1.0)).astype(np.float32)
