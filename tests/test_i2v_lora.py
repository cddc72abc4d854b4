"""LoRA fine-tuning of the diffusers-i2v backend (hoi_videogen.training.i2v_lora) on a tiny random SVD folder."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from hoi_videogen.generators import build_generator
from hoi_videogen.i2v import save_tiny_random_svd
from hoi_videogen.training.i2v_lora import I2VLoRATrainer, LoRAConfig, add_lora, finetune, load_lora

RES, T = 32, 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def svd_dir(tmp_path_factory):
    return save_tiny_random_svd(tmp_path_factory.mktemp("svd") / "tiny_svd", num_frames=T, image_size=RES)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small HOIClip dataset from the synthetic source (no MuJoCo), 32² × 4 frames."""
    from omegaconf import OmegaConf

    from hoi_videogen.data import DatasetWriter
    from sim.handsim.synthetic import synthetic_clip

    root = tmp_path_factory.mktemp("clips")
    with DatasetWriter(root, {"source": "synthetic"}) as w:
        for i, task in enumerate(["Lift", "Push", "Stack"]):
            clip = synthetic_clip(task, i, OmegaConf.create({"resolution": RES, "num_frames": T, "camera": "egoview",
                                                              "fps": 8.0}))  # fmt: skip
            w.add(clip, f"{task}_{i:06d}")
    return root


def _cfg(svd_dir, dataset, out, **kw):
    d = dict(path=str(svd_dir), data=str(dataset), out=str(out), rank=4, steps=4, lr=1e-2, hrl_weight=0.0,
             log_every=1, ckpt_every=1)
    d.update(kw)
    return LoRAConfig.from_dict(d)


def _base_state(unet):
    return {k: v.clone() for k, v in unet.state_dict().items() if "lora" not in k}


def test_adapters_start_as_identity_train_alone_and_lower_the_loss(svd_dir, dataset, tmp_path):
    tr = I2VLoRATrainer(_cfg(svd_dir, dataset, tmp_path))
    assert tr.params and all("lora" in n for n, p in tr.unet.named_parameters() if p.requires_grad)
    assert not any(p.requires_grad for p in tr.vae.parameters()) and not any(p.requires_grad for p in tr.encoder.parameters())
    base = _base_state(tr.unet)
    g0 = tr.g.get_state()

    def loss():
        tr.g.set_state(g0)  # the same batch noise and σ every time
        return tr.loss([0, 1])["loss"]

    # LoRA B starts at zero: the adapted UNet is the base UNet
    from diffusers import StableVideoDiffusionPipeline

    plain = StableVideoDiffusionPipeline.from_pretrained(str(svd_dir), local_files_only=True).unet
    x = torch.randn(1, T, 8, RES // 4, RES // 4)
    kw = dict(encoder_hidden_states=torch.randn(1, 1, 32), added_time_ids=torch.tensor([[6.0, 127.0, 0.02]]))
    with torch.no_grad():
        # equal up to float32 rounding (kernels differ by CPU: 1.1e-6 on outputs of ~1 seen); an adapter that is
        # not the identity moves them by orders of magnitude more
        assert torch.allclose(tr.unet(x, 0.3, **kw).sample, plain(x, 0.3, **kw).sample, rtol=1e-5, atol=1e-5)
    first = float(loss().detach())
    for _ in range(15):
        tr.opt.zero_grad()
        loss().backward()
        tr.opt.step()
    with torch.no_grad():
        last = float(loss())
    assert last < 0.9 * first, (first, last)
    after = _base_state(tr.unet)
    assert all(torch.equal(base[k], after[k]) for k in base)  # the base weights never move
    with torch.no_grad():
        assert not torch.allclose(tr.unet(x, 0.3, **kw).sample, plain(x, 0.3, **kw).sample, atol=1e-4)


def test_hand_refinement_loss_switches_on_after_warmup(svd_dir, dataset, tmp_path):
    tr = I2VLoRATrainer(_cfg(svd_dir, dataset, tmp_path, hrl_weight=0.5, hrl_warmup=2))
    assert "hrl" not in tr.loss([0])
    tr.step = 2
    out = tr.loss([0, 2])
    assert float(out["hrl"].detach()) > 0
    assert torch.allclose(out["loss"], out["noise"] + 0.5 * out["hrl"])
    tr.opt.zero_grad()
    out["hrl"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tr.params)  # the HRL reaches the adapters


def test_resume_after_interrupt_matches_an_uninterrupted_run_and_the_generator_loads_it(svd_dir, dataset, tmp_path):
    straight = finetune(_cfg(svd_dir, dataset, tmp_path / "a"))
    assert straight["step"] == 4 and not straight["interrupted"] and (tmp_path / "a" / "lora").is_dir()
    first = finetune(_cfg(svd_dir, dataset, tmp_path / "b", stop_after=2))
    assert first["interrupted"] and first["step"] == 2 and first["lora"] is None
    second = finetune(_cfg(svd_dir, dataset, tmp_path / "b"))
    assert second["resumed"] and second["step"] == 4

    def losses(run):
        return [float(r["loss"]) for r in csv.DictReader(open(tmp_path / run / "losses.csv"))]

    assert len(losses("b")) == 4 and np.allclose(losses("a"), losses("b"), rtol=1e-5)
    with pytest.raises(ValueError, match="other settings"):
        finetune(_cfg(svd_dir, dataset, tmp_path / "b", rank=2))

    img = (np.random.default_rng(0).random((RES, RES, 3)) * 255).astype(np.uint8)
    common = {"name": "diffusers-i2v", "path": str(svd_dir), "num_inference_steps": 2, "mask": "prior"}
    base = build_generator(common).generate(img, "pick up the cube", seed=3)
    gen = build_generator({**common, "lora": str(tmp_path / "a" / "lora")})
    tuned = gen.generate(img, "pick up the cube", seed=3)
    assert "+lora" in tuned.generator and not np.array_equal(base.frames, tuned.frames)
    assert np.array_equal(gen.generate(img, "pick up the cube", seed=3).frames, tuned.frames)
    # the loaded adapter is the trained one
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "a" / "lora" / "adapter_model.safetensors"))
    loaded = get_peft_model_state_dict(gen.pipe.unet)
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)


def test_bad_configs_and_missing_adapter(svd_dir, dataset, tmp_path):
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        _cfg(tmp_path, dataset, tmp_path / "o")
    with pytest.raises(ValueError, match="rank"):
        _cfg(svd_dir, dataset, tmp_path / "o", rank=0)
    with pytest.raises(ValueError, match="unknown keys"):
        _cfg(svd_dir, dataset, tmp_path / "o", learning_rate=1.0)
    from diffusers import StableVideoDiffusionPipeline

    unet = StableVideoDiffusionPipeline.from_pretrained(str(svd_dir), local_files_only=True).unet
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors"):
        load_lora(unet, tmp_path)
    with pytest.raises(ValueError, match="target modules"):
        add_lora(unet, 4, target_modules=("no_such_layer",))
