"""Driving a compiled hand: wrist target pose, finger targets, keypoints, and grasp-point placement.

:class:`Hand` binds a compiled model and a name prefix once (ids looked up by name), then works on any
``MjData`` of that model. Positions it reads (keypoints, grasp points) are those of the last
``mj_kinematics``/``mj_forward``/``mj_step``.

The wrist is a free body welded to a mocap target. In simulation, set the target every step
(``set_wrist(..., snap=False)``) and the weld pulls the hand along with real velocities, so friction grasps work.
For kinematic posing (rendering keypoint-exact frames without stepping), ``snap=True`` also puts the hand there.
"""
from __future__ import annotations

import mujoco
import numpy as np

from sim.handsim.names import HandNames
from sim.handsim.pose import HandPose

GRASPS = ("pinch", "power")


def quat_from_axes(fingers, palm_normal) -> np.ndarray:
    """Wrist orientation (wxyz) whose fingers point along ``fingers`` and whose palm faces ``palm_normal``.

    Works for both sides (both hand frames have x distal and z out of the back of the hand).
    ``palm_normal`` is made orthogonal to ``fingers``.
    """
    x = np.asarray(fingers, float)
    x = x / np.linalg.norm(x)
    z = -np.asarray(palm_normal, float)
    z = z - z.dot(x) * x
    z /= np.linalg.norm(z)
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.column_stack([x, np.cross(z, x), z]).ravel())
    return q


def natural_elbow(shoulder, wrist, upper: float = 0.30, forearm: float = 0.27, hint=(0.0, 0.0, -1.0)) -> np.ndarray:
    """Elbow position of a two-link arm from ``shoulder`` to ``wrist`` (metres), bent towards ``hint``.

    Out of reach, the arm is straight (the elbow lies on the shoulder-wrist line).
    """
    S, W = np.asarray(shoulder, float), np.asarray(wrist, float)
    axis = W - S
    d = np.linalg.norm(axis)
    axis /= d
    if d >= upper + forearm:
        return S + upper * axis
    a = (upper**2 - forearm**2 + d**2) / (2 * d)
    r = np.sqrt(max(upper**2 - a**2, 0.0))
    h = np.asarray(hint, float) - np.dot(hint, axis) * axis
    h = h / np.linalg.norm(h) if np.linalg.norm(h) > 1e-9 else np.cross(axis, (0.0, 1.0, 0.0))
    return S + a * axis + r * h


