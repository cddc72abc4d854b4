"""HANDI generator (hoi_videogen.models / pipeline / training): tiny random configs, a few seconds each."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from hoi_videogen.models import GeneratorConfig, build_models
from hoi_videogen.pipeline import HOIVideoPipeline, check_image, load_pipeline, load_tiny_generator, make_scheduler
from hoi_videogen.pipeline import paste_background
from hoi_videogen.training.losses import soft_iou

RES, T = 32, 4
TINY = dict(
    resolution=RES,
    num_frames=T,
    vae=dict(block_out_channels=(8, 8, 16), norm_num_groups=8),
    ma=dict(mask_size=8, block_out_channels=(16, 16), norm_num_groups=8, attention_heads=2),
    video=dict(block_out_channels=(32, 32), attention_heads=(1, 1)),
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipe() -> HOIVideoPipeline:
    torch.manual_seed(0)
    vae, ma, video = build_models(GeneratorConfig.from_dict(TINY))
    return HOIVideoPipeline(vae, ma, video, make_scheduler(), fps=8.0, text_max_length=16, mask_smooth=0).to("cpu")


def _image(seed: int = 0, size: int = RES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_shapes_through_both_stages(pipe):
    cfg = GeneratorConfig.from_dict(TINY)
    assert cfg.latent_size == 8
    tokens, pooled = pipe.encode_text(["pick up the red cube", "push the cube to the target"])
    assert tokens.shape == (2, 16, 384) and pooled.shape == (2, 384)
    ctx = pipe.encode_frames(torch.randn(2, 3, RES, RES))
    assert ctx.shape == (2, 4, 8, 8)
    eps = pipe.ma_denoiser(torch.randn(2, 1, 8, 8), torch.tensor([5, 500]), ctx, tokens, pooled)
    assert eps.shape == (2, 1, 8, 8)
    eps = pipe.video_denoiser(torch.randn(2, T, 4, 8, 8), torch.tensor([5, 500]), ctx, torch.rand(2, 1, RES, RES),
                              tokens, pooled)
    assert eps.shape == (2, T, 4, 8, 8)
    seen = []
    video = pipe(_image(), "pick up the red cube", num_inference_steps=2, progress=seen.append)
    assert video.frames.shape == (T, RES, RES, 3) and video.frames.dtype == np.uint8
    assert video.ma_mask.shape == (RES, RES) and set(np.unique(video.ma_mask)) <= {0.0, 1.0}
    assert video.fps == 8.0 and video.instruction == "pick up the red cube"
    assert seen and seen[-1] == 1.0 and all(0 <= a <= b <= 1 for a, b in zip(seen, seen[1:]))


def test_pooled_text_reaches_the_video_denoiser(pipe):
    """The pooled vector enters through the added-time embedding: changing it alone changes the output."""
    tokens, pooled = pipe.encode_text(["pick up the red cube"])
    x, ctx, ma = torch.randn(1, T, 4, 8, 8), torch.randn(1, 4, 8, 8), torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        a = pipe.video_denoiser(x, torch.tensor([100]), ctx, ma, tokens, pooled)
        b = pipe.video_denoiser(x, torch.tensor([100]), ctx, ma, tokens, -pooled)
    assert not torch.allclose(a, b)


def test_classifier_free_guidance_on_the_instruction(pipe, tmp_path):
    """s = 0 samples the null (no-text) model, so the instruction cannot matter; s = 1 is the plain conditional
    model; s > 1 moves further along text − null. The scale saved with the pipeline is its default."""
    kw = dict(num_inference_steps=2, seed=4)
    a0 = pipe(_image(2), "pick up the red cube", guidance_scale=0.0, **kw)
    b0 = pipe(_image(2), "push the cube to the goal", guidance_scale=0.0, **kw)
    np.testing.assert_array_equal(a0.frames, b0.frames)
    a1 = pipe(_image(2), "pick up the red cube", guidance_scale=1.0, **kw)
    b1 = pipe(_image(2), "push the cube to the goal", guidance_scale=1.0, **kw)
    assert not np.array_equal(a1.frames, b1.frames)
    np.testing.assert_array_equal(pipe(_image(2), "pick up the red cube", **kw).frames, a1.frames)  # default 1
    a3 = pipe(_image(2), "pick up the red cube", guidance_scale=3.0, **kw)
    assert not np.array_equal(a3.frames, a1.frames)
    # the guided ε is null + s·(cond − null), computed in one doubled batch
    tokens, pooled = pipe.encode_text(["pick up the red cube"])
    x, ctx = torch.randn(1, 1, 8, 8), torch.randn(1, 4, 8, 8)
    t = torch.tensor([300])
    with torch.no_grad():
        cond = pipe.ma_denoiser(x, t, ctx, tokens, pooled)
        null = pipe.ma_denoiser(x, t, ctx, torch.zeros_like(tokens), torch.zeros_like(pooled))
        from hoi_videogen.pipeline import _rep

        guided = pipe._guided(lambda x_, tok, pool: pipe.ma_denoiser(x_, t, _rep(ctx, x_), tok, pool), x, tokens,
                              pooled, 2.5)
    torch.testing.assert_close(guided, null + 2.5 * (cond - null), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="guidance_scale"):
        pipe(_image(2), "pick up the red cube", guidance_scale=float("nan"), **kw)
    pipe.register_to_config(guidance_scale=3.0)
    try:
        pipe.save_pretrained(tmp_path / "g")
        loaded = load_tiny_generator(str(tmp_path / "g"), num_inference_steps=2)
        assert loaded.pipe.config.guidance_scale == 3.0
        np.testing.assert_array_equal(loaded.generate(_image(2), "pick up the red cube", seed=4).frames, a3.frames)
    finally:
        pipe.register_to_config(guidance_scale=1.0)


def test_background_paste_is_bit_exact(pipe):
    image = _image(3)
    mask = np.zeros((RES, RES), np.float32)
    mask[8:20, 10:24] = 1.0
    video = pipe(image, "put the can in the bin", num_inference_steps=2, ma_mask=mask)
    outside = mask < 0.5
    assert np.array_equal(video.frames[:, outside], np.broadcast_to(image[outside], video.frames[:, outside].shape))
    assert not np.array_equal(video.frames[:, ~outside], np.broadcast_to(image[~outside], (T, int((~outside).sum()), 3)))
    np.testing.assert_array_equal(video.ma_mask, mask)
    frames = np.full((2, 4, 4, 3), 7, np.uint8)
    ctx = np.full((4, 4, 3), 200, np.uint8)
    m = np.zeros((4, 4), np.float32)
    m[1, 2] = 1
    out = paste_background(frames, ctx, m)
    assert (out[:, 1, 2] == 7).all() and (out.sum() == 2 * (15 * 3 * 200 + 3 * 7))


def test_save_load_round_trip_same_samples(pipe, tmp_path):
    pipe.vae.register_to_config(scaling_factor=1.7, shift_factor=0.1)
    a = pipe(_image(1), "stack the red cube", num_inference_steps=3, generator=torch.Generator().manual_seed(5))
    pipe.save_pretrained(tmp_path / "p")
    assert (tmp_path / "p" / "video_denoiser" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = load_pipeline(tmp_path / "p")
    assert loaded.vae.config.scaling_factor == 1.7
    torch.testing.assert_close(loaded.ma_denoiser.prior, pipe.ma_denoiser.prior)
    b = loaded(_image(1), "stack the red cube", num_inference_steps=3, generator=torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.ma_mask, b.ma_mask)
    gen = load_tiny_generator(str(tmp_path / "p"), num_inference_steps=3)
    assert gen.name == "tiny"
    c = gen.generate(_image(1), "stack the red cube", seed=5)
    np.testing.assert_array_equal(a.frames, c.frames)
    assert c.seed == 5


def test_bad_inputs_give_clear_errors(pipe, tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        pipe(_image().astype(np.float32), "lift the cube", num_inference_steps=1)
    with pytest.raises(ValueError, match=f"{RES}×{RES}"):
        pipe(np.zeros((RES * 2, RES, 3), np.uint8), "lift the cube", num_inference_steps=1)
    with pytest.raises(ValueError, match="H×W×3"):
        pipe(np.zeros((RES, RES), np.uint8), "lift the cube", num_inference_steps=1)
    with pytest.raises(ValueError, match="non-empty"):
        pipe(_image(), "   ", num_inference_steps=1)
    with pytest.raises(ValueError, match="num_inference_steps"):
        pipe(_image(), "lift the cube", num_inference_steps=0)
    with pytest.raises(ValueError, match="numpy array"):
        check_image([[1, 2, 3]], RES)
    with pytest.raises(FileNotFoundError, match="hoi-train-generator"):
        load_tiny_generator(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="unknown keys"):
        GeneratorConfig.from_dict({"resolutoin": 64})
    with pytest.raises(ValueError, match="multiples of 32"):
        GeneratorConfig.from_dict({"video": {"block_out_channels": [48, 64], "attention_heads": [1, 1]}})


def test_soft_iou():
    a = torch.zeros(2, 1, 4, 4)
    a[0, :, :2] = 1
    b = a.clone()
    b[1, :, 3] = 1
    iou = soft_iou(a, b)
    assert iou[0] == pytest.approx(1.0) and iou[1] == pytest.approx(0.0, abs=1e-5)


# ------------------------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small HOIClip dataset from the synthetic source (no MuJoCo)."""
    from omegaconf import OmegaConf

    from hoi_videogen.data import DatasetWriter
    from sim.handsim.synthetic import synthetic_clip

    root = tmp_path_factory.mktemp("clips")
    with DatasetWriter(root, {"source": "synthetic"}) as w:
        for i, task in enumerate(["Lift", "Push", "Stack", "Lift"]):
            clip = synthetic_clip(task, i, OmegaConf.create({"resolution": RES, "num_frames": T, "camera": "egoview", "fps": 8.0}))
            w.add(clip, f"{task}_{i:06d}")
    return root


