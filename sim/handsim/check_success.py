"""Demo success rate of the engine's scripted demos per task, without rendering.

``python -m sim.handsim.check_success --seeds 40 [--first 0] [--tasks Push Stack] [--verbose]``: plans and plays
the demo of each (task, seed) exactly as :func:`sim.handsim.engine.make_clip` does (same randomization stream, no
frames rendered) and prints the success rate per task and the failing seeds.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from sim.handsim.engine import EngineConfig, choose_side, demo_rng, get_scene
from sim.handsim.demos import Player, plan_demo

TASKS = ("Lift", "Stack", "PickPlaceCan", "Push")


def run_demo(task: str, seed: int, config: EngineConfig = EngineConfig(), on_tick=None):
    """Play the demo of (task, seed) without rendering; returns (success, scene, player)."""
    scene = get_scene(task)
    rng = demo_rng(task, seed)
    scene.reset(seed)
    side = choose_side(task, rng, config, scene)
    rng.choice(config.skin_tones), rng.choice(config.sleeves)  # keep the stream aligned with make_clip
    rng.uniform(*config.light_gain), rng.uniform(*config.ambient)
    rng.uniform(-config.light_tilt, config.light_tilt, 3), rng.uniform(*config.surface_tint, 3)
    plan = plan_demo(scene, side, rng, config)
    player = Player(scene, side, plan)
    player.start()
    player.run(on_tick or (lambda t: None))
    ok = scene.success(side, player.grasp_point())
    return bool(ok), scene, player


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40, help="number of seeds: first .. first+N-1")
    ap.add_argument("--first", type=int, default=0, help="first seed")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS))
    ap.add_argument("--verbose", action="store_true", help="print the final object positions of failures")
    a = ap.parse_args(argv)
    for task in a.tasks:
        t0 = time.perf_counter()
        fails = []
        for seed in range(a.first, a.first + a.seeds):
            ok, scene, _ = run_demo(task, seed)
            if not ok:
                fails.append(seed)
                if a.verbose:
                    pos = {k: np.round(scene.data.xpos[b], 3).tolist() for k, b in scene.obj_body.items()}
                    print(f"  {task} seed {seed} failed: {pos}", flush=True)
        n = a.seeds
        print(f"{task}: {n - len(fails)}/{n} = {(n - len(fails)) / n:.0%} ({time.perf_counter() - t0:.0f} s)"
              f"{'; failing seeds ' + str(fails) if fails else ''}", flush=True)


if __name__ == "__main__":
    main()
