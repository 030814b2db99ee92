"""Learning-rate schedules: frozen dataclasses mapping an optimizer step to a rate.

An optimizer calls its schedule with ``state.step`` (0 for the first update)
and multiplies the result in; a schedule changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._types import HyperParam

__all__ = ["Constant", "learning_rate_at"]


@dataclass(frozen=True)
class Constant:
    """The same rate at every step (one value or one per member)."""

    value: HyperParam = 0.01

    def __call__(self, step: int) -> HyperParam:
        """Return ``value``."""
        return self.value


def learning_rate_at(learning_rate: object, step: int) -> HyperParam:
    """Return the rate at ``step``: call a schedule, pass a number through."""
    if callable(learning_rate):
        return learning_rate(step)  # type: ignore[no-any-return]
    return learning_rate  # type: ignore[return-value]