def _train_cfg(out, **kw):
    cfg = dict(data=None, out=str(out), steps=dict(vae=3, ma=3, video=3), batch_size=dict(vae=2, ma=2, video=2),
               lr=dict(vae=3e-3, ma=3e-3, video=3e-3), warmup_steps=0, lr_schedule="constant", ckpt_every=2,
               log_every=1, sample_every=0, threads=1)
    cfg.update(kw)
    return cfg


def _losses(out):
    return [(r["stage"], r["step"], r["loss"]) for r in csv.DictReader(open(out / "losses.csv"))]


def test_few_steps_lower_the_loss(dataset, tmp_path):
    from hoi_videogen.training.trainer import ClipBank, GeneratorTrainer, TrainConfig

    gcfg = GeneratorConfig.from_dict(TINY)
    bank = ClipBank(dataset, RES, T, max_clips=2)
    tr = GeneratorTrainer(gcfg, TrainConfig.from_dict(_train_cfg(tmp_path, data=str(dataset), stages=["vae", "video"])),
                          bank)
    tr._load_data()
    for stage, fn in (("vae", tr.loss_vae), ("video", tr.loss_video)):
        tr._setup_stage(stage)
        idx = [0, 1]
        g0 = tr.g.get_state()
        params = [p for p in tr.models[stage].parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=3e-3)

        def loss():
            tr.g.set_state(g0)  # same batch, noise and timesteps every time
            return fn(idx)["loss"]

        first = float(loss())
        for _ in range(12):
            opt.zero_grad()
            loss().backward()
            opt.step()
        with torch.no_grad():
            last = float(loss())
        assert last < 0.9 * first, (stage, first, last)


