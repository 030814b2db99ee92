"""Full-batch SGD training of many small networks at once, member axis last.

This is the sweep's trainer. It computes exactly what ``training.fit`` computes
for full-batch SGD on shared inputs (member k equals ``fit`` with member k's
seed and settings to rounding; tests/property/test_sweep_equivalence.py), but
lays the arrays out differently, which is why it is a second implementation:

- Why the member axis is last. A sweep trains thousands of tiny networks (a
  3-4-1 net has 16 weights). With the core's ``(K, n_in, n_out)`` layout every
  product is a stack of K tiny matrix products and every elementwise op runs
  over short rows, which costs ~1.8 us per network-epoch. Here weights are
  ``(n_in, n_out, K)`` and activations ``(n_samples, n_units, K)``: the first
  layer is one 2-D BLAS product of the shared ``(n, n_in)`` inputs with an
  ``(n_in, n_out * K)`` view, the other layers are broadcast products summed
  over a short axis, and every elementwise op streams over long contiguous
  runs of K, with per-member hyperparameters broadcasting along that axis.
  All buffers are allocated once and updated in place. Together that is about
  0.12 us per network-epoch for the XOR net, 15 times the core's speed.
- Why its own SGD step. ``optimizers.SGD`` turns its per-member tuples into
  arrays and allocates new arrays at every call, and broadcasts along a
  leading member axis. The rules below are the same lines, in the same order
  of floating-point operations, done in place; a test checks them against
  ``SGD.update`` bit for bit for every momentum style.

Besides training, the loop records what a sweep needs to classify each run
(``outcomes.classify``): the initial loss, the loss at the start of the
plateau window, the epoch of divergence and the last epoch at which a
training row was misclassified (or, for regression, the loss was above the
threshold). Whatever it supports is decided by ``supports``; everything else
(mini-batches, softmax outputs, cross-entropy, other optimizers) runs through
``fit`` in ``sweeps``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._types import Array
from .activations import ACTIVATIONS, sigmoid
from .network import Dense, MLPConfig, Params, init_params
from .optimizers import SGD

__all__ = ["Tracked", "Tracker", "member_bytes", "supports", "train_tracked"]

_SIGMOIDS = ("sigmoid", "sigmoid_wrong_derivative")
_LOSSES = ("sse", "mse", "binary_cross_entropy")
DIVERGENCE_FACTOR = 1e6


class Tracked(NamedTuple):
    """What the engine records per member, each ``(K,)``.

    ``last_bad`` is the last epoch at which the member did not meet the
    "solved" condition (-1 if it always met it; ``n_epochs`` if it fails at the
    end); epoch e means the weights after e steps, so the run was solved from
    epoch ``last_bad + 1`` on.
    """

    initial_loss: Array
    window_loss: Array
    final_loss: Array
    diverged_epoch: Array
    last_bad: Array
    params: Params


def supports(config: MLPConfig, loss: str, optimizer: Any, batch_size: int | None,
             n_samples: int) -> bool:
    """Whether this engine can train the group (else ``sweeps`` uses ``fit``)."""
    elementwise = all(
        name != "softmax" for name in (config.activation, config.output_activation)
    )
    full_batch = batch_size is None or batch_size >= n_samples
    return (type(optimizer) is SGD and not callable(optimizer.learning_rate)
            and loss in _LOSSES and elementwise and full_batch)


def member_bytes(config: MLPConfig, n_samples: int) -> int:
    """Bytes of working memory one member needs in this engine (an estimate)."""
    sizes = config.layer_sizes
    n_params = sum(i * o + (o if config.use_bias else 0)
                   for i, o in zip(sizes[:-1], sizes[1:], strict=True))
    units = sum(sizes[1:])
    products = sum(i * o for i, o in zip(sizes[1:-1], sizes[2:], strict=True))
    itemsize = np.dtype(config.np_dtype).itemsize
    return itemsize * (4 * n_params + n_samples * (5 * units + products))


# ---------------------------------------------------------------- layout


def _member_last(params: Params) -> list[list[Array]]:
    """``[[w (n_in, n_out, K), b (n_out, K) or absent], ...]`` as contiguous copies."""
    return [[np.ascontiguousarray(np.moveaxis(a, 0, -1)) for a in layer if a is not None]
            for layer in params]


def _member_first(layers: list[list[Array]]) -> Params:
    """Back to the core's ``Params`` (weights ``(K, n_in, n_out)``, biases ``(K, n_out)``)."""
    return tuple(
        Dense(np.ascontiguousarray(np.moveaxis(arrs[0], -1, 0)),
              np.ascontiguousarray(arrs[1].T) if len(arrs) > 1 else None)
        for arrs in layers
    )


