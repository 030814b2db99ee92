"""scikit-learn estimators over mlplab's core: ``MLPClassifier`` and ``MLPRegressor``.

This module only translates. scikit-learn's conventions come in (``X``, ``y``,
class labels, ``random_state``, ``sample_weight``, ``partial_fit``); core calls
go out (``MLPConfig``, an optimizer looked up by name in
``optimizers.OPTIMIZERS``, a schedule from ``schedules.parse_schedule``,
``training.fit`` with a stopping callback); fitted attributes come back with
scikit-learn's names. Unlike scikit-learn's MLP it keeps the optimizer state
(velocities, Adam moments, schedule position) between ``partial_fit`` calls and
warm starts, so 100 calls of ``partial_fit`` equal ``fit`` for 100 epochs; it
records every metric in ``history_``; and ``n_members > 1`` trains that many
networks (one seed each) as one vectorised ensemble whose predictions are the
average of the members' outputs (probabilities for the classifier).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from . import optimizers, schedules
from ._types import Array, BoolArray
from ._validation import check_choice, lookup
from .callbacks import EarlyStopping
from .losses import LOSSES
from .network import MLPConfig, param_arrays, predict_raw
from .training import EpochView, History, TrainState, fit

__all__ = ["MLPClassifier", "MLPRegressor"]

HIDDEN_ACTIVATIONS = ("identity", "sigmoid", "logistic", "tanh", "relu", "leaky_relu")


def _optimizer_class(name: str) -> Any:
    """Return the optimizer class registered under ``name``."""
    return lookup(optimizers.OPTIMIZERS, "optimizer", name)


def _learning_rate(learning_rate: Any, schedule: Any) -> Any:
    """Return the rate, or a schedule built from a spec (``"constant"``: the rate)."""
    if schedule is None or schedule == "constant":
        return learning_rate
    if isinstance(schedule, str):
        return schedules.parse_schedule(schedule, learning_rate)
    if callable(schedule):
        return schedule
    raise TypeError(f"schedule must be a spec string or a schedule; got {schedule!r}")


def _check_int(name: str, value: Any, low: int) -> int:
    """Return ``value`` as an int if it is one >= ``low`` (not a bool), else raise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < low
    ):
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _print_loss(view: EpochView) -> None:
    """Print scikit-learn's verbose line for the epoch (a ``fit`` callback)."""
    line = f"Iteration {view.epoch}, loss = {np.mean(view.latest('loss')):.8f}"
    if "val_loss" in view.history.metrics:
        line += f", validation loss = {np.mean(view.latest('val_loss')):.8f}"
    print(line)


