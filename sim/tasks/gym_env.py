"""``HoiTaskEnv``: a gymnasium environment around one robosuite task scene.

Observation (a ``gymnasium.spaces.Dict``; positions in metres and orientations in the robot base frame
``robot0_base``, the frame of :class:`hoi2robot.contracts.CameraModel` and ``EETrajectory``):

=============================  ===========  ============================================================
key                            shape/dtype  meaning
=============================  ===========  ============================================================
``robot0_eef_pos``             3 float64    gripper grip site (between the fingertips)
``robot0_eef_quat``            4 float64    its orientation (w, x, y, z); sign chosen in the hemisphere of
                                            :data:`GRIPPER_DOWN_QUAT` (the home pose), so it is continuous
                                            for any top-down gripper yaw within ±90° of home
``robot0_gripper_qpos``        2 float64    finger joint positions
``robot0_joint_pos``           7 float64    arm joint positions (rad)
``<obj>_pos``, ``<obj>_quat``  3, 4         each task object (quat with w >= 0)
``gripper_to_<obj>_pos``       3            object minus gripper position
``<target>_pos``               3            goal marker (PickPlaceCan, Push)
``<a>_to_<b>_pos``             3            b minus a (e.g. ``cube_to_target_pos``)
``<cam>_image``                H×W×3 uint8  per requested camera, right side up
``<cam>_depth``                H×W×1 f32    metric z-depth in metres (if ``depth``)
=============================  ===========  ============================================================

Action: Box(-1, 1, (7,), float32): OSC pose deltas in the base frame (3 position, scaled to ±5 cm per step; 3
axis-angle rotation, scaled to ±0.5 rad per step) and the gripper (-1 open, +1 closed).

Reward: sparse, 1.0 in states where the task is accomplished, else 0.0 (robosuite's sparse reward scaled to 1).

Episodes never terminate (``terminated`` is always False, also on success): they are truncated at ``horizon``.
``info["success"]`` reports the task's success check after every step (and after reset).
"""
from __future__ import annotations

from typing import Any

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from hoi2robot.contracts import CameraModel
from sim.tasks.cameras import BASE_BODY, RenderSettings, camera_model, depth_to_metres, world_T_body
from sim.tasks.scenes import make_scene
from sim.tasks.specs import CAMERAS, CONTROL_FREQ, TaskSpec, get_spec

__all__ = ["HoiTaskEnv", "make_env", "ACTION_DIM", "GRIPPER_DOWN_QUAT"]

ACTION_DIM = 7
# The Panda grip site's orientation (w, x, y, z) in the base frame at its home pose: pointing down, fingers closing
# along the base y axis. Gripper quaternions are reported in its hemisphere, object quaternions with w >= 0.
GRIPPER_DOWN_QUAT = np.array([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0])
OBJ_QUAT_REF = np.array([1.0, 0.0, 0.0, 0.0])
RENDER_CAMERA = "agentview"  # what render() shows


def _hemisphere(q: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return -q if q @ ref < 0 else q


def _mat_to_quat(R: np.ndarray) -> np.ndarray:
    q = np.empty(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R).ravel())
    return q


