"""Object-aware execution of a retargeted :class:`EETrajectory`: the video says *what* happens to which object, the
robot's own view of the scene says *where* that object is now.

What the robot may observe (what a real arm with an object pose tracker on its own cameras also has): its
proprioception and, every control step, the current pose and bounding box of each movable task object
(:class:`ObjectState`; in sim read from the env observation ``<obj>_pos`` / ``<obj>_quat`` and the object's
collision geometry). It never reads the engine demo's object trajectory, nor the task's goal markers (the target
disc, the bin marker): where things should go comes from the hand in the video only.

Its settings are the ``objects:`` section of the retarget config (``configs/retarget/default.yaml`` →
:class:`policy.retarget.config.ObjectAwareConfig`, re-exported here). How the trajectory is corrected
(:class:`ObjectAwareReference`, used by :func:`~policy.retarget.execute.execute_ee_trajectory` with ``objects=``):

* **Grasp**: the object the hand closes on is the perceived object nearest (horizontally, within
  ``snap_radius``) to the planned close point. Until the fingers close, the plan is shifted so that the close point
  lands on that object's centre horizontally and within ``grasp_z_band`` of its half height vertically (re-aimed
  every step: a nudged object is followed); an approach funnel keeps the gripper up until it is over the object,
  so it descends onto it from above. The fingers close across a pair of a box's side faces: by default
  (``grasp_yaw: least_turn``) the pair and gripper yaw that turn the wrist least from home, as the scripted expert
  does, not the pair the hand happened to close across. Optionally (``turn_fingers``) the gripper yaw is turned a
  quarter turn when the open fingers would land on a neighbouring object and the object is narrow enough across the
  new axis.
* **Carry**: after the grasp, the *object* is servoed, not the hand: its reference is where it was grasped plus
  the hand's displacement since the grasp in the video (a grasped object moves rigidly with the hand), and the
  gripper target is the gripper's position plus the object's remaining error (closed loop on the object; in-hand
  offsets and slips are compensated); an object dropped on the way is grasped again where it lies.
* **Place**: when the planned release point lies above or near another perceived object (within
  ``support_radius``), the place is taken relative to that object (the support): if it has moved since the start,
  the place moves with it.
* **Push** (a trajectory without gripper switches that stays closed): the contact phase is the part of the path
  within ``push_contact_dz`` of its lowest point; the video's push says the object in front of the fingers (or,
  when the contact start is uncertain, the one nearest to where they stopped) moves towards where the fingers
  stopped and ends there, its half size in front of them (:func:`push_goal`).
  That goal is then reached by a closed-loop pusher (:class:`PushController`) that stays behind the object on the
  object → goal line, re-aims every step, and backs off and re-approaches when the object drifts off the line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import mujoco
import numpy as np

from hoi2robot.contracts import EETrajectory
from hoi2robot.geometry import quat_to_mat
from policy.retarget.config import ObjectAwareConfig

__all__ = [
    "ObjectState",
    "ObjectAwareConfig",
    "object_geometry",
    "perceive",
    "finger_collision",
    "ObjectAwareReference",
    "PushController",
    "push_goal",
    "is_push",
]

# The Panda's fingers close along the grip site frame's x axis (at home, GRIPPER_DOWN_QUAT: the base y axis; the
# frame's y axis is the base x axis there). Measured on the finger pads in tests/test_retarget.py.
CLOSING_AXIS_COL = 0
FINGER_HALF_OPEN = 0.045  # m: open finger pad centre from the grip site along the closing axis
FINGER_HALF_SIZE = (0.012, 0.012)  # m: pad half size along / across the closing axis
FINGER_BELOW = 0.012  # m: the pads reach this far below the grip site


@dataclass(frozen=True)
class ObjectState:
    """One perceived object (robot base frame): body position, orientation (w, x, y, z), its axis-aligned bounding
    box in the body frame (centre offset, half sizes) and whether it is a box."""

    name: str
    pos: np.ndarray
    quat: np.ndarray
    box_center: np.ndarray
    box_half: np.ndarray
    shape: str = "box"  # "box" (its collision geometry is boxes: it has faces to close on) or "other"

    @property
    def R(self) -> np.ndarray:
        return quat_to_mat(self.quat)

    @property
    def center(self) -> np.ndarray:
        """The bounding box centre in the base frame."""
        return self.pos + self.R @ self.box_center

    @property
    def top(self) -> float:
        return float(self.center[2] + np.abs(self.R[2]) @ self.box_half)

    def half_width_along(self, axis_xy: np.ndarray) -> float:
        """Half the object's horizontal extent along unit direction ``axis_xy`` (its box projected)."""
        a = np.array([axis_xy[0], axis_xy[1], 0.0])
        return float(np.abs(self.R.T @ a) @ self.box_half)

    def inside_footprint(self, xy: np.ndarray, margin: float = 0.0) -> bool:
        """Whether horizontal point ``xy`` lies in the object's box footprint inflated by ``margin``."""
        d = np.array([xy[0], xy[1], self.center[2]]) - self.center
        local = self.R.T @ d
        return bool(np.all(np.abs(local[:2]) <= self.box_half[:2] + margin))