class Hand:
    """A hand inside a compiled model, addressed by its name ``prefix`` (e.g. ``"right_"``)."""

    def __init__(self, model: mujoco.MjModel, prefix: str = "right_"):
        self.model, self.names = model, HandNames(prefix)
        n = self.names
        self.mocap_id = int(model.body_mocapid[model.body(n.mocap_body).id])
        if self.mocap_id < 0:
            raise ValueError(f"body {n.mocap_body!r} is not a mocap body")
        self.body_id = model.body(n.hand_body).id
        free = model.joint(n.free_joint)
        self.free_qpos, self.free_dof = int(free.qposadr[0]), int(free.dofadr[0])
        self.site_ids = np.array([model.site(s).id for s in n.keypoint_sites])
        self.palm_center_id = model.site(n.palm_center_site).id
        joints = [model.joint(j) for j in n.joints]
        self.qpos_adr = np.array([j.qposadr[0] for j in joints])
        self.dof_adr = np.array([j.dofadr[0] for j in joints])
        self.actuator_ids = np.array([model.actuator(a).id for a in n.actuators])
        self.joint_range = np.array([j.range for j in joints])
        wrist = [model.joint(j) for j in n.wrist_joints]
        self.wrist_qpos_adr = np.array([j.qposadr[0] for j in wrist])
        self.wrist_dof_adr = np.array([j.dofadr[0] for j in wrist])
        self.wrist_actuator_ids = np.array([model.actuator(j).id for j in n.wrist_joints])
        self.wrist_range = np.array([j.range for j in wrist])
        # Sign of each wrist joint axis (+1 right hand, -1 left: the left's axes are mirrored).
        self.wrist_signs = np.array([-model.jnt_axis[wrist[0].id][1], -model.jnt_axis[wrist[1].id][2]])
        self.forearm_joint = model.body(n("forearm")).pos.copy()

    # ----------------------------------------------------------------------------------------------- reading
    def keypoints(self, data: mujoco.MjData) -> np.ndarray:
        """21×3 world positions of the keypoint sites, MediaPipe order."""
        return data.site_xpos[self.site_ids].copy()

    def pose(self, data: mujoco.MjData) -> HandPose:
        """The current joint angles."""
        return HandPose(tuple(data.qpos[self.qpos_adr]))

    def wrist_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """The wrist target's (mocap) position and wxyz quaternion, as commanded."""
        return data.mocap_pos[self.mocap_id].copy(), data.mocap_quat[self.mocap_id].copy()

    def hand_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """Where the hand (palm body) actually is: position and wxyz quaternion from the last kinematics."""
        return data.xpos[self.body_id].copy(), data.xquat[self.body_id].copy()

    def grasp_point(self, data: mujoco.MjData, kind: str = "pinch") -> np.ndarray:
        """World grasp point: thumb-tip/index-tip midpoint (``"pinch"``) or the palm-centre site (``"power"``)."""
        if kind == "pinch":
            return data.site_xpos[self.site_ids[[4, 8]]].mean(axis=0)
        if kind == "power":
            return data.site_xpos[self.palm_center_id].copy()
        raise ValueError(f"grasp kind must be one of {GRASPS}, got {kind!r}")

    # ----------------------------------------------------------------------------------------------- writing
    def set_ctrl(self, data: mujoco.MjData, pose: HandPose) -> None:
        """Finger actuator targets (clipped to the joint ranges by MuJoCo's ctrlrange)."""
        data.ctrl[self.actuator_ids] = pose.array

    def set_qpos(self, data: mujoco.MjData, pose: HandPose) -> None:
        """Put the fingers in ``pose`` at once (qpos clipped to the joint ranges, zero velocity, same targets)."""
        q = np.clip(pose.array, self.joint_range[:, 0], self.joint_range[:, 1])
        data.qpos[self.qpos_adr] = q
        data.qvel[self.dof_adr] = 0.0
        data.ctrl[self.actuator_ids] = q

    def set_wrist(self, data: mujoco.MjData, pos, quat, snap: bool = False) -> None:
        """Set the wrist target (mocap) pose; ``quat`` is wxyz (normalized here).

        ``snap``: also teleport the hand onto the target, at rest (kinematic posing; not while it holds something).
        """
        q = np.asarray(quat, float) / np.linalg.norm(quat)
        data.mocap_pos[self.mocap_id] = pos
        data.mocap_quat[self.mocap_id] = q
        if snap:
            data.qpos[self.free_qpos : self.free_qpos + 3] = pos
            data.qpos[self.free_qpos + 3 : self.free_qpos + 7] = q
            data.qvel[self.free_dof : self.free_dof + 6] = 0.0

    def aim_forearm(self, data: mujoco.MjData, elbow, snap: bool = True) -> np.ndarray:
        """Bend the wrist so the forearm points from the wrist towards ``elbow`` (world), within the wrist limits.

        Sets the wrist actuator targets, and with ``snap`` the wrist angles themselves. Uses the hand's pose from the
        last kinematics. Returns the (flexion, deviation) angles in radians (+ = palmar flexion, radial deviation).
        """
        p, q = self.hand_pose(data)
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, q)
        v = R.reshape(3, 3).T @ (np.asarray(elbow, float) - p) - self.forearm_joint
        u = -v / np.linalg.norm(v)  # forearm +x (towards the hand) in the hand frame
        s_flex, s_dev = self.wrist_signs
        # forearm x = R_y(-s_flex flex) R_z(-s_dev dev) e_x
        #           = (cos dev cos flex, -s_dev sin dev, s_flex cos dev sin flex)
        angles = np.array([np.arctan2(s_flex * u[2], u[0]), -s_dev * np.arcsin(np.clip(u[1], -1, 1))])
        angles = np.clip(angles, self.wrist_range[:, 0], self.wrist_range[:, 1])
        data.ctrl[self.wrist_actuator_ids] = angles
        if snap:
            data.qpos[self.wrist_qpos_adr] = angles
            data.qvel[self.wrist_dof_adr] = 0.0
        return angles

    def pinch_axis(self, data: mujoco.MjData, pose: HandPose | None = None) -> np.ndarray:
        """Unit thumb-tip → index-tip direction in the wrist frame, for the current fingers or for ``pose``."""
        scratch = self._scratch(data, pose)
        R = scratch.xmat[self.body_id].reshape(3, 3)
        tips = scratch.site_xpos[self.site_ids[[4, 8]]]
        a = R.T @ (tips[1] - tips[0])
        return a / np.linalg.norm(a)

    def pinch_quat(self, data: mujoco.MjData, axis, palm_normal, pose: HandPose | None = None) -> np.ndarray:
        """Wrist orientation (wxyz) that puts the thumb → index direction (of ``pose``) along world ``axis``, with the
        palm facing ``palm_normal`` as closely as that allows. E.g. a top-down pinch of a cube across x:
        ``pinch_quat(data, (1, 0, 0), (0, 0, -1), PRESETS["pinch_open"])``.
        """

        def frame(a, n):
            a = np.asarray(a, float) / np.linalg.norm(a)
            n = np.asarray(n, float) - np.dot(n, a) * a
            n /= np.linalg.norm(n)
            return np.column_stack([a, n, np.cross(a, n)])

        R = frame(axis, palm_normal) @ frame(self.pinch_axis(data, pose), (0.0, 0.0, -1.0)).T
        q = np.zeros(4)
        mujoco.mju_mat2Quat(q, R.ravel())
        return q

    def _scratch(self, data: mujoco.MjData, pose: HandPose | None) -> mujoco.MjData:
        """A copy of ``data``'s configuration, fingers set to ``pose`` if given, with kinematics computed."""
        scratch = mujoco.MjData(self.model)
        scratch.qpos[:] = data.qpos
        scratch.mocap_pos[:], scratch.mocap_quat[:] = data.mocap_pos, data.mocap_quat
        if pose is not None:
            self.set_qpos(scratch, pose)
        mujoco.mj_kinematics(self.model, scratch)
        return scratch

    def grasp_offset(self, data: mujoco.MjData, kind: str = "pinch", pose: HandPose | None = None) -> np.ndarray:
        """The grasp point in the hand (palm body) frame, for the current fingers or for ``pose``."""
        scratch = self._scratch(data, pose)
        p, R = scratch.xpos[self.body_id], scratch.xmat[self.body_id].reshape(3, 3)
        return R.T @ (self.grasp_point(scratch, kind) - p)

    def place_grasp(
        self,
        data: mujoco.MjData,
        target,
        quat,
        kind: str = "pinch",
        pose: HandPose | None = None,
        snap: bool = True,
    ) -> np.ndarray:
        """Set the wrist target so that the grasp point lands on ``target`` with wrist orientation ``quat`` (wxyz).

        The grasp point is computed for ``pose`` if given (e.g. the closed grasp while the fingers are still
        open), else for the current finger angles. Returns the wrist position. With ``snap`` the hand is put there
        too and kinematics recomputed, so keypoints read the new pose at once; without, the weld pulls it there
        over the next steps (use that while simulating).
        """
        off = self.grasp_offset(data, kind, pose)
        q = np.asarray(quat, float) / np.linalg.norm(quat)
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, q)
        wrist = np.asarray(target, float) - R.reshape(3, 3) @ off
        self.set_wrist(data, wrist, q, snap)
        if snap:
            mujoco.mj_kinematics(self.model, data)
        return wrist


def keypoints(model: mujoco.MjModel, data: mujoco.MjData, prefix: str = "right_") -> np.ndarray:
    """21×3 world keypoints (MediaPipe order) of the hand named by ``prefix``."""
    return Hand(model, prefix).keypoints(data)