def test_train_export_and_resume_after_interrupt(dataset, tmp_path):
    from hoi_videogen.training.trainer import train

    full = tmp_path / "full"
    s = train(TINY, _train_cfg(full, data=str(dataset), sample_every=3, sample_steps=2))
    assert not s["interrupted"] and (full / "pipeline" / "model_index.json").is_file()
    assert (full / "losses.png").is_file() and json.loads((full / "train_info.json").read_text())
    assert (full / "samples" / "vae_000003.png").is_file() and (full / "samples" / "ma_000003.png").is_file()
    assert (full / "samples" / "video_000003_0.mp4").is_file()
    split = tmp_path / "split"
    # killed after step 3 of stage 'ma' (its last checkpoint: ma step 2): the resumed run redoes step 3
    s1 = train(TINY, _train_cfg(split, data=str(dataset), stop_after=6))
    assert s1["interrupted"] and (s1["stage"], s1["step"]) == ("ma", 3)
    s2 = train(TINY, _train_cfg(split, data=str(dataset)))
    assert s2["resumed"] and not s2["interrupted"]
    assert _losses(split) == _losses(full) and len(_losses(full)) == 9
    a = load_pipeline(full / "pipeline")(_image(2), "lift the cube", num_inference_steps=2)
    b = load_pipeline(split / "pipeline")(_image(2), "lift the cube", num_inference_steps=2)
    np.testing.assert_array_equal(a.frames, b.frames)
    # a checkpoint of another generator config is refused, not silently mixed
    with pytest.raises(ValueError, match="another generator config"):
        train({**TINY, "num_frames": 8}, _train_cfg(split, data=str(dataset)))


