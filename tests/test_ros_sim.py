"""The MuJoCo sim bridge over real DDS, and the whole ROS happy path: bridge camera -> plan node (real pipeline,
engine generator) -> JointTrajectory -> the simulated Panda completes the task."""
from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("hoi_interfaces", reason="build it with ros2_ws/build_interfaces.sh")

from action_msgs.msg import GoalStatus  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_msgs.msg import Bool, String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from hoi_ros.hostile import hostile_trajectories  # noqa: E402
from hoi_ros.image_codec import depth_to_metres, image_to_rgb  # noqa: E402
from hoi_ros.testing import (  # noqa: E402
    PKG_ROOT,
    NodeProcess,
    PlanClient,
    RosProbe,
    exclusive,
    expert_joint_trajectory,
    fresh_domain,
    joint_trajectory_to_msg,
    ros_env,
    write_params,
)

pytestmark = pytest.mark.xdist_group("ros")


@pytest.fixture(autouse=True)
def _one_ros_test_at_a_time():
    """Process-spawning ROS tests (each in its own domain) run one at a time, also across xdist workers: a file lock,
    since --dist loadgroup does not group here (pytest 9.2 + pytest-xdist 3.8.0)."""
    with exclusive():
        yield


JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
BRIDGE_TOPICS = [("camera/image", Image, False), ("camera/camera_info", CameraInfo, False),
                 ("camera/depth", Image, False), ("camera/pose", PoseStamped, True), ("joint_states", JointState, False),
                 ("task_success", Bool, True), ("execution_status", String, True)]  # fmt: skip


def start_bridge(tmp_path: Path, domain: int, **params) -> NodeProcess:
    base = {"task": "Lift", "seed": 0, "control_rate_hz": 200.0, "publish_rate_hz": 5.0, "settle_s": 1.0}
    base.update(params)
    pf = write_params(tmp_path / "sim_bridge.yaml", "hoi_sim_bridge", base)
    return NodeProcess("hoi_ros.sim_bridge", ros_env(domain, tmp_path / "ros_log"), pf).start()


def _status(probe: RosProbe) -> dict:
    msg = probe.latest("execution_status")
    return json.loads(msg.data) if msg is not None else {}


def test_bridge_streams_the_scene_and_executes_a_joint_trajectory(tmp_path):
    t, q, g = expert_joint_trajectory("Lift", 0)  # known-good joints: the scripted expert solving Lift seed 0
    domain = fresh_domain()
    bridge = start_bridge(tmp_path, domain)
    try:
        with RosProbe(domain) as probe:
            for topic, typ, latched in BRIDGE_TOPICS:
                probe.subscribe(typ, topic, latched=latched)
            pub = probe.node.create_publisher(JointTrajectory, "joint_trajectory", 50)
            assert probe.wait_for(lambda: probe.latest("camera/depth") is not None and probe.latest("joint_states")
                                  is not None, 90), bridge.output()
            rgb = image_to_rgb(probe.latest("camera/image"))
            assert rgb.shape == (256, 256, 3) and rgb.std() > 5  # a rendered scene, not a blank frame
            depth = depth_to_metres(probe.latest("camera/depth"))
            assert depth.shape == (256, 256) and 0.2 < np.median(depth) < 3.0
            info = probe.latest("camera/camera_info")
            from sim.tasks import make_env

            env = make_env("Lift", cameras=("egoview",), image_size=(256, 256))
            try:
                cam = env.unwrapped.camera_model("egoview")
            finally:
                env.close()
            np.testing.assert_allclose(np.reshape(info.k, (3, 3)), cam.K)
            pose = probe.latest("camera/pose").pose
            xyz = [pose.position.x, pose.position.y, pose.position.z]
            np.testing.assert_allclose(xyz, cam.base_T_cam[:3, 3], atol=1e-9)
            js = probe.latest("joint_states")
            assert js.name == JOINTS + ["panda_finger_joint1"]
            np.testing.assert_allclose(js.position[:7], q[0], atol=1e-6)
            assert probe.latest("task_success").data is False

            # hostile trajectories are rejected and leave the bridge running
            assert probe.wait_for(lambda: pub.get_subscription_count() > 0, 10)
            for i, (label, msg) in enumerate(hostile_trajectories(100, JOINTS, seed=3)):
                pub.publish(msg)
                if i % 5 == 4:  # in batches that fit the bridge's subscription queue (depth 10)
                    assert probe.wait_for(lambda: bridge.output().count("trajectory rejected") == i + 1, 10), label
            assert probe.wait_for(lambda: _status(probe).get("state") == "rejected", 10)
            assert bridge.alive(), bridge.output()[-2000:]
            assert probe.latest("task_success").data is False  # nothing moved

            pub.publish(joint_trajectory_to_msg(t, q, g, JOINTS))
            assert probe.wait_for(lambda: _status(probe).get("state") == "done", 120), bridge.output()[-2000:]
            status = _status(probe)
            assert status["success"] is True and status["ee_error_mean"] < 0.03, status
            assert probe.wait_for(lambda: probe.latest("task_success").data is True, 10)
            js = probe.latest("joint_states")
            assert np.max(np.abs(np.asarray(js.position[:7]) - q[0])) > 0.05  # the arm moved
    finally:
        bridge.stop()
    rejected = bridge.output().count("trajectory rejected")
    assert rejected == 100, rejected


