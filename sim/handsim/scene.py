"""The robot task's scene with the robot hidden and two human hands in it: :class:`EngineScene`.

Built once per process and task (~3-4 s), then reset per seed:

* the robosuite env of the task (:func:`sim.tasks.scenes.make_scene`, no renderer) is kept only to draw the
  object placement: reseeded and reset exactly as :meth:`sim.tasks.HoiTaskEnv.reset` does, so seed ``s`` gives the
  robot env's placement; its object joint positions (and Push's target disc) are copied into the engine's model.
* the engine's model is robosuite's MJCF (``rs.model.get_xml()``) loaded as an ``MjSpec``: every geom of the robot,
  its gripper and mount (bodies ``robot0_*``, ``gripper0_*``, ``fixed_mount0_*``, and robosuite's eef target
  markers) is moved to geom group 5 (never rendered, not in segmentation renders) and made non-colliding, and the
  robot's bodies are gravity-compensated so the limp arm stays where it is. Both hands (``left_``/``right_``) are
  attached; the unused one waits at :data:`PARK`, behind and above the cameras.
* grasping: a weld between each hand and each movable object, inactive until the demo engages it at the *current*
  relative pose (see :mod:`sim.handsim.demos`), plus the hand's friction contacts.
"""
from __future__ import annotations

import mujoco
import numpy as np

from hoi2robot.config import close_at_exit
from hoi2robot.contracts import CameraModel
from sim.tasks.cameras import mj_camera_model
from sim.handsim.control import Hand
from sim.handsim.hand import attach_hand, build_hand, restyle
from sim.handsim.style import HandStyle
from sim.handsim.success import TaskState, check_success
from sim.tasks.cameras import BASE_BODY, RenderSettings
from sim.tasks.scenes import make_scene
from sim.tasks.specs import get_spec

__all__ = ["EngineScene", "PARK", "ROBOT_PREFIXES", "SIDES"]

SIDES = ("left", "right")
ROBOT_PREFIXES = ("robot0_", "gripper0_", "fixed_mount0_", "left_eef_target", "right_eef_target")
HIDDEN_GROUP = 5
PARK = np.array([-2.0, 0.0, 3.0])  # where an unused hand waits: behind the person, out of every camera
MAX_OFFSCREEN = 512  # largest render size
NO_HAND_CONTACT = ("bin1", "bin2")  # bodies the hands pass through (see EngineScene._exclude_hand_contacts)


def _quat_to_mat(q) -> np.ndarray:
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, np.asarray(q, float))
    return R.reshape(3, 3)


def _mat_to_quat(R) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R).ravel())
    return q


