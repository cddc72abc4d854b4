"""Inverse kinematics with mink: an :class:`EETrajectory` → a Panda :class:`JointTrajectory` (what ROS publishes).

The arm model is robosuite's Panda with its Panda gripper, built from the installed robosuite package (base body
``robot0_base`` at the origin, so the model's world frame is the robot base frame of the trajectory; TCP = the grip
site ``gripper0_grip_site``, the frame the simulator reports as ``robot0_eef_pos``). Every waypoint is solved by
a few differential-IK iterations (``mink.solve_ik``: a FrameTask on the TCP, a light PostureTask towards ``q0``,
``ConfigurationLimit`` so joint limits hold, warm-started from the previous waypoint), and the result is checked by
MuJoCo forward kinematics (``mj_kinematics``): ``IKResult.position_error`` per waypoint.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import mujoco
import numpy as np

from hoi2robot.contracts import EETrajectory, JointTrajectory

__all__ = ["IKConfig", "IKResult", "PANDA_HOME", "panda_model", "forward_kinematics", "solve_joint_trajectory"]

PANDA_HOME = np.array([0.0, np.pi / 16.0, 0.0, -np.pi / 2.0 - np.pi / 3.0, 0.0, np.pi - 0.2, np.pi / 4])  # robosuite
TCP_SITE = "gripper0_grip_site"
ARM_JOINTS = tuple(f"robot0_joint{i}" for i in range(1, 8))
ROS_JOINT_NAMES = tuple(f"panda_joint{i}" for i in range(1, 8))


@dataclass(frozen=True)
class IKConfig:
    """Settings of :func:`solve_joint_trajectory`.

    Attributes:
        joint_names: names written into the JointTrajectory (column order = Panda joints 1..7).
        position_cost, orientation_cost: FrameTask weights on the TCP.
        posture_cost: PostureTask weight towards ``q0`` (resolves the redundant 7th DoF).
        iterations: differential-IK iterations per waypoint (the first waypoint gets 10×).
        dt: integration step of each iteration (s).
        damping: Levenberg–Marquardt damping of the QP.
        solver: QP solver for ``mink.solve_ik`` (``daqp`` ships with the project).
        tolerance: stop iterating a waypoint once the position error is below this (m).
    """

    joint_names: tuple[str, ...] = ROS_JOINT_NAMES
    position_cost: float = 1.0
    orientation_cost: float = 0.5
    posture_cost: float = 1e-3
    iterations: int = 30
    dt: float = 0.1
    damping: float = 1e-4
    solver: str = "daqp"
    tolerance: float = 5e-4

    def __post_init__(self) -> None:
        if len(tuple(self.joint_names)) != 7:
            raise ValueError(f"IKConfig.joint_names: expected 7 Panda joint names, got {self.joint_names!r}")
        object.__setattr__(self, "joint_names", tuple(str(n) for n in self.joint_names))
        if self.iterations < 1 or self.dt <= 0:
            raise ValueError("IKConfig: iterations must be >= 1 and dt > 0")


@dataclass
class IKResult:
    """The joint trajectory and its forward-kinematics check (metres / radians per waypoint)."""

    joints: JointTrajectory
    position_error: np.ndarray
    orientation_error: np.ndarray
    within_limits: bool
    limits: np.ndarray = field(repr=False)

    @property
    def max_position_error(self) -> float:
        return float(self.position_error.max())


@functools.lru_cache(maxsize=1)
def panda_model() -> mujoco.MjModel:
    """robosuite's Panda arm + Panda gripper as a standalone MjModel (base at the origin)."""
    from sim.tasks import _robosuite  # noqa: F401  (quiet robosuite import)
    from robosuite.models.grippers import PandaGripper
    from robosuite.models.robots import Panda

    robot = Panda()
    robot.add_gripper(PandaGripper())
    model = mujoco.MjModel.from_xml_string(robot.get_xml())
    return model