# ------------------------------------------------------------------------------------------------ perception
def object_geometry(env) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """name -> (box centre, box half sizes, shape) in the body frame of each movable task object of a
    :class:`sim.tasks.HoiTaskEnv`, from its collision geoms (what an object model / detector provides); shape is
    "box" when they are all boxes, else "other"."""
    base = env.unwrapped
    m = base.sim.model
    m = getattr(m, "_model", m)
    out = {}
    for name, body in base._object_bodies.items():
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        boxes = True
        for g in np.flatnonzero(np.asarray(m.geom_bodyid) == body):
            if m.geom_contype[g] == 0 and m.geom_conaffinity[g] == 0:
                continue
            boxes &= int(m.geom_type[g]) == int(mujoco.mjtGeom.mjGEOM_BOX)
            c, h = m.geom_aabb[g][:3], m.geom_aabb[g][3:]
            R = quat_to_mat(m.geom_quat[g])
            corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * h + c
            pts = corners @ R.T + m.geom_pos[g]
            lo, hi = np.minimum(lo, pts.min(0)), np.maximum(hi, pts.max(0))
        if np.all(np.isfinite(lo)):
            out[name] = (0.5 * (lo + hi), 0.5 * (hi - lo), "box" if boxes else "other")
    return out


def perceive(obs: Mapping[str, np.ndarray], geometry: Mapping[str, tuple]) -> dict[str, ObjectState]:
    """The movable objects' current states from an observation (``<name>_pos``, ``<name>_quat``) and their
    :func:`object_geometry`."""
    return {
        name: ObjectState(name, np.asarray(obs[f"{name}_pos"], float), np.asarray(obs[f"{name}_quat"], float),
                          np.asarray(g[0], float), np.asarray(g[1], float), *g[2:3])
        for name, g in geometry.items() if f"{name}_pos" in obs and f"{name}_quat" in obs
    }  # fmt: skip


def _closing_axis(q: np.ndarray) -> np.ndarray:
    a = quat_to_mat(q)[:, CLOSING_AXIS_COL][:2]
    n = np.linalg.norm(a)
    return a / n if n > 1e-9 else np.array([0.0, 1.0])


def _rot_z_quat(q: np.ndarray, angle: float) -> np.ndarray:
    """Quaternion ``q`` (w, x, y, z) turned by ``angle`` about the base z axis (left-multiplied)."""
    h = 0.5 * angle
    w1, z1 = math.cos(h), math.sin(h)
    w, x, y, z = q
    return np.array([w1 * w - z1 * z, w1 * x - z1 * y, w1 * y + z1 * x, w1 * z + z1 * w])


def finger_collision(tcp: np.ndarray, axis_xy: np.ndarray, others: list[ObjectState], clearance: float) -> bool:
    """Whether the open fingers of a top-down gripper at ``tcp`` closing along ``axis_xy`` overlap any of ``others``
    (their box footprints inflated by ``clearance``, for objects whose top is above the pads' lowest point)."""
    across = np.array([-axis_xy[1], axis_xy[0]])
    grid = np.linspace(-1.0, 1.0, 5)
    for s in (-1.0, 1.0):
        c = tcp[:2] + s * FINGER_HALF_OPEN * axis_xy
        pts = [c + a * FINGER_HALF_SIZE[0] * axis_xy + b * FINGER_HALF_SIZE[1] * across for a in grid for b in grid]
        for o in others:
            if o.top < tcp[2] - FINGER_BELOW:
                continue
            if any(o.inside_footprint(p, clearance) for p in pts):
                return True
    return False