class EngineScene:
    """One task's scene with two hands; ``reset(seed)`` places the objects as the robot env does for ``seed``.

    Attributes:
        task, spec: task name and :class:`TaskSpec`.
        rs: the robosuite env (placement sampler and success thresholds only; never stepped).
        model, data: the engine's MuJoCo model and data.
        hands: side -> :class:`Hand`.
        obj_body: object key (spec.objects and spec.targets) -> body id.
        welds: (side, object key) -> equality id of the grasp weld.
        world_T_base: 4×4 pose of the robot base.
    """

    def __init__(self, task: str, render_settings: RenderSettings = RenderSettings()):
        self.task, self.spec = task, get_spec(task)
        self.render_settings = render_settings
        self.rs = make_scene(self.spec, horizon=10, offscreen=False, render_settings=render_settings)
        self.rs.reset()
        spec = mujoco.MjSpec.from_string(self.rs.model.get_xml())
        spec.visual.global_.offwidth = spec.visual.global_.offheight = MAX_OFFSCREEN
        spec.visual.map.znear = 0.005
        spec.visual.quality.offsamples = int(render_settings.msaa_samples)
        spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        spec.option.impratio = 10.0
        self._hide_robot(spec)
        for side in SIDES:
            attach_hand(spec, build_hand(side, HandStyle(), pos=PARK))
        self._exclude_hand_contacts(spec)
        for side in SIDES:
            for key, body in self.spec.objects.items():
                eq = spec.add_equality(name=f"{side}_grasp_{key}", type=mujoco.mjtEq.mjEQ_WELD,
                                       objtype=mujoco.mjtObj.mjOBJ_BODY, name1=f"{side}_hand", name2=body)  # fmt: skip
                eq.active = False
                eq.solref = (0.01, 1.0)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        m, src = self.model, self.rs.sim.model._model
        for cam in range(src.ncam):  # robosuite places egoview after compiling: copy every camera's pose
            name = src.camera(cam).name
            c = m.camera(name)
            m.cam_pos[c.id], m.cam_quat[c.id], m.cam_fovy[c.id] = src.cam_pos[cam], src.cam_quat[cam], src.cam_fovy[cam]
        self.hands = {side: Hand(m, f"{side}_") for side in SIDES}
        names = {**self.spec.objects, **self.spec.targets}
        self.obj_body = {k: m.body(b).id for k, b in names.items()}
        self.welds = {(s, k): m.equality(f"{s}_grasp_{k}").id for s in SIDES for k in self.spec.objects}
        self.hand_geoms = {s: np.array([m.geom(g).id for g in h.names.collision_geoms]) for s, h in self.hands.items()}
        self.obj_geoms = {k: np.nonzero(m.body_rootid[m.geom_bodyid] == m.body_rootid[b])[0]
                          for k, b in self.obj_body.items() if k in self.spec.objects}  # fmt: skip
        self._free_joints = [m.joint(j).name for j in range(m.njnt) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE
                             and m.joint(j).name in self._rs_joint_names()]  # fmt: skip
        self._light0 = (m.light_diffuse.copy(), m.light_ambient.copy(), m.light_specular.copy(), m.light_dir.copy())
        self._surface_mats = [i for i in range(m.nmat) if m.material(i).name in ("table_ceramic", "light-wood",
                                                                                  "dark-wood")]  # fmt: skip
        self._mat_rgba0 = m.mat_rgba.copy()
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        mujoco.mj_forward(m, self.data)
        self.world_T_base = np.eye(4)
        self.world_T_base[:3, :3] = self.data.xmat[m.body(BASE_BODY).id].reshape(3, 3)
        self.world_T_base[:3, 3] = self.data.xpos[m.body(BASE_BODY).id]
        self.base_T_world = np.linalg.inv(self.world_T_base)

    # ------------------------------------------------------------------------------------------------ building
    @staticmethod
    def _hide_robot(spec: mujoco.MjSpec) -> None:
        for body in spec.bodies:
            if body.name.startswith(ROBOT_PREFIXES):
                body.gravcomp = 1.0
                for g in body.geoms:
                    g.group, g.contype, g.conaffinity = HIDDEN_GROUP, 0, 0
                for site in body.sites:
                    site.group = HIDDEN_GROUP

    @staticmethod
    def _exclude_hand_contacts(spec: mujoco.MjSpec) -> None:
        """No contacts between the hands and the bins (PickPlaceCan): a pinch of a can close to a bin wall would
        otherwise rest the palm on the wall's rim and miss the can. The can still collides with the bins."""
        bins = [b.name for b in spec.bodies if b.name in NO_HAND_CONTACT]
        for body in spec.bodies:
            if body.name.startswith(tuple(f"{s}_" for s in SIDES)) and body.geoms:
                for other in bins:
                    ex = spec.add_exclude()
                    ex.bodyname1, ex.bodyname2 = body.name, other

    def _rs_joint_names(self) -> set[str]:
        src = self.rs.sim.model._model
        return {src.joint(j).name for j in range(src.njnt)}

    # ------------------------------------------------------------------------------------------------ reset
    def reset(self, seed: int) -> None:
        """Objects placed as ``sim.tasks.make_env(task).reset(seed=seed)`` places them; hands parked, welds off."""
        rs = self.rs
        rs.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        rs.reset()
        m, d, sd = self.model, self.data, rs.sim.data
        mujoco.mj_resetData(m, d)
        src = rs.sim.model._model
        for name in self._free_joints:
            j = m.joint(name)
            a = int(j.qposadr[0])
            b = int(src.joint(name).qposadr[0])
            d.qpos[a : a + 7] = sd.qpos[b : b + 7]
        for name in [src.joint(j).name for j in range(src.njnt) if name_is_robot(src.joint(j).name)]:
            d.qpos[m.joint(name).qposadr[0]] = sd.qpos[src.joint(name).qposadr[0]]
        for key in self.spec.targets:  # robosuite places visual targets in the model (Push's disc, PickPlace's can)
            b, sb = self.obj_body[key], src.body(self.spec.targets[key]).id
            m.body_pos[b], m.body_quat[b] = src.body_pos[sb], src.body_quat[sb]
        d.eq_active[list(self.welds.values())] = 0
        for hand in self.hands.values():
            hand.set_wrist(d, PARK, (1.0, 0.0, 0.0, 0.0), snap=True)
        mujoco.mj_forward(m, d)

    def restyle(self, side: str, style: HandStyle) -> None:
        """Recolour a hand (model texture, and every open renderer's copy)."""
        restyle(self.model, f"{side}_", style)
        tex = self.model.texture(f"{side}_skin").id
        for r in self._renderers.values():
            # Each renderer has its own GL context: upload into that one, not whichever context is current.
            if getattr(r, "_gl_context", None) is not None:
                r._gl_context.make_current()
            mujoco.mjr_uploadTexture(self.model, r._mjr_context, tex)

    def set_lighting(self, gain: float, ambient: float, tilt: np.ndarray, surface_tint: np.ndarray) -> None:
        """Scale the lights (``gain``), add ``ambient``, tilt light directions by the 3-vector ``tilt``, tint the
        table/bin materials by the RGB multiplier ``surface_tint``."""
        m = self.model
        diffuse, amb, spec, direction = self._light0
        m.light_diffuse[:] = np.clip(diffuse * gain, 0, 1)
        m.light_ambient[:] = np.clip(amb + ambient, 0, 1)
        m.light_specular[:] = np.clip(spec * gain, 0, 1)
        dirs = direction + tilt
        m.light_dir[:] = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        m.mat_rgba[:] = self._mat_rgba0
        for i in self._surface_mats:
            m.mat_rgba[i, :3] = np.clip(self._mat_rgba0[i, :3] * surface_tint, 0, 1)
        # Light directions enter the scene through mj_forward (light_xdir); without it the next render would use the
        # previous clip's lighting, making a context frame depend on what the worker rendered before.
        mujoco.mj_forward(m, self.data)

    # ------------------------------------------------------------------------------------------------ reading
    def to_base(self, p_world: np.ndarray) -> np.ndarray:
        """N×3 (or 3) world points in the robot base frame."""
        p = np.asarray(p_world, float)
        return p @ self.base_T_world[:3, :3].T + self.base_T_world[:3, 3]

    def object_poses(self) -> dict[str, np.ndarray]:
        """Object key -> 7 pose (x, y, z, qw, qx, qy, qz) in the robot base frame (quat with w >= 0)."""
        out = {}
        Rb = self.base_T_world[:3, :3]
        for k, b in self.obj_body.items():
            q = _mat_to_quat(Rb @ self.data.xmat[b].reshape(3, 3))
            out[k] = np.concatenate([self.to_base(self.data.xpos[b]), -q if q[0] < 0 else q])
        return out

    def contacts(self) -> np.ndarray:
        """ncon×2 geom ids of the current contacts."""
        return self.data.contact.geom[: self.data.ncon].copy()

    def hand_touching(self, side: str, key: str, pairs: np.ndarray | None = None) -> int:
        """Number of distinct hand geoms of ``side`` touching object ``key``."""
        pairs = self.contacts() if pairs is None else pairs
        hg, og = self.hand_geoms[side], self.obj_geoms[key]
        a = np.isin(pairs[:, 0], hg) & np.isin(pairs[:, 1], og)
        b = np.isin(pairs[:, 1], hg) & np.isin(pairs[:, 0], og)
        return len(set(pairs[a, 0]) | set(pairs[b, 1]))

    def weld_on(self, side: str, key: str) -> bool:
        return bool(self.data.eq_active[self.welds[(side, key)]])

    def engage(self, side: str, key: str) -> None:
        """Turn on the grasp weld at the current hand-object relative pose (no pull, so the object never jumps)."""
        m, d = self.model, self.data
        eq = self.welds[(side, key)]
        h, o = self.hands[side].body_id, self.obj_body[key]
        R1, p1 = d.xmat[h].reshape(3, 3), d.xpos[h]
        R2, p2 = d.xmat[o].reshape(3, 3), d.xpos[o]
        # MuJoCo's weld data: anchor (3), relpose = pose of body2 (the object) in body1's (the hand's) frame (3 + 4)
        m.eq_data[eq, 0:3] = 0.0
        m.eq_data[eq, 3:6] = R1.T @ (p2 - p1)
        m.eq_data[eq, 6:10] = _mat_to_quat(R1.T @ R2)
        m.eq_data[eq, 10] = 1.0
        d.eq_active[eq] = 1

    def release(self, side: str) -> None:
        for (s, _), eq in self.welds.items():
            if s == side:
                self.data.eq_active[eq] = 0

    def state(self, side: str, grasp_point: np.ndarray) -> TaskState:
        pairs = self.contacts()
        pos = {k: self.data.xpos[b].copy() for k, b in self.obj_body.items()}
        keys = list(self.spec.objects)
        touching = set()
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                ga, gb = self.obj_geoms[a], self.obj_geoms[b]
                hit = (np.isin(pairs[:, 0], ga) & np.isin(pairs[:, 1], gb)) | (np.isin(pairs[:, 1], ga) & np.isin(pairs[:, 0], gb))
                if hit.any():
                    touching.add(frozenset((a, b)))
        grasped = {k: self.weld_on(side, k) or self.hand_touching(side, k, pairs) >= 2 for k in keys}
        dist = {k: float(np.linalg.norm(pos[k] - grasp_point)) for k in keys}
        return TaskState(pos=pos, grasped=grasped, touching=frozenset(touching), hand_dist=dist)

    def success(self, side: str, grasp_point: np.ndarray) -> bool:
        """The task's success check (robosuite's, see :mod:`sim.handsim.success`) in the current state."""
        return check_success(self.task, self.rs, self.state(side, grasp_point))

    # ------------------------------------------------------------------------------------------------ rendering
    def renderer(self, size: int) -> mujoco.Renderer:
        key = (size, size)
        if key not in self._renderers:
            r = close_at_exit(mujoco.Renderer(self.model, size, size))
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(self.render_settings.shadows)
            r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = int(self.render_settings.reflections)
            self._renderers[key] = r
        return self._renderers[key]

    def render(self, camera: str, size: int, segmentation: bool = False) -> np.ndarray:
        """size×size×3 uint8 RGB (row 0 at the top); with ``segmentation`` size×size×2 int32 (object id, type)."""
        r = self.renderer(size)
        if segmentation:
            r.enable_segmentation_rendering()
        r.update_scene(self.data, camera)
        img = r.render().copy()
        if segmentation:
            r.disable_segmentation_rendering()
        return img

    def camera_model(self, camera: str, size: int) -> CameraModel:
        """The camera's :class:`CameraModel` (base frame ``robot0_base``) at size×size."""
        cm = mj_camera_model(self.model, self.data, camera, size, size)
        return CameraModel(name=camera, K=cm.K, width=size, height=size, base_T_cam=self.base_T_world @ cm.base_T_cam)

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()


def name_is_robot(name: str) -> bool:
    return name.startswith(ROBOT_PREFIXES)
