"""robomimic-style HDF5 demonstration files (the native format) and a torch loader with normalization.

Layout (the one robomimic reads)::

    data.attrs["env_args"]            JSON: {"env_name", "type", "env_kwargs": {...}} + our "task", "sources"
    data.attrs["total"]               total number of samples
    data/demo_<i>/obs/<key>           (T, ...) observation before action t (float64 low-dim, uint8 images)
    data/demo_<i>/actions             (T, 7) action applied at step t (OSC delta + gripper)
    data/demo_<i>/rewards             (T,) success (0/1) after step t
    data/demo_<i>/dones               (T,) 1 at the last step
    data/demo_<i>.attrs               num_samples, source, success, seed, task
    mask/train, mask/valid            byte strings of demo names

Files are written to a temp file in the same folder and renamed into place (a killed writer leaves no half file).
A missing, unreadable or incomplete file raises :class:`DatasetError` naming the file and the key.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "DatasetError",
    "Demo",
    "DemoFile",
    "Normalizer",
    "SequenceDataset",
    "read_demos",
    "write_demos",
    "flat_obs",
]


class DatasetError(ValueError):
    """A demonstration file is missing, corrupt or lacks a key; the message names the file and the key."""


@dataclass
class Demo:
    """One demonstration.

    Attributes:
        obs: key -> (T, ...) array; observation *before* action t.
        actions: (T, A) float actions applied to the env.
        rewards: (T,) success (0/1) after each step.
        dones: (T,) 1 at the last step, else 0.
        source: what produced it: "expert", "oracle-hand", "tracked-hand", "generated", ...
        success: whether the task was accomplished.
        seed: the env reset seed.
        task: the task name.
    """

    obs: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    source: str = "unknown"
    success: bool = False
    seed: int = -1
    task: str = ""

    def __post_init__(self) -> None:
        self.actions = np.asarray(self.actions, dtype=np.float32)
        if self.actions.ndim != 2 or len(self.actions) == 0:
            raise DatasetError(f"Demo.actions must be (T, A) with T >= 1, got {self.actions.shape}")
        T = len(self.actions)
        self.rewards = np.asarray(self.rewards, dtype=np.float32).reshape(-1)
        self.dones = np.asarray(self.dones, dtype=np.uint8).reshape(-1)
        for name, arr in (("rewards", self.rewards), ("dones", self.dones)):
            if len(arr) != T:
                raise DatasetError(f"Demo.{name} has {len(arr)} steps, actions have {T}")
        if not self.obs:
            raise DatasetError("Demo.obs is empty: expected at least one observation key")
        for k, v in self.obs.items():
            if len(v) != T:
                raise DatasetError(f"Demo.obs[{k!r}] has {len(v)} steps, actions have {T}")
        if not np.all(np.isfinite(self.actions)):
            raise DatasetError("Demo.actions contains NaN/inf")

    def __len__(self) -> int:
        return len(self.actions)


def write_demos(
    path: str | Path,
    demos: Sequence[Demo],
    env_args: dict[str, Any],
    valid_fraction: float = 0.1,
    split_seed: int = 0,
    compress_images: bool = True,
) -> Path:
    """Write ``demos`` to a robomimic-style HDF5 file atomically; a random ``valid_fraction`` goes to mask/valid."""
    import h5py

    if not demos:
        raise DatasetError(f"no demos to write to {path}")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    names = [f"demo_{i}" for i in range(len(demos))]
    n_valid = int(round(valid_fraction * len(demos))) if len(demos) > 1 else 0
    perm = np.random.default_rng(split_seed).permutation(len(demos))
    valid = sorted(names[i] for i in perm[:n_valid])
    train = [n for n in names if n not in set(valid)]
    try:
        with h5py.File(tmp, "w") as f:
            data = f.create_group("data")
            data.attrs["env_args"] = json.dumps(env_args)
            data.attrs["total"] = int(sum(len(d) for d in demos))
            for name, demo in zip(names, demos):
                g = data.create_group(name)
                g.attrs["num_samples"] = len(demo)
                g.attrs["source"] = demo.source
                g.attrs["success"] = bool(demo.success)
                g.attrs["seed"] = int(demo.seed)
                g.attrs["task"] = demo.task
                og = g.create_group("obs")
                for k, v in demo.obs.items():
                    v = np.asarray(v)
                    opts = {"compression": "gzip", "compression_opts": 4} if v.dtype == np.uint8 and compress_images else {}
                    og.create_dataset(k, data=v, **opts)
                g.create_dataset("actions", data=demo.actions)
                g.create_dataset("rewards", data=demo.rewards)
                g.create_dataset("dones", data=demo.dones)
            mask = f.create_group("mask")
            mask.create_dataset("train", data=np.array([n.encode() for n in train], dtype="S"))
            mask.create_dataset("valid", data=np.array([n.encode() for n in valid], dtype="S"))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


class DemoFile:
    """Read access to a demo HDF5 file with clear errors. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path):
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"demo file not found: {self.path}")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            raise DatasetError(f"cannot open demo file {self.path} as HDF5 (corrupt or truncated?): {exc}") from exc
        if "data" not in self._f:
            self.close()
            raise DatasetError(f"{self.path}: missing group 'data' (not a robomimic-style demo file)")

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "DemoFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _get(self, key: str):
        try:
            return self._f[key]
        except KeyError:
            raise DatasetError(f"{self.path}: missing key {key!r}") from None
        except Exception as exc:  # h5py raises OSError / RuntimeError on damaged blocks
            raise DatasetError(f"{self.path}: cannot read key {key!r} (corrupt file?): {exc}") from exc

    def _read(self, key: str) -> np.ndarray:
        ds = self._get(key)
        try:
            return ds[()]
        except Exception as exc:
            raise DatasetError(f"{self.path}: cannot read key {key!r} (corrupt file?): {exc}") from exc

    @property
    def env_args(self) -> dict[str, Any]:
        raw = self._get("data").attrs.get("env_args")
        if raw is None:
            raise DatasetError(f"{self.path}: missing attribute data.attrs['env_args']")
        return json.loads(raw)

    def demo_names(self, split: str | None = None) -> list[str]:
        """All demo names in index order, or those of ``split`` ("train" / "valid")."""
        if split is None:
            names = list(self._get("data").keys())
        else:
            if split not in ("train", "valid"):
                raise ValueError(f"split must be 'train', 'valid' or None, got {split!r}")
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in self._read(f"mask/{split}")]
        return sorted(names, key=lambda n: int(n.split("_")[-1]))

    def successful(self, split: str | None = None) -> list[str]:
        """The names of the successful demos (attribute ``success``), of all demos or of ``split``."""
        return [n for n in self.demo_names(split) if bool(self._get(f"data/{n}").attrs.get("success", False))]

    def obs_keys(self, name: str) -> list[str]:
        return list(self._get(f"data/{name}/obs").keys())

    def demo(self, name: str, obs_keys: Iterable[str] | None = None) -> Demo:
        """Load demo ``name`` (all observation keys, or ``obs_keys``)."""
        keys = list(obs_keys) if obs_keys is not None else self.obs_keys(name)
        attrs = self._get(f"data/{name}").attrs
        if "num_samples" not in attrs:
            raise DatasetError(f"{self.path}: missing attribute data/{name}.attrs['num_samples']")
        demo = Demo(
            obs={k: self._read(f"data/{name}/obs/{k}") for k in keys},
            actions=self._read(f"data/{name}/actions"),
            rewards=self._read(f"data/{name}/rewards"),
            dones=self._read(f"data/{name}/dones"),
            source=str(attrs.get("source", "unknown")),
            success=bool(attrs.get("success", False)),
            seed=int(attrs.get("seed", -1)),
            task=str(attrs.get("task", "")),
        )
        if len(demo) != int(attrs["num_samples"]):
            raise DatasetError(f"{self.path}: data/{name} has {len(demo)} steps but num_samples={attrs['num_samples']}")
        return demo