# ------------------------------------------------------------------------------------------------ grasp trajectories
@dataclass
class _Contact:
    t_close: float
    t_release: float  # inf: held to the end
    p_close: np.ndarray  # planned TCP at the close
    p_release: np.ndarray | None
    obj: str | None = None  # the object grasped
    support: str | None = None
    support_start: np.ndarray | None = None
    yaw_turn: float = 0.0
    t_move: float = 0.0  # first time after the close at which the plan moves again
    grasp_obj: np.ndarray | None = None  # object position when the carry started
    offset: np.ndarray | None = None  # object - gripper when the carry started
    release_shift: np.ndarray | None = None  # reference - plan at the release
    place_fix: np.ndarray | None = None  # horizontal correction that puts the object on its support's top face
    lost_steps: int = 0  # consecutive carry steps without the object in the gripper
    regrasps: int = 0


def is_push(ee: EETrajectory) -> bool:
    """A trajectory without gripper switches that keeps the gripper closed: the robot pushes with closed fingers."""
    return bool(np.all(ee.gripper > 0.5))


class ObjectAwareReference:
    """The servo reference of a grasp trajectory, corrected by the perceived objects (see the module docstring).

    ``reference(tau, obs, objects)`` → (position, quaternion, gripper) at trajectory time ``tau``.
    """

    def __init__(self, ee: EETrajectory, objects: Mapping[str, ObjectState], cfg: ObjectAwareConfig | None = None):
        from policy.retarget.execute import reference_at

        self.ee, self.cfg = ee, cfg or ObjectAwareConfig()
        self._ref = reference_at
        t, g = ee.t, ee.gripper > 0.5
        self.contacts: list[_Contact] = []
        closes = [i for i in range(1, len(t)) if g[i] and not g[i - 1]]
        releases = [i for i in range(1, len(t)) if not g[i] and g[i - 1]]
        for i in closes:
            r = next((j for j in releases if j > i), None)
            c = _Contact(t_close=float(t[i]), t_release=float(t[r]) if r is not None else math.inf,
                         p_close=ee.position[i - 1].copy(),
                         p_release=ee.position[r - 1].copy() if r is not None else None)  # fmt: skip
            moved = np.flatnonzero((t > t[i]) & (np.linalg.norm(ee.position - ee.position[i], axis=1) > 1e-3))
            c.t_move = float(t[moved[0]]) if len(moved) else float(t[-1])
            self.contacts.append(c)
        self.events: list[str] = []
        self.rewind: float | None = None  # set when the trajectory clock should go back (a re-grasp)
        self._plan(objects)

    # ---------------------------------------------------------------- planning from the first view of the scene
    def _plan(self, objects: Mapping[str, ObjectState]) -> None:
        cfg = self.cfg
        for c in self.contacts:
            near = sorted(objects.values(), key=lambda o: np.linalg.norm(o.center[:2] - c.p_close[:2]))
            if not near or np.linalg.norm(near[0].center[:2] - c.p_close[:2]) > cfg.snap_radius:
                self.events.append(f"close at t={c.t_close:.2f}: no object within {cfg.snap_radius} m")
                continue
            obj = near[0]
            c.obj = obj.name
            others = [o for o in objects.values() if o.name != obj.name]
            # gripper yaw: a quarter turn if the open fingers would land on a neighbour
            _, q_close, _ = self._ref(self.ee, c.t_close - 1e-6)
            tcp = self._grasp_point(c, obj)
            axis = _closing_axis(q_close)
            if cfg.align_to_faces and obj.shape == "box":
                # close across the pair of the object's faces the hand closed across, exactly
                from policy.retarget.orientation import closing_yaw

                R = obj.R
                faces = [R[:2, 0], R[:2, 1]]
                faces = [f / np.linalg.norm(f) for f in faces if np.linalg.norm(f) > 1e-6]
                if faces and abs(R[2, 2]) > 0.9:  # upright: its side faces are vertical
                    if cfg.grasp_yaw == "least_turn":  # the graspable face pair and gripper yaw nearest to home
                        ok = [f for f in faces if 2 * obj.half_width_along(f) <= cfg.max_grasp_width] or faces
                        best = min(ok, key=lambda f: abs(closing_yaw(f)))
                        yaw_now = float(np.arctan2(-axis[0], axis[1]))  # unwrapped: the gripper's yaw from home
                        turn = (closing_yaw(best) - yaw_now + np.pi) % (2 * np.pi) - np.pi
                    else:  # the face pair nearest to the hand's closing axis, the shorter way round
                        best = max(faces, key=lambda f: abs(f @ axis))
                        turn = (closing_yaw(best) - closing_yaw(axis) + np.pi / 2) % np.pi - np.pi / 2
                    if abs(turn) > 1e-3:
                        c.yaw_turn = float(turn)
                        axis = _closing_axis(_rot_z_quat(q_close, c.yaw_turn))
                        q_close = _rot_z_quat(q_close, c.yaw_turn)
            if cfg.turn_fingers and finger_collision(tcp, axis, others, cfg.finger_clearance):
                from policy.retarget.orientation import closing_yaw

                # the other face pair: a quarter turn, wrapped into the gripper's [-90°, 90°) (no long way round)
                turn = closing_yaw(np.array([-axis[1], axis[0]])) - closing_yaw(axis)
                ax = _closing_axis(_rot_z_quat(q_close, turn))
                narrow = 2 * obj.half_width_along(ax) <= cfg.max_grasp_width
                if narrow and not finger_collision(tcp, ax, others, cfg.finger_clearance):
                    c.yaw_turn += turn
                    self.events.append(f"close at t={c.t_close:.2f}: gripper turned {np.degrees(turn):+.0f}° "
                                       f"(the open fingers would land on a neighbour)")  # fmt: skip
            if c.p_release is not None:
                # where the plan puts the object at the release, and what it is placed on / next to
                o_rel = obj.center + (c.p_release - c.p_close)
                for o in sorted(others, key=lambda o: np.linalg.norm(o.center[:2] - o_rel[:2])):
                    high = o_rel[2] > 0.5 * (o.center[2] + o.top)
                    beside = not o.inside_footprint(o_rel[:2])
                    if o.inside_footprint(o_rel[:2], cfg.support_radius) and not (beside and high):
                        c.support, c.support_start = o.name, o.center.copy()
                        break
                    if cfg.support_snap_radius > 0 and o.inside_footprint(o_rel[:2], cfg.support_snap_radius) \
                            and high and beside:
                        # released high over an object's side but beside its top face: put it on the face (its centre at
                        # most support_inset of the face's half size from the middle)
                        local = o.R.T @ (o_rel - o.center)
                        lim = np.maximum(o.box_half[:2] * cfg.support_inset, 0.0)
                        fixed = local.copy()
                        fixed[:2] = np.clip(local[:2], -lim, lim)
                        c.place_fix = o.R @ (fixed - local)
                        c.place_fix[2] = 0.0
                        c.support, c.support_start = o.name, o.center.copy()
                        self.events.append(f"release at t={c.t_release:.2f}: placed on {o.name} "
                                           f"(moved {np.linalg.norm(c.place_fix) * 100:.1f} cm onto its top)")  # fmt: skip
                        break

    def _grasp_point(self, c: _Contact, obj: ObjectState) -> np.ndarray:
        """The corrected close point: the object's centre horizontally, the planned height clipped to its band."""
        ctr = obj.center
        hz = float(np.abs(obj.R[2]) @ obj.box_half) * self.cfg.grasp_z_band
        return np.array([ctr[0], ctr[1], float(np.clip(c.p_close[2], ctr[2] - hz, ctr[2] + hz))])

    # ---------------------------------------------------------------- per-step reference
    def reference(self, tau: float, obs: Mapping[str, np.ndarray], objects: Mapping[str, ObjectState]):
        p, q, g = self._ref(self.ee, tau)
        shift = np.zeros(3)
        turn = 0.0
        eef = np.asarray(obs["robot0_eef_pos"], float)
        for c in self.contacts:
            if c.obj is None or c.obj not in objects:
                continue
            obj = objects[c.obj]
            if tau < c.t_move:  # approach and close: aim at the object as it is now
                target = self._grasp_point(c, obj)
                shift = target - c.p_close
                # pre-grasp from above, in a funnel: the gripper may only go low once it is over the object (at
                # pregrasp_radius horizontally it stays pregrasp_height above the grasp point, at pregrasp_inner
                # it may reach it): no low sweep through the object or its neighbours, no descent off-centre
                if tau < c.t_close:
                    h = float(np.linalg.norm(eef[:2] - target[:2]))
                    cfg = self.cfg
                    f = min(max((h - cfg.pregrasp_inner) / (cfg.pregrasp_radius - cfg.pregrasp_inner), 0.0), 1.0)
                    low = target[2] + f * cfg.pregrasp_height
                    if h > cfg.pregrasp_inner:  # off-centre: the pads stay above the object's top (no knocked rim)
                        low = max(low, obj.top + FINGER_HALF_SIZE[0] + cfg.finger_clearance)
                    shift[2] += max(0.0, low - (p[2] + shift[2]))
                turn = c.yaw_turn
                break
            if tau < c.t_release:  # carry: servo the object along the hand's displacement
                turn = c.yaw_turn
                if c.grasp_obj is None:
                    c.grasp_obj, c.offset = obj.center.copy(), obj.center - eef
                held = np.linalg.norm((obj.center - eef) - c.offset) < self.cfg.hold_tol
                target = c.grasp_obj + (p - c.p_close)
                if c.support is not None and c.support in objects:
                    target = target + (objects[c.support].center - c.support_start)
                if c.place_fix is not None:  # phased in over the carry
                    w = min(max((tau - c.t_move) / max(c.t_release - c.t_move, 1e-6), 0.0), 1.0)
                    target = target + w * c.place_fix
                if held:
                    c.lost_steps = 0
                    shift = (eef + target - obj.center) - p
                    c.release_shift = shift
                else:  # lost: keep the last correction; dropped for good: grasp it again where it lies now
                    c.lost_steps += 1
                    if c.release_shift is not None:
                        shift = c.release_shift
                    if c.lost_steps >= self.cfg.regrasp_steps and c.regrasps < self.cfg.max_regrasps:
                        c.regrasps += 1
                        c.grasp_obj = c.offset = c.release_shift = None
                        c.lost_steps = 0
                        self.rewind = max(0.0, c.t_close - self.cfg.regrasp_lead_s)
                        self.events.append(f"t={tau:.2f}: {c.obj} lost from the gripper, grasping it again")
                break
            # after the release: keep the last correction (rise straight up from where the object was left)
            turn = c.yaw_turn
            shift = c.release_shift if c.release_shift is not None else np.zeros(3)
        if turn:
            q = _rot_z_quat(q, turn)
        return p + shift, q, g


