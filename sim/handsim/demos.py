"""Scripted human demos: a plan of segments per task, and the loop that plays one in an :class:`EngineScene`.

A demo drives the hand's *grasp point* (thumb/index midpoint for a pinch, palm centre for a power grasp, index/middle
fingertips for a push) along segments, each with an end point, wrist orientation and finger pose; positions follow a
min-jerk profile along a line or an arc (quadratic Bézier through a raised, sideways-shifted control point),
orientations are slerped and finger targets blended. The wrist target follows from the grasp point and the
grasp-point offset of the *closed* pose, so the fingers close around the object where the plan says.

Grasping: friction contacts plus a weld. During a ``close`` segment, the hand-object weld engages as soon as two
hand geoms touch the object (at the current relative pose: the object never jumps); a ``release`` segment turns it
off as the fingers open. The weld is what makes the demos reliable (position-actuated fingers alone let a 4 cm
cube slip while carried), the contact gate is what keeps it honest (no contact, no grasp). Carry and place re-aim
at their start (``Segment.aim``): at where the support object really is (the fingers may nudge cubeB while
grasping cubeA) and where the held object really sits in the hand. Placing stops as soon as the held object
touches its support (``until_contact``).

Grasp per task (:data:`GRASP`): a top-down pinch for all three pick tasks, the can pinched near its rim
(:data:`PINCH_HEIGHT`); the power grasp (palm on the can, fingers wrapped) is still available but MediaPipe rarely
finds that fist-like hand from the egoview. PickPlaceCan's shoulder (:data:`TASK_SHOULDER`) is nearer the camera's
midline, so the arm enters from the image bottom instead of covering the hand.

Pushing is closed-loop (``Segment.follow``, :meth:`Player._follow`): a cupped hand, fingers together, stays behind
the cube on the cube→target line (re-aimed every control step from the cube's pose and the measured fingertips),
slows down near the target, steers a cube that drifts sideways back onto its line (pure pursuit), stops once the
cube centre is within ``goal_tol`` of the disc centre (or really overshot), then lifts straight up.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from sim.handsim.control import natural_elbow, quat_from_axes
from sim.handsim.pose import PRESETS, HandPose

__all__ = ["Segment", "Plan", "plan_demo", "Player", "SHOULDER_OFFSET", "TASK_SHOULDER", "ELBOW_HINT",
           "shoulder_position"]

SHOULDER_OFFSET = np.array([0.18, 0.20, 0.37])  # right shoulder = base + (x, -y, z); left mirrors y
# Per-task shoulder (else SHOULDER_OFFSET). PickPlaceCan's bins sit at the egoview's side edges: a shoulder nearer
# the camera's midline and lower brings the arm in from the image bottom, so the forearm neither covers the hand
# nor leaves it cut off at the image border (MediaPipe detection 9% -> ~50% on seeds 0-7 with the pinch grasp).
TASK_SHOULDER = {"PickPlaceCan": np.array([0.18, 0.08, 0.30])}
ELBOW_HINT = np.array([0.0, 0.5, -1.0])  # right elbow bends to -y and down; left mirrors y
CTRL_DT = 0.01  # s: the wrist/finger targets are updated every 10 ms (5 physics steps)
# Pushing: fingers together and slightly cupped (~60° summed flexion): the cupped hand keeps the cube centred in
# front of the middle finger; straight or flat fingers let a turned cube slide off or wedge a corner between them.
FLAT = HandPose.from_degrees(thumb=(10, 10, 5, 5), index=(0, 25, 25, 10), middle=(0, 25, 25, 10),
                             ring=(0, 25, 25, 10), pinky=(0, 25, 25, 10))  # fmt: skip
TABLE_CLEARANCE = 0.006  # m: lowest finger keypoint above the surface while grasping
PUSH_PRESS = 0.02  # m: closed-loop push: fingertip target this far inside the contact spot
PUSH_SLOWDOWN = 0.05  # m: closed-loop push: the hand slows down within this distance of the goal
PUSH_LEAD = 0.03  # m: closed-loop push: the command runs at most this far ahead of the fingertips
PUSH_LOOKAHEAD = 0.025  # m: closed-loop push: steer the object at the point this far ahead of it on the initial
#   object→goal line (pure pursuit: sideways drift is corrected early, while there is room), the goal itself last
PUSH_OVERSHOOT = 0.005  # m: closed-loop push: the object went this far past the goal along the push: stop (the
#   hand only pushes forward; pushing it back would mean walking round it)
# Grasp type per pick-and-place task. PickPlaceCan used a power grasp, but from the egoview a hand wrapped round
# the can is a fist seen from the back, which MediaPipe rarely finds; a top pinch near the can's rim keeps the
# fingers apart and visible (the weld holds the can either way).
GRASP = {"Lift": "pinch", "Stack": "pinch", "PickPlaceCan": "pinch"}
REACH_POSE: dict[str, str] = {}  # finger pose at the end of the reach (default: the grasp's pre-shape)
RETRACT_POSE: dict[str, str] = {}  # finger pose while retracting (default: relaxed)
PINCH_HEIGHT = {"Lift": 0.004, "Stack": 0.004, "PickPlaceCan": 0.02}  # m: pinch point above the object centre


def min_jerk(tau: float) -> float:
    tau = min(max(tau, 0.0), 1.0)
    return tau**3 * (10 - 15 * tau + 6 * tau * tau)


def slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    q0, q1 = np.asarray(q0, float), np.asarray(q1, float)
    if q0 @ q1 < 0:
        q1 = -q1
    d = np.clip(q0 @ q1, -1.0, 1.0)
    if d > 0.9995:
        out = q0 + t * (q1 - q0)
    else:
        th = np.arccos(d)
        out = (np.sin((1 - t) * th) * q0 + np.sin(t * th) * q1) / np.sin(th)
    return out / np.linalg.norm(out)


@dataclass
class Segment:
    """One stretch of a demo.

    Attributes:
        duration: seconds.
        end: 3 world grasp-point target at the end.
        quat: wrist orientation (wxyz) at the end.
        pose: finger targets at the end.
        via: 3 Bézier control point (an arc) or None (a line).
        event: "close" (weld engages on contact during it), "release" (weld off at its start) or "".
        name: label (phase name in the clip's meta).
        follow: a closed-loop push (see :meth:`Player._follow`): the hand stays behind the object on the
            object→goal line, re-aimed every step, until the object is within ``Plan.goal_tol`` of the goal.
        relative: ``end`` is a displacement from the previous segment's actual end (after a ``follow`` segment).
        until_contact: hold still from the moment the held object touches anything but the hand (placing: the
            plan aims a little low, and the object is let go resting on its support, not dropped or pressed in).
        aim: re-aim at the start of the segment (carry, place): ``end`` and ``via`` move horizontally by how far the
            plan's ``support`` object has moved since planning (the fingers may nudge cubeB while grasping cubeA),
            plus how far the held object sits from where the plan expects it relative to the commanded grasp point
            (it may shift while the fingers close, and the hand lags its target under load).
    """

    duration: float
    end: np.ndarray
    quat: np.ndarray
    pose: HandPose
    via: np.ndarray | None = None
    event: str = ""
    name: str = ""
    follow: bool = False  # closed-loop push: track the object towards Plan.goal (end/quat are the open-loop guess)
    relative: bool = False  # end is a displacement from where the previous segment actually ended
    until_contact: bool = False  # stop moving once the held object touches something other than the hand
    aim: bool = False  # re-aim at the segment's start: shift end/via by where the held object and support really are


@dataclass
class Plan:
    """A demo: the start state and its segments; ``obj`` is the object grasped or pushed, ``kind`` the grasp."""

    start: np.ndarray
    start_quat: np.ndarray
    start_pose: HandPose
    segments: list[Segment]
    obj: str
    kind: str  # "pinch", "power" or "push"
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))  # grasp point in the palm frame (closed pose)
    goal: np.ndarray | None = None  # push: where the object should end up (world)
    standoff: float = 0.0  # push: grasp point behind the object centre, metres
    lean: float = 0.0  # push: forward lean of the fingers, radians
    push_speed: float = 0.1  # push: m/s of the hand along the line
    goal_tol: float = 0.01  # push: stop when the object is this close to the goal (m)
    support: str | None = None  # carry/place: the object the held one is put on (its planned position: support_pos)
    support_pos: np.ndarray | None = None
    obj_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))  # held object centre - grasp point (world)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


# ------------------------------------------------------------------------------------------------------- geometry
def _R(q) -> np.ndarray:
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, np.asarray(q, float))
    return R.reshape(3, 3)


def keypoint_offsets(scene, side: str, pose: HandPose) -> np.ndarray:
    """21×3 keypoints of ``side``'s hand in its palm frame with the fingers in ``pose``."""
    hand, m = scene.hands[side], scene.model
    d = mujoco.MjData(m)
    hand.set_qpos(d, pose)
    hand.set_wrist(d, np.zeros(3), (1.0, 0.0, 0.0, 0.0), snap=True)
    mujoco.mj_kinematics(m, d)
    return hand.keypoints(d) - d.xpos[hand.body_id]


def _half_extent(scene, key: str) -> np.ndarray:
    """Half sizes (x, y, z) of object ``key``'s collision geoms' bounding box, in its body frame (approx.)."""
    m = scene.model
    return np.max([m.geom_aabb[g, 3:] + np.abs(m.geom_pos[g]) for g in scene.obj_geoms[key]], axis=0)


def push_quat(direction: np.ndarray, lean: float) -> np.ndarray:
    """Pushing hand: palm facing horizontal ``direction``, fingers down, leaning forward by ``lean`` radians."""
    return quat_from_axes(-np.cos(lean) * np.array([0.0, 0.0, 1.0]) + np.sin(lean) * direction, direction)


# ----------------------------------------------------------------------------------------------------------- plans
def shoulder_position(scene, side: str) -> np.ndarray:
    """World position of ``side``'s shoulder in ``scene`` (per task: :data:`TASK_SHOULDER`)."""
    sign = 1.0 if side == "left" else -1.0
    return scene.world_T_base[:3, 3] + TASK_SHOULDER.get(scene.task, SHOULDER_OFFSET) * (1.0, sign, 1.0)


def _base_frame(scene, side: str, rng: np.random.Generator, cfg):
    sign = 1.0 if side == "left" else -1.0
    shoulder = shoulder_position(scene, side)
    start = shoulder + np.array([rng.uniform(0.0, 0.1), sign * rng.uniform(0.10, 0.2), -rng.uniform(0.30, 0.38)])
    return sign, shoulder, start


def _arc_via(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, cfg) -> np.ndarray:
    mid = 0.5 * (a + b)
    d = b - a
    lateral = np.cross((0.0, 0.0, 1.0), d)
    lateral = lateral / (np.linalg.norm(lateral) + 1e-9)
    return mid + (0.0, 0.0, rng.uniform(*cfg.arc_height)) + lateral * rng.uniform(*cfg.arc_lateral)


def _pinch_quat(scene, side: str, reach_dir: np.ndarray, obj_R: np.ndarray, pose: HandPose, tilt) -> np.ndarray:
    """Top-down pinch across one pair of the object's vertical faces: the pair whose hand yaw is most natural."""
    hand = scene.hands[side]
    best, best_score = None, -np.inf
    for axis in (obj_R[:, 0], -obj_R[:, 0], obj_R[:, 1], -obj_R[:, 1]):
        a = np.array([axis[0], axis[1], 0.0])
        q = hand.pinch_quat(scene.data, a / np.linalg.norm(a), (tilt[0], tilt[1], -1.0), pose)
        score = _R(q)[:, 0] @ reach_dir
        if score > best_score:
            best, best_score = q, score
    return best


def plan_demo(scene, side: str, rng: np.random.Generator, cfg) -> Plan:
    """The scripted demo of ``scene.task`` for hand ``side`` (randomized by ``rng`` within ``cfg``'s ranges)."""
    task = scene.task
    d = scene.data
    speed = rng.uniform(*cfg.speed)
    T = lambda s: s / speed  # noqa: E731
    sign, shoulder, start = _base_frame(scene, side, rng, cfg)
    start_pose = PRESETS["relaxed"]
    table_z = float(scene.rs.table_offset[2]) if hasattr(scene.rs, "table_offset") else float(scene.rs.bin2_pos[2])
    pos = {k: d.xpos[b].copy() for k, b in scene.obj_body.items()}
    key = {"Lift": "cube", "Stack": "cubeA", "PickPlaceCan": "can", "Push": "cube"}[task]
    obj, half = pos[key], _half_extent(scene, key)
    reach_dir = np.array([*(obj[:2] - shoulder[:2]), 0.0])
    reach_dir /= np.linalg.norm(reach_dir)
    hover = rng.uniform(*cfg.hover)
    tilt = rng.uniform(-cfg.wrist_tilt, cfg.wrist_tilt, 2)
    segs: list[Segment] = []

    if task == "Push":
        kind, open_pose = "push", FLAT
        target = pos["target"]
        push = np.array([*(target[:2] - obj[:2]), 0.0])
        dist = np.linalg.norm(push)
        push /= dist
        lean = np.deg2rad(rng.uniform(*cfg.push_finger_tilt_deg))
        quat = push_quat(push, lean)
        kp = keypoint_offsets(scene, side, open_pose)
        offset = kp[[8, 12]].mean(axis=0)
        low = ((kp - offset) @ _R(quat).T)[:, 2].min()  # lowest keypoint below the grasp point
        standoff = half[:2].max() + 0.010  # fingertip keypoints behind the object centre: a finger's radius
        contact = obj - push * (standoff + 0.02)
        contact[2] = table_z + cfg.push_clearance - low  # fingers just clear the table: a flat face over the cube
        pre = contact + (0.0, 0.0, hover + 0.04)
        speed_push = rng.uniform(*cfg.push_speed) * speed
        goal = np.array([target[0], target[1], obj[2]])
        start_quat = quat_from_axes(reach_dir + (0, 0, -0.6), (0, 0, -1.0))
        segs += [
            Segment(T(1.3), pre, quat, open_pose, _arc_via(start, pre, rng, cfg), name="reach"),
            Segment(T(0.6), contact, quat, open_pose, name="descend"),
            Segment(1.5 * dist / speed_push + 1.5, contact + push * dist, quat, open_pose, name="push", follow=True),
            Segment(T(0.4), np.zeros(3), quat, open_pose, name="hold", relative=True),  # then straight up, clear
            Segment(T(0.6), np.array([0.0, 0.0, 0.12]), quat, PRESETS["relaxed"], name="retract", relative=True),
            Segment(0.3, np.zeros(3), quat, PRESETS["relaxed"], name="settle", relative=True),
        ]
        return Plan(start, start_quat, start_pose, segs, key, kind, offset, goal=goal, standoff=standoff, lean=lean,
                    push_speed=speed_push, goal_tol=cfg.push_goal_tol)

    kind = GRASP[task]
    power = kind == "power"
    pre_pose, closed = (PRESETS["power_open"], PRESETS["power"]) if power else (PRESETS["pinch_open"], PRESETS["pinch"])
    # the surface the object rests on (PickPlaceCan: bin1's floor, ~2 cm above bin1_pos: take it from the can)
    surface = float(obj[2] - half[2]) if task == "PickPlaceCan" else table_z
    if power:
        quat = quat_from_axes(reach_dir + (tilt[0], tilt[1], -0.15), (0.0, 0.0, -1.0))
        grasp = obj + (0.0, 0.0, half[2] * 0.55)
    else:
        quat = _pinch_quat(scene, side, reach_dir, d.xmat[scene.obj_body[key]].reshape(3, 3), closed, tilt)
        obj = np.array([obj[0], obj[1], surface + half[2]])  # at rest: the placement drops objects from ~1 cm
        grasp = obj + (0.0, 0.0, PINCH_HEIGHT[task])
    offset = scene.hands[side].grasp_offset(d, kind, closed)
    kp = keypoint_offsets(scene, side, pre_pose) - offset  # keypoints relative to the grasp point, palm frame
    low = (kp @ _R(quat).T)[:, 2].min()
    grasp[2] = max(grasp[2], surface + TABLE_CLEARANCE - low + 0.008)
    pre = grasp + (0.0, 0.0, hover)
    lift = grasp + (0.0, 0.0, rng.uniform(*cfg.lift_height))
    start_quat = quat_from_axes(reach_dir + (0, 0, -0.6), (0, 0, -1.0))
    segs += [
        Segment(T(1.3), pre, quat, PRESETS[REACH_POSE[task]] if REACH_POSE.get(task) else pre_pose,
                _arc_via(start, pre, rng, cfg), name="reach"),
        Segment(T(0.6), grasp, quat, pre_pose, name="descend"),
        Segment(T(0.5), grasp, quat, closed, event="close", name="grasp"),
        Segment(T(0.8), lift, quat, closed, name="lift"),
    ]
    if task == "Lift":
        segs.append(Segment(0.4, lift, quat, closed, name="hold"))
        return Plan(start, start_quat, start_pose, segs, key, kind, offset)
    if task == "Stack":
        b, hb = pos["cubeB"], _half_extent(scene, "cubeB")
        top = table_z + 2 * hb[2]  # cubeB at rest
        place = np.array([b[0], b[1], top + half[2] + cfg.stack_gap]) + (grasp - obj) * (0, 0, 1)
    else:
        t = pos["target"]
        place = np.array([t[0], t[1], float(scene.rs.bin2_pos[2]) + half[2] + 0.015]) + (grasp - obj) * (0, 0, 1)
    above = place + (0.0, 0.0, hover + (0.1 if power else 0.0))
    up = place + (0.0, 0.0, 0.14)
    segs += [
        Segment(T(1.2), above, quat, closed, _arc_via(lift, above, rng, cfg) + (0, 0, 0.05), name="carry", aim=True),
        Segment(T(0.6), place, quat, closed, name="place", until_contact=True, aim=True),
        Segment(T(0.4), np.array([0.0, 0.0, 0.015]), quat, pre_pose, event="release", name="release", relative=True),
        Segment(T(0.7), up, quat, PRESETS[RETRACT_POSE.get(task, "relaxed")], name="retract"),
        Segment(0.4, up, quat, PRESETS[RETRACT_POSE.get(task, "relaxed")], name="settle"),
    ]
    support = "cubeB" if task == "Stack" else None
    return Plan(start, start_quat, start_pose, segs, key, kind, offset, support=support,
                support_pos=pos[support].copy() if support else None, obj_offset=obj - grasp)


# ---------------------------------------------------------------------------------------------------------- player
class Player:
    """Plays a :class:`Plan` in a scene, calling ``on_tick(t)`` after every control step.

    Attributes after :meth:`run`: ``max_object_step`` (m, the largest displacement of any object in one physics
    step), ``engaged_at`` (s or None), ``push_stopped`` (push: "goal", "overshoot" or None if time ran out).
    """

    def __init__(self, scene, side: str, plan: Plan):
        self.scene, self.side, self.plan = scene, side, plan
        self.hand = scene.hands[side]
        sign = 1.0 if side == "left" else -1.0
        self.shoulder = shoulder_position(scene, side)
        self.elbow_hint = ELBOW_HINT * (1.0, sign, 1.0)
        self.max_object_step = 0.0
        self.engaged_at: float | None = None
        self._push_dir: np.ndarray | None = None  # closed-loop push: the object→goal direction at its start
        self.push_stopped: str | None = None  # closed-loop push: why it stopped ("goal", "overshoot"), None = not yet

    def wrist_for(self, gp: np.ndarray, quat: np.ndarray) -> np.ndarray:
        return gp - _R(quat) @ self.plan.offset

    def grasp_point(self) -> np.ndarray:
        d = self.scene.data
        R, p = d.xmat[self.hand.body_id].reshape(3, 3), d.xpos[self.hand.body_id]
        return p + R @ self.plan.offset

    def _command(self, gp, quat, pose, snap=False) -> None:
        d = self.scene.data
        wrist = self.wrist_for(gp, quat)
        self.hand.set_wrist(d, wrist, quat, snap=snap)
        if snap:
            self.hand.set_qpos(d, pose)
        else:
            self.hand.set_ctrl(d, pose)
        self.hand.aim_forearm(d, natural_elbow(self.shoulder, wrist, hint=self.elbow_hint), snap=snap)

    def start(self) -> None:
        p = self.plan
        self._command(p.start, p.start_quat, p.start_pose, snap=True)
        mujoco.mj_forward(self.scene.model, self.scene.data)

    def run(self, on_tick) -> None:
        scene, p = self.scene, self.plan
        m, d = scene.model, scene.data
        n_sub = max(1, round(CTRL_DT / m.opt.timestep))
        bodies = np.array(list(scene.obj_body.values()))
        t = 0.0
        gp0, q0, f0 = p.start, p.start_quat, p.start_pose
        on_tick(t)
        for seg in p.segments:
            if seg.event == "release":
                scene.release(self.side)
            steps = max(1, round(seg.duration / CTRL_DT))
            end, qend = (gp0 + seg.end, q0) if seg.relative else (seg.end, seg.quat)
            via = seg.via
            if seg.aim:
                shift = self._aim_shift(gp0)
                end, via = end + shift, None if via is None else via + shift
            gp, q = gp0, q0
            landed = False
            for i in range(1, steps + 1):
                s = min_jerk(i / steps)
                landed = landed or seg.until_contact and self._object_supported()
                if landed:
                    pass
                elif seg.follow:
                    gp, q = self._follow(gp, q)
                elif seg.via is None:
                    gp, q = gp0 + s * (end - gp0), slerp(q0, qend, s)
                else:
                    gp, q = (1 - s) ** 2 * gp0 + 2 * (1 - s) * s * via + s * s * end, slerp(q0, qend, s)
                self._command(gp, q, f0.lerp(seg.pose, s))
                for _ in range(n_sub):
                    before = d.xpos[bodies].copy()
                    mujoco.mj_step(m, d)
                    self.max_object_step = max(self.max_object_step, float(np.linalg.norm(d.xpos[bodies] - before, axis=1).max()))
                t += n_sub * m.opt.timestep
                if seg.event == "close" and not scene.weld_on(self.side, p.obj):
                    touching = scene.hand_touching(self.side, p.obj)
                    if touching >= 2 or (i == steps and touching >= 1):
                        scene.engage(self.side, p.obj)
                        self.engaged_at = t
                on_tick(t)
            gp0, q0, f0 = gp, q, seg.pose

    def _aim_shift(self, gp: np.ndarray) -> np.ndarray:
        """Horizontal correction of a carry/place target (see ``Segment.aim``), for the commanded grasp point ``gp``."""
        p, d = self.plan, self.scene.data
        shift = (gp + p.obj_offset) - d.xpos[self.scene.obj_body[p.obj]]
        if p.support is not None:
            shift = shift + d.xpos[self.scene.obj_body[p.support]] - p.support_pos
        shift[2] = 0.0
        return shift

    def _object_supported(self) -> bool:
        """Whether the plan's object touches any geom other than the hand's."""
        pairs = self.scene.contacts()
        og, hg = self.scene.obj_geoms[self.plan.obj], self.scene.hand_geoms[self.side]
        a, b = np.isin(pairs[:, 0], og), np.isin(pairs[:, 1], og)
        return bool((a & ~np.isin(pairs[:, 1], hg) & ~b).any() or (b & ~np.isin(pairs[:, 0], hg) & ~a).any())

    def _follow(self, gp: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One control step of the closed-loop push.

        The pushing fingertips (index/middle tip keypoints, measured: the wrist bends, so the plan's offset is only
        nominal) are steered to ``PUSH_PRESS`` inside the spot ``standoff`` behind the object on the line from the
        object to its aim point (:data:`PUSH_LOOKAHEAD` ahead on the initial object→goal line, the goal itself at
        the end); the command runs at most ``PUSH_LEAD`` ahead of the fingertips (the hand is a spring: no wind-up)
        and moves at most ``push_speed`` (less within ``PUSH_SLOWDOWN`` of the goal); the palm turns to face along
        that line, so a cube that drifted sideways is pushed back onto the line to the goal. Stops for good (holds)
        once the object centre is within ``goal_tol`` of the goal (the true distance, not the distance along the
        line) or has really overshot: gone more than :data:`PUSH_OVERSHOOT` past the goal along the initial
        object→goal direction.
        """
        p, d = self.plan, self.scene.data
        obj = d.xpos[self.scene.obj_body[p.obj]]
        e = p.goal[:2] - obj[:2]
        dist = float(np.linalg.norm(e))
        if self._push_dir is None:
            self._push_dir = e / dist
        if self.push_stopped is None and (dist < p.goal_tol or e @ self._push_dir < -PUSH_OVERSHOOT):
            self.push_stopped = "goal" if dist < p.goal_tol else "overshoot"
        if self.push_stopped is not None:
            return gp, q
        along = float(e @ self._push_dir)  # still to go along the initial line
        aim = e if along <= PUSH_LOOKAHEAD else e - (along - PUSH_LOOKAHEAD) * self._push_dir
        u = np.array([*(aim / np.linalg.norm(aim)), 0.0])
        tips = self.hand.keypoints(d)[[8, 12]].mean(axis=0)
        want = obj - u * (p.standoff - min(PUSH_PRESS, dist))
        lead = gp + (want - tips) - tips
        lead[2] = 0.0
        n = float(np.linalg.norm(lead))
        if n > PUSH_LEAD:
            lead *= PUSH_LEAD / n
        step = np.array([tips[0] + lead[0], tips[1] + lead[1], gp[2]]) - gp
        n = float(np.linalg.norm(step))
        vmax = p.push_speed * CTRL_DT * min(max(dist / PUSH_SLOWDOWN, 0.3), 1.0)  # slow down near the goal
        gp = gp + (step if n <= vmax else step * (vmax / n))
        return gp, slerp(q, push_quat(u, p.lean), 0.1)
