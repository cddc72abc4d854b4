"""``sensor_msgs/Image`` and ``sensor_msgs/CameraInfo`` <-> numpy, by hand (no cv_bridge), with strict validation.

Pure module: it reads and builds messages through their attributes only, so it works with the real ROS message
classes and with any object of the same shape (tests, tools)::

    rgb = image_to_rgb(msg)                   # H×W×3 uint8 RGB from rgb8 / bgr8 / rgba8 / bgra8 / mono8
    depth = depth_to_metres(msg)              # H×W float32 metres from 32FC1 (m) or 16UC1 (mm); 0 = no reading
    msg = rgb_to_image(rgb, frame_id="cam")   # rgb8 (or bgr8 / rgba8 / mono8 with encoding=...)
    camera = camera_model_from_info(info, base_T_cam, expected_size=(W, H))

Every decoder raises :class:`ImageError` (a ``ValueError``) that says what was expected: unknown encoding, big-endian
data, zero or oversized dimensions (``max_side``, default 4096), ``step`` smaller than a row, ``step × height`` not
equal to ``len(data)``, non-finite or negative depth, bad intrinsics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "COLOR_ENCODINGS",
    "DEPTH_ENCODINGS",
    "MAX_SIDE",
    "ImageError",
    "camera_info_from_model",
    "camera_model_from_info",
    "decode_image",
    "depth_to_image",
    "depth_to_metres",
    "image_is_empty",
    "image_to_rgb",
    "rgb_to_image",
]

MAX_SIDE = 4096  # largest accepted width or height (pixels)


@dataclass(frozen=True)
class _Encoding:
    channels: int
    dtype: np.dtype


COLOR_ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(3, np.dtype(np.uint8)),
    "bgr8": _Encoding(3, np.dtype(np.uint8)),
    "rgba8": _Encoding(4, np.dtype(np.uint8)),
    "bgra8": _Encoding(4, np.dtype(np.uint8)),
    "mono8": _Encoding(1, np.dtype(np.uint8)),
}
DEPTH_ENCODINGS: dict[str, _Encoding] = {
    "32FC1": _Encoding(1, np.dtype(np.float32)),
    "16UC1": _Encoding(1, np.dtype(np.uint16)),
}
_ALL = {**COLOR_ENCODINGS, **DEPTH_ENCODINGS}


class ImageError(ValueError):
    """A message cannot be decoded into a valid image or camera (the text says what was expected)."""


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ImageError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def _buffer(data: Any) -> np.ndarray:
    """The message's ``data`` field as a flat uint8 array without copying (bytes, bytearray, array('B'), ndarray)."""
    try:
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"data must be a byte buffer, got {type(data).__name__}") from exc


def image_is_empty(msg: Any) -> bool:
    """True for an unset image (width = height = 0 and no data): how a goal says "no depth"."""
    return int(getattr(msg, "width", 0) or 0) == 0 and int(getattr(msg, "height", 0) or 0) == 0 and len(
        getattr(msg, "data", b"") or b""
    ) == 0


def decode_image(
    msg: Any, allowed: dict[str, _Encoding] | None = None, max_side: int = MAX_SIDE
) -> tuple[np.ndarray, str]:
    """Validate ``msg`` and return (H×W×C array in the encoding's dtype, a view where possible; encoding)."""
    allowed = _ALL if allowed is None else allowed
    encoding = getattr(msg, "encoding", None)
    if not isinstance(encoding, str) or encoding not in allowed:
        raise ImageError(f"unsupported encoding {encoding!r}; expected one of {sorted(allowed)}")
    enc = allowed[encoding]
    height, width, step = _int("height", msg.height), _int("width", msg.width), _int("step", msg.step)
    if not (0 < height <= max_side and 0 < width <= max_side):
        raise ImageError(f"image size {width}x{height} out of range; expected 1..{max_side} per side")
    big_endian = _int("is_bigendian", int(msg.is_bigendian))
    if big_endian not in (0, 1):
        raise ImageError(f"is_bigendian must be 0 or 1, got {big_endian}")
    row = width * enc.channels * enc.dtype.itemsize
    if step < row:
        raise ImageError(f"step {step} is smaller than one row of {width} {encoding} pixels ({row} bytes)")
    if step > 4 * row + 64:
        raise ImageError(f"step {step} is implausibly large for {width} {encoding} pixels per row ({row} bytes)")
    buf = _buffer(msg.data)
    if buf.size != step * height:
        raise ImageError(f"len(data) = {buf.size} but step x height = {step} x {height} = {step * height}")
    rows = buf.reshape(height, step)[:, :row]
    if enc.dtype.itemsize > 1:
        dtype = enc.dtype.newbyteorder(">" if big_endian else "<")
        arr = np.ascontiguousarray(rows).view(dtype).astype(enc.dtype, copy=False)
    else:
        arr = rows
    return arr.reshape(height, width, enc.channels), encoding


