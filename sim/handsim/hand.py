"""Build an articulated human hand (left or right) as a ``mujoco.MjSpec``.

Kinematics follow MediaPipe's 21-keypoint topology: a free-floating palm welded to a **mocap** target (the wrist's
6-DoF pose, set every step), a thumb with CMC (2 DoF), MCP and IP joints, and four fingers with MCP (flexion +
abduction), PIP and DIP joints; one position actuator per joint. A forearm with a sleeve hangs on a 2-DoF wrist
(visual only, aimed at an elbow). Each of the 21 keypoints is a site at the joint centre (fingertip sites just inside
the tip ends, where MediaPipe puts them). Shape: capsule phalanges, convex palm and forearm; appearance: one smooth
skinned mesh over them (:mod:`sim.handsim.skin`) with a skin texture (palm side lighter, darker knuckles and
creases), nails, a cloth sleeve.

Contacts: every hand geom has ``contype=2, conaffinity=1`` so the hand touches the world (``contype=1``) but never
itself (this excludes all hand-hand pairs, neighbours included); phalanges and palm have friction 1.5 and
``condim=4``, ready for friction grasps or a weld that engages on contact (geom names in
:class:`sim.handsim.names.HandNames`: ``fingertip_geoms``, ``palm_geom``, ``collision_geoms``).

Usage::

    scene = attach_hand(scene_spec, build_hand("right", HandStyle.preset("medium")))   # or build_hand(...).compile()
    model = scene.compile(); hand = Hand(model, "right_")
"""
from __future__ import annotations

import functools

import mujoco
import numpy as np

from sim.handsim import skin as skin_mesh
from sim.handsim.dims import FingerDims, HandDims, ThumbDims, splay_frame, thumb_frame
from sim.handsim.names import DIGITS, HandNames, bones, digit_joints, digit_keypoints
from sim.handsim.style import HandStyle

SIDES = ("left", "right")
HAND_CONTYPE, HAND_CONAFFINITY = 2, 1  # collide with the world, not with itself
VISIBLE_GROUP = 1  # rendered by default (MuJoCo shows geom groups 0-2)
SHAPE_GROUP = 3  # shape geoms under the skin: hidden, still colliding
KEYPOINT_GROUP = 4  # sites hidden in default renders
_X, _Y, _Z = np.eye(3)


class Mirror:
    """Maps right-hand geometry to the requested side (left = reflection through the hand's x-z plane)."""

    def __init__(self, side: str):
        if side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        self.M = np.diag([1.0, -1.0 if side == "left" else 1.0, 1.0])
        self.det = float(np.linalg.det(self.M))

    def pos(self, p) -> np.ndarray:
        return self.M @ np.asarray(p, float)

    def axis(self, a) -> np.ndarray:
        """Rotation axes are pseudo-vectors: they pick up the reflection's determinant."""
        return self.det * (self.M @ np.asarray(a, float))

    def quat(self, R: np.ndarray) -> np.ndarray:
        q = np.zeros(4)
        mujoco.mju_mat2Quat(q, (self.M @ R @ self.M).ravel())
        return q


