"""A smooth, seamless skin over the hand's shape primitives (MuJoCo ``skin``, linear blend skinning).

The hand's shape geoms (capsule phalanges, knuckle spheres, convex palm, forearm) are joined into one signed
distance field with a smooth union (webbing between fingers, a fleshy wrist), meshed with surface nets, smoothed
(Taubin), and bound to the bodies: each vertex follows the bodies whose parts it lies on, weighted by distance.
MuJoCo deforms and renders the skin every frame; collisions still use the geoms. Meshing happens in the hand
frame at a *bind pose* (fingers spread, so neighbours do not fuse) and takes about a second per hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

GRID = 0.0016  # isosurface grid spacing, metres (at scale 1)
BLEND = 0.005  # smooth-union radius between bodies, metres
WEIGHT_FALLOFF = 0.0035  # skinning weight decay with distance from a body's surface, metres
CUT_X = -0.115  # the forearm skin ends here (inside the sleeve), in the forearm frame


@dataclass
class SkinMesh:
    """Vertices (V×3, bind frame), triangles (F×3), and per body: vertex ids and weights."""

    vert: np.ndarray
    face: np.ndarray
    bodies: list[str]
    bindpos: np.ndarray  # B×3
    bindquat: np.ndarray  # B×4 wxyz
    vertid: list[np.ndarray]
    vertweight: list[np.ndarray]
    texcoord: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------- distance fields
def _sdf_geom(model: mujoco.MjModel, g: int, p: np.ndarray) -> np.ndarray:
    """Signed distance of points ``p`` (N×3, geom frame) to geom ``g`` (exact for spheres/capsules)."""
    t, size = model.geom_type[g], model.geom_size[g]
    if t == mujoco.mjtGeom.mjGEOM_SPHERE:
        return np.linalg.norm(p, axis=1) - size[0]
    if t == mujoco.mjtGeom.mjGEOM_CAPSULE:
        z = np.clip(p[:, 2], -size[1], size[1])
        return np.linalg.norm(p - np.column_stack([0 * z, 0 * z, z]), axis=1) - size[0]
    if t == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        k = np.linalg.norm(p / size, axis=1)
        return (k - 1.0) * size.min()
    if t == mujoco.mjtGeom.mjGEOM_MESH:
        from scipy.spatial import ConvexHull

        m = model.geom_dataid[g]
        a, n = model.mesh_vertadr[m], model.mesh_vertnum[m]
        eq = ConvexHull(model.mesh_vert[a : a + n]).equations  # outward normals, offsets
        out = np.full(len(p), -np.inf)
        for chunk in np.array_split(np.arange(len(eq)), max(1, len(eq) // 64)):
            out = np.maximum(out, (p @ eq[chunk, :3].T + eq[chunk, 3]).max(axis=1))
        return out
    raise ValueError(f"no distance field for geom type {t}")


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(k - np.abs(a - b), 0.0, None) / k
    return np.minimum(a, b) - h * h * k / 4.0


def _to_local(p: np.ndarray, pos: np.ndarray, mat: np.ndarray) -> np.ndarray:
    return (p - pos) @ mat.reshape(3, 3)


def body_field(model, data, body: int, geoms: list[int], p: np.ndarray, forearm: int) -> np.ndarray:
    """Signed distance of points ``p`` (N×3, world) to the union of ``body``'s shape ``geoms``."""
    d = np.full(len(p), np.inf)
    for g in geoms:
        d = np.minimum(d, _sdf_geom(model, g, _to_local(p, data.geom_xpos[g], data.geom_xmat[g])))
    if body == forearm:  # end the forearm skin inside the sleeve
        x = _to_local(p, data.xpos[body], data.xmat[body])[:, 0]
        d = np.maximum(d, CUT_X - x)
    return d


def _aabb(model, data, geoms: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """World axis-aligned box around ``geoms`` (from their local boxes ``geom_aabb``)."""
    corners = np.array([(i, j, k) for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], float)
    pts = []
    for g in geoms:
        c, r = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
        pts.append((c + corners * r) @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g])
    pts = np.concatenate(pts)
    return pts.min(axis=0), pts.max(axis=0)


