"""Scripted OSC experts for the simulated tasks, and :func:`run_episode`.

An expert maps the env's low-dim observation (base frame, see :mod:`sim.tasks.gym_env`) to a 7-D OSC delta action.
It is a small phase machine: each phase computes a gripper target position and a gripper command and says when it
is finished (or jumps to another phase: the pick experts grasp again when the object is not in the closed gripper,
Push re-approaches when the cube slips off the pushing line). The gripper is kept pointing down; for cubes it is
turned about the vertical to a cube face, with the fingers closing away from a neighbouring object.

    expert = make_expert("Stack")
    result = run_episode(env, expert, seed=0)   # {"success": ..., "steps": ..., "return": ..., "time": ...}
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from hoi2robot.geometry import quat_to_mat
from sim.tasks.gym_env import GRIPPER_DOWN_QUAT
from sim.tasks.osc import pose_delta_action

__all__ = [
    "EXPERTS",
    "Command",
    "Expert",
    "LiftExpert",
    "PickExpert",
    "PickPlaceCanExpert",
    "PlaceExpert",
    "PushExpert",
    "ScriptedExpert",
    "StackExpert",
    "make_expert",
    "run_episode",
]

Obs = dict[str, np.ndarray]

OPEN, CLOSED = -1.0, 1.0

# Geometry the experts know about the tasks (metres). Cube half sizes: Lift/Push 0.020-0.022, Stack A 0.02, B 0.025.
APPROACH_HEIGHT = 0.08  # above the grasp point before descending
REACH_TOL = 0.01  # position error that counts as "reached"
COARSE_TOL = 0.02  # looser tolerance for transit waypoints
GRASP_STEPS = 10  # steps with the gripper closing before lifting (0.5 s)
MIN_GRASP_WIDTH = 0.01  # finger opening below which the closed gripper holds nothing (a 4 cm cube gives 0.04)
HOLD_TOL = 0.03  # the held object may drift this far from where it sat in the gripper before it counts as lost
OBSTACLE_RADIUS = 0.12  # other objects closer than this to the grasped one steer the fingers' closing axis
RELEASE_STEPS = 8  # steps with the gripper opening before retreating
LIFT_HEIGHT = 0.15  # Lift: raise the cube this much above where it was grasped
CARRY_CLEARANCE = 0.08  # Stack / PickPlaceCan: carry the object this far above the place point
STACK_OFFSET = 0.02 + 0.025 + 0.005  # cube A centre above cube B centre when released (half sizes + 5 mm)
CAN_GRASP_DZ = 0.01  # grasp the can this far above its body origin (6 cm above its bottom)
CAN_RELEASE_DZ = 0.04  # release the can this far above the target marker's centre
CAN_PLACE_INWARD = 0.05  # aim this far from the marker towards the robot: the marker (the centre of the can's
# 19.5 x 24.5 cm quarter of the bin) is at the edge of the Panda's reach
RETREAT_HEIGHT = 0.10
PUSH_HALF = 0.021  # Push cube half size (drawn once per model in [0.020, 0.022])
PUSH_STANDOFF = 0.035  # gripper centre behind the cube face before pushing
PUSH_LEAD = 0.03  # the pushing target runs this far ahead of the cube centre
PUSH_SPEED = 0.3  # fraction of MAX_DPOS per step while pushing (1.5 cm/step = 0.3 m/s)
PUSH_LINE_TOL = 0.015  # lateral drift of the gripper from the push line that triggers a re-approach
PUSH_DONE_TOL = 0.01  # cube centre this close to the target centre ends the push
PUSH_HEIGHT = 0.0  # gripper site height relative to the cube centre while pushing
MAX_PHASE_STEPS = 60  # any waiting phase gives up after this many steps and moves on


class Expert(Protocol):
    """What :func:`run_episode` drives: ``reset()`` at episode start, ``act(obs) -> (7,) float`` every step."""

    def reset(self) -> None: ...

    def act(self, obs: Obs) -> np.ndarray: ...


@dataclass
class Command:
    """One step of a phase.

    Attributes:
        target: (3,) desired gripper (grip site) position in the base frame.
        gripper: -1 open ... +1 closed.
        done: the phase is finished; the next phase in ``phases`` starts.
        goto: start this phase instead (overrides ``done``).
        speed: fraction of the maximum per-step motion.
    """

    target: np.ndarray
    gripper: float
    done: bool = False
    goto: str | None = None
    speed: float = 1.0


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _yaw_to_face(quat: np.ndarray, symmetry: float = np.pi / 2) -> float:
    """Rotation about the vertical (rad, in [-symmetry/2, symmetry/2)) that lines the gripper up with an upright
    object of quaternion ``quat`` (w, x, y, z) whose shape repeats every ``symmetry`` radians."""
    yaw = 2.0 * np.arctan2(quat[3], quat[0])
    return float((yaw + symmetry / 2) % symmetry - symmetry / 2)


def _closing_axis(yaw: float) -> np.ndarray:
    """(2,) horizontal direction the fingers close along after turning the home gripper by ``yaw``: at home they
    close along the base y axis."""
    return np.array([-np.sin(yaw), np.cos(yaw)])


class ScriptedExpert:
    """Phase machine. Subclasses list ``phases`` and implement ``_<phase>(obs) -> Command`` for each."""

    phases: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.phase = self.phases[0]
        self.phase_steps = 0
        self.yaw = 0.0  # gripper rotation about the vertical from GRIPPER_DOWN_QUAT
        self.memory: dict[str, Any] = {}

    def act(self, obs: Obs) -> np.ndarray:
        for _ in range(len(self.phases) + 1):  # finished phases hand over within the same step
            cmd = getattr(self, f"_{self.phase}")(obs)
            nxt = cmd.goto or (self._after(self.phase) if cmd.done else None)
            if nxt is None:
                break
            self.phase, self.phase_steps = nxt, 0
        self.phase_steps += 1
        return self._action(obs, cmd)

    def _after(self, phase: str) -> str | None:
        i = self.phases.index(phase)
        return self.phases[i + 1] if i + 1 < len(self.phases) else None

    def _timed_out(self) -> bool:
        return self.phase_steps >= MAX_PHASE_STEPS

    def _action(self, obs: Obs, cmd: Command) -> np.ndarray:
        a = np.zeros(7)
        R_des = _rot_z(self.yaw) @ quat_to_mat(GRIPPER_DOWN_QUAT)
        a[:6] = pose_delta_action(obs["robot0_eef_pos"], quat_to_mat(obs["robot0_eef_quat"]), cmd.target, R_des)
        a[:3] *= cmd.speed
        a[6] = cmd.gripper
        return a

    @staticmethod
    def _reached(obs: Obs, target: np.ndarray, tol: float = REACH_TOL) -> bool:
        return bool(np.linalg.norm(obs["robot0_eef_pos"] - target) < tol)


class PickExpert(ScriptedExpert):
    """Approach above ``obj``, descend, close the gripper: the phases every pick task starts with.

    Later phases call :meth:`_holding` and go back to ``approach`` (gripper open) when the grasp failed or slipped.
    """

    obj: str = "cube"
    grasp_dz: float = 0.0  # grasp point above the object's body origin
    symmetry: float | None = np.pi / 2  # object's rotational symmetry about z (None: round, keep the gripper yaw)
    obstacles: tuple[str, ...] = ()  # other objects the open fingers must not land on

    def _grasp_point(self, obs: Obs) -> np.ndarray:
        return obs[f"{self.obj}_pos"] + (0.0, 0.0, self.grasp_dz)

    def _choose_yaw(self, obs: Obs) -> float:
        """The gripper yaw lined up with the object's faces whose closing axis points away from nearby obstacles."""
        base = _yaw_to_face(obs[f"{self.obj}_quat"], self.symmetry)
        candidates = [base + k * self.symmetry for k in (0, -1, 1) if abs(base + k * self.symmetry) <= np.pi / 2]
        near = []
        for other in self.obstacles:
            d = (obs[f"{other}_pos"] - obs[f"{self.obj}_pos"])[:2]
            if np.linalg.norm(d) < OBSTACLE_RADIUS:
                near.append(d / np.linalg.norm(d))
        if not near:
            return base
        return min(candidates, key=lambda yaw: max(abs(_closing_axis(yaw) @ d) for d in near))

    def _holding(self, obs: Obs) -> bool:
        q = obs["robot0_gripper_qpos"]
        offset = obs[f"{self.obj}_pos"] - obs["robot0_eef_pos"]
        return bool(q[0] - q[1] > MIN_GRASP_WIDTH and np.linalg.norm(offset - self.memory["grasp_offset"]) < HOLD_TOL)

    def _approach(self, obs: Obs) -> Command:
        if self.symmetry is not None:
            self.yaw = self._choose_yaw(obs)
        target = self._grasp_point(obs) + (0.0, 0.0, APPROACH_HEIGHT)
        return Command(target, OPEN, done=self._reached(obs, target, COARSE_TOL) or self._timed_out())

    def _descend(self, obs: Obs) -> Command:
        target = self._grasp_point(obs)
        return Command(target, OPEN, done=self._reached(obs, target) or self._timed_out())

    def _grasp(self, obs: Obs) -> Command:
        if self.phase_steps == 0:
            self.memory["grasp_pos"] = obs["robot0_eef_pos"].copy()
        done = self.phase_steps >= GRASP_STEPS
        if done:
            self.memory["grasp_offset"] = obs[f"{self.obj}_pos"] - obs["robot0_eef_pos"]
        return Command(self.memory["grasp_pos"], CLOSED, done=done)

    def _regrasp_unless_holding(self, obs: Obs, cmd: Command) -> Command:
        """``cmd``, or a jump back to ``approach`` if the object is not in the gripper."""
        return cmd if self._holding(obs) else Command(cmd.target, OPEN, goto="approach")


