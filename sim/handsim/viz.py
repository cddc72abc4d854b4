"""Drawing hand keypoints on images and tiling images into a contact sheet (for eyeballing renders)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hoi2robot import media

# MediaPipe's hand skeleton (pairs of HAND_JOINTS indices).
BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip


def draw_hand(
    image: np.ndarray, uv: np.ndarray, color=(0, 255, 0), label: str | None = None, points_only: bool = False
) -> np.ndarray:
    """A copy of ``image`` with 21 keypoints ``uv`` (pixels, OpenCV convention) and their skeleton drawn."""
    img = np.ascontiguousarray(image.copy())
    sh = 4  # sub-pixel precision bits
    pts = [tuple(int(round(c * (1 << sh))) for c in p) for p in np.asarray(uv, float)]
    if not points_only:
        for a, b in BONES:
            cv2.line(img, pts[a], pts[b], color, 1, cv2.LINE_AA, sh)
    for p in pts:
        cv2.circle(img, p, 2 << sh, color, -1, cv2.LINE_AA, sh)
    if label:
        cv2.putText(img, label, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def contact_sheet(tiles: list[np.ndarray], cols: int, path: Path | None = None) -> np.ndarray:
    """Tile equal-size images row-major into one image (blank tiles pad the last row); optionally save it."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = t
    if path is not None:
        media.write_image(path, sheet)
    return sheet