def convex_hull(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices on the hull and outward-facing (counter-clockwise) triangles indexing them."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(points)
    keep = np.unique(hull.simplices)
    remap = np.full(len(points), -1)
    remap[keep] = np.arange(len(keep))
    faces = remap[hull.simplices]
    v = points[keep]
    n = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    flip = np.einsum("ij,ij->i", n, hull.equations[:, :3]) < 0
    faces[flip] = faces[flip][:, ::-1]
    return v, faces


def hull_of_spheres(spheres, n: int = 14) -> np.ndarray:
    """Points on spheres ``(x, y, z, r)``; their convex hull (:func:`convex_hull`) is a smooth rounded solid."""
    u, v = np.meshgrid(np.linspace(0, np.pi, n // 2 + 1), np.linspace(0, 2 * np.pi, n, endpoint=False))
    unit = np.column_stack([(np.sin(u) * np.cos(v)).ravel(), (np.sin(u) * np.sin(v)).ravel(), np.cos(u).ravel()])
    unit = np.unique(np.round(unit, 9), axis=0)
    return np.concatenate([np.asarray(s[:3]) + s[3] * unit for s in spheres])


def hull_of_rings(rings, n: int = 28) -> np.ndarray:
    """Points on axis-aligned ellipses ``(x, half-width y, half-thickness z)`` around the x axis."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.concatenate([np.column_stack([np.full(n, x), a * np.cos(t), b * np.sin(t)]) for x, a, b in rings])


def materials(style: HandStyle) -> tuple[tuple[str, tuple[float, float, float], float, float], ...]:
    """The hand's materials: (name, rgb, specular, shininess). The skin's colours live in its texture."""
    return (
        ("skin", (1.0, 1.0, 1.0), style.specular, style.shininess),
        ("shape", style.skin, style.specular, style.shininess),
        ("nail", style.nail, 0.6, 0.8),
        ("sleeve", style.sleeve, 0.05, 0.05),
    )


def restyle(model: mujoco.MjModel, prefix: str, style: HandStyle, context: mujoco.MjrContext | None = None) -> None:
    """Recolour a compiled hand in place (skin, nails, sleeve; ``style.scale`` needs a rebuild).

    The skin texture is rewritten in ``model``; pass the rendering ``context`` of an existing renderer to
    upload it there too (a renderer made afterwards picks it up by itself).
    """
    for name, rgb, spec_, shine in materials(style):
        mid = model.material(prefix + name).id
        model.mat_rgba[mid, :3] = rgb
        model.mat_specular[mid], model.mat_shininess[mid] = spec_, shine
    tex = model.texture(prefix + "skin")
    img = style.skin_texture(int(tex.width[0]))
    model.tex_data[tex.adr[0] : tex.adr[0] + img.size] = img.ravel()
    if context is not None:
        mujoco.mjr_uploadTexture(model, context, tex.id)


class _Builder:
    """Adds one hand to a spec. Small methods, one per part; all geometry comes from :class:`HandDims`."""

    def __init__(self, spec: mujoco.MjSpec, side: str, style: HandStyle, dims: HandDims, prefix: str, skin: bool):
        self.spec, self.style, self.d = spec, style, dims
        self.m, self.n = Mirror(side), HandNames(prefix)
        self.shape_group = SHAPE_GROUP if skin else VISIBLE_GROUP

    # ----------------------------------------------------------------------------------------------- materials
    def materials(self) -> None:
        img = self.style.skin_texture()
        tex = self.spec.add_texture(name=self.n("skin"), type=mujoco.mjtTexture.mjTEXTURE_2D,
                                    width=img.shape[1], height=img.shape[0], nchannel=3)  # fmt: skip
        tex.data = img.tobytes()
        for name, rgb, spec_, shine in materials(self.style):
            mat = self.spec.add_material(name=self.n(name))
            mat.rgba = (*rgb, 1.0)
            mat.specular, mat.shininess, mat.reflectance = spec_, shine, 0.0
        # "skin" (the skinned mesh) is textured; "shape" (the geoms, seen only without a skin) is plain skin colour.
        self.spec.material(self.n("skin")).textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = self.n("skin")

    # --------------------------------------------------------------------------------------------------- geoms
    def geom(self, body, name: str | None, collide: bool, material: str, shape: bool = True, **kw):
        """A geom; ``shape`` ones form the skin (hidden under it when there is one), others always show."""
        g = body.add_geom(**({"name": self.n(name)} if name else {}))
        g.material = self.n(material)
        g.group = self.shape_group if shape else VISIBLE_GROUP
        if collide:
            g.contype, g.conaffinity = HAND_CONTYPE, HAND_CONAFFINITY
            g.friction, g.condim, g.density = self.d.friction, self.d.condim, self.d.density
        else:
            g.contype = g.conaffinity = 0
            g.density = 0.0
        for k, v in kw.items():
            setattr(g, k, v)
        return g

    def mesh_geom(self, body, name: str, points: np.ndarray, collide: bool, material: str, shape: bool = True):
        mesh = self.spec.add_mesh(name=self.n(name + "_hull"))
        verts, faces = convex_hull(np.array([self.m.pos(p) for p in points]))
        mesh.uservert, mesh.userface = verts.ravel().tolist(), faces.ravel().tolist()
        mesh.smoothnormal = True
        return self.geom(body, name, collide, material, shape, type=mujoco.mjtGeom.mjGEOM_MESH, meshname=mesh.name)

    def site(self, body, name: str, pos=(0.0, 0.0, 0.0), size: float = 0.004):
        s = body.add_site(name=self.n(name), pos=self.m.pos(pos), size=[size, 0, 0])
        s.group, s.rgba = KEYPOINT_GROUP, (1.0, 0.1, 0.1, 1.0)
        return s

    # ---------------------------------------------------------------------------------------------------- parts
    def joint(self, body, name: str, axis, deg_range) -> None:
        lo, hi = np.deg2rad(deg_range)
        body.add_joint(
            name=self.n(name),
            type=mujoco.mjtJoint.mjJNT_HINGE,
            axis=self.m.axis(axis),
            range=[lo, hi],
            limited=mujoco.mjtLimited.mjLIMITED_TRUE,
            damping=self.d.damping,
            armature=self.d.armature,
        )

    def hand_body(self, pos, quat):
        """The palm (free body welded to a mocap target): palm geom (collision), wrist and palm-centre sites.

        A free body, not the mocap itself: a teleported mocap body has no velocity, so fingers hanging off it
        would slide over anything they hold instead of carrying it.
        """
        self.spec.worldbody.add_body(name=self.n.mocap_body, mocap=True, pos=pos, quat=quat)
        b = self.spec.worldbody.add_body(name=self.n.hand_body, pos=pos, quat=quat, gravcomp=1.0)
        b.add_freejoint(name=self.n.free_joint)
        weld = self.spec.add_equality(name=self.n.weld, type=mujoco.mjtEq.mjEQ_WELD,
                                      objtype=mujoco.mjtObj.mjOBJ_BODY,
                                      name1=self.n.mocap_body, name2=self.n.hand_body)  # fmt: skip
        weld.data = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]  # anchor, relative pose (identity), torque scale
        weld.solref = self.d.weld_solref
        d = self.d
        knuckles = [(*f.mcp, f.radii[0] * d.knuckle_scale) for f in d.fingers]
        thumb_root = (*d.thumb.cmc, d.thumb.radii[0])
        self.mesh_geom(b, "palm", hull_of_spheres(list(d.palm_spheres) + knuckles + [thumb_root]), True, "shape")
        for f in d.fingers:  # knuckle bumps on the back of the hand (metacarpal heads)
            r = f.radii[0]
            self.geom(b, None, False, "shape", type=mujoco.mjtGeom.mjGEOM_SPHERE,
                      pos=self.m.pos(np.add(f.mcp, (0.1 * r, 0.0, 0.5 * r))), size=[0.72 * r, 0, 0])  # fmt: skip
        self.site(b, "wrist")
        self.site(b, "palm_center", d.palm_center, size=0.006)
        return b

    def forearm(self, hand) -> None:
        """Forearm + sleeve on a 2-DoF wrist (visual only, aimed at an elbow by :meth:`Hand.aim_forearm`)."""
        d = self.d
        b = hand.add_body(name=self.n("forearm"), pos=self.m.pos(d.wrist_joint), gravcomp=1.0)
        b.explicitinertial = True
        b.mass, b.ipos = d.forearm_mass, self.m.pos((-0.1, 0, 0))
        b.inertia = d.forearm_mass * np.array([1.3e-3, 7e-3, 7e-3])  # a 25 cm rod, ~6 cm thick
        # The joints turn the forearm relative to the hand: -y / -z make + angles palmar flexion / radial deviation.
        self.joint(b, "wrist_flex", -_Y, d.wrist_flex_range)
        self.joint(b, "wrist_dev", -_Z, d.wrist_dev_range)
        self.mesh_geom(b, "forearm", hull_of_rings(d.forearm_rings), False, "shape")
        self.mesh_geom(b, "sleeve", hull_of_rings(d.sleeve_rings), False, "sleeve", shape=False)

    def digit(self, parent, digit: str, base, R: np.ndarray, lengths, radii, ranges, axes0=(_Z, _Y)) -> None:
        """A chain of three bones. The first turns about ``axes0`` (in the digit frame ``R``), the others flex (y)."""
        kps, ranges = digit_keypoints(digit), list(ranges)
        joints = list(zip(digit_joints(digit), [*axes0, _Y, _Y], ranges))
        body, pos, quat = parent, self.m.pos(base), self.m.quat(R)
        for i, (bone, L, r) in enumerate(zip(bones(digit), lengths, radii)):
            body = body.add_body(name=self.n(f"{digit}_{bone}"), pos=pos, quat=quat, gravcomp=1.0)
            for jname, axis, rng in joints[: len(axes0)] if i == 0 else [joints[len(axes0) + i - 1]]:
                self.joint(body, f"{digit}_{jname}", axis, rng)
            self.site(body, kps[i])
            end = L - r if i == 2 else L
            self.geom(body, f"{digit}_{bone}", True, "shape", type=mujoco.mjtGeom.mjGEOM_CAPSULE,
                      fromto=[0, 0, 0, *self.m.pos((end, 0, 0))], size=[r, 0, 0])  # fmt: skip
            if i > 0:  # knuckle bump over the joint
                self.geom(body, None, False, "shape", type=mujoco.mjtGeom.mjGEOM_SPHERE,
                          pos=self.m.pos((0.0, 0.0, 0.1 * r)), size=[r * 1.06, 0, 0])  # fmt: skip
            pos, quat = self.m.pos((L, 0, 0)), (1.0, 0, 0, 0)
        self.site(body, kps[3], (lengths[2] - self.d.tip_inset * radii[2], 0.0, 0.0))
        self.nail(body, lengths[2], radii[2])

    def nail(self, body, L: float, r: float) -> None:
        """A nail on the back of the distal phalanx (sizes: :attr:`HandDims.nail_size`)."""
        hl, hw, ht, tip, lift = self.d.nail_size
        self.geom(body, None, False, "nail", False, type=mujoco.mjtGeom.mjGEOM_ELLIPSOID,
                  pos=self.m.pos((L - (tip + hl) * r, 0.0, lift * r)), size=[hl * r, hw * r, ht * r])  # fmt: skip

    def finger(self, hand, f: FingerDims) -> None:
        ranges = (f.abd_range, f.mcp_range, f.pip_range, f.dip_range)
        self.digit(hand, f.name, f.mcp, splay_frame(f.splay), f.lengths, f.radii, ranges)

    def thumb(self, hand, t: ThumbDims) -> None:
        R = thumb_frame(t)
        axes0 = tuple(R.T @ (np.asarray(a) / np.linalg.norm(a)) for a in t.cmc_axes)
        ranges = (t.cmc_abd_range, t.cmc_range, t.mcp_range, t.ip_range)
        self.digit(hand, "thumb", t.cmc, R, t.lengths, t.radii, ranges, axes0)
        # Thenar eminence: a soft bulge on the metacarpal towards the palm.
        meta = hand.find_child(self.n("thumb_metacarpal"))
        to_palm = R.T @ (np.asarray(self.d.palm_center) - np.asarray(t.cmc))
        to_palm[0] = 0.0
        to_palm /= np.linalg.norm(to_palm)
        L, r = t.lengths[0], t.radii[0]
        self.geom(meta, "thenar", False, "shape", type=mujoco.mjtGeom.mjGEOM_ELLIPSOID,
                  pos=self.m.pos((0.4 * L, *(0.45 * r * to_palm[1:]))), size=[0.5 * L, 1.1 * r, 0.95 * r])  # fmt: skip

    def actuators(self) -> None:
        d = self.d
        for j in self.n.joints:
            self.actuator(j, d.kp, d.kv, d.force_limit)
        for j in self.n.wrist_joints:
            self.actuator(j, d.wrist_gain * d.kp, d.wrist_gain * d.kv, d.wrist_gain * d.force_limit)

    def actuator(self, joint: str, kp: float, kv: float, limit: float) -> None:
        a = self.spec.add_actuator(name=joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_position(kp=kp, kv=kv, inheritrange=True)
        a.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        a.forcerange = [-limit, limit]


def build_hand(
    side: str = "right",
    style: HandStyle | None = None,
    prefix: str | None = None,
    dims: HandDims | None = None,
    pos=(0.0, 0.0, 1.0),
    quat=(1.0, 0.0, 0.0, 0.0),
    skin: bool = True,
) -> mujoco.MjSpec:
    """A spec holding one hand (wrist at ``pos``/``quat`` wxyz, with its mocap target), materials and actuators.

    ``prefix`` defaults to ``"<side>_"``; every element name starts with it (see :class:`HandNames`).
    ``skin``: cover the shape geoms with a smooth skin (hidden geoms still collide); without it the capsules
    and hulls themselves are shown. Compile it alone (``spec.compile()``) or put it in a scene with
    :func:`attach_hand`.
    """
    style = style or HandStyle()
    dims = (dims or HandDims()).scaled(style.scale)
    prefix = f"{side}_" if prefix is None else prefix
    spec = _skeleton(side, style, dims, prefix, skin, pos, quat)
    if skin:
        skin_mesh.add_skin(spec, _skin(side, dims), prefix, material=prefix + "skin")
    return spec


def _skeleton(side, style, dims, prefix, skin, pos=(0.0, 0.0, 0.0), quat=(1.0, 0.0, 0.0, 0.0)) -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.modelname = f"{side}_hand"
    spec.compiler.degree = False
    spec.compiler.autolimits = True
    b = _Builder(spec, side, style, dims, prefix, skin)
    b.materials()
    hand = b.hand_body(pos, quat)
    b.forearm(hand)
    b.thumb(hand, dims.thumb)
    for f in dims.fingers:
        b.finger(hand, f)
    b.actuators()
    return spec


@functools.lru_cache(maxsize=8)
def _skin(side: str, dims: HandDims) -> skin_mesh.SkinMesh:
    """The skin of a hand, meshed once per side and size at the bind pose with the hand at the origin."""
    from sim.handsim.control import Hand
    from sim.handsim.pose import BIND_POSE

    model = _skeleton(side, HandStyle(), dims, "", True).compile()
    data = mujoco.MjData(model)
    Hand(model, "").set_qpos(data, BIND_POSE)
    mujoco.mj_kinematics(model, data)
    shapes: dict[int, list[int]] = {}
    for g in range(model.ngeom):
        if model.geom_group[g] == SHAPE_GROUP:
            shapes.setdefault(int(model.geom_bodyid[g]), []).append(g)
    h = skin_mesh.GRID * dims.fingers[0].lengths[0] / HandDims().fingers[0].lengths[0]
    return skin_mesh.make_skin(model, data, shapes, model.body("forearm").id, h, "", _creases(model, data))


def _creases(model: mujoco.MjModel, data: mujoco.MjData) -> list[tuple[np.ndarray, float]]:
    """Knuckles (back) and joint creases (palm side) over every finger joint, as (centre, radius) spots."""
    spots = []
    for digit in DIGITS:
        for bone in bones(digit)[int(digit == "thumb") :]:
            b = model.body(f"{digit}_{bone}")
            r = model.geom_size[model.geom(f"{digit}_{bone}").id, 0]
            z = data.xmat[b.id].reshape(3, 3)[:, 2]
            knuckle = 0.6 if bone == "proximal" and digit != "thumb" else 0.5
            spots.append((data.xpos[b.id] + 0.95 * r * z, knuckle * r))
            if bone != "proximal" or digit == "thumb":
                spots.append((data.xpos[b.id] - 0.95 * r * z, 0.3 * r))
    return spots


def attach_hand(scene: mujoco.MjSpec, hand: mujoco.MjSpec, prefix: str = "") -> mujoco.MjSpec:
    """Attach a hand spec to ``scene``'s world (an extra name ``prefix`` is allowed). Returns ``scene``.

    The hand spec is consumed (MuJoCo attaches by reference). MuJoCo 3.8's attach prefixes a skin's bodies but not
    the skin's own name or its material, so those two are prefixed here.
    """
    if prefix:
        for s in hand.skins:
            s.name, s.material = prefix + s.name, prefix + s.material
    scene.attach(hand, frame=scene.worldbody.add_frame(), prefix=prefix)
    return scene
