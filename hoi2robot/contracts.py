"""Data contracts: the typed records that flow between hoi2robot's stages.

Every stage imports its inputs and outputs from here, so each stage can be run, saved, inspected and tested alone::

    frame + instruction --VideoGenerator--> GeneratedVideo --HandTracker--> HandTrack
        --Retargeter(CameraModel, depth)--> EETrajectory --policy / sim / robot--> behaviour
    HOIClip: one training example of the synthetic (or a real) HOI dataset.

Each record validates shapes, dtypes and finiteness when it is built and raises :class:`ContractError` (a
``ValueError``) naming the record, the field and what was expected. Each has exactly one ``save`` and one ``load``.

Conventions
-----------
* Images are ``uint8`` RGB, row 0 at the top ("right side up").
* Pixel coordinates are OpenCV's: ``(u, v)`` = (column, row), integer values at pixel centres.
* Camera frames are OpenCV's: x right, y down, z forward (MuJoCo cameras look along -z with y up; see
  ``sim.tasks.cameras``).
* Quaternions are ``(w, x, y, z)``. Lengths are metres, times seconds.
* Hand keypoints use MediaPipe's 21-joint topology (:data:`HAND_JOINTS`). Hand slots are fixed by handedness:
  slot 0 is the subject's left hand, slot 1 the right hand (:data:`HANDEDNESS`).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "ContractError",
    "HAND_JOINTS",
    "HANDEDNESS",
    "CameraModel",
    "GeneratedVideo",
    "HandTrack",
    "EETrajectory",
    "JointTrajectory",
    "HOIClip",
]

HAND_JOINTS: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip
HANDEDNESS: tuple[str, ...] = ("left", "right")
NUM_JOINTS = len(HAND_JOINTS)


class ContractError(ValueError):
    """A record was built from data that breaks its contract (shape, dtype, range, finiteness)."""


# ----------------------------------------------------------------------------------------------------------- checks
def _fail(owner: str, name: str, msg: str) -> None:
    raise ContractError(f"{owner}.{name}: {msg}")


def _array(
    owner: str,
    name: str,
    value: Any,
    shape: tuple[int | str, ...],
    dims: dict[str, int],
    dtype: str,
    lo: float | None = None,
    hi: float | None = None,
) -> np.ndarray:
    """Validate ``value`` against ``shape`` (ints fixed, strings bind named sizes in ``dims``) and ``dtype``.

    ``dtype`` is ``"uint8"`` (must already be uint8: silently rescaling floats would hide bugs), ``"bool"``, or
    ``"float32"``/``"float64"`` (any real numeric input is converted; must be finite and inside [lo, hi]).
    """
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            _fail(owner, name, f"cannot be read as an array ({exc})")
    want = "×".join(str(s) for s in shape) or "scalar"
    if value.ndim != len(shape):
        _fail(owner, name, f"expected shape {want}, got {tuple(value.shape)}")
    for axis, (size, spec) in enumerate(zip(value.shape, shape)):
        if isinstance(spec, str):
            bound = dims.setdefault(spec, size)
            if bound != size:
                _fail(owner, name, f"axis {axis} ({spec}) is {size} but {spec}={bound} elsewhere; expected {want}")
        elif size != spec:
            _fail(owner, name, f"expected shape {want}, got {tuple(value.shape)}")
    if dtype == "uint8":
        if value.dtype != np.uint8:
            _fail(owner, name, f"expected dtype uint8, got {value.dtype}")
        return value
    if dtype == "bool":
        if value.dtype != np.bool_:
            if value.dtype.kind not in "biu" or not np.isin(value, (0, 1)).all():
                _fail(owner, name, f"expected a boolean mask, got dtype {value.dtype}")
            value = value.astype(bool)
        return value
    if value.dtype.kind not in "biuf":
        _fail(owner, name, f"expected real numbers ({dtype}), got dtype {value.dtype}")
    value = value.astype(dtype, copy=False)
    if not np.isfinite(value).all():
        bad = np.argwhere(~np.isfinite(value))[0]
        _fail(owner, name, f"must be finite; found {value[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    if lo is not None and value.size and value.min() < lo:
        _fail(owner, name, f"values must be >= {lo}, found {value.min()}")
    if hi is not None and value.size and value.max() > hi:
        _fail(owner, name, f"values must be <= {hi}, found {value.max()}")
    return value


def _positive(owner: str, name: str, value: Any, integer: bool = False) -> Any:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0 or (integer and int(value) != value):
        _fail(owner, name, f"expected a positive {'integer' if integer else 'number'}, got {value!r}")
    return int(value) if integer else float(value)


def _text(owner: str, name: str, value: Any, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        _fail(owner, name, f"expected a {'' if allow_empty else 'non-empty '}string, got {value!r}")
    return value


def _suffix(owner: str, path: Path, allowed: tuple[str, ...]) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ContractError(f"{owner}: cannot save/load {path}: expected a file ending in {' or '.join(allowed)}")
    return suffix


def _atomic_write(path: Path, write) -> Path:
    """Write through a temp file in the same folder and rename, so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _save_npz(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    payload = dict(arrays, __meta__=np.asarray(json.dumps(meta)))
    return _atomic_write(path, lambda tmp: np.savez_compressed(open(tmp, "wb"), **payload))


def _load_npz(owner: str, path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{owner}: no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except Exception as exc:
        raise ContractError(f"{owner}: {path} is not a readable {owner} file ({exc})") from exc
    return arrays, meta


# ------------------------------------------------------------------------------------------------------------ camera
@dataclass(frozen=True, eq=False)
class CameraModel:
    """A pinhole camera: intrinsics and its pose in the robot base frame.

    Attributes:
        name: camera name (e.g. ``"agentview"``).
        K: 3×3 float64 intrinsic matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels (OpenCV convention).
        width, height: image size in pixels.
        base_T_cam: 4×4 float64 rigid transform taking points from the camera frame (OpenCV axes: x right, y down,
            z forward) to the robot base frame.
    """

    name: str
    K: np.ndarray
    width: int
    height: int
    base_T_cam: np.ndarray

    def __post_init__(self) -> None:
        o, dims = "CameraModel", {}
        _text(o, "name", self.name)
        object.__setattr__(self, "width", _positive(o, "width", self.width, integer=True))
        object.__setattr__(self, "height", _positive(o, "height", self.height, integer=True))
        K = _array(o, "K", self.K, (3, 3), dims, "float64")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], (0, 0, 1)) or K[1, 0] != 0:
            _fail(o, "K", f"expected [[fx,s,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0, got {K.tolist()}")
        T = _array(o, "base_T_cam", self.base_T_cam, (4, 4), dims, "float64")
        R = T[:3, :3]
        if not np.allclose(T[3], (0, 0, 0, 1)) or not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
            _fail(o, "base_T_cam", "expected a rigid transform (orthonormal right-handed rotation, last row 0 0 0 1)")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "base_T_cam", T)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CameraModel)
            and (self.name, self.width, self.height) == (other.name, other.width, other.height)
            and np.allclose(self.K, other.K)
            and np.allclose(self.base_T_cam, other.base_T_cam)
        )

    @property
    def cam_T_base(self) -> np.ndarray:
        """4×4 transform from the robot base frame to the camera frame."""
        R, t = self.base_T_cam[:3, :3], self.base_T_cam[:3, 3]
        out = np.eye(4)
        out[:3, :3], out[:3, 3] = R.T, -R.T @ t
        return out

    def project(self, points_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project N×3 base-frame points to N×2 pixels ``(u, v)``; also returns the N camera-frame depths (z)."""
        p = np.asarray(points_base, dtype=np.float64).reshape(-1, 3)
        pc = p @ self.cam_T_base[:3, :3].T + self.cam_T_base[:3, 3]
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (pc @ self.K.T)[:, :2] / z[:, None]
        return uv, z

    def unproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Lift N×2 pixels with N camera-frame depths (z, metres) to N×3 points in the robot base frame."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        z = np.asarray(depth, dtype=np.float64).reshape(-1)
        rays = np.linalg.solve(self.K, np.column_stack([uv, np.ones(len(uv))]).T).T
        pc = rays * z[:, None]
        return pc @ self.base_T_cam[:3, :3].T + self.base_T_cam[:3, 3]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "base_T_cam": self.base_T_cam.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CameraModel":
        missing = {"name", "width", "height", "K", "base_T_cam"} - set(d)
        if missing:
            raise ContractError(f"CameraModel: missing keys {sorted(missing)}")
        return cls(name=d["name"], K=d["K"], width=d["width"], height=d["height"], base_T_cam=d["base_T_cam"])

    def save(self, path: str | Path) -> Path:
        """Write ``.json`` or ``.yaml``."""
        path = Path(path)
        if _suffix("CameraModel", path, (".json", ".yaml", ".yml")) == ".json":
            text = json.dumps(self.to_dict(), indent=2)
        else:
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        return _atomic_write(path, lambda tmp: tmp.write_text(text))

    @classmethod
    def load(cls, path: str | Path) -> "CameraModel":
        path = Path(path)
        suffix = _suffix("CameraModel", path, (".json", ".yaml", ".yml"))
        text = path.read_text()
        if suffix == ".json":
            d = json.loads(text)
        else:
            import yaml

            d = yaml.safe_load(text)
        if not isinstance(d, dict):
            raise ContractError(f"CameraModel: {path} does not hold a mapping")
        return cls.from_dict(d)


# --------------------------------------------------------------------------------------------------- generated video
@dataclass(eq=False)
class GeneratedVideo:
    """Output of a video generator.

    Attributes:
        frames: T×H×W×3 uint8 RGB; frame 0 is (a reconstruction of) the context frame.
        fps: frames per second (> 0).
        ma_mask: motion-area mask, H×W or T×H×W float32 in [0, 1] (HANDI stage 1; 1 = where the hand may move).
        instruction: the task text the video was generated from.
        seed: the sampling seed.
        generator: id of the generator that made it (backend and checkpoint).
    """

    frames: np.ndarray
    fps: float
    ma_mask: np.ndarray
    instruction: str
    seed: int = 0
    generator: str = "unknown"

    def __post_init__(self) -> None:
        o, dims = "GeneratedVideo", {}
        self.frames = _array(o, "frames", self.frames, ("T", "H", "W", 3), dims, "uint8")
        if dims["T"] < 1:
            _fail(o, "frames", "needs at least one frame")
        self.fps = _positive(o, "fps", self.fps)
        shape = ("H", "W") if np.ndim(self.ma_mask) == 2 else ("T", "H", "W")
        self.ma_mask = _array(o, "ma_mask", self.ma_mask, shape, dims, "float32", 0.0, 1.0)
        self.instruction = _text(o, "instruction", self.instruction)
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool):
            _fail(o, "seed", f"expected an integer, got {self.seed!r}")
        self.seed = int(self.seed)
        self.generator = _text(o, "generator", self.generator)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def save(self, path: str | Path) -> Path:
        """Lossless ``.npz`` (frames, mask and metadata). Use ``hoi2robot.media.write_video`` for a viewable mp4."""
        path = Path(path)
        _suffix("GeneratedVideo", path, (".npz",))
        meta = {"fps": self.fps, "instruction": self.instruction, "seed": self.seed, "generator": self.generator}
        return _save_npz(path, {"frames": self.frames, "ma_mask": self.ma_mask}, meta)

    @classmethod
    def load(cls, path: str | Path) -> "GeneratedVideo":
        arrays, meta = _load_npz("GeneratedVideo", Path(path))
        return cls(frames=arrays["frames"], ma_mask=arrays["ma_mask"], **meta)


# -------------------------------------------------------------------------------------------------------- hand track
@dataclass(eq=False)
class HandTrack:
    """Hand keypoints over a video, two fixed hand slots (0 = left, 1 = right; see :data:`HANDEDNESS`).

    Attributes:
        keypoints_2d: T×2×21×2 float32 image keypoints ``(u, v)`` in pixels (MediaPipe topology).
        keypoints_world: T×2×21×3 float32 hand-centred metric keypoints in metres (MediaPipe world landmarks).
        score: T×2 float32 detection/handedness confidence in [0, 1].
        valid: T×2 bool, whether the hand was found in that frame. Entries of invalid slots are zero.
        fps: frames per second of the tracked video.
        image_size: ``(width, height)`` of the tracked frames in pixels.
        source: what produced the track (e.g. ``"mediapipe"``, ``"ground_truth"``).
        keypoints_depth: optional T×2×21 float32 relative depth (MediaPipe's landmark z, same scale as x).
    """

    keypoints_2d: np.ndarray
    keypoints_world: np.ndarray
    score: np.ndarray
    valid: np.ndarray
    fps: float
    image_size: tuple[int, int]
    source: str = "unknown"
    keypoints_depth: np.ndarray | None = None

    def __post_init__(self) -> None:
        o, dims = "HandTrack", {}
        self.keypoints_2d = _array(o, "keypoints_2d", self.keypoints_2d, ("T", 2, NUM_JOINTS, 2), dims, "float32")
        self.keypoints_world = _array(
            o, "keypoints_world", self.keypoints_world, ("T", 2, NUM_JOINTS, 3), dims, "float32"
        )
        self.score = _array(o, "score", self.score, ("T", 2), dims, "float32", 0.0, 1.0)
        self.valid = _array(o, "valid", self.valid, ("T", 2), dims, "bool")
        if self.keypoints_depth is not None:
            self.keypoints_depth = _array(
                o, "keypoints_depth", self.keypoints_depth, ("T", 2, NUM_JOINTS), dims, "float32"
            )
        self.fps = _positive(o, "fps", self.fps)
        size = tuple(np.asarray(self.image_size).tolist()) if np.ndim(self.image_size) == 1 else ()
        if len(size) != 2:
            _fail(o, "image_size", f"expected (width, height), got {self.image_size!r}")
        self.image_size = (_positive(o, "image_size", size[0], True), _positive(o, "image_size", size[1], True))
        self.source = _text(o, "source", self.source)

    @property
    def num_frames(self) -> int:
        return int(self.valid.shape[0])

    @classmethod
    def empty(cls, num_frames: int, fps: float, image_size: tuple[int, int], source: str) -> "HandTrack":
        """A track of ``num_frames`` frames with no hand detected (fill it slot by slot)."""
        T = num_frames
        return cls(
            keypoints_2d=np.zeros((T, 2, NUM_JOINTS, 2), np.float32),
            keypoints_world=np.zeros((T, 2, NUM_JOINTS, 3), np.float32),
            score=np.zeros((T, 2), np.float32),
            valid=np.zeros((T, 2), bool),
            fps=fps,
            image_size=image_size,
            source=source,
            keypoints_depth=np.zeros((T, 2, NUM_JOINTS), np.float32),
        )

    def detection_rate(self, hand: int | None = None) -> float:
        """Fraction of frames in which ``hand`` (a slot) or any hand was found."""
        v = self.valid.any(axis=1) if hand is None else self.valid[:, hand]
        return float(v.mean()) if len(v) else 0.0

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        _suffix("HandTrack", path, (".npz",))
        arrays = {k: getattr(self, k) for k in ("keypoints_2d", "keypoints_world", "score", "valid")}
        if self.keypoints_depth is not None:
            arrays["keypoints_depth"] = self.keypoints_depth
        meta = {"fps": self.fps, "image_size": list(self.image_size), "source": self.source}
        return _save_npz(path, arrays, meta)

    @classmethod
    def load(cls, path: str | Path) -> "HandTrack":
        arrays, meta = _load_npz("HandTrack", Path(path))
        return cls(**arrays, fps=meta["fps"], image_size=tuple(meta["image_size"]), source=meta["source"])


# ---------------------------------------------------------------------------------------------------- EE trajectory
@dataclass(eq=False)
class EETrajectory:
    """A gripper trajectory in the robot base frame.

    Attributes:
        t: T float64 timestamps in seconds, strictly increasing.
        position: T×3 float64 gripper (TCP) positions in metres, in frame ``frame_id``.
        quat_wxyz: T×4 float64 unit quaternions (w, x, y, z) of the gripper orientation (normalized on build).
        gripper: T float64 gripper command in [0, 1]; 1 = closed.
        frame_id: the frame the poses are expressed in (the robot base frame's name).
        source: what produced it (e.g. ``"retarget:mediapipe"``, ``"expert"``).
    """

    t: np.ndarray
    position: np.ndarray
    quat_wxyz: np.ndarray
    gripper: np.ndarray
    frame_id: str = "robot0_base"
    source: str = "unknown"

    def __post_init__(self) -> None:
        o, dims = "EETrajectory", {}
        self.t = _array(o, "t", self.t, ("T",), dims, "float64")
        if dims["T"] < 1:
            _fail(o, "t", "needs at least one sample")
        if np.any(np.diff(self.t) <= 0):
            _fail(o, "t", "timestamps must be strictly increasing")
        self.position = _array(o, "position", self.position, ("T", 3), dims, "float64")
        q = _array(o, "quat_wxyz", self.quat_wxyz, ("T", 4), dims, "float64")
        norms = np.linalg.norm(q, axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-3):
            _fail(o, "quat_wxyz", f"expected unit quaternions, found norm {norms[np.argmax(np.abs(norms - 1))]:.4f}")
        # Renormalize only what is off by more than rounding, so save/load round trips stay bit-exact.
        self.quat_wxyz = q / norms[:, None] if np.any(np.abs(norms - 1.0) > 1e-12) else q
        self.gripper = _array(o, "gripper", self.gripper, ("T",), dims, "float64", 0.0, 1.0)
        self.frame_id = _text(o, "frame_id", self.frame_id)
        self.source = _text(o, "source", self.source)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def duration(self) -> float:
        return float(self.t[-1] - self.t[0])

    _ARRAYS: ClassVar[tuple[str, ...]] = ("t", "position", "quat_wxyz", "gripper")

    def save(self, path: str | Path) -> Path:
        """Write ``.npz`` (exact) or ``.json`` (readable, float64 round-trips exactly through repr)."""
        path = Path(path)
        meta = {"frame_id": self.frame_id, "source": self.source}
        if _suffix("EETrajectory", path, (".npz", ".json")) == ".npz":
            return _save_npz(path, {k: getattr(self, k) for k in self._ARRAYS}, meta)
        d = dict(meta, **{k: getattr(self, k).tolist() for k in self._ARRAYS})
        return _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(d)))

    @classmethod
    def load(cls, path: str | Path) -> "EETrajectory":
        path = Path(path)
        if _suffix("EETrajectory", path, (".npz", ".json")) == ".npz":
            arrays, meta = _load_npz("EETrajectory", path)
            return cls(**arrays, **meta)
        try:
            return cls(**json.loads(path.read_text()))
        except (TypeError, json.JSONDecodeError) as exc:
            raise ContractError(f"EETrajectory: {path} is not a readable trajectory ({exc})") from exc


@dataclass(eq=False)
class JointTrajectory:
    """An arm joint trajectory (what a ros2_control ``joint_trajectory_controller`` executes).

    Attributes:
        t: T float64 timestamps in seconds from the start, strictly increasing.
        positions: T×J float64 joint positions in radians, one column per name in ``joint_names``.
        joint_names: the J arm joint names, in column order.
        gripper: T float64 gripper command in [0, 1]; 1 = closed (the same convention as ``EETrajectory``).
        source: what produced it (e.g. ``"ik:mink"``).
    """

    t: np.ndarray
    positions: np.ndarray
    joint_names: tuple[str, ...]
    gripper: np.ndarray
    source: str = "unknown"

    def __post_init__(self) -> None:
        o, dims = "JointTrajectory", {}
        self.joint_names = tuple(_text(o, "joint_names", str(n)) for n in self.joint_names)
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            _fail(o, "joint_names", f"expected distinct, non-empty names, found {self.joint_names}")
        dims["J"] = len(self.joint_names)
        self.t = _array(o, "t", self.t, ("T",), dims, "float64")
        if dims["T"] < 1:
            _fail(o, "t", "needs at least one sample")
        if np.any(np.diff(self.t) <= 0):
            _fail(o, "t", "timestamps must be strictly increasing")
        self.positions = _array(o, "positions", self.positions, ("T", "J"), dims, "float64")
        self.gripper = _array(o, "gripper", self.gripper, ("T",), dims, "float64", 0.0, 1.0)
        self.source = _text(o, "source", self.source)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write ``.npz`` (exact) or ``.json`` (readable)."""
        path = Path(path)
        meta = {"joint_names": list(self.joint_names), "source": self.source}
        arrays = {"t": self.t, "positions": self.positions, "gripper": self.gripper}
        if _suffix("JointTrajectory", path, (".npz", ".json")) == ".npz":
            return _save_npz(path, arrays, meta)
        d = dict(meta, **{k: v.tolist() for k, v in arrays.items()})
        return _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(d)))

    @classmethod
    def load(cls, path: str | Path) -> "JointTrajectory":
        path = Path(path)
        if _suffix("JointTrajectory", path, (".npz", ".json")) == ".npz":
            arrays, meta = _load_npz("JointTrajectory", path)
            return cls(**arrays, joint_names=tuple(meta["joint_names"]), source=meta["source"])
        try:
            d = json.loads(path.read_text())
            d["joint_names"] = tuple(d["joint_names"])
            return cls(**d)
        except (TypeError, KeyError, json.JSONDecodeError) as exc:
            raise ContractError(f"JointTrajectory: {path} is not a readable trajectory ({exc})") from exc


# ------------------------------------------------------------------------------------------------------------- clip
@dataclass(eq=False)
class HOIClip:
    """One hand-object-interaction training example (synthetic engine output or real data in the same format).

    Attributes:
        context: H×W×3 uint8, the scene before the hand acts (the generator's input frame).
        video: T×H×W×3 uint8, the hand doing the task.
        instruction: the task text; ``paraphrases`` are other phrasings of it.
        task: task name (e.g. ``"Lift"``); ``seed``: engine seed (same object placement as the robot task's seed).
        fps: frames per second of ``video``.
        camera: the camera that rendered the clip.
        keypoints_2d: T×2×21×2 float32 ground-truth image keypoints in pixels (slots as in :class:`HandTrack`).
        keypoints_3d: T×2×21×3 float32 ground-truth keypoints in the robot base frame, metres.
        visibility: T×2×21 bool, keypoint inside the image and the hand present.
        hand_present: T×2 bool, the hand slot is in the scene (zeros elsewhere).
        objects: object name -> T×7 float64 pose (x, y, z, qw, qx, qy, qz) in the robot base frame.
        ma_mask: H×W float32 in [0, 1], HANDI's motion area (union over frames of the filled hull of the hand).
        success: whether the demonstrated task succeeded by the task's own check.
        meta: free-form extra metadata (JSON-serializable), e.g. grasp type, skin tone, lighting.
    """

    context: np.ndarray
    video: np.ndarray
    instruction: str
    task: str
    seed: int
    fps: float
    camera: CameraModel
    keypoints_2d: np.ndarray
    keypoints_3d: np.ndarray
    visibility: np.ndarray
    hand_present: np.ndarray
    objects: dict[str, np.ndarray]
    ma_mask: np.ndarray
    success: bool
    paraphrases: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    FILES: ClassVar[tuple[str, ...]] = (
        "video.mp4", "context.png", "meta.json", "hands.npz", "objects.npz", "ma_mask.png",
    )  # fmt: skip

    def __post_init__(self) -> None:
        o, dims = "HOIClip", {}
        self.context = _array(o, "context", self.context, ("H", "W", 3), dims, "uint8")
        self.video = _array(o, "video", self.video, ("T", "H", "W", 3), dims, "uint8")
        self.instruction = _text(o, "instruction", self.instruction)
        self.task = _text(o, "task", self.task)
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool):
            _fail(o, "seed", f"expected an integer, got {self.seed!r}")
        self.seed = int(self.seed)
        self.fps = _positive(o, "fps", self.fps)
        if not isinstance(self.camera, CameraModel):
            _fail(o, "camera", f"expected a CameraModel, got {type(self.camera).__name__}")
        if (self.camera.width, self.camera.height) != (dims["W"], dims["H"]):
            _fail(o, "camera", f"is {self.camera.width}×{self.camera.height} but frames are {dims['W']}×{dims['H']}")
        self.keypoints_2d = _array(o, "keypoints_2d", self.keypoints_2d, ("T", 2, NUM_JOINTS, 2), dims, "float32")
        self.keypoints_3d = _array(o, "keypoints_3d", self.keypoints_3d, ("T", 2, NUM_JOINTS, 3), dims, "float32")
        self.visibility = _array(o, "visibility", self.visibility, ("T", 2, NUM_JOINTS), dims, "bool")
        self.hand_present = _array(o, "hand_present", self.hand_present, ("T", 2), dims, "bool")
        if not isinstance(self.objects, dict):
            _fail(o, "objects", f"expected a dict name -> T×7 array, got {type(self.objects).__name__}")
        self.objects = {
            _text(o, "objects", k): _array(o, f"objects[{k!r}]", v, ("T", 7), dims, "float64")
            for k, v in self.objects.items()
        }
        self.ma_mask = _array(o, "ma_mask", self.ma_mask, ("H", "W"), dims, "float32", 0.0, 1.0)
        if not isinstance(self.success, (bool, np.bool_)):
            _fail(o, "success", f"expected a bool, got {self.success!r}")
        self.success = bool(self.success)
        if not isinstance(self.paraphrases, (list, tuple)):
            _fail(o, "paraphrases", "expected a list of strings")
        self.paraphrases = [_text(o, "paraphrases", p) for p in self.paraphrases]
        try:
            json.dumps(self.meta)
        except TypeError as exc:
            _fail(o, "meta", f"must be JSON-serializable ({exc})")

    @property
    def num_frames(self) -> int:
        return int(self.video.shape[0])

    def save(self, folder: str | Path) -> Path:
        """Write the clip folder (see :attr:`FILES`) atomically: built in a temp folder, then renamed into place.

        ``video.mp4`` is lossless H.264 (RGB), so a saved and loaded clip has exactly the same pixels.
        """
        from hoi2robot import media

        folder = Path(folder)
        if folder.exists():
            raise FileExistsError(f"HOIClip: {folder} exists; clips are written once")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
        try:
            media.write_video(tmp / "video.mp4", self.video, self.fps, lossless=True)
            media.write_image(tmp / "context.png", self.context)
            media.write_image(tmp / "ma_mask.png", np.round(self.ma_mask * 255).astype(np.uint8))
            hands = {k: getattr(self, k) for k in ("keypoints_2d", "keypoints_3d", "visibility", "hand_present")}
            np.savez_compressed(tmp / "hands.npz", **hands)
            np.savez_compressed(tmp / "objects.npz", **self.objects)
            meta = {
                "instruction": self.instruction,
                "paraphrases": self.paraphrases,
                "task": self.task,
                "seed": self.seed,
                "fps": self.fps,
                "num_frames": self.num_frames,
                "success": self.success,
                "camera": self.camera.to_dict(),
                "meta": self.meta,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
            os.rename(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "HOIClip":
        from hoi2robot import media

        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"HOIClip: no clip folder at {folder}")
        missing = [f for f in cls.FILES if not (folder / f).is_file()]
        if missing:
            raise ContractError(f"HOIClip: {folder} is not a complete clip, missing {missing}")
        try:
            meta = json.loads((folder / "meta.json").read_text())
            with np.load(folder / "hands.npz") as h:
                hands = {k: h[k] for k in h.files}
            with np.load(folder / "objects.npz") as ob:
                objects = {k: ob[k] for k in ob.files}
            video = media.read_video(folder / "video.mp4")
            context = media.read_image(folder / "context.png")
            ma_mask = media.read_image(folder / "ma_mask.png", gray=True).astype(np.float32) / 255.0
        except ContractError:
            raise
        except Exception as exc:
            raise ContractError(f"HOIClip: {folder} is corrupt ({type(exc).__name__}: {exc})") from exc
        if video.shape[0] != meta.get("num_frames"):
            raise ContractError(
                f"HOIClip: {folder}/video.mp4 has {video.shape[0]} frames, meta.json says {meta.get('num_frames')}"
            )
        return cls(
            context=context,
            video=video,
            instruction=meta["instruction"],
            paraphrases=meta.get("paraphrases", []),
            task=meta["task"],
            seed=meta["seed"],
            fps=meta["fps"],
            camera=CameraModel.from_dict(meta["camera"]),
            objects=objects,
            ma_mask=ma_mask,
            success=meta["success"],
            meta=meta.get("meta", {}),
            **hands,
        )

