"""The synthetic HOI engine: a human hand doing a robot task in the robot's own scene, as an :class:`HOIClip`.

``engine_clip(task, seed, cfg)`` (registered as the ``hoi-datagen`` source ``engine``):

1. scene: :class:`sim.handsim.scene.EngineScene` (built once per process and task, cached), reset to ``seed``:
   the same object placement as ``sim.tasks.make_env(task).reset(seed=seed)``, robot hidden.
2. randomization (one ``numpy`` Generator seeded by ``seed``; ranges in :class:`EngineConfig`): hand side, skin
   tone, sleeve, lighting, table/bin tint, speed, approach arc, hover height, wrist tilt, lift height.
3. a scripted demo (:mod:`sim.handsim.demos`), simulated; ``num_frames`` frames sampled uniformly over it.
4. ground truth: 2D keypoints (the hand's 21 keypoint sites projected with the clip's CameraModel), 3D keypoints
   and object poses in the robot base frame, visibility (keypoint inside the image; occlusion not modelled), the
   MA mask (:func:`hoi_videogen.data.motion_area_mask` of the visible keypoints), the task's success check
   (:mod:`sim.handsim.success`) at the end of the demo.

The context frame is the scene with both hands parked out of view. The clip's ``fps`` is the dataset's
``cfg.fps`` (what :func:`sim.handsim.datagen.check_clip` asks for); the demo's real frame rate
(``num_frames / duration``) is in ``meta["demo_fps"]``.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from hoi2robot.contracts import HOIClip
from hoi_videogen.data.instructions import paraphrases
from hoi_videogen.data.ma_mask import motion_area_mask
from sim.handsim.datagen import register_source
from sim.handsim.demos import Player, plan_demo
from sim.handsim.scene import PARK, EngineScene
from sim.handsim.style import SKIN_TONES, SLEEVE_COLOURS, HandStyle
from sim.tasks.specs import get_spec

__all__ = ["EngineConfig", "PUSH_OUTWARD", "TASK_SIDE", "choose_side", "demo_rng", "engine_clip", "get_scene",
           "make_clip"]

SLOT = {"left": 0, "right": 1}  # HandTrack / HOIClip hand slots


@dataclass(frozen=True)
class EngineConfig:
    """Randomization ranges of the engine (mirrored by the ``engine:`` block of ``configs/datagen.yaml``).

    Attributes:
        right_hand_prob: probability of a right hand (else left); tasks in :data:`TASK_SIDE` use that hand, Push
            swaps a hand that would push out towards its own side (:func:`choose_side`).
        skin_tones, sleeves: names drawn uniformly from :data:`SKIN_TONES` / :data:`SLEEVE_COLOURS`.
        speed: (low, high) speed factor of the demo (1 = nominal durations).
        light_gain: (low, high) multiplier of the lights' diffuse/specular colour.
        ambient: (low, high) added ambient light.
        light_tilt: max change of each light direction component.
        surface_tint: (low, high) per-channel multiplier of the table/bin materials.
        hover: (low, high) pre-grasp height above the grasp point, metres.
        arc_height, arc_lateral: (low, high) raise and sideways shift of the reach arc's control point, metres.
        lift_height: (low, high) lift above the grasp point, metres.
        wrist_tilt: max tilt of the palm normal from straight down (x, y components).
        stack_gap: Stack: planned height of cubeA's bottom above cubeB's top at the end of the place (< 0: the
            hand stops as soon as cubeA touches cubeB), metres.
        push_finger_tilt_deg: (low, high) forward lean of the pushing fingers from vertical, degrees.
        push_clearance: height of the lowest finger keypoint above the table while pushing, metres.
        push_speed: (low, high) hand speed along the push, m/s (times the demo speed factor).
        push_goal_tol: the push stops once the cube centre is this close to the target centre, metres.
    """

    right_hand_prob: float = 0.7
    skin_tones: tuple[str, ...] = tuple(SKIN_TONES)
    sleeves: tuple[str, ...] = tuple(SLEEVE_COLOURS)
    speed: tuple[float, float] = (0.8, 1.25)
    light_gain: tuple[float, float] = (0.75, 1.15)
    ambient: tuple[float, float] = (0.0, 0.15)
    light_tilt: float = 0.25
    surface_tint: tuple[float, float] = (0.75, 1.15)
    hover: tuple[float, float] = (0.06, 0.10)
    arc_height: tuple[float, float] = (0.04, 0.14)
    arc_lateral: tuple[float, float] = (-0.08, 0.08)
    lift_height: tuple[float, float] = (0.10, 0.16)
    wrist_tilt: float = 0.2
    stack_gap: float = -0.006
    push_finger_tilt_deg: tuple[float, float] = (40.0, 50.0)
    push_clearance: float = 0.008
    push_speed: tuple[float, float] = (0.08, 0.12)
    push_goal_tol: float = 0.008

    @classmethod
    def from_cfg(cls, cfg: Any) -> "EngineConfig":
        """From a mapping / DictConfig (unknown keys rejected; lists become tuples)."""
        if not cfg:
            return cls()
        items = dict(cfg.items())
        names = {f.name for f in fields(cls)}
        unknown = set(items) - names
        if unknown:
            raise ValueError(f"unknown engine settings {sorted(unknown)}; known: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, (list, tuple)) or hasattr(v, "__len__") and not isinstance(v, str)
                      else v for k, v in items.items()})  # fmt: skip


_SCENES: dict[str, EngineScene] = {}


def get_scene(task: str) -> EngineScene:
    """The process's :class:`EngineScene` of ``task`` (built on first use)."""
    if task not in _SCENES:
        _SCENES[task] = EngineScene(task)
    return _SCENES[task]