# ---------------------------------------------------------------- forward / backward


def _activate(name: str, z: Array, out: Array) -> None:
    """``out = f(z)``; the sigmoid as ``1 / (1 + exp(-z))`` in place (exp may overflow
    to inf, giving exactly 0, under the caller's ``errstate``)."""
    if name in _SIGMOIDS:
        np.negative(z, out=out)
        np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)
    else:
        out[...] = ACTIVATIONS[name].forward(z)


def _activation_grad(name: str, z: Array, a: Array, grad_a: Array, out: Array,
                     tmp: Array) -> Array:
    """``grad_z`` from ``grad_a``, as the activation's ``backward`` computes it.

    The sigmoids write into ``out`` (using ``tmp``) with the same operations in
    the same order as ``activations.Sigmoid.backward``; the others allocate.
    """
    if name == "sigmoid":
        np.multiply(grad_a, a, out=out)
        np.subtract(1.0, a, out=tmp)
        out *= tmp
        return out
    if name == "sigmoid_wrong_derivative":
        _activate("sigmoid", a, tmp)
        np.multiply(grad_a, tmp, out=out)
        np.subtract(1.0, tmp, out=tmp)
        out *= tmp
        return out
    return ACTIVATIONS[name].backward(z, a, grad_a)  # type: ignore[no-any-return]


class _Net:
    """Preallocated buffers and the forward/backward passes for one chunk.

    Large temporaries are never allocated per epoch: arrays over ~128 KiB come
    from ``mmap`` and their page faults cost more than the arithmetic.
    """

    def __init__(self, config: MLPConfig, x: Array, n_members: int) -> None:
        self.config, self.x = config, x
        n, dtype = x.shape[0], config.np_dtype
        sizes = config.layer_sizes
        self.acts = [config.layer_activation(i).name for i in range(len(sizes) - 1)]

        def units() -> list[Array]:
            return [np.empty((n, o, n_members), dtype) for o in sizes[1:]]

        self.z, self.a, self.grad_z, self.grad_a, self.tmp = (
            units(), units(), units(), units(), units()
        )
        self.prod = [np.empty((n, i, o, n_members), dtype)
                     for i, o in zip(sizes[1:-1], sizes[2:], strict=True)]

    def forward(self, layers: list[list[Array]]) -> Array:
        """Fill ``z`` and ``a`` for every layer; return the output ``(n, n_out, K)``."""
        n = self.x.shape[0]
        for i, arrs in enumerate(layers):
            w, z = arrs[0], self.z[i]
            if i == 0:
                np.matmul(self.x, w.reshape(w.shape[0], -1), out=z.reshape(n, -1))
            else:
                np.multiply(self.a[i - 1][:, :, None, :], w, out=self.prod[i - 1])
                np.sum(self.prod[i - 1], axis=1, out=z)
            if len(arrs) > 1:
                z += arrs[1]
            _activate(self.acts[i], z, self.a[i])
        return self.a[-1]

    def backward(self, layers: list[list[Array]], grad_out: Array,
                 grads: list[list[Array]]) -> None:
        """Write every parameter gradient into ``grads`` (same layout as ``layers``)."""
        n = self.x.shape[0]
        grad_a = grad_out
        for i in reversed(range(len(layers))):
            w = layers[i][0]
            grad_z = _activation_grad(self.acts[i], self.z[i], self.a[i], grad_a,
                                      self.grad_z[i], self.tmp[i])
            if i == 0:
                np.matmul(self.x.T, grad_z.reshape(n, -1),
                          out=grads[0][0].reshape(w.shape[0], -1))
            else:
                np.multiply(self.a[i - 1][:, :, None, :], grad_z[:, None, :, :],
                            out=self.prod[i - 1])
                np.sum(self.prod[i - 1], axis=0, out=grads[i][0])
            if len(layers[i]) > 1:
                np.sum(grad_z, axis=0, out=grads[i][1])
            if i > 0:
                grad_a = self.grad_a[i - 1]
                if w.shape[1] == 1:
                    np.multiply(grad_z, w[None, :, 0, :], out=grad_a)
                else:
                    np.multiply(grad_z[:, None, :, :], w, out=self.prod[i - 1])
                    np.sum(self.prod[i - 1], axis=2, out=grad_a)


