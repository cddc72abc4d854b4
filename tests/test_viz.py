"""hoi2robot.viz: keypoint drawing and contact sheets (the one home of both)."""
from __future__ import annotations

import numpy as np
import pytest

from hoi2robot.media import read_image
from hoi2robot.viz import HAND_BONES, contact_sheet, draw_hand, fit_tile


def test_hand_bones_are_mediapipes():
    from mediapipe.tasks.python.vision import HandLandmarksConnections

    assert {tuple(sorted(b)) for b in HAND_BONES} == {
        tuple(sorted((c.start, c.end))) for c in HandLandmarksConnections.HAND_CONNECTIONS
    }


def test_draw_hand_draws_only_visible_joints_in_colour():
    img = np.zeros((64, 64, 3), np.uint8)
    uv = np.stack([np.linspace(5, 58, 21), np.full(21, 20.0)], axis=1)
    out = draw_hand(img, uv, (255, 0, 0))
    assert img.sum() == 0 and out[20, 5, 0] > 100 and out[20, 5, 1] == 0  # copy, red at the first joint
    vis = np.zeros(21, bool)
    vis[10] = True
    only = draw_hand(img, uv, (255, 0, 0), visible=vis)
    assert only[20, int(round(uv[10, 0]))].any() and not only[20, 5].any()
    big = draw_hand(np.zeros((128, 128, 3), np.uint8), uv, scale=2.0)  # the image was enlarged 2×
    assert big[int((20 + 0.5) * 2 - 0.5), int((5 + 0.5) * 2 - 0.5)].any()
    with pytest.raises(ValueError, match="21×2"):
        draw_hand(img, uv[:5])


def test_contact_sheet_layout_and_file(tmp_path):
    tiles = [np.full((8, 10, 3), 40 * i, np.uint8) for i in range(1, 6)]
    sheet = contact_sheet(tiles, cols=3, path=tmp_path / "s.png")
    assert sheet.shape == (16, 30, 3)
    assert (sheet[0:8, 10:20] == 80).all() and (sheet[8:16, 10:20] == 200).all() and (sheet[8:16, 20:30] == 0).all()
    np.testing.assert_array_equal(read_image(tmp_path / "s.png"), sheet)
    assert contact_sheet(tiles[:2], cols=4).shape == (8, 20, 3)  # never wider than the tiles
    with pytest.raises(ValueError, match="share one shape"):
        contact_sheet([tiles[0], np.zeros((9, 10, 3), np.uint8)], cols=2)


def test_fit_tile_pads_to_square():
    tile, scale = fit_tile(np.full((32, 64, 3), 255, np.uint8), 128)
    assert tile.shape == (128, 128, 3) and scale == 2.0
    assert tile[:64].min() == 255 and tile[64:].max() == 0
