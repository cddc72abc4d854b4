"""The diffusers-i2v backend, round trip through a tiny random-config Stable Video Diffusion folder."""
from __future__ import annotations

import numpy as np
import pytest

from hoi_videogen.generators import build_generator
from hoi_videogen.i2v import paste_background, prior_mask, save_tiny_random_svd


@pytest.fixture(scope="module")
def svd_dir(tmp_path_factory):
    return save_tiny_random_svd(tmp_path_factory.mktemp("svd") / "tiny_svd", num_frames=4)


def image(seed=0, size=32):
    return (np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)


def test_round_trip_generates_a_masked_video(svd_dir):
    assert (svd_dir / "model_index.json").is_file() and (svd_dir / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    gen = build_generator({"name": "diffusers-i2v", "path": str(svd_dir), "num_inference_steps": 2, "mask": "prior"})
    assert gen.name == "diffusers-i2v" and gen.mask_source == "prior"
    img = image()
    seen = []
    video = gen.generate(img, "pick up the red cube", seed=5, progress=seen.append)
    assert video.frames.shape == (4, 32, 32, 3) and video.frames.dtype == np.uint8
    assert video.ma_mask.shape == (32, 32) and seen[-1] == pytest.approx(1.0)
    assert np.array_equal(video.frames[0], img)
    out = video.ma_mask < 0.5
    assert out.any() and (~out).any()
    # background bit-exact outside the MA, the model's pixels inside
    assert np.array_equal(video.frames[:, out], np.broadcast_to(img[out], video.frames[:, out].shape))
    assert not np.array_equal(video.frames[1:, ~out], np.broadcast_to(img[~out], video.frames[1:, ~out].shape))
    # same seed, same video; other seed, other video
    assert np.array_equal(gen.generate(img, "pick up the red cube", seed=5).frames, video.frames)
    assert not np.array_equal(gen.generate(img, "pick up the red cube", seed=6).frames, video.frames)


def test_custom_mask_and_bad_input(svd_dir):
    box = np.zeros((32, 32), np.float32)
    box[8:16, 8:16] = 1
    gen = build_generator({"name": "diffusers-i2v", "path": str(svd_dir), "num_inference_steps": 1, "dilate_px": 0,
                           "mask_fn": lambda im, text, seed: box})  # fmt: skip
    video = gen.generate(image(1), "push the cube", seed=0)
    assert np.array_equal(video.ma_mask, box) and gen.mask_source == "custom"
    given = np.zeros((32, 32), np.float32)  # an explicit motion area (hoi-eval-generator gt_ma_row) wins
    given[20:28, 4:12] = 1
    assert np.array_equal(gen.generate(image(1), "push the cube", seed=0, ma_mask=given).ma_mask, given)
    with pytest.raises(ValueError, match="uint8"):
        gen.generate(image(1).astype(np.float32), "push", seed=0)
    with pytest.raises(ValueError, match="non-empty"):
        gen.generate(image(1), "  ", seed=0)


def test_missing_folder_and_helpers(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        build_generator({"name": "diffusers-i2v", "path": str(tmp_path)})
    with pytest.raises(ValueError, match="path"):
        build_generator({"name": "diffusers-i2v"})
    m = prior_mask(40, 60)
    assert m.shape == (40, 60) and 0.1 < m.mean() < 0.6 and m[24, 30] == 1 and m[0, 0] == 0
    frames = np.full((2, 4, 4, 3), 200, np.uint8)
    ctx = np.zeros((4, 4, 3), np.uint8)
    mask = np.zeros((4, 4), np.float32)
    mask[1:3, 1:3] = 1
    out = paste_background(frames, ctx, mask)
    assert (out[:, 1:3, 1:3] == 200).all() and out.sum() == 2 * 4 * 3 * 200
