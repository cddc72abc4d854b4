"""Typed, ranged ROS parameter declaration into a frozen dataclass (one validated config object per node).

    spec = [Param("queue.policy", "reject", "one of reject|queue", choices=("reject", "queue")), ...]
    values = declare_all(node, spec)        # {"queue.policy": "reject", ...}, after YAML/--ros-args overrides

Every parameter is declared read-only with its type, description and (for numbers) range, so ``ros2 param describe``
shows them and an out-of-range or wrongly typed value in the YAML fails the node's start with ROS's own error.
String choices and array lengths are checked here (ROS has no descriptor for them) and raise :class:`ParamError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.parameter import Parameter

__all__ = ["Param", "ParamError", "declare_all"]


class ParamError(ValueError):
    """A parameter value is outside what the node accepts."""


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    lo: float | None = None  # numeric range (inclusive)
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    length: int | None = None  # exact array length
    type: Parameter.Type | None = None  # needed when the default is an empty list


def _descriptor(p: Param) -> ParameterDescriptor:
    d = ParameterDescriptor(description=p.description, read_only=True)
    if p.lo is not None and p.hi is not None:
        if isinstance(p.default, bool):
            pass
        elif isinstance(p.default, int):
            d.integer_range = [IntegerRange(from_value=int(p.lo), to_value=int(p.hi), step=0)]
        elif isinstance(p.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(p.lo), to_value=float(p.hi), step=0.0)]
    if p.choices:
        d.additional_constraints = "one of: " + ", ".join(p.choices)
    if p.length is not None:
        d.additional_constraints = f"exactly {p.length} values"
    return d


def declare_all(node: Any, spec: list[Param]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for p in spec:
        if p.type is not None and isinstance(p.default, list) and not p.default:
            param = node.declare_parameter(p.name, p.type, _descriptor(p))
            try:
                value = param.value
            except Exception:  # noqa: BLE001 - uninitialized: keep the (empty) default
                value = []
            value = [] if value is None else value
        else:
            value = node.declare_parameter(p.name, p.default, _descriptor(p)).value
        if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
            value = list(value.tolist() if hasattr(value, "tolist") else value)
        if p.choices is not None and value not in p.choices:
            raise ParamError(f"parameter {p.name} = {value!r}; expected one of {list(p.choices)}")
        if p.length is not None and len(value) != p.length:
            raise ParamError(f"parameter {p.name} has {len(value)} values; expected {p.length}")
        if isinstance(value, float) and value != value:
            raise ParamError(f"parameter {p.name} is NaN")
        values[p.name] = value
    return values