# ---------------------------------------------------------------- loss


def _loss_and_grad(name: str, out: Array, y: Array, diff: Array,
                   grad: Array) -> tuple[Array, Array]:
    """Per-member loss ``(K,)`` and its gradient w.r.t. ``out`` ``(n, n_out, K)``.

    ``diff`` and ``grad`` are buffers shaped like ``out``; the gradient is
    written into ``grad``.
    """
    count = out.shape[0] * out.shape[1]
    if name == "binary_cross_entropy":
        per_entry = np.logaddexp(0.0, out) - y * out
        value = per_entry.reshape(count, -1).sum(axis=0) / count
        np.subtract(sigmoid(out), y, out=grad)
        grad /= count
        return value, grad
    np.subtract(out, y, out=diff)
    np.multiply(diff, diff, out=grad)
    value = grad.reshape(count, -1).sum(axis=0)
    if name == "sse":
        np.multiply(2.0, diff, out=grad)
        return value, grad
    np.multiply(2.0 / count, diff, out=grad)
    return value / count, grad


# ---------------------------------------------------------------- SGD in place


class _Hyper(NamedTuple):
    """SGD hyperparameters as ``(K,)`` arrays (they broadcast along the last axis)."""

    lr: Array
    mu: Array
    one_minus_mu: Array
    one_minus_d: Array
    wd: Array


def _hyper(opt: SGD, k: int, dtype: Any) -> _Hyper:
    def arr(v: Any) -> Array:
        return np.broadcast_to(np.asarray(v, dtype), (k,)).copy()

    mu = arr(opt.momentum)
    return _Hyper(arr(opt.learning_rate), mu, 1.0 - mu, 1.0 - arr(opt.dampening),
                  arr(opt.weight_decay))


def _sgd_step(opt: SGD, h: _Hyper, w: Array, g: Array, v: Array, tmp: Array, t: int,
              is_weight: bool) -> None:
    """One ``SGD`` update of ``w`` in place (``g`` and ``tmp`` are overwritten).

    The same floating-point operations, in the same order, as ``SGD._one``
    (``w + (-x)`` equals ``w - x`` exactly).
    """
    if (is_weight or opt.decay_biases) and np.any(h.wd != 0):
        np.multiply(h.wd, w, out=tmp)
        g += tmp
    lr, mu, style = h.lr, h.mu, opt.momentum_style
    v *= mu
    if style == "lr-inside":
        np.multiply(lr, g, out=tmp)
        v -= tmp
        if opt.nesterov:
            np.multiply(mu, v, out=g)
            g -= tmp
            w += g
        else:
            w += v
        return
    if style == "ema":
        g *= h.one_minus_mu
        v += g
    elif style == "classical" or t == 0:
        v += g
    else:
        np.multiply(h.one_minus_d, g, out=tmp)
        v += tmp
    direction = v
    if opt.nesterov:
        np.multiply(mu, v, out=tmp)
        tmp += g
        direction = tmp
    if style == "ema" and opt.bias_correction:
        np.divide(direction, 1.0 - mu ** (t + 1), out=tmp)
        direction = tmp
    np.multiply(lr, direction, out=tmp)
    w -= tmp


# ---------------------------------------------------------------- the loop


def _wrong_rows(kind: str, out: Array, target: Array, threshold: float,
                loss: Array) -> Array:
    """``(K,)`` booleans: the member does not (yet) meet the solved condition."""
    if kind == "regression":
        return ~(loss < threshold)  # type: ignore[no-any-return]
    wrong = np.not_equal(out > threshold, target)
    return wrong.reshape(-1, wrong.shape[-1]).any(axis=0)  # type: ignore[no-any-return]