# ------------------------------------------------------------------------------------------------ push trajectories
def push_goal(ee: EETrajectory, objects: Mapping[str, ObjectState], cfg: ObjectAwareConfig | None = None):
    """(object name, goal position (3,), push direction (2,), first contact index) of a push trajectory, or None
    when it holds no push (no low contact path, no object that it pushes).

    The contact phase is the part of the path within ``push_contact_dz`` of its lowest point; it ends where the
    fingers stopped (``c1``, the rest before the hand rises: the best-lifted part of a tracked push, which lies on
    the push plane). The pushed object is the one in front of the fingers at the contact start, in the corridor the
    contact path sweeps; when there is none (a tracked push whose contact start is misplaced in depth: the descent
    onto the table and the first part of the slide are the least certain frames), the object nearest to ``c1`` within
    ``push_reach`` (horizontally; about the longest push: a direction test against the contact path does not help,
    its start is what is uncertain — measured on tracked Push seeds 10, 11: 38° and 74° off). The object then moves
    from where it is now towards ``c1`` and past it: its goal is ``c1`` plus its smaller horizontal half size and the
    finger radius along that direction (a pushed box turns a face to the fingers; measured on 50 engine Push demos,
    the cube ends 2.7 ± 0.1 cm ahead of the middle fingertip keypoint and 0.65 cm (sd) to its side: a 2.1 cm half
    size + 0.6 cm). Taking the direction from the object to ``c1`` rather than along the contact path keeps a
    misplaced contact start from turning the push.
    """
    cfg = cfg or ObjectAwareConfig()
    z = ee.position[:, 2]
    low = np.flatnonzero(z < z.min() + cfg.push_contact_dz)
    if len(low) < 1:
        return None
    c0, c1 = ee.position[low[0]], ee.position[low[-1]]
    travel = float(np.linalg.norm((c1 - c0)[:2]))
    best = None
    if travel >= cfg.push_min_travel:
        u = (c1 - c0)[:2] / travel
        best_d = math.inf
        for o in objects.values():
            rel = o.center[:2] - c0[:2]
            along = rel @ u
            lateral = abs(rel @ np.array([-u[1], u[0]]))
            # in front of the fingers at the contact start, within the swept corridor
            if along > -0.01 and lateral < o.half_width_along(np.array([-u[1], u[0]])) + 0.03 and along < travel + 0.1:
                if along < best_d:
                    best, best_d = o, along
    if best is None and cfg.push_reach > 0:
        near = [o for o in objects.values() if np.linalg.norm(o.center[:2] - c1[:2]) <= cfg.push_reach]
        best = min(near, key=lambda o: float(np.linalg.norm(o.center[:2] - c1[:2])), default=None)
    if best is None:
        return None
    d = (c1 - best.center)[:2]
    n = float(np.linalg.norm(d))
    if n < 1e-6:
        return None
    u = d / n
    goal = best.center.copy()
    goal[:2] = c1[:2] + (float(np.min(best.box_half[:2])) + cfg.push_finger_radius) * u
    if np.linalg.norm(goal[:2] - best.center[:2]) < cfg.push_min_travel:  # it barely moves: no push
        return None
    return best.name, goal, u, int(low[0])


