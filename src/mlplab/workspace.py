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
- ``grad[i]`` ``(K, B, n_i)``: the loss gradient with respect to ``z[i]``;
  ``mask[i]`` the ReLU's ``a > 0``.
- the batch's rows, gathered from the epoch's permutation with ``take``
  straight into a buffer (never a shuffled copy of the whole data set).

The weights of all layers are views into one ``(K, n_params)`` array, and so
are their gradients and (for SGD) velocities, so an elementwise optimizer
updates the whole network in a few calls (``SGD.update_into``). Weights and
velocities are double-buffered: a step writes the new ones into the spare
arrays and keeps the old, so a member whose loss or new weights are not
finite keeps its last finite weights; the check is one matrix-vector product
(each member's sum, which is not finite when an entry is not). Arrays handed
out by ``export`` are copies, never buffers that a later step overwrites.

Hot ops keep the data's dtype: every output is a buffer of that dtype and
every scalar a Python number or a 0-d array of that dtype (float32 stays
float32; the float32 tests compare bits with the reference).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._types import Array, BoolArray
from .network import MLPConfig, Params, param_arrays, with_arrays

__all__ = ["Workspace"]

Arrays = tuple[Array, ...]


_sum = np.add.reduce  # the ufunc methods skip np.sum's argument handling
_max = np.maximum.reduce


def _softmax_cross_entropy(
    z: Array, y: Array, grad: Array, rows: Array, tmp: Array
) -> Array:
    """Return ``CrossEntropy.value(z, y)`` ``(K,)``; put ``.grad(z, y)`` in ``grad``.

    The same formulas in the same order as ``losses.CrossEntropy``:
    ``(softmax(z) - y) / n_rows``, and per row ``log(sum(exp(z - m))) + m -
    sum(y z)`` with ``m`` the row maximum. ``rows`` is a ``(3, K, B, 1)``
    scratch buffer, ``tmp`` one shaped like ``z``. Underflow in ``exp`` is
    ignored by ``fit``'s error state, as in ``softmax``.
    """
    row_max, row_sum, target = rows
    _max(z, axis=-1, keepdims=True, out=row_max)
    np.subtract(z, row_max, out=grad)
    np.exp(grad, out=grad)
    _sum(grad, axis=-1, keepdims=True, out=row_sum)
    grad /= row_sum
    grad -= y
    grad /= z.shape[-2]
    np.multiply(y, z, out=tmp)
    _sum(tmp, axis=-1, keepdims=True, out=target)
    np.log(row_sum, out=row_sum)
    row_sum += row_max
    row_sum -= target
    return _sum(row_sum[..., 0], axis=-1) / z.shape[-2]  # type: ignore[no-any-return]


class _Buffers:
    """Activation-sized buffers for one batch size (see the module docstring)."""

    def __init__(
        self,
        config: MLPConfig,
        n_members: int,
        n_rows: int,
        gathered: tuple[int, int] | None,
    ) -> None:
        dtype, widths = config.np_dtype, config.layer_sizes[1:]
        self.z = [np.empty((n_members, n_rows, n), dtype) for n in widths]
        self.grad = [np.empty((n_members, n_rows, n), dtype) for n in widths]
        self.mask = [np.empty((n_members, n_rows, n), bool) for n in widths]
        self.rows = np.empty((3, n_members, n_rows, 1), dtype)
        self.tmp = np.empty((n_members, n_rows, widths[-1]), dtype)
        # Gathered batch rows (K, B, d): every member has its own order.
        if gathered is not None:
            self.x = np.empty((n_members, n_rows, gathered[0]), dtype)
            self.y = np.empty((n_members, n_rows, gathered[1]), dtype)


class Workspace:
    """Buffers and the in-place training step for one ``fit`` call.

    Parameters
    ----------
    config : MLPConfig
        The network.
    loss_fn : loss object
        From ``LOSSES``; ``cross_entropy`` has a fused in-place kernel, the
        others call ``value`` and ``grad``.
    n_members : int
        K.

    ``load`` takes the optimizer: an ``elementwise`` one (SGD) runs its fused
    ``update_into`` over all the parameters at once; any other its ``update``
    followed by one in-place add per array.
    """

    def __init__(self, config: MLPConfig, loss_fn: Any, n_members: int) -> None:
        self.config, self.loss_fn, self.n_members = config, loss_fn, n_members
        self.activations = [
            config.layer_activation(i) for i in range(len(config.layer_sizes) - 1)
        ]
        self.optimizer: Any = None
        self.fused = False
        self._buffers: dict[tuple[int, bool], _Buffers] = {}
        self._exported: tuple[Any, Any] = (None, None)

    # ------------------------------------------------------------ state

    def load(self, params: Params, opt_state: Any, optimizer: Any) -> None:
        """Copy ``params`` and the optimizer state into the private buffers.

        Every parameter array is a view into one ``(K, n_params)`` buffer (and
        its gradient into another), so that the update and the divergence
        check are a few calls for the whole network. ``optimizer`` may differ
        from the last epoch's (a callback changed its rate). The copy is
        skipped when the inputs are what ``export`` last returned.
        """
        # An elementwise optimizer (SGD without weight decay) updates all the
        # parameters at once, as one flat (K, n_params) array.
        fused = bool(getattr(optimizer, "elementwise", False))
        same = (
            params is self._exported[0]
            and opt_state is self._exported[1]
            and fused == self.fused
        )
        self.optimizer, self.fused = optimizer, fused
        if same:
            return
        shape = (self.n_members, sum(p[0].size for p in param_arrays(params)))
        dtype = params[0].w.dtype
        self.flat = [np.empty(shape, dtype) for _ in range(2)]  # current, spare
        self.views = [_split(flat, params) for flat in self.flat]
        self.grad_flat = np.empty(shape, dtype)
        self.ones, self.sums = np.ones(shape[1], dtype), np.empty(shape[0], dtype)
        grads = _split(self.grad_flat, params)
        self.grads = param_arrays(grads)
        self.grad_w = [g.w for g in grads]
        self.grad_b = [g.b for g in grads]
        for view, p in zip(
            param_arrays(self.views[0]), param_arrays(params), strict=True
        ):
            np.copyto(view, p)
        if self.fused:  # velocities: flat too, double-buffered like the weights
            self.velocity = [np.empty(shape, dtype) for _ in range(2)]
            for view, v in zip(
                param_arrays(_split(self.velocity[0], params)),
                opt_state.velocity,
                strict=True,
            ):
                np.copyto(view, v)
            self.step_count, self.state_type = opt_state.step, type(opt_state)
        else:
            self.opt_state = opt_state

    @property
    def params(self) -> Params:
        """The current parameters (views into the workspace's buffer)."""
        return self.views[0]

    def export(self) -> tuple[Params, Any]:
        """Return copies of the parameters and optimizer state (safe to keep)."""
        params = with_arrays(self.params, [p.copy() for p in param_arrays(self.params)])
        if self.fused:
            velocity = _split(self.velocity[0], params)
            state = self.state_type(
                self.step_count, tuple(v.copy() for v in param_arrays(velocity))
            )
        else:
            state = self.opt_state
        self._exported = (params, state)
        return params, state

    # ------------------------------------------------------------ batches

    def buffers(self, n_rows: int, x: Array, y: Array, gathered: bool) -> _Buffers:
        """Return the buffers for ``n_rows``-row batches, made on first use."""
        key = (n_rows, gathered)
        if key not in self._buffers:
            shapes = (x.shape[-1], y.shape[-1]) if gathered else None
            self._buffers[key] = _Buffers(self.config, self.n_members, n_rows, shapes)
        return self._buffers[key]

    @staticmethod
    def gather(a: Array, order: NDArray[np.integer[Any]], out: Array) -> Array:
        """Take rows ``order`` ``(K, B)`` of shared or per-member ``a`` into ``out``.

        One ``take`` into ``out`` ``(K, B, d)``; per-member data are read as
        one flat ``(K n, d)`` table with member k's rows offset by ``k n``.
        """
        # mode="clip" (the rows are valid anyway): "raise" buffers ``out``.
        if a.ndim == 2:
            return a.take(order, axis=0, out=out, mode="clip")
        offsets = np.arange(0, a.shape[0] * a.shape[1], a.shape[1])[:, None]
        flat = a.reshape(-1, a.shape[-1])
        return flat.take(order + offsets, axis=0, out=out, mode="clip")

    # ------------------------------------------------------------ the step

    def step(
        self,
        x: Array,
        y: Array,
        buf: _Buffers,
        active: BoolArray,
        sample_weight: Array | None = None,
    ) -> tuple[Array, BoolArray, Array]:
        """Run forward, loss, backward and one update of every active member.

        Returns the batch loss ``(K,)`` (of the weights before the step),
        ``ok``: members whose loss and new weights are finite, and the
        outputs ``(K, B, n_outputs)`` before the step (a buffer: valid until
        the next step; not kept for a ReLU output layer, whose backward pass
        overwrites it). Members not ``active & ok`` keep their weights and
        optimizer state. ``sample_weight`` ``(B,)`` or ``(K, B)`` weighs the
        rows in the loss (then computed by the loss object, not in place).
        """
        acts = self._forward(x, buf)
        loss = self._loss(acts[-1], y, buf, sample_weight)
        self._backward(x, acts, buf)
        state = self._update()
        ok = np.isfinite(loss)
        # A member's sum of its new parameters is not finite when one is not;
        # a product with ones (BLAS) sums twice as fast as np.sum.
        ok &= np.isfinite(np.matmul(self.flat[1], self.ones, out=self.sums))
        if not (ok.all() and active.all()):
            keep = ~(active & ok)
            self.flat[1][keep] = self.flat[0][keep]
            if self.fused:
                self.velocity[1][keep] = self.velocity[0][keep]
            else:
                _restore(keep, state, self.opt_state)
        self.flat.reverse()  # the spare buffers become the current ones
        self.views.reverse()
        if self.fused:
            self.velocity.reverse()
            self.step_count += 1
        else:
            self.opt_state = state
        return loss, ok, acts[-1]

    def _forward(self, x: Array, buf: _Buffers) -> list[Array]:
        """Put ``z = a w + b`` in ``buf.z`` and activate; return every layer's ``a``."""
        a, acts = x, []
        for i, (layer, activation) in enumerate(
            zip(self.params, self.activations, strict=True)
        ):
            z = np.matmul(a, layer.w, out=buf.z[i])
            if layer.b is not None:
                z += layer.b[:, None, :]
            if activation.name == "relu":
                # a = z * (z > 0), twice as fast as np.maximum(z, 0), and the mask
                # serves backward too. A bool factor would need a cast buffer, so
                # the mask goes as floats through grad[i] (unused until backward).
                # Unlike np.maximum it gives -0.0 for z < 0 (equal to 0) and NaN
                # for z = -inf (an overflow, which the divergence guard stops).
                np.greater(z, 0, out=buf.mask[i])
                np.copyto(buf.grad[i], buf.mask[i])
                a = np.multiply(z, buf.grad[i], out=z)
            elif activation.name == "identity":
                a = z
            else:
                a = activation.forward(z)
            acts.append(a)
        return acts

    def _loss(
        self, out: Array, y: Array, buf: _Buffers, sample_weight: Array | None
    ) -> Array:
        """Return the batch loss ``(K,)``; put its gradient in ``buf.grad[-1]``."""
        if self.loss_fn.name == "cross_entropy" and sample_weight is None:
            return _softmax_cross_entropy(out, y, buf.grad[-1], buf.rows, buf.tmp)
        grad = self.loss_fn.grad(out, y, sample_weight=sample_weight)
        np.copyto(buf.grad[-1], grad)
        return self.loss_fn.value(out, y, sample_weight=sample_weight)  # type: ignore[no-any-return]

    def _activation_backward(self, i: int, acts: list[Array], buf: _Buffers) -> None:
        """Turn ``buf.grad[i]`` from d loss / d ``a_i`` into d loss / d ``z_i``."""
        activation, grad = self.activations[i], buf.grad[i]
        if activation.name == "relu":
            # f'(z) = 1 where z > 0, else 0: forward's mask, cast into a (which
            # no later step of backward reads), then one multiply; unbuffered
            # (np.sign, a bool factor and copyto(where=) are all slower).
            np.copyto(acts[i], buf.mask[i])
            grad *= acts[i]
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
                _sum(grad_z, axis=1, out=self.grad_b[i])
            if i > 0:
                w_t = np.swapaxes(self.params[i].w, -1, -2)
                np.matmul(grad_z, w_t, out=buf.grad[i - 1])

    def _update(self) -> Any:
        """Write the new weights into the spare buffer; return the new state."""
        if self.fused:
            self.optimizer.update_into(
                (self.grad_flat,),
                self.step_count,
                (self.flat[0],),
                (self.velocity[0],),
                (self.flat[1],),
                (self.velocity[1],),
            )
            return None
        arrays = param_arrays(self.params)
        updates, state = self.optimizer.update(self.grads, self.opt_state, arrays)
        for p, u, new in zip(arrays, updates, param_arrays(self.views[1]), strict=True):
            np.add(p, u, out=new)
        return state


def _split(flat: Array, like: Params) -> Params:
    """Return views of ``flat`` ``(K, n_params)`` shaped like ``like``'s arrays."""
    views, start = [], 0
    for p in param_arrays(like):
        size = p[0].size
        views.append(flat[:, start : start + size].reshape(p.shape))
        start += size
    assert all(np.shares_memory(v, flat) for v in views)  # views, never copies
    return with_arrays(like, views)


def _restore(keep: BoolArray, new: Any, old: Any) -> None:
    """Set ``new[k] = old[k]`` in place for members ``keep``, through tuples."""
    if isinstance(new, np.ndarray):
        if new.ndim >= 1 and new.shape[0] == keep.shape[0] and new is not old:
            new[keep] = old[keep]
    elif isinstance(new, tuple):
        for n, o in zip(new, old, strict=True):
            _restore(keep, n, o)
