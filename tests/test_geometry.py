import numpy as np
from scipy.spatial.transform import Rotation

from hoi2robot.geometry import pose_matrix, quat_to_mat, rotation_vector
from sim.tasks.osc import MAX_DPOS, MAX_DROT, pose_delta_action


def test_rotations_agree_with_scipy():
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.normal(size=4) * rng.uniform(0.1, 3.0)  # any scale: normalized inside
        R = quat_to_mat(q)
        np.testing.assert_allclose(R, Rotation.from_quat(q[[1, 2, 3, 0]]).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(rotation_vector(R), Rotation.from_matrix(R).as_rotvec(), atol=1e-9)
    T = pose_matrix([1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(T, [[-1, 0, 0, 1], [0, -1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]], atol=1e-12)


def test_pose_delta_action_scales_and_clips():
    R = np.eye(3)
    a = pose_delta_action(np.zeros(3), R, np.array([0.01, -1.0, 0.0]), R, gain=2.0)
    np.testing.assert_allclose(a[:3], [2 * 0.01 / MAX_DPOS, -1.0, 0.0])
    np.testing.assert_allclose(a[3:], 0.0)
    small = Rotation.from_rotvec([0.0, 0.0, 0.1]).as_matrix()
    np.testing.assert_allclose(pose_delta_action(np.zeros(3), R, np.zeros(3), small)[3:], [0, 0, 0.1 / MAX_DROT])