def union_grid(model, data, shapes: dict[int, list[int]], forearm: int, h: float):
    """Smooth union of all bodies' fields on a grid of spacing ``h`` covering them: (F, origin)."""
    lo, hi = _aabb(model, data, [g for gs in shapes.values() for g in gs])
    lo, hi = lo - 3 * h, hi + 3 * h
    lo[0] = max(lo[0], data.xpos[forearm][0] + CUT_X - 3 * h)  # the forearm is cut there (for a straight wrist)
    shape = np.ceil((hi - lo) / h).astype(int) + 1
    F = np.full(shape, 1.0)
    margin = BLEND + 2 * h
    for b, geoms in shapes.items():
        blo, bhi = _aabb(model, data, geoms)
        blo, bhi = blo - margin, bhi + margin
        i0 = np.clip(np.floor((blo - lo) / h).astype(int), 0, shape - 1)
        i1 = np.clip(np.ceil((bhi - lo) / h).astype(int) + 1, 1, shape)
        axes = [lo[a] + h * np.arange(i0[a], i1[a]) for a in range(3)]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        d = body_field(model, data, b, geoms, pts, forearm).reshape(i1 - i0)
        block = tuple(slice(a, z) for a, z in zip(i0, i1))
        F[block] = _smin(F[block], d, BLEND)
    return F, lo


# ------------------------------------------------------------------------------------------------ surface nets
_CORNERS = np.array([(i, j, k) for k in (0, 1) for j in (0, 1) for i in (0, 1)])
_EDGES = [(a, b) for a in range(8) for b in range(a + 1, 8) if np.abs(_CORNERS[a] - _CORNERS[b]).sum() == 1]