def image_to_rgb(msg: Any, max_side: int = MAX_SIDE) -> np.ndarray:
    """H×W×3 uint8 RGB (contiguous copy) from an rgb8 / bgr8 / rgba8 / bgra8 / mono8 image message."""
    arr, encoding = decode_image(msg, COLOR_ENCODINGS, max_side)
    if encoding in ("rgb8", "rgba8"):
        out = arr[..., :3]
    elif encoding in ("bgr8", "bgra8"):
        out = arr[..., 2::-1]
    else:  # mono8
        out = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(out, dtype=np.uint8)


def depth_to_metres(msg: Any, max_side: int = MAX_SIDE, max_depth: float = 100.0) -> np.ndarray:
    """H×W float32 depth in metres from 32FC1 (metres) or 16UC1 (millimetres).

    0 means "no reading"; NaN in 32FC1 (how many drivers mark missing pixels) is read as 0 too. Infinite, negative
    or larger-than-``max_depth`` values are rejected.
    """
    arr, encoding = decode_image(msg, DEPTH_ENCODINGS, max_side)
    arr = arr[..., 0]
    if encoding == "16UC1":
        return arr.astype(np.float32) / np.float32(1000.0)
    depth = np.array(arr, dtype=np.float32)
    depth[np.isnan(depth)] = 0.0
    if not np.all(np.isfinite(depth)):
        raise ImageError("32FC1 depth contains infinite values; expected metres (0 or NaN = no reading)")
    if depth.min() < 0 or depth.max() > max_depth:
        raise ImageError(f"32FC1 depth must lie in [0, {max_depth}] m, found [{depth.min():g}, {depth.max():g}]")
    return depth


def _set_header(msg: Any, frame_id: str, stamp: Any) -> None:
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp


def rgb_to_image(rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = "", stamp: Any = None, msg: Any = None):
    """A ``sensor_msgs/Image`` from an H×W×3 uint8 RGB array (H×W×4 for rgba8/bgra8, H×W or H×W×1 for mono8)."""
    if msg is None:
        from sensor_msgs.msg import Image

        msg = Image()
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise ImageError(f"expected a uint8 array, got {arr.dtype}")
    if encoding not in COLOR_ENCODINGS:
        raise ImageError(f"unsupported encoding {encoding!r}; expected one of {sorted(COLOR_ENCODINGS)}")
    channels = COLOR_ENCODINGS[encoding].channels
    if arr.ndim == 2 and channels == 1:
        arr = arr[..., None]
    sides_ok = arr.ndim == 3 and 0 < arr.shape[0] <= MAX_SIDE and 0 < arr.shape[1] <= MAX_SIDE
    if not sides_ok or arr.shape[2] not in (1, 3, 4):
        raise ImageError(f"expected an H×W×C image, C in (1, 3, 4), sides <= {MAX_SIDE}; got shape {arr.shape}")
    if arr.shape[2] != channels:
        if encoding == "mono8" and arr.shape[2] >= 3:
            rgbf = arr[..., :3].astype(np.float32)
            arr = np.clip(rgbf @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5, 0, 255).astype(np.uint8)[..., None]
        elif channels == 4 and arr.shape[2] == 3:
            arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 255, np.uint8)], axis=2)
        elif channels == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        else:
            raise ImageError(f"cannot encode a {arr.shape[2]}-channel array as {encoding}")
    if encoding in ("bgr8", "bgra8"):
        arr = np.concatenate([arr[..., 2::-1], arr[..., 3:]], axis=2)
    arr = np.ascontiguousarray(arr)
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding, msg.is_bigendian = encoding, 0
    msg.step = int(arr.shape[1] * channels)
    msg.data = arr.tobytes()
    _set_header(msg, frame_id, stamp)
    return msg