def test_text_dropout_replaces_some_instructions_with_the_null_condition(dataset, tmp_path):
    from hoi_videogen.training.trainer import ClipBank, GeneratorTrainer, TrainConfig

    bank = ClipBank(dataset, RES, T, max_clips=4)
    for p, expect in ((0.0, (0, 0)), (0.5, (16, 48))):
        tr = GeneratorTrainer(GeneratorConfig.from_dict(TINY), TrainConfig.from_dict(
            _train_cfg(tmp_path / str(p), data=str(dataset), stages=["ma"], text_dropout=p)), bank)
        tr._load_data()
        tok, pooled = tr._texts(list(range(4)) * 16)
        null = (pooled.abs().sum(-1) == 0) & (tok.abs().sum((-1, -2)) == 0)
        assert expect[0] <= int(null.sum()) <= expect[1], (p, int(null.sum()))
        assert (pooled[~null].norm(dim=-1) > 0.99).all()  # kept instructions are untouched (L2-normalized)
    with pytest.raises(ValueError, match="text_dropout"):
        TrainConfig.from_dict(_train_cfg(tmp_path, text_dropout=1.0))


def test_train_config_errors(tmp_path):
    from hoi_videogen.training.trainer import TrainConfig

    with pytest.raises(ValueError, match="stages"):
        TrainConfig.from_dict(_train_cfg(tmp_path, stages=["vae", "decoder"]))
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict(_train_cfg(tmp_path, stpes=3))


@pytest.fixture(scope="module")
def vae_pipeline(dataset, tmp_path_factory):
    """A saved pipeline whose VAE had 2 training steps (its latent scale is not set yet)."""
    from hoi_videogen.training.trainer import train

    out = tmp_path_factory.mktemp("vae")
    train(TINY, _train_cfg(out, data=str(dataset), stages=["vae"], steps=dict(vae=2)))
    return out / "pipeline"


def test_latent_cache_trains_stages_1_and_2_without_the_clips(dataset, vae_pipeline, tmp_path):
    """A run that writes the cache and a run that reads it (the clips gone) see the same data: the same losses up to
    the float16 rounding of the stored latents, and pipelines with the same VAE scale."""
    import shutil

    from hoi_videogen.training.latent_cache import load_latent_cache
    from hoi_videogen.training.trainer import ClipBank, train

    data = tmp_path / "clips"
    shutil.copytree(dataset, data)
    cache = tmp_path / "cache" / "latents.safetensors"
    kw = dict(data=str(data), stages=["ma", "video"], init_from=str(vae_pipeline), init_modules=["vae"],
              latent_cache=str(cache))
    train(TINY, _train_cfg(tmp_path / "a", **kw))
    c = load_latent_cache(cache)
    assert len(c) == 4 and c.latents.dtype == torch.float16 and c.latents.shape[1] == T + 1
    assert c.info["vae_scale"] != 1.0 and c.texts and all(c.clip_texts)
    bank = ClipBank(data, RES, T)
    assert torch.equal(c.ma, (bank.ma > 0.5).to(torch.uint8)) and c.ma.any()  # bit-packed masks come back exactly
    shutil.rmtree(data)  # the second run must not need the clips
    train(TINY, _train_cfg(tmp_path / "b", **kw, sample_every=3))
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert [r[:2] for r in a] == [r[:2] for r in b] and len(a) == 6
    np.testing.assert_allclose([float(r[2]) for r in b], [float(r[2]) for r in a], rtol=2e-2)
    cfg_a = json.loads((tmp_path / "a" / "pipeline" / "vae" / "config.json").read_text())
    cfg_b = json.loads((tmp_path / "b" / "pipeline" / "vae" / "config.json").read_text())
    assert cfg_a["scaling_factor"] == cfg_b["scaling_factor"] == c.info["vae_scale"]
    assert not (tmp_path / "b" / "samples").exists()  # no frames to show: skipped, not a crash
    # cache_only writes the file and trains nothing
    s = train(TINY, _train_cfg(tmp_path / "c", **{**kw, "data": str(dataset), "latent_cache": str(tmp_path / "c.st"),
                                                   "cache_only": True}))
    assert s["clips"] == 4 and (tmp_path / "c.st").is_file() and not (tmp_path / "c" / "losses.csv").exists()