def surface_nets(F: np.ndarray, origin: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Isosurface F = 0 of a grid (values at ``origin + h·index``): vertices and outward triangles."""
    nx, ny, nz = F.shape
    inside = F < 0
    corner = [F[i : nx - 1 + i, j : ny - 1 + j, k : nz - 1 + k] for i, j, k in _CORNERS]
    n_in = sum((c < 0).astype(np.int8) for c in corner)
    active = (n_in > 0) & (n_in < 8)
    idx = np.argwhere(active)
    acc, cnt = np.zeros((len(idx), 3)), np.zeros(len(idx))
    cs = [c[active] for c in corner]
    for a, b in _EDGES:
        fa, fb = cs[a], cs[b]
        cross = (fa < 0) != (fb < 0)
        t = np.where(cross, fa / np.where(cross, fa - fb, 1.0), 0.0)
        acc += cross[:, None] * (_CORNERS[a] + t[:, None] * (_CORNERS[b] - _CORNERS[a]))
        cnt += cross
    vert = origin + h * (idx + acc / cnt[:, None])
    vid = np.full(active.shape, -1)
    vid[tuple(idx.T)] = np.arange(len(idx))
    quads = []
    for axis in range(3):
        # grid edges along `axis` whose end points straddle the surface; the 4 cells around each form a quad
        sl0 = [slice(None)] * 3
        sl1 = [slice(None)] * 3
        sl0[axis], sl1[axis] = slice(0, -1), slice(1, None)
        crossing = inside[tuple(sl0)] != inside[tuple(sl1)]
        u, v = [a for a in range(3) if a != axis]
        e = np.argwhere(crossing)
        e = e[(e[:, u] > 0) & (e[:, v] > 0) & (e[:, u] < F.shape[u] - 1) & (e[:, v] < F.shape[v] - 1)]
        cells = []
        for du, dv in ((-1, -1), (0, -1), (0, 0), (-1, 0)):
            c = e.copy()
            c[:, u] += du
            c[:, v] += dv
            cells.append(vid[tuple(c.T)])
        q = np.column_stack(cells)
        # the quad (u, v order) faces +axis for x and z, -axis for y; outward is +axis when the first point is inside
        first_inside = inside[tuple(e.T)]
        flip = first_inside if axis == 1 else ~first_inside
        q[flip] = q[flip][:, ::-1]
        quads.append(q)
    q = np.concatenate(quads)
    # split quads along the shorter diagonal
    d02 = np.linalg.norm(vert[q[:, 0]] - vert[q[:, 2]], axis=1)
    d13 = np.linalg.norm(vert[q[:, 1]] - vert[q[:, 3]], axis=1)
    a = np.where((d02 <= d13)[:, None], q[:, [0, 1, 2]], q[:, [0, 1, 3]])
    b = np.where((d02 <= d13)[:, None], q[:, [0, 2, 3]], q[:, [1, 2, 3]])
    face = np.concatenate([a, b])
    # consistent orientation: make the enclosed volume positive
    v0, v1, v2 = vert[face[:, 0]], vert[face[:, 1]], vert[face[:, 2]]
    if np.einsum("ij,ij->i", v0, np.cross(v1, v2)).sum() < 0:
        face = face[:, ::-1]
    return vert, face


def taubin(vert: np.ndarray, face: np.ndarray, iters: int = 12, lam: float = 0.5, mu: float = -0.53) -> np.ndarray:
    """Smooth without shrinking (alternating Laplacian steps)."""
    from scipy.sparse import coo_matrix, diags

    n = len(vert)
    i = np.concatenate([face[:, 0], face[:, 1], face[:, 2], face[:, 1], face[:, 2], face[:, 0]])
    j = np.concatenate([face[:, 1], face[:, 2], face[:, 0], face[:, 0], face[:, 1], face[:, 2]])
    A = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    A.data[:] = 1.0
    W = diags(1.0 / np.maximum(A.sum(axis=1).A1, 1)) @ A
    v = vert.copy()
    for _ in range(iters):
        v += lam * (W @ v - v)
        v += mu * (W @ v - v)
    return v


# ------------------------------------------------------------------------------------------------------- binding
def vertex_normals(vert: np.ndarray, face: np.ndarray) -> np.ndarray:
    n = np.cross(vert[face[:, 1]] - vert[face[:, 0]], vert[face[:, 2]] - vert[face[:, 0]])  # area-weighted
    out = np.zeros_like(vert)
    for k in range(3):
        np.add.at(out, face[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def texcoords(vert, face, w, frames: np.ndarray, creases: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Per vertex (u, v): u = how much the surface faces palmwards (each body's -z, blended by the skin
    weights ``w``, B×V), v = nearness to a knuckle or crease (Gaussian blobs ``(centre, sigma)``)."""
    z = np.einsum("bv,bk->vk", w, frames[:, :, 2])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    u = 0.5 * (1.0 - np.einsum("vk,vk->v", vertex_normals(vert, face), z))
    v = np.zeros(len(vert))
    for c, sigma in creases:
        v = np.maximum(v, np.exp(-np.sum((vert - c) ** 2, axis=1) / (2 * sigma**2)))
    return np.column_stack([u, v]).clip(0.02, 0.98)


def make_skin(model: mujoco.MjModel, data: mujoco.MjData, shapes: dict[int, list[int]], forearm: int, h: float,
              prefix: str, creases: list[tuple[np.ndarray, float]]) -> SkinMesh:  # fmt: skip
    """Mesh the smooth union of ``shapes`` (body id -> shape geom ids) at the current kinematics and bind it.

    Vertices and bind poses are in the world frame of ``data`` (put the hand at the origin first).
    ``creases``: knuckle / joint-crease spots (world centre, radius) darkened by the skin texture.
    """
    F, origin = union_grid(model, data, shapes, forearm, h)
    vert, face = surface_nets(F, origin, h)
    vert = taubin(vert, face)
    bodies = list(shapes)
    d = np.stack([body_field(model, data, b, shapes[b], vert, forearm) for b in bodies])  # B×V
    w = np.exp(-(d - d.min(axis=0)) / (WEIGHT_FALLOFF * h / GRID))
    w[w < 0.03] = 0.0
    w /= w.sum(axis=0)
    vertid = [np.flatnonzero(w[i]) for i in range(len(bodies))]
    return SkinMesh(
        vert=vert,
        face=face,
        bodies=[model.body(b).name[len(prefix) :] for b in bodies],
        bindpos=data.xpos[bodies].copy(),
        bindquat=data.xquat[bodies].copy(),
        vertid=vertid,
        vertweight=[w[i, ids] for i, ids in enumerate(vertid)],
        texcoord=texcoords(vert, face, w, data.xmat[bodies].reshape(-1, 3, 3), creases),
    )


def add_skin(spec: mujoco.MjSpec, mesh: SkinMesh, prefix: str, material: str, group: int = 1) -> None:
    """Add ``mesh`` to ``spec`` as skin ``<prefix>skin`` bound to the bodies ``<prefix><name>``."""
    sk = spec.add_skin(name=prefix + "skin")
    sk.vert = mesh.vert.ravel().tolist()
    sk.face = mesh.face.ravel().astype(int).tolist()
    sk.bodyname = [prefix + b for b in mesh.bodies]
    sk.bindpos = mesh.bindpos.ravel().tolist()
    sk.bindquat = mesh.bindquat.ravel().tolist()
    sk.vertid = [ids.astype(int).tolist() for ids in mesh.vertid]
    sk.vertweight = [w.tolist() for w in mesh.vertweight]
    sk.material = material
    sk.group = group
    if mesh.texcoord is not None:
        sk.texcoord = mesh.texcoord.ravel().tolist()
