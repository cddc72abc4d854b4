"""ROS benchmark: the plan node and sim bridge over real DDS (loopback), started as processes, driven as a client.

    python -m hoi_ros.bench [--goals 20] [--hostile-goals 700] [--hostile-msgs 400] [--real-plans 1]
                            [--out bench/results/ros.json]

Measures (a table on stdout, everything in the JSON):
* time from "goal accepted" to the first feedback message (target <= 0.5 s), with the fake pipeline (node overhead
  alone) and with the real pipeline (engine generator) while the bridge runs;
* per-stage latency of real plans (generate / track / retarget / ik / save, from the result's timings_json) and the
  client-side round trip;
* the malformed-input run: hostile goals, topic messages and trajectories; crash count (target 0) = node processes
  that died, and whether a valid goal still succeeds afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hoi2robot.config import machine_info
from hoi_ros.hostile import hostile_goals, hostile_topic_messages, hostile_trajectories
from hoi_ros.testing import NodeProcess, PKG_ROOT, PlanClient, make_goal, ros_env, write_params

REPO = PKG_ROOT.parents[2]
JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])


def _q(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = np.asarray(values)
    return {"n": int(v.size), "median": float(np.median(v)), "p95": float(np.percentile(v, 95)), "max": float(v.max()),
            "min": float(v.min())}


def _fake_node(tmp: Path, domain: int, **params) -> NodeProcess:
    base = {"pipeline.factory": "hoi_ros.fake_pipeline:FakePipeline", "pipeline.config_name": "",
            "fake.stage_seconds": 0.1, "output.dir": str(tmp / "plans"), "publish.video": False}
    base.update(params)
    pf = write_params(tmp / f"plan_{domain}.yaml", "hoi_plan_node", base)
    return NodeProcess("hoi_ros.plan_node", ros_env(domain, tmp / "log"), pf, name=f"plan_node_{domain}").start()


def bench_feedback_fake(tmp: Path, domain: int, goals: int) -> dict[str, Any]:
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    node = _fake_node(tmp, domain)
    try:
        with PlanClient(domain) as client:
            if not client.wait_for_server(60):
                raise RuntimeError(node.output()[-2000:])
            first, total, stage_fb = [], [], []
            for i in range(goals):
                out = client.plan(make_goal(rgb, K, f"pick up the cube {i}", options_json='{"publish": false}'), 60)
                if not out.result.success:
                    raise RuntimeError(out.result.error_message)
                first.append(out.first_feedback_s)
                stage_fb.append(next(t for t, s, _ in out.feedback if s == "generate"))
                total.append(out.t_done - out.t_sent)
    finally:
        node.stop()
    return {"first_feedback_s": _q(first), "first_stage_feedback_s": _q(stage_fb), "round_trip_s": _q(total),
            "pipeline": "fake, 4 stages x 0.1 s"}


def bench_hostile(tmp: Path, domain: int, n_goals: int, n_msgs: int, n_traj: int) -> dict[str, Any]:
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    node = _fake_node(tmp, domain, **{"queue.policy": "queue", "queue.max_length": 64})
    pf = write_params(tmp / "bridge_hostile.yaml", "hoi_sim_bridge", {"task": "Lift", "publish_rate_hz": 2.0})
    bridge = NodeProcess("hoi_ros.sim_bridge", ros_env(domain, tmp / "log"), pf, name=f"bridge_{domain}").start()
    answered, errors, latency = 0, {}, []
    try:
        with PlanClient(domain) as client:
            if not client.wait_for_server(60):
                raise RuntimeError(node.output()[-2000:])
            goals = list(hostile_goals(n_goals, seed=7))
            for start in range(0, len(goals), 32):
                batch = [(label, client.send(goal, timeout=120)) for label, goal in goals[start:start + 32]]
                for label, (handle, out) in batch:
                    if handle is None:
                        continue
                    out = client.result(handle, out, timeout=120)
                    if not out.result.success and out.result.error_message:
                        answered += 1
                        latency.append(out.t_done - out.t_sent)
                        errors[label] = errors.get(label, 0) + 1
            pubs = {role: client.node.create_publisher(t, role, 50) for role, t in
                    (("image", Image), ("camera_info", CameraInfo), ("depth", Image), ("instruction", String))}
            client.wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 10)
            for i, (_, role, msg) in enumerate(hostile_topic_messages(n_msgs, seed=8)):
                pubs[role].publish(msg)
                if i % 20 == 19:
                    time.sleep(0.05)
            traj_pub = client.node.create_publisher(JointTrajectory, "joint_trajectory", 10)
            client.wait_for(lambda: traj_pub.get_subscription_count() >= 1, 90)  # the bridge
            sent_traj = 0
            for i, (_, msg) in enumerate(hostile_trajectories(n_traj, JOINTS, seed=9)):
                traj_pub.publish(msg)
                sent_traj += 1
                if i % 5 == 4:
                    client.wait_for(lambda: bridge.output().count("trajectory rejected") >= i + 1, 10)
            time.sleep(1.0)
            rgb = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
            after = client.plan(make_goal(rgb, K, "pick up the cube", options_json='{"publish": false}'), 60)
    finally:
        plan_alive, bridge_alive = node.alive(), bridge.alive()
        node.stop()
        bridge.stop()
    return {
        "hostile_goals": n_goals, "answered_with_error": answered, "goal_error_latency_s": _q(latency),
        "hostile_topic_messages": n_msgs, "hostile_trajectories": sent_traj,
        "bridge_rejections_logged": bridge.output().count("trajectory rejected"),
        "total_hostile_inputs": n_goals + n_msgs + sent_traj,
        "crashes": int(not plan_alive) + int(not bridge_alive),
        "tracebacks_in_logs": node.output().count("Traceback") + bridge.output().count("Traceback"),
        "valid_goal_after_run_succeeded": bool(after.result.success), "categories": errors,
    }


def bench_real(tmp: Path, domain: int, plans: int, task: str) -> dict[str, Any]:
    """Real pipeline (configs/pipeline.yaml, engine generator) planning from the sim bridge's camera."""
    import yaml

    from hoi_interfaces.action import GeneratePlan
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import String

    pf = write_params(tmp / "bridge.yaml", "hoi_sim_bridge", {"task": task, "seed": 0, "control_rate_hz": 100.0})
    bridge = NodeProcess("hoi_ros.sim_bridge", ros_env(domain, tmp / "log"), pf, name="bridge_real").start()
    raw = yaml.safe_load((PKG_ROOT / "config" / "plan_node_sim.yaml").read_text())["hoi_plan_node"]["ros__parameters"]

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    params = flat(raw)
    params.update({"generator.task": task, "generator.seed": 0, "output.dir": str(tmp / "real_plans")})
    t_start = time.perf_counter()
    planner = NodeProcess("hoi_ros.plan_node", ros_env(domain, tmp / "log"),
                          write_params(tmp / "plan_real.yaml", "hoi_plan_node", params), name="plan_real").start()
    rows = []
    try:
        with PlanClient(domain) as client:
            client.subscribe(Image, "camera/image")
            client.subscribe(CameraInfo, "camera/camera_info")
            client.subscribe(JointState, "joint_states")
            client.subscribe(String, "execution_status", latched=True)
            if not client.wait_for_server(300):
                raise RuntimeError(planner.output()[-3000:])
            startup = time.perf_counter() - t_start
            client.wait_for(lambda: client.latest("camera/image") is not None, 60)
            for i in range(plans):
                goal = GeneratePlan.Goal(instruction="lift the cube", seed=i)
                goal.image, goal.camera_info = client.latest("camera/image"), client.latest("camera/camera_info")
                n_status = len(client.messages["execution_status"])
                out = client.plan(goal, timeout=600)
                t_exec = time.perf_counter()

                def executed() -> dict:
                    new = client.messages["execution_status"][n_status:]
                    states = [json.loads(m.data) for m in new]
                    return next((st for st in states if st.get("state") == "done"), {})

                done = executed() if not out.result.success else (client.wait_for(lambda: bool(executed()), 300) and executed())
                rows.append({"success": bool(out.result.success), "error": out.result.error_message,
                             "first_feedback_s": out.first_feedback_s,
                             "first_stage_feedback_s": next((t for t, s, _ in out.feedback if s == "generate"), None),
                             "round_trip_s": out.t_done - out.t_sent,
                             "timings": json.loads(out.result.timings_json or "{}"),
                             "feedback_messages": len(out.feedback),
                             "sim_task_success": bool(done and done.get("success")),
                             "sim_execution_wall_s": time.perf_counter() - t_exec if done else None,
                             "sim_execution": done or None})
                if i + 1 < plans:
                    from std_srvs.srv import Trigger

                    reset = client.node.create_client(Trigger, "/hoi_sim_bridge/reset")
                    reset.wait_for_service(timeout_sec=10)
                    client._wait(reset.call_async(Trigger.Request()), 30)
                    time.sleep(1.0)
    finally:
        planner.stop()
        bridge.stop()
    return {"task": task, "startup_to_server_s": startup, "plans": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--goals", type=int, default=20, help="goals for the first-feedback measurement (fake pipeline)")
    ap.add_argument("--hostile-goals", type=int, default=700)
    ap.add_argument("--hostile-msgs", type=int, default=400)
    ap.add_argument("--hostile-trajectories", type=int, default=100)
    ap.add_argument("--real-plans", type=int, default=1, help="plans with the real pipeline (0 = skip)")
    ap.add_argument("--task", default="Lift")
    ap.add_argument("--domain", type=int, default=200, help="first ROS domain id used (3 consecutive)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "ros.json"))
    args = ap.parse_args(argv)
    for name in ("goals", "hostile_goals", "hostile_msgs", "hostile_trajectories", "real_plans"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')} must be >= 0")
    if not 0 <= args.domain <= 229:
        ap.error("--domain must be in 0..229")
    os.environ.setdefault("MUJOCO_GL", "egl")
    with tempfile.TemporaryDirectory(prefix="hoi_ros_bench_") as tmp_s:
        tmp = Path(tmp_s)
        t0 = time.perf_counter()
        cli = sys.argv[1:] if argv is None else argv
        record: dict[str, Any] = {"command": "python -m hoi_ros.bench " + " ".join(cli)}
        print("[1/3] first feedback, fake pipeline ...", flush=True)
        record["feedback_fake"] = bench_feedback_fake(tmp, args.domain, args.goals)
        print("[2/3] malformed-input run ...", flush=True)
        record["hostile"] = bench_hostile(tmp, args.domain + 1, args.hostile_goals, args.hostile_msgs,
                                          args.hostile_trajectories)
        if args.real_plans:
            print("[3/3] real pipeline through the sim bridge ...", flush=True)
            record["real"] = bench_real(tmp, args.domain + 2, args.real_plans, args.task)
        record["wall_s"] = time.perf_counter() - t0
    record["machine"] = machine_info()
    fb = record["feedback_fake"]["first_feedback_s"]
    h = record["hostile"]
    lines = [
        "| measure | value | target |",
        "|---|---|---|",
        f"| first feedback after accept, fake pipeline (median / p95 / max of {fb['n']}) | "
        f"{fb['median'] * 1000:.1f} / {fb['p95'] * 1000:.1f} / {fb['max'] * 1000:.1f} ms | <= 500 ms |",
        f"| round trip of a 4 x 0.1 s fake plan (median) | "
        f"{record['feedback_fake']['round_trip_s']['median']:.3f} s | |",
        f"| hostile inputs (goals + topic msgs + trajectories) | {h['total_hostile_inputs']} "
        f"({h['hostile_goals']} + {h['hostile_topic_messages']} + {h['hostile_trajectories']}) | >= 1000 |",
        f"| goals answered with an error result | {h['answered_with_error']} / {h['hostile_goals']} | all |",
        f"| error-result round trip per hostile goal, 32 in flight (median / max) | "
        f"{h['goal_error_latency_s']['median'] * 1000:.0f} / "
        f"{h['goal_error_latency_s']['max'] * 1000:.0f} ms | |",
        f"| crashes (node processes that died) | {h['crashes']} | 0 |",
        f"| valid goal succeeds after the run | {h['valid_goal_after_run_succeeded']} | True |",
    ]
    for i, row in enumerate(record.get("real", {}).get("plans", [])):
        stages = " / ".join(f"{k} {v:.2f}" for k, v in row["timings"].items())
        lines.append(f"| real plan {i} ({record['real']['task']}): first feedback | "
                     f"{row['first_feedback_s'] * 1000:.1f} ms | <= 500 ms |")
        lines.append(f"| real plan {i}: success / round trip | {row['success']} / {row['round_trip_s']:.1f} s | |")
        lines.append(f"| real plan {i}: executed by the sim bridge, task success | {row['sim_task_success']} | True |")
        lines.append(f"| real plan {i}: per-stage latency (s) | {stages} | |")
    if "real" in record:
        lines.append(f"| plan node start-up with the real pipeline (to action server) | "
                     f"{record['real']['startup_to_server_s']:.1f} s | |")
    table = "\n".join(lines)
    record["table"] = table
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(json.dumps(record, indent=2, default=float) + "\n")
    os.replace(tmp_out, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
