"""Hydra configs of hoi2robot, installed as the package ``hoi2robot.configs`` (search path ``pkg://hoi2robot.configs``)."""