class PlaceExpert(PickExpert):
    """Pick ``obj``, carry it above :meth:`_place_point`, lower it there, release and retreat upwards."""

    phases = ("approach", "descend", "grasp", "lift", "carry", "lower", "release", "retreat")

    def _place_point(self, obs: Obs) -> np.ndarray:
        """(3,) where the object's body origin should be when released."""
        raise NotImplementedError

    def _eef_for(self, obs: Obs, obj_target: np.ndarray) -> np.ndarray:
        """Gripper position that puts the held object at ``obj_target`` (keeps the current grasp offset)."""
        return obs["robot0_eef_pos"] + obj_target - obs[f"{self.obj}_pos"]

    def _carry_height(self, obs: Obs) -> float:
        return float(self._eef_for(obs, self._place_point(obs))[2] + CARRY_CLEARANCE)

    def _lift(self, obs: Obs) -> Command:
        target = self.memory["grasp_pos"].copy()
        target[2] = self._carry_height(obs)
        done = self._reached(obs, target, COARSE_TOL) or self._timed_out()
        return self._regrasp_unless_holding(obs, Command(target, CLOSED, done=done))

    def _carry(self, obs: Obs) -> Command:
        target = self._eef_for(obs, self._place_point(obs))
        target[2] = self._carry_height(obs)
        done = self._reached(obs, target) or self._timed_out()
        return self._regrasp_unless_holding(obs, Command(target, CLOSED, done=done))

    def _lower(self, obs: Obs) -> Command:
        target = self._eef_for(obs, self._place_point(obs))
        done = self._reached(obs, target) or self._timed_out()
        return self._regrasp_unless_holding(obs, Command(target, CLOSED, done=done))

    def _release(self, obs: Obs) -> Command:
        if self.phase_steps == 0:
            self.memory["release_pos"] = obs["robot0_eef_pos"].copy()
        return Command(self.memory["release_pos"], OPEN, done=self.phase_steps >= RELEASE_STEPS)

    def _retreat(self, obs: Obs) -> Command:
        return Command(self.memory["release_pos"] + (0.0, 0.0, RETREAT_HEIGHT), OPEN)