def test_latent_cache_refuses_what_does_not_match(dataset, vae_pipeline, tmp_path):
    from safetensors.torch import load_file, save_file

    from hoi_videogen.training.latent_cache import LatentCacheError, load_latent_cache
    from hoi_videogen.training.trainer import TrainConfig, train

    cache = tmp_path / "latents.safetensors"
    kw = dict(data=str(dataset), stages=["video"], init_from=str(vae_pipeline), init_modules=["vae"],
              latent_cache=str(cache), cache_only=True)
    train(TINY, _train_cfg(tmp_path / "a", **kw))
    with pytest.raises(LatentCacheError, match="other settings"):
        train(TINY, _train_cfg(tmp_path / "b", **{**kw, "max_clips": 2}))
    with pytest.raises(LatentCacheError, match="another VAE"):  # a fresh VAE, not the cache's
        train(TINY, _train_cfg(tmp_path / "c", **{**kw, "init_modules": ["ma"]}))
    tensors = load_file(str(cache))
    tensors.pop("ma")
    save_file(tensors, str(tmp_path / "no_ma.safetensors"))
    with pytest.raises(LatentCacheError, match="lacks"):
        load_latent_cache(tmp_path / "no_ma.safetensors")
    (tmp_path / "garbled.safetensors").write_bytes(cache.read_bytes()[:100])
    with pytest.raises(LatentCacheError, match="not a readable"):
        load_latent_cache(tmp_path / "garbled.safetensors")
    with pytest.raises(LatentCacheError, match="does not exist"):
        load_latent_cache(tmp_path / "none.safetensors")
    with pytest.raises(ValueError, match="training the VAE"):
        TrainConfig.from_dict(_train_cfg(tmp_path, latent_cache=str(cache)))
    with pytest.raises(ValueError, match="cache_only needs"):
        TrainConfig.from_dict(_train_cfg(tmp_path, stages=["video"], cache_only=True))
    with pytest.raises(ValueError, match="init_modules"):
        TrainConfig.from_dict(_train_cfg(tmp_path, init_modules=["unet"]))


def test_device_choice():
    from hoi_videogen.training.trainer import TrainConfig, resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="device must be"):
        TrainConfig.from_dict(_train_cfg("out", device="gpu"))


class _HashTextEncoder:
    """Stands in for MiniLM where its package is not installed: fixed random states per string."""

    def __call__(self, texts):
        states = [torch.randn(16, 384, generator=torch.Generator().manual_seed(sum(map(ord, t)))) for t in texts]
        tok = torch.stack(states)
        return tok, torch.nn.functional.normalize(tok.mean(1), dim=-1)