def demo_rng(task: str, seed: int) -> np.random.Generator:
    """The randomization stream of (task, seed)."""
    return np.random.default_rng([seed, zlib.crc32(task.encode())])


# Per-task hand (else drawn with ``right_hand_prob``). PickPlaceCan's target bin sits at the egoview's left edge: a
# left hand placing there comes in from the left with its forearm outside the image and the hand cut by the image
# border, which MediaPipe misses (24-clip validation: 31 of 112 left-hand frames missed, nearly all while carrying,
# placing and retracting at the target bin, vs 24 of 230 right-hand frames); a right hand crossing to the bin keeps
# hand and forearm in view (PickPlaceCan detection 84% -> 91%).
TASK_SIDE = {"PickPlaceCan": "right"}
# Push: a hand drawn for a push out towards its own side (sideways component of the cube→target direction above
# this, 0.5 = more than 30° off straight ahead/back) is swapped for the other hand. Pushing a cube to the left with
# the left hand means reaching round to its right side across the body; from the egoview that hand is seen from the
# little-finger side with the forearm over it, and MediaPipe missed 36 of 60 such frames (24-clip validation:
# seeds 13, 16, 18, 21), while the other hand pushing the same way from the outside was found in nearly every frame
# (Push detection 85% -> 98%).
PUSH_OUTWARD = 0.5


def choose_side(
    task: str, rng: np.random.Generator, config: EngineConfig, scene: EngineScene | None = None
) -> str:
    """The demo's hand: :data:`TASK_SIDE` for the task if set, else right with ``config.right_hand_prob``; for Push
    (given the ``scene`` reset to the seed) the other hand when the drawn one would push out towards its own side
    (:data:`PUSH_OUTWARD`). One draw from ``rng`` either way (the rest of the demo's randomization stays aligned)."""
    draw = rng.random()
    side = TASK_SIDE.get(task) or ("right" if draw < config.right_hand_prob else "left")
    if task == "Push" and scene is not None:
        pos = {k: scene.data.xpos[b] for k, b in scene.obj_body.items()}
        v = scene.world_T_base[:3, :3].T @ (pos["target"] - pos["cube"])  # base frame: +x away, +y to the left
        sideways = v[1] / (np.linalg.norm(v[:2]) + 1e-12)
        if (sideways if side == "left" else -sideways) > PUSH_OUTWARD:
            side = "right" if side == "left" else "left"
    return side