class LiftExpert(PickExpert):
    """Lift: grasp the cube and raise it."""

    phases = ("approach", "descend", "grasp", "lift")

    def _lift(self, obs: Obs) -> Command:
        return self._regrasp_unless_holding(obs, Command(self.memory["grasp_pos"] + (0.0, 0.0, LIFT_HEIGHT), CLOSED))


class StackExpert(PlaceExpert):
    """Stack: put cube A (red) on cube B (green)."""

    obj = "cubeA"
    obstacles = ("cubeB",)

    def _place_point(self, obs: Obs) -> np.ndarray:
        return obs["cubeB_pos"] + (0.0, 0.0, STACK_OFFSET)


class PickPlaceCanExpert(PlaceExpert):
    """PickPlaceCan: grasp the can from above and drop it into its quarter of the target bin."""

    obj = "can"
    grasp_dz = CAN_GRASP_DZ
    symmetry = None

    def _place_point(self, obs: Obs) -> np.ndarray:
        target = obs["target_pos"]
        inward = -target[:2] / np.linalg.norm(target[:2])  # towards the robot base (the base frame's origin)
        return target + (*(CAN_PLACE_INWARD * inward), CAN_RELEASE_DZ)


class PushExpert(ScriptedExpert):
    """Push: close the gripper, get behind the cube on the cube→target line, lower, push; re-approach on drift."""

    phases = ("approach", "descend", "push", "retreat")

    @staticmethod
    def _direction(obs: Obs) -> np.ndarray:
        d = obs["cube_to_target_pos"].copy()
        d[2] = 0.0
        return d / max(np.linalg.norm(d), 1e-6)

    def _behind(self, obs: Obs) -> np.ndarray:
        """(3,) the pre-push point: behind the cube, opposite the target, at pushing height."""
        return obs["cube_pos"] - (PUSH_HALF + PUSH_STANDOFF) * self._direction(obs) + (0.0, 0.0, PUSH_HEIGHT)

    def _approach(self, obs: Obs) -> Command:
        target = self._behind(obs) + (0.0, 0.0, APPROACH_HEIGHT)
        return Command(target, CLOSED, done=self._reached(obs, target, COARSE_TOL) or self._timed_out())

    def _descend(self, obs: Obs) -> Command:
        target = self._behind(obs)
        return Command(target, CLOSED, done=self._reached(obs, target) or self._timed_out())

    def _push(self, obs: Obs) -> Command:
        u = self._direction(obs)
        rel = obs["robot0_eef_pos"] - obs["cube_pos"]
        lateral = rel[:2] - (rel[:2] @ u[:2]) * u[:2]
        if np.linalg.norm(obs["cube_to_target_pos"][:2]) < PUSH_DONE_TOL:
            return Command(obs["robot0_eef_pos"], CLOSED, done=True)
        if np.linalg.norm(lateral) > PUSH_LINE_TOL or rel[:2] @ u[:2] > 0:  # off the line or past the cube
            return Command(obs["robot0_eef_pos"] + (0.0, 0.0, APPROACH_HEIGHT), CLOSED, goto="lift_off")
        target = obs["cube_pos"] + PUSH_LEAD * u + (0.0, 0.0, PUSH_HEIGHT)
        return Command(target, CLOSED, speed=PUSH_SPEED)

    def _lift_off(self, obs: Obs) -> Command:
        if self.phase_steps == 0:
            self.memory["lift_off"] = obs["robot0_eef_pos"] + (0.0, 0.0, APPROACH_HEIGHT)
        target = self.memory["lift_off"]
        return Command(target, CLOSED, goto="approach" if self._reached(obs, target, COARSE_TOL) else None)

    def _retreat(self, obs: Obs) -> Command:
        if self.phase_steps == 0:
            self.memory["retreat"] = obs["robot0_eef_pos"] + (0.0, 0.0, RETREAT_HEIGHT)
        return Command(self.memory["retreat"], CLOSED)


