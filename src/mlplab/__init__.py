"""mlplab: train, check and understand multilayer perceptrons written in NumPy.

The public names below are loaded on first use (PEP 562), so ``import mlplab``
and ``mlplab --help`` stay fast; the core (network, optimizers, training)
needs NumPy alone, and the edges import their libraries when called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ACTIVATIONS": "activations",
    "sigmoid": "activations",
    "softmax": "activations",
    "LOSSES": "losses",
    "member_rngs": "initializers",
    "parse_init": "initializers",
    "Dense": "network",
    "MLPConfig": "network",
    "backward": "network",
    "forward": "network",
    "init_params": "network",
    "param_arrays": "network",
    "param_names": "network",
    "predict_raw": "network",
    "with_arrays": "network",
    "MOMENTUM_STYLES": "optimizers",
    "SGD": "optimizers",
    "SGDState": "optimizers",
    "apply_updates": "optimizers",
    "DivergenceWarning": "training",
    "EpochView": "training",
    "FitResult": "training",
    "History": "training",
    "TrainState": "training",
    "fit": "training",
    "GradCheckRow": "gradcheck",
    "gradient_check": "gradcheck",
    "xor_data": "datasets",
    "load_csv": "datasets",
    "OriginalSetup": "presets",
    "original_setup": "presets",
    "OUTCOMES": "outcomes",
    "classify": "outcomes",
    "constant_predictor_loss": "outcomes",
    "kaplan_meier": "outcomes",
    "survival_quantiles": "outcomes",
    "wilson_interval": "outcomes",
    "SweepResult": "sweeps",
    "original_grid": "sweeps",
    "sweep": "sweeps",
    "plot_sweep_heatmaps": "plots",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlplab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .activations import ACTIVATIONS, sigmoid, softmax
    from .datasets import load_csv, xor_data
    from .gradcheck import GradCheckRow, gradient_check
    from .initializers import member_rngs, parse_init
    from .losses import LOSSES
    from .network import (
        Dense,
        MLPConfig,
        backward,
        forward,
        init_params,
        param_arrays,
        param_names,
        predict_raw,
        with_arrays,
    )
    from .optimizers import MOMENTUM_STYLES, SGD, SGDState, apply_updates
    from .outcomes import (
        OUTCOMES,
        classify,
        constant_predictor_loss,
        kaplan_meier,
        survival_quantiles,
        wilson_interval,
    )
    from .plots import plot_sweep_heatmaps
    from .presets import OriginalSetup, original_setup
    from .sweeps import SweepResult, original_grid, sweep
    from .training import (
        DivergenceWarning,
        EpochView,
        FitResult,
        History,
        TrainState,
        fit,
    )