def _memory_bank(n: int = 4):
    """A ClipBank of random clips built in memory (no clip files, MuJoCo or robosuite: runs on a bare GPU machine)."""
    from hoi_videogen.training.trainer import ClipBank

    rng = np.random.default_rng(0)
    bank = ClipBank.__new__(ClipBank)
    bank.ids, bank.seeds = [f"Lift_{i}" for i in range(n)], list(range(n))
    bank.frames = rng.integers(0, 256, (n, T + 1, RES, RES, 3), dtype=np.uint8)
    ma = np.zeros((n, 1, RES, RES), np.float32)
    ma[:, :, 8:24, 4:20] = 1
    bank.ma = torch.from_numpy(ma)
    bank.kp, bank.vis = torch.rand(n, T, 21, 2), torch.rand(n, T, 21) > 0.5
    bank.texts = [["lift the red cube", "raise the red cube"]] * n
    return bank


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the accelerator machine)")
def test_cuda_training_follows_the_cpu_run(tmp_path, monkeypatch):
    """The same run on CUDA draws the same batches and noise (CPU generator): losses agree to float tolerance, and a
    CUDA run killed and resumed equals an uninterrupted one."""
    import hoi_videogen.models.text as text
    from hoi_videogen.training.trainer import train

    monkeypatch.setattr(text, "load_text_encoder", lambda *a, **k: _HashTextEncoder())
    dataset = "in-memory"

    def train(gen, cfg, _train=train):
        return _train(gen, cfg, bank=_memory_bank())

    cpu = train(TINY, _train_cfg(tmp_path / "cpu", data=str(dataset)))
    gpu = train(TINY, _train_cfg(tmp_path / "gpu", data=str(dataset), device="cuda"))
    assert not gpu["interrupted"]
    a, b = _losses(tmp_path / "cpu"), _losses(tmp_path / "gpu")
    assert [r[:2] for r in a] == [r[:2] for r in b]
    np.testing.assert_allclose([float(r[2]) for r in b], [float(r[2]) for r in a], rtol=5e-2)
    train(TINY, _train_cfg(tmp_path / "split", data=str(dataset), device="cuda", stop_after=6))
    train(TINY, _train_cfg(tmp_path / "split", data=str(dataset), device="cuda"))
    np.testing.assert_allclose([float(r[2]) for r in _losses(tmp_path / "split")], [float(r[2]) for r in b], rtol=1e-4)
    assert cpu["pipeline"]
    for name in ("video_denoiser", "ma_denoiser", "vae"):  # the exported folder loads on the CPU, weights close
        wa = getattr(load_pipeline(tmp_path / "cpu" / "pipeline"), name).state_dict()
        wb = getattr(load_pipeline(tmp_path / "gpu" / "pipeline"), name).state_dict()
        assert all(v.device.type == "cpu" for v in wb.values())
        # Adam turns TF32-sized gradient differences into update-sized ones on a few elements (seen on an H100: 1.5%
        # of a tensor off by up to 0.011 after 9 steps, 2.9% of the norm of a 32-element bias), so compare modules
        diff = torch.cat([(wb[k] - wa[k]).flatten() for k in wa]).norm()
        assert float(diff) <= 0.02 * float(torch.cat([v.flatten() for v in wa.values()]).norm()), name


def test_hand_refinement_loss_switches_on_after_warmup(dataset, tmp_path):
    """Stage 2 adds eta * HRL (decoded predicted clean frames through a frozen Υ) once the warm-up is over."""
    from hoi_videogen.hands.keypoint_net import KeypointNet, KeypointNetConfig
    from hoi_videogen.training.trainer import ClipBank, GeneratorTrainer, TrainConfig

    bank = ClipBank(dataset, RES, T, max_clips=2)
    tcfg = TrainConfig.from_dict(_train_cfg(tmp_path, data=str(dataset), stages=["video"], hrl_weight=0.5,
                                            hrl_warmup=1, hrl_frames=2))
    tr = GeneratorTrainer(GeneratorConfig.from_dict(TINY), tcfg, bank)
    tr.hrl_net = KeypointNet(KeypointNetConfig(resolution=RES)).requires_grad_(False)
    tr._load_data()
    tr._setup_stage("video")
    before = tr.loss_video([0, 1])
    assert "hrl" not in before  # warm-up: step 0 < hrl_warmup
    tr.step = 1
    after = tr.loss_video([0, 1])
    assert float(after["hrl"]) > 0
    torch.testing.assert_close(after["loss"], after["noise"] + 0.5 * after["hrl"])
    after["loss"].backward()
    assert all(p.grad is None for p in tr.hrl_net.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tr.video.parameters())