EXPERTS: dict[str, type[ScriptedExpert]] = {
    "Lift": LiftExpert,
    "Stack": StackExpert,
    "PickPlaceCan": PickPlaceCanExpert,
    "Push": PushExpert,
}


def make_expert(task_name: str) -> ScriptedExpert:
    """The scripted expert of ``task_name``; raises ValueError naming the valid tasks."""
    if task_name not in EXPERTS:
        raise ValueError(f"no expert for task {task_name!r}; valid tasks: {', '.join(EXPERTS)}")
    return EXPERTS[task_name]()


def run_episode(
    env,
    expert: Expert,
    seed: int,
    record: list | None = None,
    max_steps: int | None = None,
    stop_on_success: bool = True,
    on_obs: Callable[[Obs], None] | None = None,
) -> dict[str, Any]:
    """Roll out ``expert`` in ``env`` from ``env.reset(seed=seed)``.

    Args:
        env: a :class:`sim.tasks.HoiTaskEnv` (or a gymnasium wrapper of one).
        expert: anything with ``reset()`` and ``act(obs) -> (7,)``.
        seed: reset seed (object placement and joint noise).
        record: if a list, ``env.render()`` frames (H×W×3 uint8) are appended to it: the initial state and the state
            after every step (needs ``render_mode="rgb_array"``).
        max_steps: step limit (default: until the env truncates at its horizon).
        stop_on_success: end the episode at the first step whose ``info["success"]`` is True.
        on_obs: called with every observation (the initial one and the one after every step), e.g. to keep the
            camera images of an env made with ``cameras=...``.

    Returns:
        dict with ``success`` (bool, success reached at any step), ``steps`` (int, steps taken), ``return`` (float,
        sum of rewards), ``time`` (float, wall-clock seconds incl. reset), ``seed``.
    """
    if record is not None and getattr(env.unwrapped, "render_mode", None) != "rgb_array":
        raise ValueError("run_episode(record=...) needs an env made with render_mode='rgb_array'")
    start = time.perf_counter()
    expert.reset()
    obs, info = env.reset(seed=seed)
    if on_obs is not None:
        on_obs(obs)
    if record is not None:
        record.append(env.render())
    success, steps, total = bool(info.get("success", False)), 0, 0.0
    while not (success and stop_on_success) and (max_steps is None or steps < max_steps):
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        steps += 1
        total += float(reward)
        success = success or bool(info["success"])
        if on_obs is not None:
            on_obs(obs)
        if record is not None:
            record.append(env.render())
        if terminated or truncated:
            break
    return {"success": success, "steps": steps, "return": total, "time": time.perf_counter() - start, "seed": seed}
