"""Config plumbing shared by the console scripts: where the Hydra configs live and where a run writes."""
from __future__ import annotations

import atexit
import json
import os
import platform
import weakref
from pathlib import Path
from typing import Any

CONFIG_PATH = "pkg://hoi2robot.configs"  # configs/ is installed as the package hoi2robot.configs (see setup.py)


def run_dir() -> Path:
    """The output folder of the current Hydra run (``hydra.run.dir``), created if needed."""
    from hydra.core.hydra_config import HydraConfig

    path = Path(HydraConfig.get().runtime.output_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def compose_config(name: str, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """The project config ``configs/<name>.yaml`` composed with ``overrides`` (a DictConfig), from code: inside a
    running Hydra app (every console script; Hydra is initialized there on this same config package) on its search
    path, elsewhere (a library call, a ROS node, a test) on the installed config package."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return compose(config_name=name, overrides=list(overrides))
    with initialize_config_module(config_module="hoi2robot.configs", version_base=None):
        return compose(config_name=name, overrides=list(overrides))


def to_plain(cfg: Any) -> Any:
    """An OmegaConf config as plain, JSON-serializable Python containers (interpolations resolved)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def machine_info() -> dict[str, Any]:
    """What a benchmark number was measured on."""
    import mujoco
    import numpy

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "mujoco": mujoco.__version__,
        "numpy": numpy.__version__,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,  # 1/5/15 min: others' jobs slow runs
    }


# The environment variables that change what a benchmark row (= demo source) does: the hand rows' retarget config,
# the generator and the generated row's context frame, tracker and depth, the policy row's checkpoint. A resumable
# demo collection keys its saved seeds on them.
ROW_ENV = ("HOI2ROBOT_RETARGET", "HOI2ROBOT_GENERATOR", "HOI2ROBOT_CONTEXT", "HOI2ROBOT_TRACKER", "HOI2ROBOT_DEPTH",
           "HOI2ROBOT_POLICY")


def hoi2robot_env() -> dict[str, str]:
    """The ``HOI2ROBOT_*`` environment variables set for a run (generator, retarget config, policy, ...): they change
    what the benchmark rows do, so records keep them next to the config."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("HOI2ROBOT_")}


def share_cores(workers: int) -> int:
    """Process-pool initializer: give each of ``workers`` worker processes its share of the cores for torch's
    intra-op threads (returned). Without it every worker runs torch on all cores: two ``generated`` collection
    workers on 2 cores kept 4-6 threads runnable and took ~35 s per attempt each instead of ~9 s alone."""
    n = max(1, (os.cpu_count() or 1) // max(1, int(workers)))
    import torch

    torch.set_num_threads(n)
    return n


def worker_pool(workers: int, initializer: Any = None, initargs: tuple = ()):
    """A spawn ``ProcessPoolExecutor`` whose workers exit when the process that made it dies.

    A spawned worker holds both ends of the pool's call queue, so it never sees the queue close: killing a run
    (SIGTERM, SIGKILL, a lost terminal) left its idle workers alive, each holding its env and models (1.8 GB a
    ``hoi-datagen`` worker). Each worker here watches its parent and leaves when it is gone.
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_watch_parent,
                               initargs=(os.getpid(), initializer, tuple(initargs)))


def _watch_parent(parent: int, initializer: Any, initargs: tuple, period_s: float = 1.0) -> None:
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period_s)
        os._exit(1)  # orphaned: nothing will ever read this worker's results

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


_OPEN_AT_EXIT: weakref.WeakSet = weakref.WeakSet()


def close_at_exit(resource: Any) -> Any:
    """Have ``resource.close()`` called at interpreter exit if it is still alive then; returns ``resource``.

    For native handles (MuJoCo renderers, MediaPipe landmarkers) held in process-wide caches: left to the
    interpreter's teardown they are freed after what they depend on (the EGL display MuJoCo terminates in an exit
    handler, MediaPipe's C bindings) and every worker process printed EGLError / TypeError tracebacks as it exited.
    The handler is registered again on every call, so it runs before any exit handler registered by then (exit
    handlers run last in, first out), MuJoCo's ``eglTerminate`` included. Holds no reference: a resource collected
    earlier is not kept alive."""
    _OPEN_AT_EXIT.add(resource)
    atexit.unregister(_close_open_resources)
    atexit.register(_close_open_resources)
    return resource


def _close_open_resources() -> None:
    for resource in list(_OPEN_AT_EXIT):
        try:
            resource.close()
        except Exception:  # noqa: BLE001 - the process is exiting; one failed close must not stop the others
            pass
    _OPEN_AT_EXIT.clear()


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write JSON atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    os.replace(tmp, path)
    return path