def _concat(old: History, new: History, rows: int) -> History:
    """Append ``new``'s first ``rows`` epochs to ``old`` (NaN for a missing metric)."""
    metrics = {k: v[:rows] for k, v in new.metrics.items()}
    if not old.metrics:
        return History(metrics, new.diverged_epoch.copy())
    n_members = new.diverged_epoch.shape[0]

    def part(history_metrics: dict[str, Array], key: str, n: int) -> Array:
        return history_metrics.get(key, np.full((n, n_members), np.nan))

    joined = {
        k: np.concatenate([part(old.metrics, k, old.n_epochs), part(metrics, k, rows)])
        for k in {**old.metrics, **metrics}
    }
    diverged = np.where(old.diverged_epoch >= 0, old.diverged_epoch, new.diverged_epoch)
    return History(joined, diverged)


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Return constructor parameters as JSON.

    A schedule object becomes its config; a RandomState instance becomes None
    (the member seeds are saved).
    """
    from .transforms import optimizer_config

    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "schedule" and not isinstance(value, str) and value is not None:
            value = optimizer_config(value)
        elif key == "random_state" and not isinstance(value, (int, np.integer)):
            value = None
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def _params_from_json(cls: Any, params: Any) -> dict[str, Any]:
    """Check saved constructor parameters: known names, JSON scalars or lists."""
    from .transforms import optimizer_from_config

    expected = cls().get_params()
    if not isinstance(params, dict) or set(params) != set(expected):
        raise ValueError(f"info.estimator.params: must name exactly {cls.__name__}'s "
                         f"parameters ({', '.join(sorted(expected))})")
    out = {}
    for key, value in params.items():
        if isinstance(value, list):
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in value):
                raise ValueError(f"info.estimator.params.{key}: must be numbers")
            value = tuple(value)
        elif isinstance(value, dict) and key == "schedule":
            from ._statefile import check_config
            from .schedules import SCHEDULES

            check_config(value, f"info.estimator.params.{key}", SCHEDULES)
            value = optimizer_from_config(value)
        elif value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"info.estimator.params.{key}: not a saved value")
        out[key] = value
    return out


class _BaseMLP(BaseEstimator):  # type: ignore[misc]
    """What both estimators share: parameters, training, prediction."""

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        *,
        optimizer: str = "adam",
        learning_rate: Any = 0.001,
        schedule: Any = "constant",
        momentum: Any = 0.9,
        momentum_style: str = "classical",
        nesterov: bool = False,
        weight_decay: Any = None,
        batch_size: int | str = "auto",
        max_iter: int = 200,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        shuffle: bool = True,
        random_state: Any = None,
        dtype: str = "float64",
        verbose: bool = False,
        warm_start: bool = False,
        n_members: int = 1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.momentum = momentum
        self.momentum_style = momentum_style
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_members = n_members

    # -- translation onto the core -----------------------------------------

    def _make_optimizer(self) -> Any:
        """Build the core optimizer named by ``optimizer`` from our parameters."""
        kwargs: dict[str, Any] = {
            "learning_rate": _learning_rate(self.learning_rate, self.schedule)
        }
        if self.weight_decay is not None:
            kwargs["weight_decay"] = self.weight_decay
        if self.optimizer == "sgd":
            kwargs.update(
                momentum=self.momentum,
                momentum_style=self.momentum_style,
                nesterov=self.nesterov,
            )
        return _optimizer_class(self.optimizer)(**kwargs)

    def _make_config(self, n_features: int, n_outputs: int) -> MLPConfig:
        """Return the network: our hidden layers, the target's outputs (linear)."""
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, (int, np.integer)) else tuple(hidden)
        activation = check_choice("activation", self.activation, HIDDEN_ACTIVATIONS)
        return MLPConfig(
            (n_features, *hidden, n_outputs),
            activation="sigmoid" if activation == "logistic" else activation,
            output_activation="identity",
            dtype=self.dtype,
        )

    def _check_params(self) -> None:
        """Validate what the core does not (it checks rates, sizes and names)."""
        _check_int("max_iter", self.max_iter, 1)
        _check_int("n_iter_no_change", self.n_iter_no_change, 1)
        _check_int("n_members", self.n_members, 1)
        if self.batch_size != "auto":
            _check_int("batch_size", self.batch_size, 1)
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0; got {self.tol!r}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                "validation_fraction must be in (0, 1); "
                f"got {self.validation_fraction!r}"
            )

    def _member_seeds(self) -> list[int]:
        """Member seeds: ``random_state + k`` for an int, else drawn from it."""
        if isinstance(self.random_state, (int, np.integer)):
            return [int(self.random_state) + k for k in range(self.n_members)]
        rs = check_random_state(self.random_state)
        return [int(s) for s in rs.randint(0, 2**31 - 1, size=self.n_members)]

    def _batch_size(self, n_samples: int) -> int:
        """``"auto"`` is scikit-learn's ``min(200, n_samples)``."""
        return (
            min(200, n_samples) if self.batch_size == "auto" else int(self.batch_size)
        )

    # -- fitting -----------------------------------------------------------

    def _fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        *,
        incremental: bool,
        classes: Any = None,
    ) -> None:
        """Shared body of ``fit`` and ``partial_fit``."""
        self._check_params()
        optimizer = self._make_optimizer()  # bad names and rates fail before training
        fitted = hasattr(self, "_state")
        reset = not fitted or (not incremental and not self.warm_start)
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            multi_output=True,
            dtype=(np.float64, np.float32),
            y_numeric=False,
        )
        target = self._encode_targets(y, reset=reset, classes=classes)
        weights = None
        if sample_weight is not None:
            weights = np.array(sample_weight, dtype=np.float64)  # a copy: never theirs
            if weights.shape != (X.shape[0],):
                raise ValueError(
                    f"sample_weight must have shape ({X.shape[0]},); "
                    f"got {weights.shape}"
                )
        if reset:
            self._config = self._make_config(X.shape[1], target.shape[1])
            self.history_ = History()
            self.member_seeds_ = self._member_seeds()
        elif target.shape[1] != self._config.n_outputs:
            raise ValueError(
                f"y has {target.shape[1]} outputs but the network was fitted with "
                f"{self._config.n_outputs}"
            )
        state = None if reset else self._resume_state(optimizer)
        n_epochs = 1 if incremental else self.max_iter
        self._train(
            optimizer, X, target, weights, state, n_epochs, stop=not incremental
        )
        self._set_fitted_attributes()

    def _resume_state(self, optimizer: Any) -> TrainState:
        """Return the saved state with every finite member active again.

        The optimizer state is kept unless ``optimizer`` is of another kind;
        changed hyperparameters (a new learning rate) apply from the next step.
        """
        state: TrainState = self._state
        if type(optimizer) is not type(self._optimizer):
            state = state._replace(opt_state=optimizer.init(param_arrays(state.params)))
        return state._replace(active=self.history_.diverged_epoch < 0)

    def _core_fit(
        self,
        optimizer: Any,
        X: Array,
        target: Array,
        weights: Array | None,
        state: TrainState | None,
        n_epochs: int,
        callbacks: list[Any],
        validation: tuple[Array, Array] | None = None,
    ) -> None:
        """Make one call of ``training.fit`` with this estimator's settings."""
        self._optimizer = optimizer
        result = fit(
            self._config,
            X,
            target,
            loss=self._loss_name,
            optimizer=self._optimizer,
            n_epochs=n_epochs,
            seeds=self.member_seeds_,
            batch_size=self._batch_size(X.shape[0]),
            shuffle=self.shuffle,
            state=state,
            callbacks=callbacks,
            validation_data=validation,
            sample_weight=weights,
        )
        rows = result.state.epoch - (0 if state is None else state.epoch)
        self.history_ = _concat(self.history_, result.history, rows)
        self._state = result.state

    def _train(
        self,
        optimizer: Any,
        X: Array,
        target: Array,
        weights: Array | None,
        state: TrainState | None,
        n_epochs: int,
        *,
        stop: bool,
    ) -> None:
        """Train; with ``stop``, stop on tol (and hold out data for early_stopping).

        Stopping is the core's ``EarlyStopping``: a member stops once the
        monitored loss has not beaten its best by more than ``tol`` for
        ``n_iter_no_change + 1`` epochs in a row (scikit-learn's count). It
        watches the validation loss (and restores each member's best weights)
        with ``early_stopping``, else the training loss.
        """
        validation = None
        if stop and self.early_stopping:
            X, X_val, target, target_val, *rest = self._split(X, target, weights)
            weights = rest[0] if rest else None
            validation = (X_val, target_val)
        callbacks: list[Any] = []
        if stop:
            stopper = EarlyStopping(
                monitor="loss" if validation is None else "val_loss",
                patience=self.n_iter_no_change + 1,
                min_delta=self.tol,
                restore_best=validation is not None,
            )
            callbacks.append(stopper)
        if self.verbose:
            callbacks.append(_print_loss)
        self._core_fit(
            optimizer, X, target, weights, state, n_epochs, callbacks, validation
        )
        if stop:
            what = "training loss" if validation is None else "validation loss"
            self._warn_unconverged(stopper.stopped_epoch >= 0, what)

    def _split(self, X: Array, target: Array, weights: Array | None) -> list[Array]:
        """Train/validation split (stratified for single-label classification)."""
        seed = (
            int(self.random_state)
            if isinstance(self.random_state, (int, np.integer))
            else check_random_state(self.random_state).randint(2**31 - 1)
        )
        stratify = self._stratify(target)
        arrays = [X, target] + ([weights] if weights is not None else [])
        return train_test_split(  # type: ignore[no-any-return]
            *arrays,
            test_size=self.validation_fraction,
            random_state=seed,
            stratify=stratify,
        )

    def _stratify(self, target: Array) -> Array | None:
        """Labels to stratify the validation split by (None: do not)."""
        return None

    def _warn_unconverged(self, converged: BoolArray, what: str) -> None:
        """scikit-learn's ConvergenceWarning when max_iter ended a member's run."""
        finite = self.history_.diverged_epoch < 0
        missing = int(np.sum(finite & ~converged))
        if missing:
            warnings.warn(
                f"{type(self).__name__}: max_iter={self.max_iter} epochs ended before "
                f"the {what} stopped improving by tol={self.tol} for "
                f"{self.n_iter_no_change} epochs ({missing} of {self.n_members} "
                "members); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=5,
            )

    def _set_fitted_attributes(self) -> None:
        """scikit-learn's names for what the core returned."""
        params = self._state.params
        single = self.n_members == 1
        self.coefs_ = [layer.w[0] if single else layer.w for layer in params]
        self.intercepts_ = [layer.b[0] if single else layer.b for layer in params]  # type: ignore[index]
        loss = self.history_.loss
        self.loss_curve_ = [float(v) for v in np.mean(loss, axis=1)]
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float("nan")
        val = self.history_.metrics.get("val_loss")
        self.validation_loss_curve_: list[float] | None = None
        self.best_loss_ = min(self.loss_curve_, default=float("nan"))
        if val is not None:
            self.validation_loss_curve_ = [float(v) for v in np.mean(val, axis=1)]
            self.best_loss_ = float(np.nanmin(self.validation_loss_curve_))
        self.n_iter_ = len(self.loss_curve_)
        self.n_layers_ = len(params) + 1
        self.n_outputs_ = self._config.n_outputs

    # -- prediction --------------------------------------------------------

    def _raw_outputs(self, X: Any) -> Array:
        """Return each member's raw outputs ``(K, n_samples, n_outputs)``."""
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        x = X.astype(self._config.dtype, copy=False)
        return predict_raw(self._state.params, self._config, x)

    def _member_outputs(self, X: Any) -> Array:
        """Return each member's predictions (probabilities for the classifier)."""
        raw = self._raw_outputs(X)  # checks that the model is fitted first
        return np.asarray(LOSSES[self._loss_name].link(raw), dtype=np.float64)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    # -- saving and loading (branch persist) -------------------------------

    def save(self, path: Any) -> Any:
        """Write the fitted estimator to one ``.safetensors`` file (``mlplab.save``).

        The file holds the weights, the optimizer state, the history, the
        member seeds and shuffling state (so ``partial_fit`` or a warm-started
        ``fit`` continues exactly), the class labels and the constructor
        parameters. Returns the path written.
        """
        from .serialization import save

        check_is_fitted(self, "coefs_")
        binarizer = getattr(self, "_binarizer", None)
        info = {"estimator": {
            "class": type(self).__name__,
            "params": _json_params(self.get_params()),
            "y_type": None if binarizer is None else binarizer.y_type_,
            "feature_names_in": [str(f) for f in getattr(self, "feature_names_in_",
                                                          [])],
        }}
        classes = None if binarizer is None else list(self.classes_)
        return save(path, self._config, loss=self._loss_name, state=self._state,
                    optimizer=self._optimizer, history=self.history_,
                    seeds=self.member_seeds_, classes=classes, info=info)

    @classmethod
    def load(cls, path: Any) -> Any:
        """Read an estimator written by ``save`` (validated like ``mlplab.load``).

        Raises
        ------
        ValueError
            If the file is not a valid model file or holds another estimator.
        """
        from .serialization import load

        saved = load(path)
        entry = saved.info.get("estimator")
        if not isinstance(entry, dict) or entry.get("class") != cls.__name__:
            raise ValueError(f"info.estimator: {path} does not hold a saved "
                             f"{cls.__name__}")
        est = cls(**_params_from_json(cls, entry.get("params")))
        try:
            est._check_params()
        except (TypeError, ValueError) as e:
            raise ValueError(f"info.estimator.params: {e}") from None
        if saved.state is None or saved.seeds is None or saved.history is None:
            raise ValueError("training: an estimator file needs its training state")
        est._config, est._state = saved.config, saved.state
        est._optimizer = saved.optimizer
        est.history_, est.member_seeds_ = saved.history, list(saved.seeds)
        est.n_features_in_ = saved.config.n_features
        names = entry.get("feature_names_in")
        if isinstance(names, list) and names:
            est.feature_names_in_ = np.asarray(names, dtype=object)
        est._restore_targets(saved, entry.get("y_type"))
        if len(saved.seeds) != est.n_members:
            raise ValueError("n_members: the file's members differ from its parameters")
        est._set_fitted_attributes()
        return est

    def _restore_targets(self, saved: Any, y_type: Any) -> None:
        """Set what ``_encode_targets`` sets when fitting (regressor: nothing)."""
        if saved.loss != self._loss_name:
            raise ValueError(f"loss: a {type(self).__name__} uses {self._loss_name!r}; "
                             f"got {saved.loss!r}")
        self.out_activation_ = "identity"


