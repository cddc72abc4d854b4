"""robosuite scenes of the tasks: robosuite's Lift, Stack and PickPlaceCan plus a Push task, all with ``egoview``.

Each scene is a robosuite environment built from a :class:`sim.tasks.specs.TaskSpec` by :func:`make_scene`.
:class:`HoiSceneMixin` adds what every task shares: the egocentric camera, the placement ranges of the spec (drawn
from the env's own ``rng`` so that reseeding it reproduces them), the offscreen render settings, and it switches
off robosuite's observables (the gym wrapper reads the state from ``sim.data`` once per step instead of robosuite
sampling ~13 sensors inside the 25 physics sub-steps of every control step), and leaves the reward to the
wrapper (the sparse success indicator).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from sim.tasks import _robosuite  # noqa: F401  (quiet robosuite import)
from robosuite.controllers import load_composite_controller_config
from robosuite.environments.manipulation.lift import Lift
from robosuite.environments.manipulation.pick_place import PickPlaceCan
from robosuite.environments.manipulation.stack import Stack
from robosuite.models.objects import CylinderObject
from robosuite.utils.mjcf_utils import find_elements, new_element
from robosuite.utils.placement_samplers import UniformRandomSampler

from sim.tasks.cameras import BASE_BODY, RenderSettings, apply_scene_flags, look_at_quat
from sim.tasks.specs import CONTROL_FREQ, ROBOT, TaskSpec

__all__ = ["HoiSceneMixin", "HoiLift", "HoiStack", "HoiPickPlaceCan", "HoiPush", "SCENES", "make_scene"]

MODEL_SEED = 0  # seeds what robosuite randomizes once per model (Lift's cube size), so every process builds the same
PLACEMENT_Z_OFFSET = 0.01  # m: robosuite's drop height of placed objects above the table


class HoiSceneMixin:
    """Shared additions to a robosuite single-arm table task (put it first in the bases).

    Args:
        spec: the task's :class:`TaskSpec`.
        render_settings: offscreen render options (MSAA samples, shadows, reflections).
        offscreen_size: (width, height) of the offscreen framebuffer; the largest image that will be rendered.
        **kwargs: the robosuite environment's own arguments.
    """

    def __init__(self, *, spec: TaskSpec, render_settings: RenderSettings, offscreen_size: tuple[int, int], **kwargs):
        self.task_spec = spec
        self.render_settings = render_settings
        self.offscreen_size = offscreen_size
        super().__init__(**kwargs)

    # ---------------------------------------------------------------- model
    def _load_model(self):
        if self.task_spec.placement is not None:
            # robosuite's table tasks use a given sampler instead of building theirs; this one draws from self.rng
            p = self.task_spec.placement
            self.placement_initializer = UniformRandomSampler(
                name="ObjectSampler",
                x_range=list(p.x_range),
                y_range=list(p.y_range),
                rotation=None if p.rotation is None else list(p.rotation),
                ensure_object_boundary_in_range=False,
                ensure_valid_placement=True,
                reference_pos=self.table_offset,
                z_offset=PLACEMENT_Z_OFFSET,
                rng=self.rng,
            )
        super()._load_model()
        fovy = self.task_spec.egoview.fovy
        camera = new_element("camera", "egoview", mode="fixed", pos="0 0 0", quat="1 0 0 0", fovy=fovy)
        self.model.worldbody.append(camera)
        visual = find_elements(self.model.root, tags="visual", return_first=True)
        visual.append(new_element("quality", None, offsamples=self.render_settings.msaa_samples))
        width, height = self.offscreen_size
        visual.append(new_element("global", None, offwidth=width, offheight=height))

    def _initialize_sim(self, xml_string=None):
        super()._initialize_sim(xml_string)
        # place the egocentric camera relative to the robot base: behind it, at head height, looking at the workspace
        sim = self.sim
        base_pos = sim.data.get_body_xpos(BASE_BODY)
        base_x = sim.data.get_body_xmat(BASE_BODY)[:, 0]
        ego = self.task_spec.egoview
        eye = base_pos - ego.back * base_x
        eye[2] = ego.height
        cam = sim.model.camera_name2id("egoview")
        sim.model.cam_pos[cam] = eye
        sim.model.cam_quat[cam] = look_at_quat(eye, np.asarray(self.task_spec.look_at))
        sim.forward()

    def _reset_internal(self):
        super()._reset_internal()
        apply_scene_flags(self.sim, self.render_settings)

    # ---------------------------------------------------------------- observables: read by the gym wrapper instead
    def _update_observables(self, force=False):
        pass

    def _get_observations(self, force_update=False):
        return OrderedDict()

    def reward(self, action=None):
        """Not computed here: the gym wrapper's reward is the sparse success indicator (robosuite's sparse reward
        scaled to 1), so the success check, which is the costly part of robosuite's rewards, runs once per step."""
        return 0.0


class HoiLift(HoiSceneMixin, Lift):
    """robosuite Lift (lift the red cube 4 cm above the table) with ``egoview``."""


