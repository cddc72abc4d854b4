"""Υ (the hand-keypoint net) and the Hand Refinement Loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from hoi2robot.contracts import HandTrack
from hoi_videogen.hands.keypoint_net import (
    KeypointNet,
    KeypointNetConfig,
    KeypointNetNotFoundError,
    KeypointNetTracker,
    KeypointTrainConfig,
    clips_to_frames,
    denormalize_keypoints,
    keypoint_losses,
    load_keypoint_net,
    normalize_keypoints,
    save_keypoint_net,
    split_clips,
    to_net_input,
    train_keypoint_net,
)
from hoi_videogen.training.hand_loss import hand_refinement_loss, prepare_keypoint_targets
from sim.handsim.synthetic import synthetic_clip

SMALL = KeypointNetConfig(channels=(8, 16, 16), blocks=(0, 1, 1), groups=4, resolution=64)


def clips(n=3, T=4, size=64):
    cfg = OmegaConf.create({"resolution": size, "num_frames": T, "fps": 8.0, "camera": "egoview"})
    return [synthetic_clip("Lift", s, cfg) for s in range(n)]


def frozen_net(seed=0):
    torch.manual_seed(seed)
    net = KeypointNet(SMALL).eval()
    return net.requires_grad_(False)


@pytest.mark.parametrize("size", [128, 64])
def test_forward_shapes(size):
    net = KeypointNet(KeypointNetConfig(channels=(8, 16, 16), blocks=(0, 1, 1), groups=4))
    with torch.no_grad():
        out = net(torch.rand(2, 3, size, size) * 2 - 1)
    assert out.keypoints.shape == (2, 21, 2)
    assert out.visibility_logits.shape == (2, 21)
    assert out.hand_logits.shape == (2, 2)
    assert out.world.shape == (2, 21, 3)
    assert out.heatmaps.shape == (2, 21, size // 4, size // 4)
    assert float(out.keypoints.min()) >= 0.0 and float(out.keypoints.max()) <= 1.0


def test_bad_input_is_rejected():
    net = KeypointNet(SMALL)
    with pytest.raises(ValueError, match="B×3×H×W"):
        net(torch.zeros(1, 3, 60, 60))
    with pytest.raises(ValueError, match="uint8"):
        to_net_input(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="channels"):
        KeypointNetConfig(channels=(8, 16, 20), groups=8)


def test_normalize_round_trip():
    px = np.array([[0.0, 0.0], [63.0, 31.0], [10.25, 5.5]], np.float32)
    n = normalize_keypoints(px, 64, 32)
    assert np.allclose(n[0], [0.5 / 64, 0.5 / 32]) and np.allclose(n[1], [1 - 0.5 / 64, 1 - 0.5 / 32])
    assert np.allclose(denormalize_keypoints(n, 64, 32), px, atol=1e-5)
    t = torch.from_numpy(px)
    assert torch.allclose(denormalize_keypoints(normalize_keypoints(t, 64, 32), 64, 32), t, atol=1e-5)


def test_clips_to_frames_and_split():
    cs = clips(4)
    fr = clips_to_frames(cs)
    assert len(fr) == 16 and fr.images.shape == (16, 64, 64, 3)
    assert fr.present.all() and fr.right.all()  # the synthetic source draws a right hand
    assert fr.keypoints.min() >= -1 and np.isfinite(fr.world).all()
    np.testing.assert_allclose(denormalize_keypoints(fr.keypoints[:4], 64, 64)[fr.visibility[:4]],
                               cs[0].keypoints_2d[:, 1][fr.visibility[:4]], atol=1e-4)  # fmt: skip
    train, held = split_clips(cs, 0.25)
    assert [c.seed for c in held] == [3] and len(train) == 3


def test_a_few_steps_lower_the_loss():
    fr = clips_to_frames(clips(2))
    cfg = KeypointTrainConfig(data=["unused"], steps=40, batch_size=8, lr=3e-3, shift=0.0, low_res_prob=0.0,
                              model=SMALL)  # fmt: skip

    def loss_of(net):
        with torch.no_grad():
            out = net(to_net_input(fr.images))
            return float(keypoint_losses(out, torch.from_numpy(fr.keypoints), torch.from_numpy(fr.visibility),
                                         torch.from_numpy(fr.present), torch.from_numpy(fr.right),
                                         torch.from_numpy(fr.world))["kp_l1"])  # fmt: skip

    torch.manual_seed(0)
    net = KeypointNet(SMALL)
    before = loss_of(net)
    net, history = train_keypoint_net(cfg, fr, progress=False, log_every=10, net=net)
    after = loss_of(net)
    assert after < 0.7 * before, (before, after)
    assert len(history) == 4


def test_save_load_frozen_and_missing(tmp_path):
    torch.manual_seed(1)
    net = KeypointNet(SMALL).eval()
    save_keypoint_net(net, tmp_path / "kp", {"note": "test"})
    loaded = load_keypoint_net(tmp_path / "kp")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert loaded.config == SMALL and loaded.meta["note"] == "test"
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.equal(net(x).keypoints, loaded(x).keypoints)
    with pytest.raises(KeypointNetNotFoundError, match="hoi-train-keypoints"):
        load_keypoint_net(tmp_path / "nothing")


def test_tracker_makes_a_hand_track():
    net = frozen_net()
    clip = clips(1, T=3)[0]
    tracker = KeypointNetTracker(net=net, threshold=0.0)  # threshold 0: every frame counts as a hand
    track = tracker.track(clip.video, clip.fps)
    assert isinstance(track, HandTrack) and track.source == "keypoint_net"
    assert track.image_size == (64, 64) and track.valid.sum() == 3 and track.valid.any(1).all()
    none = KeypointNetTracker(net=net, threshold=1.0).track(clip.video, clip.fps)
    assert not none.valid.any()
    with pytest.raises(ValueError, match="uint8"):
        tracker.track(clip.video.astype(np.float32), 8.0)


# ----------------------------------------------------------------------------------------------- hand refinement loss
def hrl_inputs(net, B=2, T=3, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = (torch.rand(B, T, 3, size, size, generator=g) * 2 - 1).requires_grad_(True)
    with torch.no_grad():
        kp = net(frames.detach().view(B * T, 3, size, size)).keypoints.view(B, T, 21, 2)
    vis = torch.ones(B, T, 21, dtype=torch.bool)
    return frames, kp, vis


def test_hrl_zero_for_perfect_keypoints_positive_otherwise():
    net = frozen_net()
    frames, kp, vis = hrl_inputs(net)
    assert float(hand_refinement_loss(frames, kp, vis, net)) < 1e-12
    off = kp + 0.05
    loss = float(hand_refinement_loss(frames, off, vis, net))
    assert loss == pytest.approx(0.05**2, rel=1e-4)
    assert hand_refinement_loss(frames, off, vis, net, reduction="none").shape == (2, 3)


def test_hrl_ignores_invisible_joints():
    net = frozen_net()
    frames, kp, vis = hrl_inputs(net)
    vis[:, :, 5:] = False
    wrong = kp.clone()
    wrong[:, :, 5:] = torch.rand_like(wrong[:, :, 5:])  # only the invisible joints are wrong
    assert float(hand_refinement_loss(frames, wrong, vis, net)) < 1e-12
    wrong[:, :, 0] += 0.1  # a visible one
    assert float(hand_refinement_loss(frames, wrong, vis, net)) > 1e-4


def test_hrl_gradients_reach_frames_not_the_net():
    net = frozen_net()
    frames, kp, vis = hrl_inputs(net)
    loss = hand_refinement_loss(frames, kp + 0.1, vis, net)
    loss.backward()
    assert frames.grad is not None and float(frames.grad.abs().sum()) > 0
    assert all(p.grad is None for p in net.parameters())


def test_hrl_refuses_a_trainable_net_and_bad_shapes():
    net = KeypointNet(SMALL)
    frames, kp, vis = hrl_inputs(frozen_net())
    with pytest.raises(ValueError, match="frozen"):
        hand_refinement_loss(frames, kp, vis, net)
    with pytest.raises(ValueError, match="kp_gt"):
        hand_refinement_loss(frames, kp[:, :2], vis, frozen_net())


def test_prepare_keypoint_targets_picks_the_present_hand():
    clip = clips(1, T=2)[0]
    kp2 = torch.from_numpy(clip.keypoints_2d)[None]
    kp, vis = prepare_keypoint_targets(kp2, torch.from_numpy(clip.visibility)[None],
                                       torch.from_numpy(clip.hand_present)[None], 64, 64)  # fmt: skip
    assert kp.shape == (1, 2, 21, 2) and vis.shape == (1, 2, 21)
    np.testing.assert_allclose(kp[0].numpy(), normalize_keypoints(clip.keypoints_2d[:, 1], 64, 64), atol=1e-6)
    assert torch.equal(vis[0], torch.from_numpy(clip.visibility[:, 1]))


def test_train_entry_point_saves_a_loadable_net(tmp_path):
    from hoi_videogen.data import DatasetWriter
    from hoi_videogen.hands.keypoint_net import _run

    with DatasetWriter(tmp_path / "data", {"resolution": 64}) as w:
        for c in clips(3):
            w.add(c, f"{c.task}_{c.seed:06d}")
    cfg = OmegaConf.create({
        "train": {"data": [str(tmp_path / "data")], "steps": 2, "batch_size": 4, "holdout_fraction": 0.3,
                  "model": {"channels": [8, 16, 16], "blocks": [0, 1, 1], "groups": 4, "resolution": 64}},
        "evaluate": True, "compare_mediapipe": False, "out": str(tmp_path / "kp"), "results": str(tmp_path / "r.json"),
    })  # fmt: skip
    report = _run(cfg)
    assert report["train_clips"] == 2 and report["heldout"]["clips"] == 1
    row = report["heldout"]["trackers"]["keypoint_net"]
    assert 0.0 <= row["detection_rate"] <= 1.0 and "mean_error_px" in row
    net = load_keypoint_net(tmp_path / "kp")
    assert net.config.channels == (8, 16, 16) and (tmp_path / "r.json").is_file()


def test_integral_world_head_is_grounded_in_the_2d_keypoints(tmp_path):
    cfg = KeypointNetConfig(channels=(8, 16, 16), blocks=(0, 1, 1), groups=4, resolution=64, world_head="integral")
    torch.manual_seed(0)
    net = KeypointNet(cfg).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert out.world.shape == (2, 21, 3)
    assert torch.allclose(out.world.mean(1), torch.zeros(2, 3), atol=1e-6)  # hand-centred
    # x, y are the 2D keypoints about their mean times one positive scale per image
    d2 = out.keypoints - out.keypoints.mean(1, keepdim=True)
    ratio = out.world[..., :2] / d2
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), rtol=1e-4) and bool((ratio > 0).all())
    save_keypoint_net(net, tmp_path / "kp3d")
    assert load_keypoint_net(tmp_path / "kp3d").config.world_head == "integral"
    with pytest.raises(ValueError, match="world_head"):
        KeypointNetConfig(world_head="magic")