def make_clip(
    task: str,
    seed: int,
    *,
    resolution: int = 128,
    num_frames: int = 16,
    camera: str = "egoview",
    fps: float | None = None,
    config: EngineConfig = EngineConfig(),
) -> HOIClip:
    """Simulate and render one demo of ``task`` for ``seed``; deterministic per (task, seed, arguments).

    Returns an :class:`HOIClip` with ``num_frames`` frames of ``resolution``² from ``camera``; ``fps`` defaults
    to the demo's own rate (``num_frames / duration``).
    """
    spec = get_spec(task)
    scene = get_scene(task)
    rng = demo_rng(task, seed)
    scene.reset(seed)

    side = choose_side(task, rng, config, scene)
    tone, sleeve = str(rng.choice(config.skin_tones)), str(rng.choice(config.sleeves))
    scene.restyle(side, HandStyle.preset(tone, sleeve))
    light = {
        "gain": float(rng.uniform(*config.light_gain)),
        "ambient": float(rng.uniform(*config.ambient)),
        "tilt": rng.uniform(-config.light_tilt, config.light_tilt, 3),
        "surface_tint": rng.uniform(*config.surface_tint, 3),
    }
    scene.set_lighting(**light)

    size = int(resolution)
    cam = scene.camera_model(camera, size)
    context = scene.render(camera, size)  # both hands parked out of view

    plan = plan_demo(scene, side, rng, config)
    player = Player(scene, side, plan)
    player.start()
    duration = plan.duration
    times = np.linspace(0.0, duration, num_frames)
    video = np.empty((num_frames, size, size, 3), np.uint8)
    kp3 = np.zeros((num_frames, 2, 21, 3), np.float32)
    objects = {k: np.zeros((num_frames, 7)) for k in scene.obj_body}
    hand = scene.hands[side]
    k = 0

    def on_tick(t: float) -> None:
        nonlocal k
        while k < num_frames and t >= times[k] - 1e-9:
            video[k] = scene.render(camera, size)
            kp3[k, SLOT[side]] = scene.to_base(hand.keypoints(scene.data))
            for name, pose in scene.object_poses().items():
                objects[name][k] = pose
            k += 1

    player.run(on_tick)
    if k < num_frames:  # rounding at the very end: repeat the final state
        on_tick(duration + 1.0)
    success = scene.success(side, player.grasp_point())
    for h in scene.hands.values():
        h.set_wrist(scene.data, PARK, (1.0, 0.0, 0.0, 0.0), snap=True)

    kp2 = np.zeros((num_frames, 2, 21, 2), np.float32)
    uv, z = cam.project(kp3[:, SLOT[side]].reshape(-1, 3))
    kp2[:, SLOT[side]] = uv.reshape(num_frames, 21, 2)
    hand_present = np.zeros((num_frames, 2), bool)
    hand_present[:, SLOT[side]] = True
    inside = (uv >= -0.5).all(-1) & (uv <= size - 0.5).all(-1) & (z > 0)
    visibility = np.zeros((num_frames, 2, 21), bool)
    visibility[:, SLOT[side]] = inside.reshape(num_frames, 21)
    kp2 = np.nan_to_num(kp2, nan=0.0, posinf=0.0, neginf=0.0)

    return HOIClip(
        context=context,
        video=video,
        instruction=spec.instruction,
        task=task,
        seed=int(seed),
        fps=float(fps) if fps is not None else num_frames / duration,
        camera=cam,
        keypoints_2d=kp2,
        keypoints_3d=kp3,
        visibility=visibility,
        hand_present=hand_present,
        objects=objects,
        ma_mask=motion_area_mask(kp2, visibility, size, size),
        success=bool(success),
        paraphrases=[p for p in paraphrases(task) if p != spec.instruction],
        meta={
            "source": "engine",
            "side": side,
            "grasp": plan.kind,
            "skin_tone": tone,
            "sleeve": sleeve,
            "lighting": {"gain": light["gain"], "ambient": light["ambient"], "tilt": light["tilt"].tolist(),
                         "surface_tint": light["surface_tint"].tolist()},  # fmt: skip
            "speed_duration_s": duration,
            "demo_fps": num_frames / duration,
            "phases": [[s.name, s.duration] for s in plan.segments],
            "grasp_engaged_s": player.engaged_at,
            "max_object_step_m": player.max_object_step,
        },
    )


@register_source("engine")
def engine_clip(task: str, seed: int, cfg) -> HOIClip:
    """``hoi-datagen`` source: :func:`make_clip` with the dataset's ``resolution``, ``num_frames``, ``camera``,
    ``fps`` and the ``engine:`` block (:class:`EngineConfig`)."""
    return make_clip(
        task,
        seed,
        resolution=int(cfg.resolution),
        num_frames=int(cfg.num_frames),
        camera=str(cfg.camera),
        fps=float(cfg.fps),
        config=EngineConfig.from_cfg(cfg.get("engine")),
    )