def read_demos(path: str | Path, split: str | None = None, obs_keys: Iterable[str] | None = None) -> list[Demo]:
    """All demos of ``path`` (or of one split) as :class:`Demo` records."""
    with DemoFile(path) as f:
        return [f.demo(n, obs_keys) for n in f.demo_names(split)]


def flat_obs(obs: dict[str, np.ndarray], keys: Sequence[str]) -> np.ndarray:
    """Concatenate low-dim observation ``keys`` along the last axis: (..., D) float32."""
    missing = [k for k in keys if k not in obs]
    if missing:
        raise KeyError(f"observation lacks key(s) {missing}; it has {sorted(obs)}")
    return np.concatenate([np.asarray(obs[k], dtype=np.float32) for k in keys], axis=-1)


@dataclass
class Normalizer:
    """Per-dimension affine normalization of a named vector ("obs", "action").

    ``mode="minmax"`` maps [min, max] to [-1, 1] (what diffusion policies use); ``mode="gaussian"`` maps to zero
    mean, unit std. Dimensions with (almost) no spread are only shifted.
    """

    mode: str = "minmax"
    stats: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    eps: float = 1e-4

    def __post_init__(self) -> None:
        if self.mode not in ("minmax", "gaussian"):
            raise ValueError(f"Normalizer.mode must be 'minmax' or 'gaussian', got {self.mode!r}")

    def fit(self, name: str, x: np.ndarray) -> "Normalizer":
        x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        self.stats[name] = {
            "min": x.min(0).tolist(),
            "max": x.max(0).tolist(),
            "mean": x.mean(0).tolist(),
            "std": x.std(0).tolist(),
        }
        return self

    def _scale_offset(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self.stats:
            raise KeyError(f"no normalization statistics for {name!r}; have {sorted(self.stats)}")
        s = {k: np.asarray(v, dtype=np.float32) for k, v in self.stats[name].items()}
        if self.mode == "minmax":
            rng = s["max"] - s["min"]
            scale = np.where(rng > self.eps, 2.0 / np.maximum(rng, self.eps), 1.0)
            offset = np.where(rng > self.eps, -1.0 - s["min"] * scale, -(s["max"] + s["min"]) / 2)
        else:
            scale = np.where(s["std"] > self.eps, 1.0 / np.maximum(s["std"], self.eps), 1.0)
            offset = -s["mean"] * scale
        return scale.astype(np.float32), offset.astype(np.float32)

    def normalize(self, name: str, x):
        scale, offset = self._scale_offset(name)
        if _is_tensor(x):
            import torch

            return x * torch.as_tensor(scale, device=x.device) + torch.as_tensor(offset, device=x.device)
        return np.asarray(x, dtype=np.float32) * scale + offset

    def unnormalize(self, name: str, y):
        scale, offset = self._scale_offset(name)
        if _is_tensor(y):
            import torch

            return (y - torch.as_tensor(offset, device=y.device)) / torch.as_tensor(scale, device=y.device)
        return (np.asarray(y, dtype=np.float32) - offset) / scale

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "eps": self.eps, "stats": self.stats}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Normalizer":
        return cls(mode=d["mode"], stats=d["stats"], eps=d.get("eps", 1e-4))

    def save(self, path: str | Path) -> Path:
        from hoi2robot.config import write_json

        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Normalizer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"normalization statistics not found: {path}")
        return cls.from_dict(json.loads(path.read_text()))


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


