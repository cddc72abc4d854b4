"""The ``main()`` every hoi_ros node shares: init, build the node, spin until shutdown, clean up."""
from __future__ import annotations

import sys
from typing import Any, Callable

import rclpy
from rclpy.executors import ExternalShutdownException

from hoi_ros.params import ParamError

START_ERRORS = (ParamError, ValueError, ImportError, KeyError, RuntimeError)


def run_node(make_node: Callable[[], Any], logger: str, make_executor: Callable[[], Any], close: Callable[[Any], None],
             args: list[str] | None = None) -> int:
    """Run ``make_node()`` on ``make_executor()`` (both built after ``rclpy.init``); 2 (with a fatal log line)
    when the node cannot start, else 0."""
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        try:
            node = make_node()
        except START_ERRORS as exc:
            rclpy.logging.get_logger(logger).fatal(f"cannot start: {type(exc).__name__}: {exc}")
            return 2
        executor = make_executor()
        executor.add_node(node)
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        return 0
    finally:
        if node is not None:
            close(node)
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
