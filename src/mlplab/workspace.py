"""The training step on preallocated buffers: what ``fit`` runs in its hot loop.

``network.forward``/``backward``, the losses and ``SGD.update`` are the readable
reference: pure functions returning new arrays. A step built from them
allocates a dozen arrays per layer; a ``Workspace`` computes the same step into
buffers allocated once per ``fit`` call, so that a step costs little more than
its matrix products. Tests check it against the reference step.

Buffers for a batch of B rows (K members, layer i with n_i outputs):

- ``z[i]`` ``(K, B, n_i)``: layer i's pre-activation ``a_{i-1} w_i + b_i``.
  ReLU and identity are applied in place (the ReLU derivative is read off the
  output: ``a > 0`` exactly where ``z > 0``); other activations keep ``z`` and
  return a new ``a`` (correct, just not allocation-free).
- ``grad[i]`` ``(K, B, n_i)``: the loss gradient with respect to ``z[i]``.
- the batch's rows, gathered from the epoch's permutation with ``np.take``
  straight into a buffer (never a shuffled copy of the whole data set).

Weights and optimizer state are double-buffered: a step writes the new
weights into the spare set and keeps the old ones, so a member whose loss or
new weights are not finite keeps its last finite weights (the divergence
guard costs one sum per parameter array). Arrays handed out by ``export`` are
copies, never buffers that a later step overwrites.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._types import Array, BoolArray
from .network import Dense, MLPConfig, Params, param_arrays, with_arrays

__all__ = ["Workspace"]

Arrays = tuple[Array, ...]


def _softmax_cross_entropy(z: Array, y: Array, grad: Array, rows: Array, tmp: Array) -> Array:
    """``CrossEntropy.value`` and ``.grad`` fused: returns ``(K,)``, fills ``grad``.

    The same formulas in the same order as ``losses.CrossEntropy``:
    ``softmax(z) - y`` over the row count, and per row ``log(sum(exp(z - m)))
    + m - sum(y z)`` with ``m`` the row maximum. ``rows`` is a ``(3, K, B, 1)``
    scratch buffer, ``tmp`` one shaped like ``z``.
    """
    row_max, row_sum, target = rows
    np.max(z, axis=-1, keepdims=True, out=row_max)
    np.subtract(z, row_max, out=grad)
    with np.errstate(under="ignore"):  # exp of very negative shifts is 0 by design
        np.exp(grad, out=grad)
    np.sum(grad, axis=-1, keepdims=True, out=row_sum)
    grad /= row_sum
    grad -= y
    grad /= z.shape[-2]
    np.multiply(y, z, out=tmp)
    np.sum(tmp, axis=-1, keepdims=True, out=target)
    np.log(row_sum, out=row_sum)
    row_sum += row_max
    row_sum -= target
    return np.sum(row_sum[..., 0], axis=-1) / z.shape[-2]


class _Buffers:
    """Activation-sized buffers for one batch size (see the module docstring)."""

    def __init__(self, config: MLPConfig, n_members: int, n_rows: int, shuffled: bool,
                 x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> None:
        dtype = config.np_dtype
        widths = config.layer_sizes[1:]
        self.z = [np.empty((n_members, n_rows, n), dtype) for n in widths]
        self.grad = [np.empty((n_members, n_rows, n), dtype) for n in widths]
        self.mask = [np.empty((n_members, n_rows, n), bool) for n in widths[:-1]]
        self.rows = np.empty((3, n_members, n_rows, 1), dtype)
        self.tmp = np.empty((n_members, n_rows, widths[-1]), dtype)
        # Gathered batch rows: (K, B, ...) -- every member has its own order.
        self.x = np.empty((n_members, n_rows, x_shape[-1]), dtype) if shuffled else None
        self.y = np.empty((n_members, n_rows, y_shape[-1]), dtype) if shuffled else None


class Workspace:
    """Buffers and the in-place training step for one ``fit`` call.

    Parameters
    ----------
    config : MLPConfig
        The network.
    loss_fn : loss object
        From ``LOSSES``; ``cross_entropy`` has a fused in-place kernel, the
        others call ``value`` and ``grad``.
    optimizer : optimizer object
        Uses ``update_into`` when the optimizer has it (``SGD``), else
        ``update`` followed by one in-place add.
    n_members : int
        K.
    """

    def __init__(self, config: MLPConfig, loss_fn: Any, optimizer: Any, n_members: int
                 ) -> None:
        self.config = config
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.n_members = n_members
        self.activations = [config.layer_activation(i)
                            for i in range(len(config.layer_sizes) - 1)]
        self._buffers: dict[tuple[int, bool], _Buffers] = {}
        self.params: Params = ()
        self.spare: Arrays = ()
        self.spare_params: Params = ()
        self.grads: Arrays = ()
        self.grad_w: list[Array] = []
        self.grad_b: list[Array | None] = []
        self.opt_state: Any = None
        self.spare_state: Any = None

    # ------------------------------------------------------------ state

    def load(self, params: Params, opt_state: Any) -> None:
        """Copy ``params`` and the optimizer state into private buffers."""
        arrays = [p.copy() for p in param_arrays(params)]
        self.params = with_arrays(params, arrays)
        self.spare = tuple(np.empty_like(p) for p in arrays)
        self.spare_params = with_arrays(params, self.spare)
        self.grads = tuple(np.empty_like(p) for p in arrays)
        grads = with_arrays(params, self.grads)
        self.grad_w = [g.w for g in grads]
        self.grad_b = [g.b for g in grads]
        fused = hasattr(self.optimizer, "update_into")
        self.opt_state = _copy_state(opt_state) if fused else opt_state
        self.spare_state = _copy_state(opt_state) if fused else None

    def export(self) -> tuple[Params, Any]:
        """Copies of the current parameters and optimizer state (safe to keep)."""
        arrays = [p.copy() for p in param_arrays(self.params)]
        state = self.opt_state
        if self.spare_state is not None:
            state = _copy_state(state)
        return with_arrays(self.params, arrays), state

    # ------------------------------------------------------------ batches

    def buffers(self, n_rows: int, shuffled: bool, x: Array, y: Array) -> _Buffers:
        """The buffers for ``n_rows``-row batches, made on first use."""
        key = (n_rows, shuffled)
        if key not in self._buffers:
            self._buffers[key] = _Buffers(self.config, self.n_members, n_rows, shuffled,
                                          x.shape, y.shape)
        return self._buffers[key]

    def gather(self, a: Array, order: Array, out: Array) -> Array:
        """Rows ``order`` ``(K, B)`` of shared ``(n, d)`` or per-member ``(K, n, d)`` data.

        One ``np.take`` into ``out`` ``(K, B, d)``; per-member data are read
        as one flat ``(K n, d)`` table with each member's rows offset by k n.
        """
        if a.ndim == 2:
            return np.take(a, order, axis=0, out=out)
        flat = a.reshape(-1, a.shape[-1])
        offsets = np.arange(0, flat.shape[0], a.shape[1])[:, None]
        return np.take(flat, order + offsets, axis=0, out=out)

    # ------------------------------------------------------------ the step

    def step(self, x: Array, y: Array, buf: _Buffers, active: BoolArray
             ) -> tuple[Array, BoolArray]:
        """Forward, loss, backward and one update of every active member.

        Returns the batch loss ``(K,)`` (of the weights before the step) and
        ``ok``: members whose loss and new weights are finite. Members not
        ``active & ok`` keep their weights and optimizer state.
        """
        acts = self._forward(x, buf)
        loss = self._loss(acts[-1], y, buf)
        self._backward(x, acts, buf)
        state, ok = self._update(loss)
        keep = ~(active & ok)
        if keep.any():
            _restore(keep, self.spare, param_arrays(self.params))
            _restore(keep, state, self.opt_state)
        if self.spare_state is not None:
            self.spare_state = self.opt_state
        self.opt_state = state
        self.params, self.spare_params = self.spare_params, self.params
        self.spare = param_arrays(self.spare_params)
        return loss, ok

    def _forward(self, x: Array, buf: _Buffers) -> list[Array]:
        """``z = a w + b`` into ``buf.z``, then the activation; returns every ``a``."""
        a = x
        acts = []
        for layer, activation, z in zip(self.params, self.activations, buf.z, strict=True):
            np.matmul(a, layer.w, out=z)
            if layer.b is not None:
                z += layer.b[:, None, :]
            if activation.name == "relu":
                a = np.maximum(z, 0, out=z)
            elif activation.name == "identity":
                a = z
            else:
                a = activation.forward(z)
            acts.append(a)
        return acts

    def _loss(self, out: Array, y: Array, buf: _Buffers) -> Array:
        """The batch loss ``(K,)``; its gradient w.r.t. ``out`` goes to ``buf.grad[-1]``."""
        if self.loss_fn.name == "cross_entropy":
            return _softmax_cross_entropy(out, y, buf.grad[-1], buf.rows, buf.tmp)
        np.copyto(buf.grad[-1], self.loss_fn.grad(out, y))
        return self.loss_fn.value(out, y)  # type: ignore[no-any-return]

    def _activation_backward(self, i: int, acts: list[Array], buf: _Buffers) -> None:
        """Turn ``buf.grad[i]`` from the gradient w.r.t. ``a_i`` into the one w.r.t. ``z_i``."""
        activation, grad = self.activations[i], buf.grad[i]
        if activation.name == "relu":  # 0 where z <= 0, i.e. where a <= 0
            np.less_equal(acts[i], 0, out=buf.mask[i])
            np.copyto(grad, 0, where=buf.mask[i])
        elif activation.name != "identity":
            np.copyto(grad, activation.backward(buf.z[i], acts[i], grad))

    def _backward(self, x: Array, acts: list[Array], buf: _Buffers) -> None:
        """Fill ``self.grads`` from ``buf.grad[-1]``, layer by layer from the top."""
        for i in reversed(range(len(self.params))):
            self._activation_backward(i, acts, buf)
            grad_z = buf.grad[i]
            a_in = x if i == 0 else acts[i - 1]
            np.matmul(np.swapaxes(a_in, -1, -2), grad_z, out=self.grad_w[i])
            if self.grad_b[i] is not None:
                np.sum(grad_z, axis=1, out=self.grad_b[i])
            if i > 0:
                np.matmul(grad_z, np.swapaxes(self.params[i].w, -1, -2), out=buf.grad[i - 1])

    def _update(self, loss: Array) -> tuple[Any, BoolArray]:
        """New weights into the spare buffers; returns the new state and ``ok``."""
        arrays, out = param_arrays(self.params), self.spare
        if self.spare_state is not None:
            state = self.optimizer.update_into(self.grads, self.opt_state, arrays, out,
                                               self.spare_state)
        else:
            updates, state = self.optimizer.update(self.grads, self.opt_state, arrays)
            for p, u, new in zip(arrays, updates, out, strict=True):
                np.add(p, u, out=new)
        ok = np.isfinite(loss)
        for p in out:
            ok &= np.isfinite(np.sum(p.reshape(self.n_members, -1), axis=1))
        return state, ok


def _copy_state(state: Any) -> Any:
    """A copy of an optimizer state: its arrays copied, through (named) tuples."""
    if isinstance(state, np.ndarray):
        return state.copy()
    if isinstance(state, tuple):
        items = [_copy_state(s) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    return state


def _restore(keep: BoolArray, new: Any, old: Any) -> None:
    """In place, ``new[k] = old[k]`` for members ``keep``, through (named) tuples."""
    if isinstance(new, np.ndarray):
        if new.ndim >= 1 and new.shape[0] == keep.shape[0] and new is not old:
            new[keep] = old[keep]
    elif isinstance(new, tuple):
        for n, o in zip(new, old, strict=True):
            _restore(keep, n, o)