class HoiTaskEnv(gymnasium.Env):
    """One hoi2robot task (Panda, OSC pose control at 20 Hz) as a gymnasium environment.

    Args:
        task: task name, one of :data:`sim.tasks.TASKS` ("Lift", "Stack", "PickPlaceCan", "Push").
        cameras: cameras to observe, a subset of ("agentview", "egoview").
        image_size: (H, W) of camera observations and of ``render()``.
        depth: also observe metric depth ``<cam>_depth`` for each camera.
        horizon: episode length in steps (default: the task's).
        render_mode: None or "rgb_array" (``render()`` returns the agentview image at ``image_size``).
        render_settings: offscreen render options (default: fast, see :class:`RenderSettings`).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_FREQ}

    def __init__(
        self,
        task: str,
        cameras: tuple[str, ...] | list[str] = (),
        image_size: tuple[int, int] = (128, 128),
        depth: bool = False,
        horizon: int | None = None,
        render_mode: str | None = None,
        render_settings: RenderSettings | None = None,
    ):
        self.task_spec: TaskSpec = get_spec(task)
        cameras = (cameras,) if isinstance(cameras, str) else tuple(cameras)
        for cam in cameras:
            self._check_camera(cam)
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"cameras {cameras} lists a camera twice")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; valid: None, {self.metadata['render_modes']}")
        size = tuple(int(s) for s in image_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"image_size must be (H, W) with positive sizes, got {image_size!r}")
        self.cameras, self.image_size, self.depth, self.render_mode = cameras, size, bool(depth), render_mode
        self.horizon = int(horizon if horizon is not None else self.task_spec.horizon)
        if self.horizon <= 0:
            raise ValueError(f"horizon must be positive, got {horizon}")

        self._rs = make_scene(
            self.task_spec,
            horizon=self.horizon,
            offscreen=bool(cameras) or render_mode is not None,
            render_settings=render_settings or RenderSettings(),
            offscreen_size=(size[1], size[0]),
        )
        sim, robot = self._rs.sim, self._rs.robots[0]
        self._eef_site = robot.eef_site_id["right"]
        self._joint_qpos = np.array(robot._ref_joint_pos_indexes)
        self._gripper_qpos = np.array(robot._ref_gripper_joint_pos_indexes["right"])
        self._object_bodies = {k: sim.model.body_name2id(b) for k, b in self.task_spec.objects.items()}
        self._target_bodies = {k: sim.model.body_name2id(b) for k, b in self.task_spec.targets.items()}
        world_T_base = world_T_body(sim, BASE_BODY)  # the Panda's base is fixed to the world
        self._base_R, self._base_p = world_T_base[:3, :3], world_T_base[:3, 3]
        self._seeded = False
        self._t = 0
        self._frames: dict[str, np.ndarray] = {}  # images of the current state, by observation key

        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self.observation_space = self._make_observation_space()

    # ------------------------------------------------------------------------------------------------ properties
    @property
    def task_name(self) -> str:
        return self.task_spec.name

    @property
    def instruction(self) -> str:
        """The task-level default instruction, e.g. "pick up the red cube"."""
        return self.task_spec.instruction

    @property
    def robosuite_env(self):
        """The wrapped robosuite environment (a :mod:`sim.tasks.scenes` class)."""
        return self._rs

    @property
    def sim(self):
        """robosuite's ``MjSim`` (``.model``, ``.data``, ``.render``)."""
        return self._rs.sim

    @property
    def elapsed_steps(self) -> int:
        return self._t

    # ------------------------------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset; with ``seed`` the object placement and initial joint noise are a function of ``seed`` alone."""
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            # robosuite draws placements and joint noise from env.rng, shared by reference with its samplers:
            # reseed that generator in place
            entropy = seed if seed is not None else int(self.np_random.integers(2**63))
            self._rs.rng.bit_generator.state = np.random.default_rng(entropy).bit_generator.state
            self._seeded = True
        self._rs.reset()
        self._t = 0
        return self._observe(), {"success": self.success()}

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (ACTION_DIM,):
            raise ValueError(f"action must have shape ({ACTION_DIM},), got {action.shape}")
        self._rs.step(np.clip(action, -1.0, 1.0))
        self._t += 1
        success = self.success()
        return self._observe(), float(success), False, self._t >= self.horizon, {"success": success}

    def render(self) -> np.ndarray | None:
        """The agentview image (H×W×3 uint8) of the current state if ``render_mode == "rgb_array"``, else None."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without render_mode; make the env with render_mode='rgb_array'")
            return None
        key = f"{RENDER_CAMERA}_image"
        if key not in self._frames:
            self._frames[key] = self._render(RENDER_CAMERA, depth=False)[0]
        return self._frames[key]

    def close(self) -> None:
        rs, self._rs = getattr(self, "_rs", None), None
        if rs is None:
            return
        ctx = rs.sim._render_context_offscreen
        if ctx is not None:
            # robosuite frees MuJoCo's GL objects when its render context object is garbage-collected, in whatever
            # GL context is current then: another env's, whose textures and buffers share the same ids. Free them
            # now, in their own context.
            ctx.gl_ctx.make_current()
            ctx.con.free()
            ctx.gl_ctx.free()
        rs.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass

    # ------------------------------------------------------------------------------------------------ task API
    def success(self) -> bool:
        """Whether the task is accomplished in the current state."""
        return bool(self._rs._check_success())

    def render_camera(self, name: str, depth: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Render camera ``name`` in the current state at ``image_size``.

        Returns:
            (H×W×3 uint8 RGB right side up, H×W×1 float32 metric z-depth in metres or None without ``depth``).
        """
        self._check_camera(name)
        if self._rs.sim._render_context_offscreen is None:
            raise RuntimeError("this env has no offscreen renderer: make it with cameras or render_mode='rgb_array'")
        return self._render(name, depth)

    def camera_model(self, name: str) -> CameraModel:
        """The :class:`CameraModel` of camera ``name`` at the current ``image_size``, base frame ``robot0_base``."""
        self._check_camera(name)
        height, width = self.image_size
        return camera_model(self._rs.sim, name, width=width, height=height)

    # ------------------------------------------------------------------------------------------------ internals
    @staticmethod
    def _check_camera(name: str) -> None:
        if name not in CAMERAS:
            raise ValueError(f"unknown camera {name!r}; valid cameras: {', '.join(CAMERAS)}")

    def _lowdim_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {
            "robot0_eef_pos": (3,),
            "robot0_eef_quat": (4,),
            "robot0_gripper_qpos": (len(self._gripper_qpos),),
            "robot0_joint_pos": (len(self._joint_qpos),),
        }
        for name in self.task_spec.objects:
            shapes.update({f"{name}_pos": (3,), f"{name}_quat": (4,), f"gripper_to_{name}_pos": (3,)})
        for name in self.task_spec.targets:
            shapes[f"{name}_pos"] = (3,)
        for a, b in self.task_spec.relations:
            shapes[f"{a}_to_{b}_pos"] = (3,)
        return shapes

    def _make_observation_space(self) -> spaces.Dict:
        d = {k: spaces.Box(-np.inf, np.inf, s, np.float64) for k, s in self._lowdim_shapes().items()}
        height, width = self.image_size
        for cam in self.cameras:
            d[f"{cam}_image"] = spaces.Box(0, 255, (height, width, 3), np.uint8)
            if self.depth:
                d[f"{cam}_depth"] = spaces.Box(0.0, np.inf, (height, width, 1), np.float32)
        return spaces.Dict(d)

    def _to_base(self, p_world: np.ndarray) -> np.ndarray:
        return self._base_R.T @ (p_world - self._base_p)

    def _observe(self) -> dict[str, np.ndarray]:
        data = self._rs.sim.data
        eef = self._to_base(data.site_xpos[self._eef_site])
        eef_R = self._base_R.T @ data.site_xmat[self._eef_site].reshape(3, 3)
        obs = {
            "robot0_eef_pos": eef,
            "robot0_eef_quat": _hemisphere(_mat_to_quat(eef_R), GRIPPER_DOWN_QUAT),
            "robot0_gripper_qpos": data.qpos[self._gripper_qpos].copy(),
            "robot0_joint_pos": data.qpos[self._joint_qpos].copy(),
        }
        positions = {}
        for name, body in self._object_bodies.items():
            p = positions[name] = self._to_base(data.xpos[body])
            obs[f"{name}_pos"] = p
            R = self._base_R.T @ data.xmat[body].reshape(3, 3)
            obs[f"{name}_quat"] = _hemisphere(_mat_to_quat(R), OBJ_QUAT_REF)
            obs[f"gripper_to_{name}_pos"] = p - eef
        for name, body in self._target_bodies.items():
            obs[f"{name}_pos"] = positions[name] = self._to_base(data.xpos[body])
        for a, b in self.task_spec.relations:
            obs[f"{a}_to_{b}_pos"] = positions[b] - positions[a]

        self._frames = {}
        for cam in self.cameras:
            rgb, depth = self._render(cam, self.depth)
            self._frames[f"{cam}_image"] = obs[f"{cam}_image"] = rgb
            if self.depth:
                obs[f"{cam}_depth"] = depth
        return obs

    def _make_current(self) -> None:
        """Make this env's GL context current. robosuite does so only when it creates a context, so after another
        env (or any GL user) made its own current, this env's renders would go to the wrong context."""
        ctx = self._rs.sim._render_context_offscreen
        if ctx is not None:
            ctx.gl_ctx.make_current()

    def _render(self, camera: str, depth: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Render ``camera`` at ``image_size``: (H×W×3 uint8 right side up, H×W×1 float32 metres or None)."""
        height, width = self.image_size
        sim = self._rs.sim
        self._make_current()
        out = sim.render(width=width, height=height, camera_name=camera, depth=depth)
        rgb, z = out if depth else (out, None)
        rgb = np.ascontiguousarray(rgb[::-1])  # OpenGL rows run bottom-up
        if z is not None:
            z = np.ascontiguousarray(depth_to_metres(sim, z[::-1])[..., None])
        return rgb, z


def make_env(task: str, **kwargs) -> HoiTaskEnv:
    """Build :class:`HoiTaskEnv` for ``task``; ``kwargs`` are its keyword arguments (cameras, image_size, ...)."""
    return HoiTaskEnv(task, **kwargs)
