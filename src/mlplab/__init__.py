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
    "OPTIMIZERS": "optimizers",
    "Adagrad": "optimizers",
    "AdagradState": "optimizers",
    "Adam": "optimizers",
    "AdamState": "optimizers",
    "AdamW": "optimizers",
    "RMSprop": "optimizers",
    "RMSpropState": "optimizers",
    "SCHEDULES": "schedules",
    "Constant": "schedules",
    "CosineAnnealing": "schedules",
    "ExponentialDecay": "schedules",
    "InverseScaling": "schedules",
    "MultiStepDecay": "schedules",
    "StepDecay": "schedules",
    "parse_schedule": "schedules",
    "TRANSFORMS": "transforms",
    "Chain": "transforms",
    "ChainState": "transforms",
    "ClipByGlobalNorm": "transforms",
    "ClipByValue": "transforms",
    "EmptyState": "transforms",
    "chain": "transforms",
    "clip_by_global_norm": "transforms",
    "clip_by_value": "transforms",
    "optimizer_config": "transforms",
    "optimizer_from_config": "transforms",
    "learning_rate_of": "transforms",
    "with_learning_rate": "transforms",
    "DivergenceWarning": "training",
    "EpochView": "training",
    "FitResult": "training",
    "History": "training",
    "TrainState": "training",
    "fit": "training",
    "Checkpoint": "serialization",
    "Scaling": "serialization",
    "load": "serialization",
    "save": "serialization",
    "save_checkpoint": "serialization",
    "Decision": "training",
    "accuracy": "training",
    "EarlyStopping": "callbacks",
    "ReduceLROnPlateau": "callbacks",
    "GradCheckRow": "gradcheck",
    "gradient_check": "gradcheck",
    # diagnosis (issue 8)
    "ArrayCheck": "gradcheck",
    "GradientReport": "gradcheck",
    "check_gradients": "gradcheck",
    "Equivalent": "stability",
    "RateReport": "stability",
    "effective_rates": "stability",
    "largest_eigenvalue": "stability",
    "stability_bound": "stability",
    "Diagnosis": "diagnosis",
    "Finding": "diagnosis",
    "FixResult": "diagnosis",
    "diagnose": "diagnosis",
    "diagnose_model": "diagnosis",
    "layer_health": "diagnosis",
    "LRFindResult": "lr_find",
    "lr_find": "lr_find",
    "xor_data": "datasets",
    "load_csv": "datasets",
    "DATASETS": "datasets",
    "Dataset": "datasets",
    "encode_targets": "datasets",
    "load_dataset": "datasets",
    "quadrant_xor": "datasets",
    "split_data": "datasets",
    "standardize": "datasets",
    "OriginalSetup": "presets",
    "original_setup": "presets",
    "DATASET_RECIPES": "presets",
    "DatasetRecipe": "presets",
    "dataset_recipe": "presets",
    "plot_training": "plots",
    # estimator (scikit-learn interface)
    "MLPClassifier": "estimator",
    "MLPRegressor": "estimator",
    # sweeps (issue 4)
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
    from .callbacks import EarlyStopping, ReduceLROnPlateau
    from .datasets import (
        DATASETS,
        Dataset,
        encode_targets,
        load_csv,
        load_dataset,
        quadrant_xor,
        split_data,
        standardize,
        xor_data,
    )
    from .diagnosis import (
        Diagnosis,
        Finding,
        FixResult,
        diagnose,
        diagnose_model,
        layer_health,
    )  # issue 8
    from .estimator import MLPClassifier, MLPRegressor
    from .gradcheck import (  # issue 8
        ArrayCheck,
        GradCheckRow,
        GradientReport,
        check_gradients,
        gradient_check,
    )
    from .initializers import member_rngs, parse_init
    from .losses import LOSSES
    from .lr_find import LRFindResult, lr_find  # issue 8
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
    from .optimizers import (
        MOMENTUM_STYLES,
        OPTIMIZERS,
        SGD,
        Adagrad,
        AdagradState,
        Adam,
        AdamState,
        AdamW,
        RMSprop,
        RMSpropState,
        SGDState,
        apply_updates,
    )
    from .outcomes import (
        OUTCOMES,
        classify,
        constant_predictor_loss,
        kaplan_meier,
        survival_quantiles,
        wilson_interval,
    )
    from .plots import plot_sweep_heatmaps, plot_training
    from .presets import (
        DATASET_RECIPES,
        DatasetRecipe,
        OriginalSetup,
        dataset_recipe,
        original_setup,
    )
    from .schedules import (
        SCHEDULES,
        Constant,
        CosineAnnealing,
        ExponentialDecay,
        InverseScaling,
        MultiStepDecay,
        StepDecay,
        parse_schedule,
    )
    from .serialization import Checkpoint, Scaling, load, save, save_checkpoint
    from .stability import (  # issue 8
        Equivalent,
        RateReport,
        effective_rates,
        largest_eigenvalue,
        stability_bound,
    )
    from .sweeps import SweepResult, original_grid, sweep
    from .training import (
        Decision,
        DivergenceWarning,
        EpochView,
        FitResult,
        History,
        TrainState,
        accuracy,
        fit,
    )
    from .transforms import (
        TRANSFORMS,
        Chain,
        ChainState,
        ClipByGlobalNorm,
        ClipByValue,
        EmptyState,
        chain,
        clip_by_global_norm,
        clip_by_value,
        learning_rate_of,
        optimizer_config,
        optimizer_from_config,
        with_learning_rate,
    )