def depth_to_image(depth: np.ndarray, encoding: str = "32FC1", frame_id: str = "", stamp: Any = None, msg: Any = None):
    """A depth ``sensor_msgs/Image`` from H×W (or H×W×1) metres: 32FC1 metres or 16UC1 millimetres."""
    if msg is None:
        from sensor_msgs.msg import Image

        msg = Image()
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[..., 0]
    if d.ndim != 2 or d.size == 0:
        raise ImageError(f"expected an H×W depth array, got shape {np.shape(depth)}")
    if encoding == "32FC1":
        out = np.ascontiguousarray(d, dtype="<f4")
    elif encoding == "16UC1":
        out = np.ascontiguousarray(np.clip(np.nan_to_num(d) * 1000.0 + 0.5, 0, 65535), dtype="<u2")
    else:
        raise ImageError(f"unsupported depth encoding {encoding!r}; expected one of {sorted(DEPTH_ENCODINGS)}")
    msg.height, msg.width = int(d.shape[0]), int(d.shape[1])
    msg.encoding, msg.is_bigendian = encoding, 0
    msg.step = int(d.shape[1] * out.dtype.itemsize)
    msg.data = out.tobytes()
    _set_header(msg, frame_id, stamp)
    return msg


def camera_model_from_info(
    info: Any, base_T_cam: np.ndarray, expected_size: tuple[int, int] | None = None, name: str = ""
):
    """A :class:`~hoi2robot.contracts.CameraModel` from a ``sensor_msgs/CameraInfo`` (its K) and a 4×4 ``base_T_cam``.

    ``expected_size`` = (width, height) of the image the intrinsics belong to; a CameraInfo whose width/height differ
    (and are not 0 = unset) is rejected, as are non-finite or non-pinhole K matrices.
    """
    from hoi2robot.contracts import CameraModel, ContractError

    try:
        K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"camera_info.k must hold 9 numbers ({exc})") from exc
    if not np.all(np.isfinite(K)):
        raise ImageError("camera_info.k contains NaN or infinite values")
    if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], (0.0, 0.0, 1.0)) or K[1, 0] != 0:
        raise ImageError(f"camera_info.k must be [[fx,s,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0, got {K.tolist()}")
    width, height = _int("camera_info.width", info.width), _int("camera_info.height", info.height)
    if expected_size is not None:
        ew, eh = expected_size
        if (width, height) == (0, 0):
            width, height = ew, eh
        elif (width, height) != (ew, eh):
            raise ImageError(f"camera_info is for {width}x{height} images but the image is {ew}x{eh}")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ImageError(f"camera_info size {width}x{height} out of range 1..{MAX_SIDE}")
    name = name or str(getattr(getattr(info, "header", None), "frame_id", "") or "camera")
    try:
        T = np.asarray(base_T_cam, np.float64)
        return CameraModel(name=name[:200], K=K, width=width, height=height, base_T_cam=T)
    except ContractError as exc:
        raise ImageError(str(exc)) from exc


def camera_info_from_model(camera: Any, frame_id: str = "", stamp: Any = None, msg: Any = None):
    """A ``sensor_msgs/CameraInfo`` (plumb_bob, zero distortion) from a CameraModel."""
    if msg is None:
        from sensor_msgs.msg import CameraInfo

        msg = CameraInfo()
    K = np.asarray(camera.K, dtype=np.float64)
    msg.width, msg.height = int(camera.width), int(camera.height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = K.ravel().tolist()
    msg.r = np.eye(3).ravel().tolist()
    P = np.zeros((3, 4))
    P[:, :3] = K
    msg.p = P.ravel().tolist()
    _set_header(msg, frame_id or camera.name, stamp)
    return msg