ENGINE = importlib.util.find_spec("sim.handsim.replay") is not None


@pytest.mark.skipif(not ENGINE, reason="the engine generator (sim/handsim/replay.py) is not in this checkout yet")
def test_sim_happy_path_plan_node_and_bridge_complete_the_task(tmp_path):
    domain = fresh_domain()
    bridge = start_bridge(tmp_path, domain, control_rate_hz=100.0)
    plan_params = yaml_params(PKG_ROOT / "config" / "plan_node_sim.yaml", "hoi_plan_node")
    plan_params.update({"generator.task": "Lift", "generator.seed": 0, "output.dir": str(tmp_path / "plans")})
    pf = write_params(tmp_path / "plan_node.yaml", "hoi_plan_node", plan_params)
    planner = NodeProcess("hoi_ros.plan_node", ros_env(domain, tmp_path / "ros_log"), pf).start()
    try:
        with PlanClient(domain) as client:
            for topic, typ, latched in BRIDGE_TOPICS:
                client.subscribe(typ, topic, latched=latched)
            assert client.wait_for(lambda: client.latest("camera/image") is not None, 90), bridge.output()
            assert client.wait_for_server(180), planner.output()[-3000:]
            from hoi_interfaces.action import GeneratePlan

            goal = GeneratePlan.Goal(instruction="lift the cube", seed=0)
            goal.image, goal.camera_info = client.latest("camera/image"), client.latest("camera/camera_info")
            q_start = np.asarray(client.latest("joint_states").position[:7])
            out = client.plan(goal, timeout=400)
            assert out.status == GoalStatus.STATUS_SUCCEEDED, (out.result.error_message, planner.output()[-3000:])
            traj = out.result.trajectory
            assert traj.joint_names == JOINTS + ["panda_finger_joint1"]
            # the plan starts where the simulated arm is (q0 from joint_states)
            np.testing.assert_allclose(traj.points[0].positions[:7], q_start, atol=1e-3)
            stages = [s for _, s, _ in out.feedback]
            assert {"generate", "track", "retarget", "ik"} <= set(stages)
            assert client.wait_for(lambda: _status(client).get("state") == "done", 300), bridge.output()[-2000:]
            status = _status(client)
            assert status["ee_error_mean"] < 0.05, status
            if not status["success"]:
                # Is it the chain or the plan? Replay the same plan's EE trajectory with the retargeting package's own
                # executor in-process: if that succeeds, the ROS chain lost something.
                from hoi2robot.contracts import EETrajectory
                from policy.retarget import execute_ee_trajectory
                from sim.tasks import make_env

                env = make_env("Lift")
                try:
                    ee = EETrajectory.load(Path(out.result.artifact_dir) / "ee.npz")
                    ref = execute_ee_trajectory(env, ee, seed=0)
                finally:
                    env.close()
                assert not ref["success"], f"the plan solves Lift in-process but not over ROS: {status}"
                pytest.xfail(f"the pipeline's plan for Lift seed 0 does not solve the task in-process either ({ref}); "
                             "the ROS chain delivered and executed it")
            assert client.latest("task_success").data is True
    finally:
        planner.stop()
        bridge.stop()


def yaml_params(path: Path, node: str) -> dict:
    import yaml

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    return flat(yaml.safe_load(path.read_text())[node]["ros__parameters"])