class SequenceDataset:
    """A torch ``Dataset`` of windows for chunked policies, from a demo HDF5 file.

    Item ``i`` is a dict of float32 tensors: ``obs`` (obs_horizon, D) — the observations at steps t-To+1 .. t —
    and ``actions`` (pred_horizon, A) — the actions at t .. t+H-1, both normalized with ``normalizer``. Windows
    are padded at the episode edges by repeating the first observation / last action (as Diffusion Policy does).

    Args:
        path: demo HDF5 file.
        obs_keys: low-dim observation keys, concatenated in this order.
        obs_horizon, pred_horizon: window lengths (To, H).
        split: "train", "valid" or None (all demos).
        normalizer: statistics to use; None fits a new one (mode ``norm_mode``) on this split's data.
        only_successful: drop failed demos.
        image_keys: camera image observation keys (``<cam>_image``, H×W×3 uint8); items then also hold
            ``images`` (obs_horizon, N, 3, H, W) uint8.
    """

    def __init__(
        self,
        path: str | Path,
        obs_keys: Sequence[str],
        obs_horizon: int = 1,
        pred_horizon: int = 1,
        split: str | None = "train",
        normalizer: Normalizer | None = None,
        norm_mode: str = "minmax",
        only_successful: bool = True,
        image_keys: Sequence[str] = (),
    ):
        if obs_horizon < 1 or pred_horizon < 1:
            raise ValueError(f"obs_horizon and pred_horizon must be >= 1, got {obs_horizon}, {pred_horizon}")
        self.path, self.obs_keys, self.image_keys = Path(path), list(obs_keys), list(image_keys)
        self.obs_horizon, self.pred_horizon = int(obs_horizon), int(pred_horizon)
        with DemoFile(path) as f:
            self.env_args = f.env_args
            names = f.demo_names(split)
            demos = [f.demo(n, self.obs_keys + self.image_keys) for n in names]
        if only_successful:
            demos = [d for d in demos if d.success]
        if not demos:
            raise DatasetError(f"{self.path}: no {'successful ' if only_successful else ''}demos in split {split!r}")
        self.demos = demos
        self.obs = [flat_obs(d.obs, self.obs_keys) for d in demos]
        self.actions = [d.actions.astype(np.float32) for d in demos]
        self.images = None
        if self.image_keys:
            for k in self.image_keys:
                if demos[0].obs[k].dtype != np.uint8 or demos[0].obs[k].ndim != 4:
                    raise DatasetError(f"{self.path}: image key {k!r} must be (T, H, W, 3) uint8, "
                                       f"got {demos[0].obs[k].shape} {demos[0].obs[k].dtype}")
            self.images = [np.stack([d.obs[k] for k in self.image_keys], 1).transpose(0, 1, 4, 2, 3) for d in demos]
            for d in demos:  # keep only the stacked copy
                for k in self.image_keys:
                    del d.obs[k]
        if normalizer is None:
            normalizer = Normalizer(mode=norm_mode)
            normalizer.fit("obs", np.concatenate(self.obs)).fit("action", np.concatenate(self.actions))
        self.normalizer = normalizer
        self.obs = [normalizer.normalize("obs", o) for o in self.obs]
        self.actions = [normalizer.normalize("action", a) for a in self.actions]
        self.index = [(e, t) for e, a in enumerate(self.actions) for t in range(len(a))]

    @property
    def obs_dim(self) -> int:
        return int(self.obs[0].shape[-1])

    @property
    def action_dim(self) -> int:
        return int(self.actions[0].shape[-1])

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        """(N cameras, 3, H, W) or None without image keys."""
        return tuple(int(s) for s in self.images[0].shape[1:]) if self.images is not None else None

    def __len__(self) -> int:
        return len(self.index)

    def window(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(obs (To, D), actions (H, A), images (To, N, 3, H, W) or None) of window ``i``."""
        e, t = self.index[i]
        obs, act = self.obs[e], self.actions[e]
        oi = np.clip(np.arange(t - self.obs_horizon + 1, t + 1), 0, len(obs) - 1)
        ai = np.clip(np.arange(t, t + self.pred_horizon), 0, len(act) - 1)
        return obs[oi], act[ai], (self.images[e][oi] if self.images is not None else None)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.batch([i], stack=False)

    def batch(self, indices: Sequence[int], stack: bool = True) -> dict[str, Any]:
        """Stacked items ``indices`` (faster than a DataLoader for small low-dim data)."""
        import torch

        obs, act, img = zip(*(self.window(int(i)) for i in indices))
        join = np.stack if stack else (lambda x: x[0])
        out = {"obs": torch.from_numpy(join(obs)), "actions": torch.from_numpy(join(act))}
        if self.images is not None:
            out["images"] = torch.from_numpy(np.ascontiguousarray(join(img)))
        return out
