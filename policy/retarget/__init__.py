"""Retargeting hand tracks to robot trajectories (DESIGN.md "policy/retarget").

    from policy.retarget import Retargeter, load_config, solve_joint_trajectory, execute_ee_trajectory
    ee = Retargeter(load_config("default")).retarget(track, camera, depth=None)   # EETrajectory, base frame
    joints = solve_joint_trajectory(ee, q0)                                         # JointTrajectory (mink IK)
    result = execute_ee_trajectory(env, ee, seed=0)                                 # closed-loop OSC in sim
    cfg = load_config("default")                                                    # objects: section = object-aware
    result = execute_ee_trajectory(env, ee, seed=0, objects=cfg.objects)           # execution (the hoi-bench rows)

Heavy modules (mink, the simulator) are imported only by the functions that need them.
"""
from policy.retarget.config import ObjectAwareConfig, RetargetConfig, load_config
from policy.retarget.retargeter import RetargetError, RetargetReport, Retargeter, grasp_points

__all__ = [
    "ObjectAwareConfig",
    "RetargetConfig",
    "RetargetError",
    "RetargetReport",
    "Retargeter",
    "grasp_points",
    "load_config",
    "solve_joint_trajectory",
    "execute_ee_trajectory",
]


def solve_joint_trajectory(*args, **kwargs):
    """See :func:`policy.retarget.ik.solve_joint_trajectory`."""
    from policy.retarget.ik import solve_joint_trajectory as f

    return f(*args, **kwargs)


def execute_ee_trajectory(*args, **kwargs):
    """See :func:`policy.retarget.execute.execute_ee_trajectory`."""
    from policy.retarget.execute import execute_ee_trajectory as f

    return f(*args, **kwargs)