class HoiStack(HoiSceneMixin, Stack):
    """robosuite Stack (red cube A on green cube B, released) with ``egoview``."""


class HoiPickPlaceCan(HoiSceneMixin, PickPlaceCan):
    """robosuite PickPlaceCan (the can into its quarter of the right bin, gripper away) with ``egoview``."""


class HoiPush(HoiSceneMixin, Lift):
    """Push Lift's cube into a flat, visual-only target disc on the table.

    The disc is placed relative to the cube's start at a seeded distance and bearing, so the cube must be slid
    there. Success: the cube's centre is inside the disc (horizontally), it rests on the table and it is not grasped.

    Args:
        target_radius: disc radius in metres.
        target_distance: (low, high) distance of the disc centre from the cube's start, metres.
        target_angle: (low, high) bearing of the disc from the cube, radians from the world +x axis.
        target_bounds: ((x_low, x_high), (y_low, y_high)) allowed disc centres relative to the table-top centre.
        **kwargs: :class:`HoiSceneMixin` / robosuite ``Lift`` arguments.
    """

    TARGET_THICKNESS = 0.001  # m, half height of the disc
    REST_TOLERANCE = 0.01  # m: "resting" = cube centre at most this far above its resting height
    MAX_TRIES = 100  # rejection sampling of a disc position inside target_bounds

    def __init__(self, *, target_radius, target_distance, target_angle, target_bounds, **kwargs):
        self.target_radius = float(target_radius)
        self.target_distance = tuple(target_distance)
        self.target_angle = tuple(target_angle)
        self.target_bounds = tuple(tuple(b) for b in target_bounds)
        super().__init__(**kwargs)

    def _load_model(self):
        super()._load_model()
        self.target = CylinderObject(
            name="push_target",
            size=[self.target_radius, self.TARGET_THICKNESS],
            rgba=[0.1, 0.45, 0.95, 1.0],
            obj_type="visual",
            joints=None,
        )
        self.model.merge_objects([self.target])

    def _setup_references(self):
        super()._setup_references()
        self.target_body_id = self.sim.model.body_name2id(self.target.root_body)

    def _reset_internal(self):
        super()._reset_internal()  # places the cube from self.rng
        if not self.deterministic_reset:
            cube_xy = self.sim.data.get_joint_qpos(self.cube.joints[0])[:2] - self.table_offset[:2]  # xpos is stale
            (x_lo, x_hi), (y_lo, y_hi) = self.target_bounds
            for _ in range(self.MAX_TRIES):
                dist = self.rng.uniform(*self.target_distance)
                angle = self.rng.uniform(*self.target_angle)
                xy = cube_xy + dist * np.array([np.cos(angle), np.sin(angle)])
                if x_lo <= xy[0] <= x_hi and y_lo <= xy[1] <= y_hi:
                    break
            else:
                raise RuntimeError("HoiPush: no target position inside target_bounds; widen the spec's ranges")
            pos = np.array([*(xy + self.table_offset[:2]), self.table_offset[2] + self.TARGET_THICKNESS])
            self.sim.model.body_pos[self.target_body_id] = pos
            self.sim.forward()

    def _check_success(self):
        cube = self.sim.data.body_xpos[self.cube_body_id]
        target = self.sim.data.body_xpos[self.target_body_id]
        inside = np.linalg.norm(cube[:2] - target[:2]) < self.target_radius
        resting = cube[2] < self.table_offset[2] + self.cube.size[2] + self.REST_TOLERANCE
        return bool(inside and resting and not self._check_grasp(self.robots[0].gripper, self.cube))


SCENES = {cls.__name__: cls for cls in (HoiLift, HoiStack, HoiPickPlaceCan, HoiPush)}


def make_scene(
    spec: TaskSpec,
    *,
    horizon: int,
    offscreen: bool,
    render_settings: RenderSettings = RenderSettings(),
    offscreen_size: tuple[int, int] = (128, 128),
):
    """Build the robosuite environment of ``spec``: Panda, OSC pose (delta, 7-D action), 20 Hz, soft resets.

    Args:
        spec: the task.
        horizon: episode length in steps (robosuite's ``ignore_done`` is set; the caller truncates).
        offscreen: create an offscreen renderer (needed for any image).
        render_settings: MSAA / shadows / reflections.
        offscreen_size: (width, height) framebuffer size.
    """
    return SCENES[spec.scene](
        spec=spec,
        render_settings=render_settings,
        offscreen_size=offscreen_size,
        robots=ROBOT,
        controller_configs=load_composite_controller_config(robot=ROBOT),
        has_renderer=False,
        has_offscreen_renderer=offscreen,
        use_camera_obs=False,
        renderer="mujoco",  # robosuite's default "mjviewer" builds an on-screen viewer object on every reset
        control_freq=CONTROL_FREQ,
        horizon=horizon,
        ignore_done=True,
        hard_reset=False,
        seed=MODEL_SEED,
        **spec.scene_kwargs,
    )