def _arm_indices(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    qadr = np.array([model.jnt_qposadr[model.joint(n).id] for n in ARM_JOINTS])
    dadr = np.array([model.jnt_dofadr[model.joint(n).id] for n in ARM_JOINTS])
    return qadr, dadr


def forward_kinematics(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TCP (grip site) position (3) and rotation matrix (3×3) in the base frame for the 7 arm joint angles ``q``."""
    model = panda_model()
    data = mujoco.MjData(model)
    qadr, _ = _arm_indices(model)
    data.qpos[qadr] = q
    mujoco.mj_kinematics(model, data)
    sid = model.site(TCP_SITE).id
    return data.site_xpos[sid].copy(), data.site_xmat[sid].reshape(3, 3).copy()


def solve_joint_trajectory(
    ee: EETrajectory, q0: np.ndarray | None = None, cfg: IKConfig | None = None, return_result: bool = False
) -> JointTrajectory | IKResult:
    """Joint trajectory reaching every TCP pose of ``ee`` (robot base frame) from the arm configuration ``q0``
    (7 rad; default the robosuite home pose). The gripper column is passed through. With ``return_result`` an
    :class:`IKResult` with the forward-kinematics errors is returned instead."""
    import mink

    cfg = cfg or IKConfig()
    model = panda_model()
    qadr, dadr = _arm_indices(model)
    q_start = np.asarray(PANDA_HOME if q0 is None else q0, np.float64).reshape(-1)
    if q_start.shape != (7,) or not np.isfinite(q_start).all():
        raise ValueError(f"q0 must be 7 finite joint angles (rad), got {q0!r}")
    limits_arr = model.jnt_range[[model.joint(n).id for n in ARM_JOINTS]].copy()
    q_full = np.zeros(model.nq)
    q_full[qadr] = np.clip(q_start, limits_arr[:, 0], limits_arr[:, 1])
    conf = mink.Configuration(model, q_full)
    frame = mink.FrameTask(TCP_SITE, "site", position_cost=cfg.position_cost, orientation_cost=cfg.orientation_cost)
    posture = mink.PostureTask(model, cost=cfg.posture_cost)
    posture.set_target(q_full)
    limits = [mink.ConfigurationLimit(model)]
    # only the arm joints move: freeze the gripper's finger joints
    other = [i for i in range(model.nv) if i not in set(dadr.tolist())]
    constraints = [mink.DofFreezingTask(model, dof_indices=other)] if other else None
    sid = model.site(TCP_SITE).id

    Q = np.zeros((len(ee), 7))
    perr, oerr = np.zeros(len(ee)), np.zeros(len(ee))
    for k in range(len(ee)):
        target = mink.SE3.from_rotation_and_translation(mink.SO3(ee.quat_wxyz[k]), ee.position[k])
        frame.set_target(target)
        for _ in range(cfg.iterations * (10 if k == 0 else 1)):
            vel = mink.solve_ik(conf, [frame, posture], cfg.dt, cfg.solver, damping=cfg.damping, limits=limits,
                                constraints=constraints)  # fmt: skip
            conf.integrate_inplace(vel, cfg.dt)
            if np.linalg.norm(conf.data.site_xpos[sid] - ee.position[k]) < cfg.tolerance:
                break
        q = conf.q[qadr].copy()
        Q[k] = q
        # independent check with MuJoCo forward kinematics
        p, R = forward_kinematics(q)
        perr[k] = np.linalg.norm(p - ee.position[k])
        R_ref = np.empty(9)
        mujoco.mju_quat2Mat(R_ref, ee.quat_wxyz[k])
        c = (np.trace(R_ref.reshape(3, 3).T @ R) - 1) / 2
        oerr[k] = float(np.arccos(np.clip(c, -1, 1)))
    within = bool(np.all(Q >= limits_arr[:, 0] - 1e-6) and np.all(Q <= limits_arr[:, 1] + 1e-6))
    joints = JointTrajectory(t=ee.t.copy(), positions=Q, joint_names=cfg.joint_names, gripper=ee.gripper.copy(),
                             source="ik:mink")  # fmt: skip
    if return_result:
        return IKResult(joints, perr, oerr, within, limits_arr)
    return joints
