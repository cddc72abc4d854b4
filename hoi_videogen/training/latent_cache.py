"""A file of precomputed training inputs for the diffusion stages: VAE latents, MA masks, text states, keypoints.

Stages 1 and 2 see a clip only through its frames' VAE latents, its motion-area mask, the frozen text encoder's
states of its instructions and (for the Hand Refinement Loss) its keypoint targets. All of these are fixed once the VAE
is, so they can be computed once and saved: a run then needs neither the clip folders (mp4 decoding, 75 KB a clip)
nor the text encoder package (88 MB), and a 1,200-clip set fits in about 10 MB. That is what lets a training run move
to an accelerator machine that has no MuJoCo, no clips and no text encoder.

One safetensors file: tensors ``latents`` (N×(T+1)×C×h×w float16, context first, already shifted and scaled),
``ma`` (the binary N×1×H×W masks, bit-packed along the last axis), ``kp`` (N×T×21×2) / ``vis`` (N×T×21 uint8), ``text_tokens`` (K×L×D) / ``text_pooled``
(K×D); metadata ``info`` (JSON): clip ids, seeds, each clip's instruction indices into ``texts``, the VAE's
fingerprint and latent shift/scale, and the settings the set was selected with. A cache made with another VAE, generator format or clip selection is
refused with the reason, never silently reused.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["LatentCache", "LatentCacheError", "vae_fingerprint", "save_latent_cache", "load_latent_cache"]

VERSION = 2


class LatentCacheError(ValueError):
    """A latent cache file is missing, corrupt or does not match the run (the message says which)."""


def vae_fingerprint(vae: torch.nn.Module) -> str:
    """sha256 over the VAE's weights (name, shape, dtype, bytes); its latent shift/scale are stored beside it."""
    h = hashlib.sha256()
    for name, t in sorted(vae.state_dict().items()):
        t = t.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class LatentCache:
    """The contents of a latent cache file (CPU tensors)."""

    latents: torch.Tensor  # N×(T+1)×C×h×w float16
    ma: torch.Tensor  # N×1×H×W uint8 in {0, 1}
    kp: torch.Tensor  # N×T×21×2 float32, normalized
    vis: torch.Tensor  # N×T×21 bool
    texts: list[str]
    text_tokens: torch.Tensor  # K×L×D float32
    text_pooled: torch.Tensor  # K×D float32
    clip_texts: list[list[int]]  # per clip: indices into texts (instruction first, then paraphrases)
    ids: list[str]
    seeds: list[int]
    info: dict[str, Any]  # vae (fingerprint), vae_shift, vae_scale, selection (data, max_seed, max_clips), format

    def __len__(self) -> int:
        return len(self.ids)


def save_latent_cache(path: str | Path, cache: LatentCache) -> Path:
    """Write ``cache`` atomically (temp file + rename)."""
    from safetensors.torch import save_file

    n = len(cache.ids)
    if not (cache.latents.shape[0] == cache.ma.shape[0] == cache.kp.shape[0] == len(cache.clip_texts) == n):
        raise LatentCacheError(f"latent cache: {n} ids but tensors of {cache.latents.shape[0]}/{cache.ma.shape[0]} clips")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = dict(cache.info, version=VERSION, ma_width=int(cache.ma.shape[-1]), ids=cache.ids, seeds=[int(s) for s in cache.seeds], texts=cache.texts,
                clip_texts=cache.clip_texts)
    tensors = {
        "latents": cache.latents.to(torch.float16).contiguous(),
        "ma": torch.from_numpy(np.packbits(cache.ma.numpy() > 0, axis=-1)),
        "kp": cache.kp.float().contiguous(),
        "vis": cache.vis.to(torch.uint8).contiguous(),
        "text_tokens": cache.text_tokens.float().contiguous(),
        "text_pooled": cache.text_pooled.float().contiguous(),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"info": json.dumps(info)})
    tmp.replace(path)
    return path


def load_latent_cache(path: str | Path) -> LatentCache:
    """Read a file written by :func:`save_latent_cache`.

    Raises:
        LatentCacheError: missing file, not a safetensors file, or missing/inconsistent entries.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise LatentCacheError(f"latent cache {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for truncated/garbled files
        raise LatentCacheError(f"latent cache {path} is not a readable safetensors file ({exc})") from None
    need = ("latents", "ma", "kp", "vis", "text_tokens", "text_pooled")
    missing = [k for k in need if k not in tensors]
    if missing or "info" not in meta:
        raise LatentCacheError(f"latent cache {path} lacks {missing or ['info metadata']}")
    info = json.loads(meta["info"])
    if info.get("version") != VERSION:
        raise LatentCacheError(f"latent cache {path} has version {info.get('version')}, this code reads {VERSION}")
    ids, texts, clip_texts = info.pop("ids"), info.pop("texts"), info.pop("clip_texts")
    ma = torch.from_numpy(np.unpackbits(tensors["ma"].numpy(), axis=-1, count=int(info.pop("ma_width"))))
    seeds = info.pop("seeds")
    n = len(ids)
    if tensors["latents"].shape[0] != n or tensors["text_tokens"].shape[0] != len(texts):
        raise LatentCacheError(f"latent cache {path}: {n} ids / {len(texts)} texts but tensors "
                               f"{tuple(tensors['latents'].shape)} / {tuple(tensors['text_tokens'].shape)}")
    if any(not 0 <= j < len(texts) for c in clip_texts for j in c):
        raise LatentCacheError(f"latent cache {path}: a clip refers to a text index outside 0..{len(texts) - 1}")
    return LatentCache(latents=tensors["latents"], ma=ma, kp=tensors["kp"], vis=tensors["vis"].bool(),
                       texts=texts, text_tokens=tensors["text_tokens"], text_pooled=tensors["text_pooled"],
                       clip_texts=clip_texts, ids=ids, seeds=seeds, info=info)