class MLPClassifier(ClassifierMixin, _BaseMLP):  # type: ignore[misc]
    """A multilayer perceptron classifier with scikit-learn's interface.

    Binary targets use one logit and sigmoid + binary cross-entropy, multiclass
    targets (any labels, strings too) softmax + cross-entropy, multilabel
    indicator matrices one sigmoid per label. With ``n_members > 1``,
    ``predict_proba`` averages the members' probabilities and ``predict`` takes
    its most likely class (``decision_function`` averages their logits);
    ``member_scores`` gives each member's accuracy.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Units in each hidden layer.
    activation : {"relu", "tanh", "sigmoid", "logistic", "leaky_relu", "identity"}
        Hidden-layer activation ("logistic" is scikit-learn's name for sigmoid).
    optimizer : {"adam", "sgd", "adamw", "rmsprop", "adagrad"}, default="adam"
        The core optimizer (``optimizers.OPTIMIZERS``) with its own defaults.
    learning_rate : float or tuple of float, default=0.001
        The (initial) rate; a tuple gives one rate per member.
    schedule : str or schedule, default="constant"
        A ``schedules.parse_schedule`` spec such as ``"step:1000,0.5"`` (counts
        in optimizer steps) or a schedule object.
    momentum : float or tuple of float, default=0.9
        SGD's momentum (ignored by the other optimizers).
    momentum_style : {"classical", "lr-inside", "dampened", "ema"}
        SGD's momentum convention (see ``optimizers``); "lr-inside" is
        scikit-learn's own.
    nesterov : bool, default=False
        SGD's Nesterov look-ahead.
    weight_decay : float, tuple of float or None, default=None
        L2 penalty on weight matrices (coupled; decoupled for adamw); None
        keeps the optimizer's default (0, and 0.01 for adamw).
    batch_size : int or "auto", default="auto"
        Rows per step; "auto" is ``min(200, n_samples)``. Full batches are
        not shuffled.
    max_iter : int, default=200
        Epochs per ``fit``.
    tol : float, default=1e-4
        Training (or with ``early_stopping`` validation) loss improvement
        below which an epoch counts as no improvement.
    n_iter_no_change : int, default=10
        A member stops after more than this many epochs without improvement.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified), stop on its loss
        (unweighted) and keep each member's weights from its best epoch.
    validation_fraction : float, default=0.1
        Share of the data held out with ``early_stopping``.
    shuffle : bool, default=True
        Reshuffle rows every epoch (per member) for mini-batches.
    random_state : int, RandomState or None, default=None
        An int r gives member k the seed r + k, which fixes its weights,
        shuffling and the validation split; anything else draws the seeds.
    dtype : {"float64", "float32"}, default="float64"
        Floating type of the network.
    verbose : bool, default=False
        Print the loss after each epoch.
    warm_start : bool, default=False
        ``fit`` continues from the previous weights and optimizer state.
    n_members : int, default=1
        Networks trained at once, one seed each, predicting by their average.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (the label indices for multilabel targets).
    coefs_, intercepts_ : list of ndarray
        Weights ``(n_in, n_out)`` and biases ``(n_out,)`` per layer; with
        ``n_members > 1`` they keep the member axis, ``(K, n_in, n_out)``.
    loss_curve_ : list of float
        Training loss per epoch (mean over members), over every fit call.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch with ``early_stopping``, else None.
    history_ : History
        Every recorded metric per epoch and member, ``(n_epochs, K)`` arrays.
    n_iter_ : int
        Epochs run so far.
    member_seeds_ : list of int
        The seed of each member.

    Examples
    --------
    >>> from mlplab.datasets import xor_data
    >>> X, y = xor_data(constant_column=False)
    >>> clf = MLPClassifier((4,), "tanh", optimizer="sgd", learning_rate=0.5,
    ...                     batch_size=4, max_iter=500, random_state=0).fit(X, y)
    >>> clf.predict(X).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train for up to ``max_iter`` epochs (continuing if ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each row in the loss.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=False)
        return self

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> MLPClassifier:
        """Train one epoch on ``X``, keeping the optimizer state between calls.

        ``classes`` (every label that will ever appear) is required on the
        first call, except for multilabel indicator targets.
        """
        first = not hasattr(self, "_state")
        if first and classes is None and type_of_target(y) != "multilabel-indicator":
            raise ValueError("classes must be passed on the first call to partial_fit")
        classes = classes if first else None
        self._fit(X, y, sample_weight, incremental=True, classes=classes)
        return self

    def _encode_targets(self, y: Any, *, reset: bool, classes: Any) -> Array:
        """Labels -> 0/1 targets, one column per output; fixes classes_ on reset."""
        if reset:
            binarizer = LabelBinarizer().fit(y if classes is None else classes)
            if len(binarizer.classes_) < 2:
                raise ValueError(
                    "MLPClassifier needs at least 2 classes in y; got 1 class "
                    f"({binarizer.classes_[0]!r})"
                )
            self._binarizer = binarizer
            self.classes_ = binarizer.classes_
            multiclass = binarizer.y_type_ == "multiclass"
            self._loss_name = "cross_entropy" if multiclass else "binary_cross_entropy"
            self.out_activation_ = "softmax" if multiclass else "logistic"
        unseen: Any = (
            np.setdiff1d(np.unique(y), self.classes_) if np.ndim(y) == 1 else []
        )
        if len(unseen):
            raise ValueError(
                f"y holds labels {list(unseen)} not in classes_ {list(self.classes_)}"
            )
        return np.asarray(self._binarizer.transform(y), dtype=np.float64)

    def _restore_targets(self, saved: Any, y_type: Any) -> None:
        """Rebuild ``classes_`` and the label binarizer from the saved labels."""
        if saved.classes is None or y_type not in ("binary", "multiclass",
                                                   "multilabel-indicator"):
            raise ValueError("classes: a saved MLPClassifier needs its class labels "
                             "and target type")
        classes = np.asarray(saved.classes)
        if y_type == "multilabel-indicator":
            binarizer = LabelBinarizer().fit(np.eye(len(classes), dtype=int))
        else:
            binarizer = LabelBinarizer().fit(classes)
        if binarizer.y_type_ != y_type or len(binarizer.classes_) != len(classes):
            raise ValueError(f"classes: {len(classes)} labels do not make a "
                             f"{y_type!r} target")
        multiclass = y_type == "multiclass"
        self._loss_name = "cross_entropy" if multiclass else "binary_cross_entropy"
        if saved.loss != self._loss_name:
            raise ValueError(f"loss: a {y_type} MLPClassifier uses "
                             f"{self._loss_name!r}; got {saved.loss!r}")
        self._binarizer, self.classes_ = binarizer, binarizer.classes_
        self.out_activation_ = "softmax" if multiclass else "logistic"

    def _stratify(self, target: Array) -> Array | None:
        """Stratify by class for binary and multiclass targets."""
        if self._binarizer.y_type_ == "multilabel-indicator":
            return None
        return target.argmax(axis=1) if target.shape[1] > 1 else target[:, 0]

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, the mean over members: ``(n_samples, n_classes)``.

        For binary targets the columns are ``1 - p`` and ``p``; for multilabel
        targets one probability per label.
        """
        proba: Array = self._member_outputs(X).mean(axis=0)
        if len(self.classes_) == 2 and proba.shape[1] == 1:
            return np.hstack([1.0 - proba, proba])
        return proba

    def predict_log_proba(self, X: Any) -> Array:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def decision_function(self, X: Any) -> Array:
        """Return the members' mean logits: ``(n_samples,)`` for binary targets."""
        logits = np.asarray(self._raw_outputs(X).mean(axis=0), dtype=np.float64)
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict(self, X: Any) -> Array:
        """Return the most likely class (labels above 1/2 for multilabel targets)."""
        proba = self._member_outputs(X).mean(axis=0)
        return self._binarizer.inverse_transform(proba)  # type: ignore[no-any-return]

    def member_scores(self, X: Any, y: Any, sample_weight: Any = None) -> Array:
        """Each member's accuracy on ``(X, y)``, shape ``(n_members,)``."""
        outputs = self._member_outputs(X)
        return np.array(
            [
                accuracy_score(
                    y,
                    self._binarizer.inverse_transform(out),
                    sample_weight=sample_weight,
                )
                for out in outputs
            ]
        )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):  # type: ignore[misc]
    """A multilayer perceptron regressor with scikit-learn's interface.

    Minimises the mean squared error over samples and outputs (twice
    scikit-learn's ``squared_error / 2``, so plain SGD steps are twice as
    long for the same rate). One output predicts ``(n_samples,)``, several
    ``(n_samples, n_outputs)``. With ``n_members > 1`` predictions are the
    members' mean; ``member_scores`` gives each member's R^2.

    Parameters, attributes and seeding are those of ``MLPClassifier``.

    Examples
    --------
    >>> X = np.linspace(-1, 1, 20)[:, None]
    >>> reg = MLPRegressor((8,), "tanh", optimizer="sgd", learning_rate=0.1,
    ...                    max_iter=300, random_state=0).fit(X, 2 * X[:, 0])
    >>> reg.predict(X).shape, bool(reg.score(X, 2 * X[:, 0]) > 0.95)
    ((20,), True)
    """

    _loss_name = "mse"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train for up to ``max_iter`` epochs (continuing if ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each row in the loss.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train one epoch on ``X``, keeping the optimizer state between calls."""
        self._fit(X, y, sample_weight, incremental=True)
        return self

    def _encode_targets(self, y: Any, *, reset: bool, classes: Any) -> Array:
        """Targets as float columns ``(n_samples, n_outputs)``."""
        target: Array = np.asarray(y, dtype=np.float64)
        if reset:
            self.out_activation_ = "identity"
        return target[:, None] if target.ndim == 1 else target

    def predict(self, X: Any) -> Array:
        """Return the members' mean prediction: ``(n_samples,)`` for one output."""
        out: Array = self._member_outputs(X).mean(axis=0)
        return out[:, 0] if out.shape[1] == 1 else out

    def member_scores(self, X: Any, y: Any, sample_weight: Any = None) -> Array:
        """Each member's R^2 on ``(X, y)``, shape ``(n_members,)``."""
        outputs = self._member_outputs(X)
        return np.array(
            [
                r2_score(
                    y,
                    out[:, 0] if out.shape[1] == 1 else out,
                    sample_weight=sample_weight,
                )
                for out in outputs
            ]
        )