class PushController:
    """Closed-loop pusher: behind the object on the object → goal line, push with re-aiming, back off and re-approach
    on drift, stop at the goal and rise. ``act(obs, objects)`` → (target position, done)."""

    def __init__(self, name: str, goal: np.ndarray, cfg: ObjectAwareConfig | None = None):
        self.name, self.goal, self.cfg = name, np.asarray(goal, float), cfg or ObjectAwareConfig()
        self.phase = "approach"
        self.phase_steps = 0
        self.mem: dict[str, np.ndarray] = {}
        self.dir0: np.ndarray | None = None
        self.reapproaches = 0

    def _dir(self, obj: ObjectState) -> np.ndarray:
        d = (self.goal - obj.center)[:2]
        n = np.linalg.norm(d)
        return d / n if n > 1e-6 else (self.dir0 if self.dir0 is not None else np.array([1.0, 0.0]))

    def _behind(self, obj: ObjectState) -> np.ndarray:
        u = self._dir(obj)
        back = obj.half_width_along(u) + self.cfg.push_standoff
        p = obj.center.copy()
        p[:2] -= back * u
        p[2] += self.cfg.push_height
        return p

    def act(self, obs: Mapping[str, np.ndarray], objects: Mapping[str, ObjectState]) -> tuple[np.ndarray, float, bool]:
        """(target position, speed factor, finished)."""
        cfg = self.cfg
        eef = np.asarray(obs["robot0_eef_pos"], float)
        obj = objects[self.name]
        u = self._dir(obj)
        if self.dir0 is None:
            self.dir0 = u
        self.phase_steps += 1
        to_goal = (self.goal - obj.center)[:2]
        if self.phase == "approach":
            target = self._behind(obj) + (0.0, 0.0, cfg.approach_height)
            if np.linalg.norm(eef - target) < 0.02 or self.phase_steps > 60:
                self.phase, self.phase_steps = "descend", 0
            return target, 1.0, False
        if self.phase == "descend":
            target = self._behind(obj)
            if np.linalg.norm(eef - target) < 0.01 or self.phase_steps > 60:
                self.phase, self.phase_steps = "push", 0
            return target, 1.0, False
        if self.phase == "push":
            if np.linalg.norm(to_goal) < cfg.push_done_tol or to_goal @ self.dir0 < 0:
                self.phase, self.phase_steps = "retreat", 0
                self.mem["retreat"] = eef + (0.0, 0.0, cfg.retreat_height)
                return self.mem["retreat"], 1.0, False
            rel = (eef - obj.center)[:2]
            lateral = rel - (rel @ u) * u
            if np.linalg.norm(lateral) > cfg.push_line_tol or rel @ u > 0:
                self.phase, self.phase_steps = "lift_off", 0
                self.reapproaches += 1
                self.mem["lift_off"] = eef + (0.0, 0.0, cfg.approach_height)
                return self.mem["lift_off"], 1.0, False
            target = obj.center.copy()
            target[:2] += cfg.push_lead * u
            target[2] += cfg.push_height
            slow = min(max(float(np.linalg.norm(to_goal)) / cfg.push_slowdown, 0.3), 1.0)  # slow down near the goal
            return target, cfg.push_speed * slow, False
        if self.phase == "lift_off":
            target = self.mem["lift_off"]
            if np.linalg.norm(eef - target) < 0.02 or self.phase_steps > 60:
                self.phase, self.phase_steps = "approach", 0
            return target, 1.0, False
        # retreat
        target = self.mem["retreat"]
        return target, 1.0, self.phase_steps > 20
