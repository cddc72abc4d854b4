"""Drawing hand keypoints on images and tiling images into contact sheets (for eyeballing renders and reports).

Pixel convention: OpenCV's (pixel centres at integers), as in :class:`hoi2robot.contracts.HandTrack`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

__all__ = ["HAND_BONES", "contact_sheet", "draw_hand", "draw_text", "fit_tile"]

# MediaPipe's 21-joint hand skeleton (pairs of keypoint indices; the same as HandLandmarksConnections).
HAND_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip
_SHIFT = 4  # sub-pixel precision bits of the cv2 drawing calls


def draw_hand(
    image: np.ndarray,
    uv: np.ndarray,
    color: tuple[int, int, int] = (0, 255, 0),
    label: str | None = None,
    points_only: bool = False,
    visible: np.ndarray | None = None,
    scale: float = 1.0,
) -> np.ndarray:
    """A copy of ``image`` (H×W×3 uint8) with 21 keypoints ``uv`` (21×2 px) and their skeleton in ``color``.

    ``visible`` (21 bool): draw only those joints (and bones between two of them); ``scale``: the image was resized
    by this factor from the frame ``uv`` refers to; ``label``: text at the top left.
    """
    img = np.ascontiguousarray(np.array(image, np.uint8, copy=True))
    uv = np.asarray(uv, np.float64)
    if uv.shape != (21, 2):
        raise ValueError(f"draw_hand: uv must be 21×2 pixels, got shape {uv.shape}")
    vis = np.ones(21, bool) if visible is None else np.asarray(visible, bool)
    pts = np.round(((uv + 0.5) * scale - 0.5) * (1 << _SHIFT)).astype(np.int64)
    pts = np.clip(pts, -(1 << 28), 1 << 28)
    if not points_only:
        for a, b in HAND_BONES:
            if vis[a] and vis[b]:
                cv2.line(img, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, 1, cv2.LINE_AA, _SHIFT)
    for p in pts[vis]:
        cv2.circle(img, tuple(map(int, p)), 2 << _SHIFT, color, -1, cv2.LINE_AA, _SHIFT)
    if label:
        draw_text(img, [label])
    return img


def draw_text(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Write ``lines`` (white on a black outline) at the top left of ``image``, in place; returns it."""
    for i, text in enumerate(lines):
        org = (3, 12 + 13 * i)
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def fit_tile(frame: np.ndarray, tile_px: int) -> tuple[np.ndarray, float]:
    """``frame`` resized to fit a tile_px² tile (nearest when enlarging), padded black; returns (tile, scale)."""
    h, w = frame.shape[:2]
    scale = tile_px / max(h, w)
    size = (round(w * scale), round(h * scale))
    tile = cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA)
    return np.ascontiguousarray(np.pad(tile, ((0, tile_px - size[1]), (0, tile_px - size[0]), (0, 0)))), scale


def contact_sheet(tiles: Sequence[np.ndarray], cols: int, path: str | Path | None = None) -> np.ndarray:
    """Tile equal-size H×W×3 uint8 images row-major into one image (black tiles pad the last row); optionally
    write it to ``path`` (PNG/JPEG by suffix)."""
    if not len(tiles):
        raise ValueError("contact_sheet: no tiles")
    shapes = {np.shape(t) for t in tiles}
    if len(shapes) != 1:
        raise ValueError(f"contact_sheet: tiles must share one shape, got {sorted(shapes)}")
    cols = max(1, min(int(cols), len(tiles)))
    rows = -(-len(tiles) // cols)
    stack = np.zeros((rows * cols, *np.shape(tiles[0])), np.uint8)
    stack[: len(tiles)] = tiles
    h, w = stack.shape[1:3]
    sheet = stack.reshape(rows, cols, h, w, 3).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, 3)
    if path is not None:
        from hoi2robot import media

        media.write_image(path, sheet)
    return sheet
