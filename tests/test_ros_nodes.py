"""The plan node over real DDS (loopback only, own domain per test): started as a process, driven as a client would.

The pipeline is ``hoi_ros.fake_pipeline`` (same interface as hoi2robot.pipeline, no models, sleeps per stage), so
these tests measure the node: validation, feedback, cancel, queueing, topic mode, parameters, robustness.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("hoi_interfaces", reason="build it with ros2_ws/build_interfaces.sh")

from action_msgs.msg import GoalStatus  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from hoi_ros.hostile import hostile_goals, hostile_topic_messages  # noqa: E402
from hoi_ros.image_codec import camera_info_from_model, rgb_to_image  # noqa: E402
from hoi_ros.testing import (  # noqa: E402
    NodeProcess,
    PlanClient,
    exclusive,
    fresh_domain,
    make_goal,
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


K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])
RGB = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def start_plan_node(tmp_path: Path, **params):
    domain = fresh_domain()
    env = ros_env(domain, tmp_path / "ros_log")
    base = {
        "pipeline.factory": "hoi_ros.fake_pipeline:FakePipeline",
        "pipeline.config_name": "",
        "fake.stage_seconds": 0.15,
        "output.dir": str(tmp_path / "plans"),
        "publish.video_fps": 200.0,
    }
    base.update(params)
    pf = write_params(tmp_path / "plan_node.yaml", "hoi_plan_node", base)
    return domain, NodeProcess("hoi_ros.plan_node", env, pf).start()


def call_trigger(client: PlanClient, name: str, timeout: float = 10.0) -> dict:
    cli = client.node.create_client(Trigger, name)
    assert cli.wait_for_service(timeout_sec=timeout), f"service {name} not found"
    res = client._wait(cli.call_async(Trigger.Request()), timeout)
    return json.loads(res.message) if res.message.startswith("{") else {"message": res.message}


def test_happy_path_feedback_results_and_outputs(tmp_path):
    domain, node = start_plan_node(tmp_path)
    try:
        with PlanClient(domain) as client:
            client.subscribe(JointTrajectory, "joint_trajectory")
            client.subscribe(Image, "generated_video")
            from nav_msgs.msg import Path as PathMsg
            from visualization_msgs.msg import MarkerArray

            client.subscribe(PathMsg, "ee_path", latched=True)
            client.subscribe(String, "plan_status")
            client.subscribe(MarkerArray, "hand_markers", latched=True)
            assert client.wait_for_server(30), node.output()
            time.sleep(0.5)  # let the subscriptions match
            out = client.plan(make_goal(RGB, K, "pick up the red cube", seed=4))
            assert out.accepted and out.status == GoalStatus.STATUS_SUCCEEDED, out.result
            res = out.result
            assert res.success and res.error_message == ""
            assert res.trajectory.joint_names == [f"panda_joint{i}" for i in range(1, 8)]  # gripper not in it
            assert len(res.trajectory.points) == 16 and len(res.ee_path.poses) == 16
            assert res.ee_path.header.frame_id == "panda_link0"
            timings = json.loads(res.timings_json)
            assert set(timings) >= {"generate", "track", "retarget", "ik", "total"}
            folder = Path(res.artifact_dir)
            assert folder.parent == tmp_path / "plans" and (folder / "joints.json").exists()
            stages = [s for _, s, _ in out.feedback]
            assert stages[0] == "accepted" and "generate" in stages and stages[-1] == "done"
            progress = [p for _, _, p in out.feedback]
            assert progress == sorted(progress) and progress[-1] == 1.0
            assert out.first_feedback_s is not None and out.first_feedback_s < 2.0
            assert client.wait_for(lambda: client.latest("joint_trajectory") is not None, 5)
            assert client.wait_for(lambda: len(client.messages["generated_video"]) == 16, 10)
            assert client.latest("ee_path") is not None and len(client.latest("hand_markers").markers) == 3
            # a second plan gets its own, generated folder
            out2 = client.plan(make_goal(RGB, K, "pick up the red cube", options_json='{"publish": false}'))
            assert out2.result.success and out2.result.artifact_dir != res.artifact_dir
            # every plan runs on the node's one planning thread (GL contexts / model state are per thread)
            assert client.wait_for(lambda: len(client.messages["plan_status"]) == 2, 5)
            threads = {w for m in client.messages["plan_status"] for w in json.loads(m.data)["warnings"]}
            assert len(threads) == 1 and "hoi-plan" in threads.pop()
    finally:
        node.stop()
    assert "plan succeeded" in node.output()


def test_plan_waits_for_a_fresh_joint_state_instead_of_starting_from_home(tmp_path):
    """With robot.joint_state_wait_s set and no joint state yet when a goal arrives, the node waits for one and the
    plan starts there (not at the home pose); with none arriving in time it plans from home and says so."""
    from sensor_msgs.msg import JointState

    from policy.retarget.ik import PANDA_HOME

    q = np.asarray(PANDA_HOME) + np.array([0.3, -0.2, 0.1, 0.2, -0.1, 0.1, 0.2])
    domain, node = start_plan_node(tmp_path, **{"robot.joint_state_wait_s": 20.0})
    try:
        with PlanClient(domain) as client:
            assert client.wait_for_server(30), node.output()
            pub = client.node.create_publisher(JointState, "joint_states", 10)
            start = time.monotonic() + 1.5  # the first joint state comes 1.5 s after the goal is sent

            def tick():
                if time.monotonic() >= start:
                    pub.publish(JointState(name=[f"panda_joint{i}" for i in range(1, 8)], position=q.tolist()))

            client.node.create_timer(0.1, tick)
            out = client.plan(make_goal(RGB, K, "pick up the red cube", seed=1))
            assert out.status == GoalStatus.STATUS_SUCCEEDED, out.result
            np.testing.assert_allclose(out.result.trajectory.points[0].positions, q, atol=1e-6)
    finally:
        node.stop()
    assert "planning from the home pose" not in node.output()

    (tmp_path / "none").mkdir()
    domain, node = start_plan_node(tmp_path / "none", **{"robot.joint_state_wait_s": 0.5})
    try:
        with PlanClient(domain) as client:
            assert client.wait_for_server(30), node.output()
            out = client.plan(make_goal(RGB, K, "pick up the red cube", seed=1))
            assert out.status == GoalStatus.STATUS_SUCCEEDED, out.result
            np.testing.assert_allclose(out.result.trajectory.points[0].positions, PANDA_HOME, atol=1e-6)
    finally:
        node.stop()
    assert "within 0.5 s: planning from the home pose" in node.output()


def test_cancel_mid_plan_is_prompt(tmp_path):
    domain, node = start_plan_node(tmp_path, **{"fake.stage_seconds": 3.0})
    try:
        with PlanClient(domain) as client:
            assert client.wait_for_server(30), node.output()
            handle, out = client.send(make_goal(RGB, K, "lift the cube"))
            assert handle is not None
            assert client.wait_for(lambda: any(s == "generate" for _, s, _ in out.feedback), 5)
            t0 = time.perf_counter()
            client.cancel(handle)
            out = client.result(handle, out, timeout=10)
            assert out.status == GoalStatus.STATUS_CANCELED and not out.result.success
            assert "cancel" in out.result.error_message
            assert out.t_done - t0 < 1.0  # a 12 s plan stops within a second
            stats = call_trigger(client, "/hoi_plan_node/stats")  # the node is free again
            assert stats["cancelled"] == 1 and stats["pending"] == 0
    finally:
        node.stop()


def test_concurrent_goals_reject_policy(tmp_path):
    domain, node = start_plan_node(tmp_path, **{"fake.stage_seconds": 0.5, "queue.policy": "reject"})
    try:
        with PlanClient(domain) as client:
            assert client.wait_for_server(30), node.output()
            sent = [client.send(make_goal(RGB, K, f"goal {i}")) for i in range(4)]
            accepted = [(h, o) for h, o in sent if h is not None]
            assert len(accepted) == 1 and sent[0][0] is not None  # one plan at a time, the others rejected
            out = client.result(*accepted[0], timeout=30)
            assert out.result.success
            stats = call_trigger(client, "/hoi_plan_node/stats")
            assert stats["rejected"] == 3 and stats["succeeded"] == 1 and stats["pending"] == 0
    finally:
        node.stop()


def test_concurrent_goals_queue_policy_from_yaml(tmp_path):
    # parameters come from the YAML file: queue policy, queue length, output folder
    params = {"fake.stage_seconds": 0.2, "queue.policy": "queue", "queue.max_length": 2,
              "output.dir": str(tmp_path / "queued")}
    domain, node = start_plan_node(tmp_path, **params)
    try:
        with PlanClient(domain) as client:
            assert client.wait_for_server(30), node.output()
            sent = [client.send(make_goal(RGB, K, f"goal {i}", options_json='{"publish": false}')) for i in range(5)]
            accepted = [(h, o) for h, o in sent if h is not None]
            assert len(accepted) == 3  # 1 running + 2 queued; the rest rejected
            outs = [client.result(h, o, timeout=60) for h, o in accepted]
            assert all(o.result.success for o in outs)
            assert any(s == "queued" for o in outs for _, s, _ in o.feedback)
            # serialized: a plan's first pipeline stage starts after the previous plan's last feedback ("done")
            def when(o, stage, pick):
                return pick(o.t_accepted + t for t, s, _ in o.feedback if s == stage)

            spans = sorted((when(o, "generate", min), when(o, "done", max)) for o in outs)
            assert all(nxt[0] >= prev[1] for prev, nxt in zip(spans, spans[1:])), spans
            assert {Path(o.result.artifact_dir).parent for o in outs} == {tmp_path / "queued"}
    finally:
        node.stop()


def test_bad_parameters_stop_the_node_with_a_clear_error(tmp_path):
    domain, node = start_plan_node(tmp_path, **{"queue.policy": "sometimes"})
    assert node.proc.wait(60) != 0
    assert "queue.policy" in node.output() and "reject" in node.output()
    domain, node = start_plan_node(tmp_path, **{"limits.max_image_side": 100_000})
    assert node.proc.wait(60) != 0
    assert "limits.max_image_side" in node.output()


def test_topic_mode_plans_from_latest_image_and_instruction(tmp_path):
    domain, node = start_plan_node(tmp_path)
    try:
        with PlanClient(domain) as client:
            client.subscribe(String, "plan_status")
            client.subscribe(JointTrajectory, "joint_trajectory")
            assert client.wait_for_server(30), node.output()
            pub_img = client.node.create_publisher(Image, "image", 5)
            pub_info = client.node.create_publisher(CameraInfo, "camera_info", 5)
            pub_txt = client.node.create_publisher(String, "instruction", 10)
            matched = lambda: pub_txt.get_subscription_count() > 0 and pub_img.get_subscription_count() > 0  # noqa: E731
            assert client.wait_for(matched, 10)
            pub_txt.publish(String(data="pick up the cube"))  # no image yet
            assert client.wait_for(lambda: client.latest("plan_status") is not None, 5)
            assert "no recent image" in json.loads(client.latest("plan_status").data)["error"]
            from hoi2robot.contracts import CameraModel

            cam = CameraModel(name="cam", K=K, width=64, height=48, base_T_cam=np.eye(4))
            for _ in range(3):
                pub_img.publish(rgb_to_image(RGB))
                pub_info.publish(camera_info_from_model(cam))
                time.sleep(0.1)
            pub_txt.publish(String(data="pick up the cube"))
            ok = client.wait_for(lambda: json.loads(client.latest("plan_status").data)["state"] == "succeeded", 15)
            assert ok, [m.data for m in client.messages["plan_status"]]
            assert client.latest("joint_trajectory") is not None
    finally:
        node.stop()


def test_thousand_hostile_goals_and_messages_leave_the_node_alive(tmp_path):
    domain, node = start_plan_node(tmp_path, **{"queue.policy": "queue", "queue.max_length": 64})
    n_goals, n_msgs = 700, 400
    try:
        with PlanClient(domain) as client:
            client.subscribe(String, "plan_status", keep=10_000)
            assert client.wait_for_server(30), node.output()
            errors: dict[str, int] = {}
            goals = list(hostile_goals(n_goals, seed=1, big=2))
            for label, goal in goals[:2]:  # the two ~50 MB images, one at a time (about 1 s each over loopback)
                out = client.plan(goal, timeout=180)
                assert out.accepted and not out.result.success and "image" in out.result.error_message, label
                errors[label] = 1
            for start in range(2, n_goals, 16):
                batch = [(label, client.send(goal, timeout=60)) for label, goal in goals[start:start + 16]]
                for label, (handle, out) in batch:
                    assert handle is not None, f"{label}: rejected instead of answered"
                    out = client.result(handle, out, timeout=60)
                    assert not out.result.success and out.result.error_message, label
                    assert out.status == GoalStatus.STATUS_ABORTED, label
                    errors[label] = errors.get(label, 0) + 1
                assert node.alive(), node.output()[-3000:]
            # sensor inputs are best-effort (a burst may drop some, as on a real camera link); instructions are
            # reliable with a 100-deep queue on the node, so every one of them must be answered
            pubs = {role: client.node.create_publisher(t, role, n_msgs) for role, t in
                    (("image", Image), ("camera_info", CameraInfo), ("depth", Image), ("instruction", String))}
            assert client.wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 10)
            n_instr = 0
            for label, role, msg in hostile_topic_messages(n_msgs, seed=2):
                pubs[role].publish(msg)
                n_instr += role == "instruction"
            ok = client.wait_for(lambda: len(client.messages["plan_status"]) >= n_instr, 60)
            assert ok, (len(client.messages["plan_status"]), n_instr, node.output()[-2000:])
            statuses = [json.loads(m.data) for m in client.messages["plan_status"]]
            assert all(s["state"] in ("invalid", "rejected") for s in statuses), statuses[:5]
            assert node.alive(), node.output()[-3000:]
            stats = call_trigger(client, "/hoi_plan_node/stats")
            assert stats["invalid"] == n_goals and stats["succeeded"] == 0
            # still answering: a valid goal succeeds
            out = client.plan(make_goal(RGB, K, "pick up the cube", options_json='{"publish": false}'), timeout=30)
            assert out.result.success, out.result.error_message
    finally:
        code = node.stop()
    assert code in (0, -2, None), node.output()[-3000:]
    assert "Traceback" not in node.output()
    assert len(errors) >= 30 and sum(errors.values()) + n_msgs >= 1000
