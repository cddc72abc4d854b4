"""A standalone scene to look at the hand: floor, a table, lights, hands, and robot-scene-like cameras.

Cameras (world frame; the table top is at z = 0.8 m, centred at the origin, the robot/human side is -x):

* ``agentview``: robosuite's agentview (0.5 m in front of the table centre, 0.55 m above its top, looking back
  at the table centre), fovy 45°.
* ``egocentric``: the person's eyes, 1.6 m high, 0.2 m behind the table's near edge (behind the hand's forearm),
  looking down at the table centre, fovy 42° (a head camera cropped to the workspace).

``arena="robosuite"`` loads robosuite's own table arena (textures, walls, its light) instead of the plain one.

Run ``python -m sim.handsim.preview [--side left] [--tone dark] [--arena robosuite]`` to write a sheet of all presets
from both cameras, keypoints drawn.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import mujoco
import numpy as np

from hoi2robot.contracts import CameraModel
from sim.tasks.cameras import look_at_quat as look_at
from sim.tasks.cameras import mj_camera_model as camera_model
from sim.handsim.control import Hand, natural_elbow, quat_from_axes
from sim.handsim.dims import HandDims
from sim.handsim.hand import attach_hand, build_hand, restyle
from sim.handsim.pose import PRESETS, HandPose
from sim.handsim.style import HandStyle

TABLE_TOP = 0.8
TABLE_CLEARANCE = 0.012  # lowest keypoint kept this far above the table (finger pads have ~1 cm radius)
PARK = np.array([0.0, 0.0, -5.0])  # where an unused hand waits (under the floor)
# A person standing at the robot's side of the table (-x), leaning over it: shoulders, and where elbows bend to.
SHOULDERS = {"right": (-0.38, -0.20, 1.28), "left": (-0.38, 0.20, 1.28)}
ELBOW_HINTS = {"right": (0.0, -0.5, -1.0), "left": (0.0, 0.5, -1.0)}
CAMERAS: dict[str, dict] = {
    "agentview": {"pos": (0.5, 0.0, 1.35), "quat": (0.653, 0.271, 0.271, 0.653), "fovy": 45.0},
    "egocentric": {"pos": (-0.6, 0.0, 1.6), "quat": tuple(look_at((-0.6, 0, 1.6), (0.05, 0, TABLE_TOP))),
                   "fovy": 42.0},
}  # fmt: skip


def _plain_arena() -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.modelname = "handsim_preview"
    sky = spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                           builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, width=128, height=128)  # fmt: skip
    sky.rgb1, sky.rgb2 = (0.9, 0.9, 1.0), (0.2, 0.3, 0.4)
    floor_tex = spec.add_texture(name="floor", type=mujoco.mjtTexture.mjTEXTURE_2D,
                                 builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, width=256, height=256)  # fmt: skip
    floor_tex.rgb1, floor_tex.rgb2 = (0.55, 0.55, 0.55), (0.62, 0.62, 0.62)
    floor = spec.add_material(name="floor", texrepeat=(4, 4), reflectance=0.0)
    floor.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "floor"
    spec.add_material(name="table", rgba=(0.78, 0.76, 0.72, 1.0), specular=0.2, shininess=0.1)
    wb = spec.worldbody
    wb.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=(3, 3, 0.1), material="floor")
    table = wb.add_body(name="table", pos=(0, 0, TABLE_TOP / 2))
    table.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=(0.4, 0.4, TABLE_TOP / 2), material="table",
                   friction=(1.0, 0.005, 0.0001))  # fmt: skip
    # robosuite's arena light (plus MuJoCo's default headlight), so renders here look like the robot scene's
    wb.add_light(pos=(1.0, 1.0, 1.5), dir=(-0.2, -0.2, -1.0), specular=(0.3, 0.3, 0.3),
                 type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, castshadow=False)  # fmt: skip
    return spec


def _robosuite_arena() -> mujoco.MjSpec:
    from robosuite.models.arenas import TableArena

    arena = TableArena(table_full_size=(0.8, 0.8, 0.05), table_offset=(0, 0, TABLE_TOP))
    return mujoco.MjSpec.from_string(arena.get_xml())


def scene_spec(
    sides=("right",), styles: dict[str, HandStyle] | None = None, arena: str = "plain", dims: HandDims | None = None
) -> mujoco.MjSpec:
    """Arena + cameras + one hand per side in ``sides`` (hand names prefixed ``"<side>_"``)."""
    spec = {"plain": _plain_arena, "robosuite": _robosuite_arena}[arena]()
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.visual.map.znear = 0.005
    for name, cam in CAMERAS.items():
        existing = [c for c in spec.cameras if c.name == name]
        c = existing[0] if existing else spec.worldbody.add_camera(name=name)
        c.pos, c.quat, c.fovy = cam["pos"], cam["quat"], cam["fovy"]
    for side in sides:
        attach_hand(spec, build_hand(side, (styles or {}).get(side), dims=dims))
    return spec


class Preview:
    """A compiled preview scene with a renderer; ``hands[side]`` drives each hand."""

    def __init__(self, sides=("right",), styles=None, size: int = 256, arena: str = "plain", msaa: int = 4, dims=None):
        self.model = scene_spec(sides, styles, arena, dims).compile()
        self.model.vis.quality.offsamples = msaa
        self.data = mujoco.MjData(self.model)
        self.hands = {s: Hand(self.model, f"{s}_") for s in sides}
        self.size = size
        self.renderer = mujoco.Renderer(self.model, size, size)
        for h in self.hands.values():
            h.set_wrist(self.data, PARK, (1, 0, 0, 0), snap=True)
        mujoco.mj_forward(self.model, self.data)

    def restyle(self, side: str, style: HandStyle) -> None:
        restyle(self.model, f"{side}_", style, self.renderer._mjr_context)

    def pose(self, side: str, fingers: HandPose, kind: str, target, quat) -> None:
        """Pose a hand kinematically: fingers, grasp point (``kind``) on ``target`` with wrist orientation ``quat``
        (raised if a fingertip would enter the table), forearm towards the person's elbow; kinematics updated."""
        hand = self.hands[side]
        hand.set_qpos(self.data, fingers)
        wrist = hand.place_grasp(self.data, target, quat, kind)
        clearance = hand.keypoints(self.data)[:, 2].min() - (TABLE_TOP + TABLE_CLEARANCE)
        if clearance < 0:
            wrist = hand.place_grasp(self.data, np.asarray(target) - (0, 0, clearance), quat, kind)
        hand.aim_forearm(self.data, natural_elbow(SHOULDERS[side], wrist, hint=ELBOW_HINTS[side]))
        mujoco.mj_forward(self.model, self.data)

    def park(self, side: str) -> None:
        self.hands[side].set_wrist(self.data, PARK, (1, 0, 0, 0), snap=True)

    def render(self, camera: str) -> np.ndarray:
        """H×W×3 uint8 RGB, row 0 at the top (mujoco.Renderer already flips OpenGL's rows)."""
        self.renderer.update_scene(self.data, camera)
        return self.renderer.render().copy()

    def camera(self, camera: str) -> CameraModel:
        return camera_model(self.model, self.data, camera, self.size, self.size)

    def close(self) -> None:
        self.renderer.close()


def main(argv=None) -> None:
    from hoi2robot.viz import contact_sheet, draw_hand

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/handsim_preview.png")
    ap.add_argument("--side", default="right", choices=("left", "right"))
    ap.add_argument("--tone", default="medium")
    ap.add_argument("--arena", default="plain", choices=("plain", "robosuite"))
    a = ap.parse_args(argv)
    pv = Preview((a.side,), {a.side: HandStyle.preset(a.tone)}, arena=a.arena)
    hand = pv.hands[a.side]
    tiles = []
    quat = quat_from_axes((1.0, 0.3 if a.side == "right" else -0.3, -0.25), (0, 0, -1))  # reaching in, palm down
    for name, pose in PRESETS.items():
        pv.pose(a.side, pose, "pinch" if name.startswith("pinch") else "power", (0.0, 0.0, TABLE_TOP + 0.08), quat)
        for cam in CAMERAS:
            uv, _ = pv.camera(cam).project(hand.keypoints(pv.data))
            tiles.append(draw_hand(pv.render(cam), uv, label=f"{name} {cam}"))
    contact_sheet(tiles, cols=4, path=Path(a.out))
    pv.close()
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