class Tracker:
    """Records, epoch by epoch, what ``outcomes.classify`` needs (see ``Tracked``).

    ``observe`` gets the outputs ``(n_samples, n_outputs, K)`` and loss ``(K,)``
    of the weights after ``epoch`` steps (epoch 0 is the initial weights, epoch
    ``n_epochs`` the final ones) and returns the members that diverged just now.
    """

    def __init__(self, n_members: int, n_epochs: int, window: int, kind: str,
                 threshold: float, y: Array) -> None:
        self.n_epochs, self.window, self.kind = n_epochs, window, kind
        self.threshold = threshold
        self.target = np.asarray(y)[:, :, None] > 0.5
        self.diverged = np.full(n_members, -1, np.int64)
        self.last_bad = np.full(n_members, -1, np.int64)
        self.stop_loss = np.full(n_members, np.nan)
        self.initial = self.window_loss = self.limit = np.full(n_members, np.inf)
        self.value = self.initial

    def observe(self, epoch: int, out: Array, value: Array) -> Array | None:
        """Record one epoch; return a mask of newly diverged members, or None."""
        self.value = value
        if epoch == 0:
            self.initial = value.copy()
            self.limit = np.where(value > 0, DIVERGENCE_FACTOR * value, np.inf)
        if epoch == self.n_epochs - self.window:
            self.window_loss = value.copy()
        np.copyto(self.last_bad, epoch,
                  where=_wrong_rows(self.kind, out, self.target, self.threshold, value))
        bad = ~(value <= self.limit)
        if not bad.any():
            return None
        bad &= self.diverged < 0
        if not bad.any():
            return None
        self.diverged[bad] = epoch
        self.stop_loss[bad] = value[bad]
        return bad

    def tracked(self, params: Params) -> Tracked:
        """The record after the last ``observe`` (diverged members keep their loss)."""
        final = np.where(self.diverged >= 0, self.stop_loss, self.value)
        return Tracked(self.initial, self.window_loss, final, self.diverged,
                       self.last_bad, params)


def train_tracked(  # noqa: PLR0913
    config: MLPConfig, x: Array, y: Array, *, loss: str, optimizer: SGD,
    n_epochs: int, seeds: list[int], window: int, kind: str,
    threshold: float,
) -> Tracked:
    """Train one member per seed for ``n_epochs`` full-batch SGD steps.

    ``x`` is ``(n_samples, n_features)``, ``y`` ``(n_samples, n_outputs)``.
    ``kind`` is ``"classification"`` (solved: every row's prediction, output
    above ``threshold``, equals ``y > 0.5``) or ``"regression"`` (solved: loss
    below ``threshold``). ``window`` epochs before the end, the loss is kept
    for the plateau test. A member whose loss turns non-finite or exceeds
    ``DIVERGENCE_FACTOR`` times its initial loss is stopped (rate zero, weights
    and velocity zeroed so that nothing overflows) and keeps that loss.
    """
    dtype = config.np_dtype
    k = len(seeds)
    layers = _member_last(init_params(config, seeds))
    x = np.ascontiguousarray(x, dtype)
    y3 = np.asarray(y, dtype)[:, :, None]
    net = _Net(config, x, k)
    grads = [[np.empty_like(a) for a in arrs] for arrs in layers]
    vel = [[np.zeros_like(a) for a in arrs] for arrs in layers]
    tmps = [[np.empty_like(a) for a in arrs] for arrs in layers]
    diff, grad_buf = np.empty_like(net.a[-1]), np.empty_like(net.a[-1])
    h = _hyper(optimizer, k, dtype)
    tracker = Tracker(k, n_epochs, window, kind, threshold, y)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for epoch in range(n_epochs + 1):
            out = net.forward(layers)
            value, grad_out = _loss_and_grad(loss, out, y3, diff, grad_buf)
            newly = tracker.observe(epoch, out, value)
            if newly is not None:
                _freeze(newly, layers, vel, h)
            if epoch == n_epochs:
                break
            net.backward(layers, grad_out, grads)
            for arrs, gs, vs, ts in zip(layers, grads, vel, tmps, strict=True):
                for j, (w, g, v, tmp) in enumerate(zip(arrs, gs, vs, ts, strict=True)):
                    _sgd_step(optimizer, h, w, g, v, tmp, epoch, is_weight=j == 0)
    return tracker.tracked(_member_first(layers))


def _freeze(mask: Array, layers: list[list[Array]], vel: list[list[Array]],
            h: _Hyper) -> None:
    """Stop members: zero their rate, weights and velocities (outcome is decided)."""
    h.lr[mask] = 0.0
    for arrs, vs in zip(layers, vel, strict=True):
        for a, v in zip(arrs, vs, strict=True):
            a[..., mask] = 0.0
            v[..., mask] = 0.0