def test_sampling_loop_recovers_the_target_with_an_oracle_denoiser(pipe, monkeypatch):
    """With the exact noise prediction for a known mask, stage-1 DPM++ sampling returns that mask exactly."""
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:5, 3:7] = 1.0
    alphas = pipe.scheduler.alphas_cumprod

    def oracle(x, t, *args):
        a = alphas[int(t)]
        return (x - a.sqrt() * (target * 2 - 1)) / (1 - a).sqrt()

    monkeypatch.setattr(pipe.ma_denoiser, "forward", oracle)
    tokens, pooled = pipe.encode_text(["lift the cube"])
    soft = pipe.sample_mask(torch.zeros(1, 4, 8, 8), tokens, pooled, 5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(soft, target, atol=1e-4, rtol=0)
    mask = pipe.mask_to_image(soft)
    assert mask.shape == (RES, RES) and mask[9:19, 13:27].all() and not mask[:6].any() and not mask[22:].any()
    noisy = target.clone()
    noisy[..., 7, 0] = 1.0  # an isolated cell: removed by the smoothing, the block stays
    pipe.register_to_config(mask_smooth=3)
    try:
        smooth = pipe.mask_to_image(noisy)
    finally:
        pipe.register_to_config(mask_smooth=0)
    assert not smooth[28:, :4].any() and smooth[12:18, 16:24].all()


def test_residual_video_diffusion_runs_on_the_difference_from_the_context(monkeypatch):
    """``video.residual``: training targets are frame − context latent, and sampling adds the context back, so an
    oracle denoiser of a zero residual returns the context latent in every frame (the static scene)."""
    torch.manual_seed(0)
    cfg = GeneratorConfig.from_dict({**TINY, "video": {**TINY["video"], "residual": True}})
    vae, ma, video = build_models(cfg)
    assert video.config.residual and not build_models(GeneratorConfig.from_dict(TINY))[2].config.get("residual")
    ctx = torch.randn(1, 4, 8, 8)
    frames = torch.randn(1, T, 4, 8, 8)
    torch.testing.assert_close(video.to_target(frames, ctx), frames - ctx[:, None])
    torch.testing.assert_close(video.from_target(video.to_target(frames, ctx), ctx), frames)
    p = HOIVideoPipeline(vae, ma, video, make_scheduler(), fps=8.0, text_max_length=16, mask_smooth=0)
    alphas = p.scheduler.alphas_cumprod
    monkeypatch.setattr(video, "forward", lambda x, t, *a: x / (1 - alphas[int(t)]).sqrt())  # clean sample = 0
    tokens, pooled = p.encode_text(["lift the cube"])
    lat = p.sample_video_latents(ctx, torch.ones(1, 1, 8, 8), tokens, pooled, 5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(lat, ctx[:, None].expand_as(lat), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="residual"):
        GeneratorConfig.from_dict({**TINY, "video": {**TINY["video"], "residual": "yes"}})


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_prediction_type_conversions_invert_each_other(kind):
    from hoi_videogen.training.losses import predicted_eps, predicted_x0, prediction_target

    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 2, 4, generator=g), torch.randn(3, 2, 4, generator=g)
    ab = torch.tensor([0.999, 0.5, 1e-4]).view(3, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    target = prediction_target(x0, eps, ab, kind)
    torch.testing.assert_close(predicted_x0(x_t, target, ab, kind), x0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(predicted_eps(x_t, target, ab, kind), eps, atol=1e-4, rtol=1e-4)
    if kind == "v_prediction":  # at high noise v ≈ −x0: a zero output predicts a zero clean sample
        torch.testing.assert_close(target[2], -x0[2], atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="prediction type"):
        prediction_target(x0, eps, ab, "sample")


def test_v_prediction_denoisers_are_sampled_as_v_and_survive_save_load(tmp_path, monkeypatch):
    """``prediction_type: v_prediction`` (both stages): the pipeline's samplers read each denoiser's output as v, so
    an oracle v-denoiser of a known clean sample returns it; the option round-trips through save/load."""
    from hoi_videogen.training.losses import prediction_target

    torch.manual_seed(0)
    v = {"prediction_type": "v_prediction"}
    cfg = GeneratorConfig.from_dict({**TINY, "ma": {**TINY["ma"], **v}, "video": {**TINY["video"], **v}})
    vae, ma, video = build_models(cfg)
    assert ma.prediction_type == video.prediction_type == "v_prediction"
    assert build_models(GeneratorConfig.from_dict(TINY))[2].prediction_type == "epsilon"
    p = HOIVideoPipeline(vae, ma, video, make_scheduler(), fps=8.0, text_max_length=16, mask_smooth=0)
    p.save_pretrained(tmp_path / "pipe")
    loaded = load_pipeline(tmp_path / "pipe")
    assert loaded.ma_denoiser.prediction_type == loaded.video_denoiser.prediction_type == "v_prediction"
    assert loaded.scheduler.config.prediction_type == "epsilon"
    alphas = p.scheduler.alphas_cumprod

    def oracle(clean):
        def forward(x, t, *args):
            ab = alphas[int(t)]
            return prediction_target(clean, (x - ab.sqrt() * clean) / (1 - ab).sqrt(), ab, "v_prediction")
        return forward

    clean_video, clean_mask = torch.randn(1, T, 4, 8, 8), torch.rand(1, 1, 8, 8) * 2 - 1
    monkeypatch.setattr(video, "forward", oracle(clean_video))
    monkeypatch.setattr(ma, "forward", oracle(clean_mask))
    tokens, pooled = p.encode_text(["lift the cube"])
    ctx = torch.randn(1, 4, 8, 8)
    lat = p.sample_video_latents(ctx, torch.ones(1, 1, 8, 8), tokens, pooled, 5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(lat, clean_video, atol=1e-3, rtol=0)
    mask = p.sample_mask(ctx, tokens, pooled, 5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(mask, (clean_mask + 1) / 2, atol=1e-3, rtol=0)
    for stage in ("ma", "video"):
        with pytest.raises(ValueError, match="prediction_type"):
            GeneratorConfig.from_dict({**TINY, stage: {**TINY[stage], "prediction_type": "sample"}})


def test_no_ma_ablation_ignores_the_mask_and_generates_every_pixel(monkeypatch):
    """``video.ma_conditioning: false`` (HANDI Table 3 "no MA"): the denoiser's output does not depend on the MA
    input, sampling skips stage 1, and the frames are the decoded video everywhere (no background paste)."""
    torch.manual_seed(0)
    cfg = GeneratorConfig.from_dict({**TINY, "video": {**TINY["video"], "ma_conditioning": False}})
    vae, ma, video = build_models(cfg)
    assert not video.ma_conditioning and build_models(GeneratorConfig.from_dict(TINY))[2].ma_conditioning
    p = HOIVideoPipeline(vae, ma, video, make_scheduler(), fps=8.0, text_max_length=16, mask_smooth=0)
    tokens, pooled = p.encode_text(["lift the cube"])
    x, t, ctx = torch.randn(1, T, 4, 8, 8), torch.tensor([300]), torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        a = video(x, t, ctx, torch.zeros(1, 1, 8, 8), tokens, pooled)
        b = video(x, t, ctx, torch.rand(1, 1, 8, 8), tokens, pooled)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    monkeypatch.setattr(p, "sample_mask", lambda *a, **k: pytest.fail("stage 1 must be skipped"))
    image = _image()
    out = p(image, "lift the cube", num_inference_steps=2)
    assert out.ma_mask.all()
    torch.manual_seed(0)
    full = p.decode_region(p.sample_video_latents(p.encode_frames(
        torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1)), torch.ones(1, 1, RES, RES),
        tokens, pooled, 2, torch.Generator().manual_seed(0))[0], np.ones((RES, RES), np.float32))
    np.testing.assert_array_equal(out.frames, full)
    with pytest.raises(ValueError, match="ma_conditioning"):
        GeneratorConfig.from_dict({**TINY, "video": {**TINY["video"], "ma_conditioning": "no"}})


def test_shipped_256x32_pickplacecan_weights_make_its_format(one_torch_thread):
    """The PickPlaceCan generator at 256² and 32 frames loads offline and generates that format; its VAE is the
    shipped tiny one (the recipe fine-tunes only stages 1 and 2), and a 128² frame is refused with the size it needs."""
    from hoi_videogen.pipeline import TINY_WEIGHTS

    folder = TINY_WEIGHTS.parent / "tiny_256x32_pickplacecan"
    gen = load_tiny_generator(str(folder), num_inference_steps=2)
    assert (gen.resolution, gen.pipe.num_frames) == (256, 32)
    video = gen.generate(_image(3, 256), "pick up the can and put it in the bin", seed=0)
    assert video.frames.shape == (32, 256, 256, 3) and video.frames.dtype == np.uint8
    assert video.ma_mask.shape == (256, 256)
    shipped = (TINY_WEIGHTS / "vae" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert (folder / "vae" / "diffusion_pytorch_model.safetensors").read_bytes() == shipped
    with pytest.raises(ValueError, match="256"):
        gen.generate(_image(3, 128), "pick up the can and put it in the bin", seed=0)
