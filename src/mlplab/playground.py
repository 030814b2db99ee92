"""The local web playground: one page, live training sessions, a JSON API.

``create_app()`` returns a Starlette application; ``serve(host, port)`` runs
it with uvicorn (``mlplab playground``). Each browser tab owns a ``Session``:
its settings, the ``TrainState`` of one network (weights, optimizer state,
shuffling), the loss curves, and at most one training thread, which runs
only while the tab plays and ends when the tab pauses, reaches its epoch
budget, or disconnects. The page gets live snapshots over a WebSocket
(``/api/sessions/{id}/live``); when that socket closes, the session is closed
and dropped. Changing only the learning rate, momentum, epoch budget or
solve threshold keeps the weights and the optimizer state (the optimizer is
a frozen dataclass, swapped with ``dataclasses.replace``); any other change
rebuilds the run. Settings and data live in ``playground_core``; findings and
multi-seed runs in ``playground_runs``.

Endpoints (JSON; a bad request is a 4xx with ``{"error": message}``):

==========================================  =====================================
``GET  /api/options``                       choices, defaults, presets, limits
``POST /api/sessions``                      ``{"settings": {...}}`` -> new session
``GET  /api/sessions/{id}``                 full snapshot
``POST /api/sessions/{id}/play|pause``      start / stop the training thread
``POST /api/sessions/{id}/step``            ``{"epochs": n}`` (default 1)
``POST /api/sessions/{id}/reset``           back to epoch 0, same settings
``PATCH /api/sessions/{id}/settings``       change settings (live or rebuild)
``POST /api/sessions/{id}/seeds``           ``{"n_seeds": N}`` multi-seed run
``POST /api/sessions/{id}/heatmap``         ``{"n_seeds": n}`` lr x momentum grid
``DELETE /api/sessions/{id}``               close the session
``WS   /api/sessions/{id}/live``            snapshots while connected
==========================================  =====================================
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .playground_core import (
    ACTIVATION_CHOICES,
    DATA_SETS,
    INIT_CHOICES,
    LIMITS,
    LIVE_FIELDS,
    LOSS_CHOICES,
    STYLE_CHOICES,
    Settings,
    accuracy,
    build_run,
    parse_number,
    parse_settings,
    preset,
    probabilities,
)
from .playground_runs import findings, lr_momentum_heatmap, run_seeds
from .training import DivergenceWarning, fit

__all__ = ["MAX_SESSIONS", "Session", "SessionRegistry", "create_app", "serve"]

STATIC = Path(__file__).with_name("static")
MAX_SESSIONS = 64
IDLE_SECONDS = (
    600  # a session with no page connected and no request for this long is closed
)
CHUNK_SECONDS = 0.03  # the training thread holds the lock for about this long at a time
GRID = 48  # the decision boundary is computed on a GRID x GRID lattice


class ConflictError(Exception):
    """A request that is valid but impossible in the session's state (HTTP 409)."""


class SessionNotFoundError(LookupError):
    """No open session has this id (HTTP 404)."""


def _finite(values: Any, digits: int = 6) -> list[float | None]:
    """Return a JSON-safe list: rounded floats, None for NaN or infinity."""
    return [round(float(v), digits) if math.isfinite(v) else None for v in values]


class Session:
    """One tab's live run: settings, ``TrainState``, curves and training thread."""

    def __init__(self, settings: Settings) -> None:
        self.id = secrets.token_hex(8)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.connections = 0
        self.closed = False
        self.touched = time.monotonic()
        self.generation = 0
        self.version = 0
        self._build(settings)

    # -- state changes; callers hold self.lock (the constructor excepted)

    def _build(self, settings: Settings) -> None:
        """Build data, network and optimizer; draw the weights of ``settings.seed``."""
        run = build_run(settings)
        start = fit(
            run.config,
            run.x,
            run.y,
            loss=run.loss,
            optimizer=run.optimizer,
            n_epochs=0,
            seeds=[settings.seed],
            batch_size=run.batch_size,
        )
        self.settings, self.run, self.state = settings, run, start.state
        self.train_loss: list[float] = []
        self.test_loss: list[float] = []
        self.diverged = False
        self.playing = False
        self.generation += 1
        self.version += 1
        self._findings: tuple[float, Any, list[dict[str, str]]] = (0.0, None, [])

    def _advance(self, n_epochs: int) -> int:
        """Train up to ``n_epochs`` more epochs within the budget; return how many."""
        n_epochs = min(n_epochs, self.settings.epochs - self.state.epoch)
        if n_epochs <= 0 or self.diverged:
            self.playing = False
            return 0
        run = self.run
        validation = (run.x_test, run.y_test) if len(run.x_test) else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DivergenceWarning)  # shown as a finding
            result = fit(
                run.config,
                run.x,
                run.y,
                loss=run.loss,
                optimizer=run.optimizer,
                n_epochs=n_epochs,
                state=self.state,
                batch_size=run.batch_size,
                validation_data=validation,
            )
        self.state = result.state
        self.train_loss.extend(result.history.loss[:, 0].tolist())
        if validation is not None:
            # sse sums over rows: scale the test sum to the training set's size
            scale = len(run.x) / len(run.x_test) if run.loss == "sse" else 1.0
            self.test_loss.extend(
                (scale * result.history.metrics["val_loss"][:, 0]).tolist()
            )
        if result.history.diverged_epoch[0] >= 0:
            self.diverged = True
        if self.diverged or self.state.epoch >= self.settings.epochs:
            self.playing = False
        self.version += 1
        return n_epochs

    # -- the training thread

    def play(self) -> None:
        """Start (or keep) training in this session's thread until paused."""
        with self.lock:
            if self.closed:
                raise SessionNotFoundError(f"session {self.id!r} is closed")
            self._check_budget()
            self.playing = True
            self.version += 1
            if self.thread is None:
                self.stop.clear()
                self.thread = threading.Thread(
                    target=self._loop, daemon=True, name=f"mlplab-train-{self.id}"
                )
                self.thread.start()

    def _loop(self) -> None:
        """Train in chunks of about CHUNK_SECONDS, releasing the lock between them."""
        chunk = 1
        try:
            while True:
                with self.lock:
                    if not self.playing or self.stop.is_set():
                        # decided under the lock, so a concurrent play() starts a
                        # new thread rather than counting on this one
                        self.thread = None
                        return
                    started = time.perf_counter()
                    self._advance(chunk)
                    elapsed = time.perf_counter() - started
                grow = chunk * CHUNK_SECONDS / max(elapsed, 1e-4)
                chunk = int(min(max(grow, 1), 2 * chunk + 1))
                time.sleep(0.002)
        except BaseException:
            with self.lock:
                self.thread, self.playing = None, False
            raise

    def pause(self) -> None:
        """Stop training after the current chunk; the state is kept."""
        with self.lock:
            self.playing = False
            self.version += 1

    def close(self) -> None:
        """Stop the thread and wait for it; the session is unusable afterwards."""
        self.stop.set()
        with self.lock:
            self.closed, self.playing = True, False
            thread = self.thread
        if thread is not None:
            thread.join(timeout=5)

    def _check_budget(self) -> None:
        if self.diverged:
            raise ConflictError("the run diverged; reset it or change the settings")
        if self.state.epoch >= self.settings.epochs:
            raise ConflictError(
                f"the run has used its budget of {self.settings.epochs} epochs; "
                "raise epochs or reset"
            )

    def step(self, n_epochs: int) -> None:
        """Train ``n_epochs`` epochs now (paused or not)."""
        with self.lock:
            self._check_budget()
            self._advance(n_epochs)

    def reset(self) -> None:
        """Back to epoch 0 with the same settings (the same initial weights)."""
        with self.lock:
            self._build(self.settings)

    def update(self, values: dict[str, Any]) -> bool:
        """Apply changed settings; True if the run and optimizer state are kept."""
        with self.lock:
            new = parse_settings(values, self.settings)
            changed = {
                f.name
                for f in dataclasses.fields(Settings)
                if getattr(new, f.name) != getattr(self.settings, f.name)
            }
            if changed <= LIVE_FIELDS:
                opt = self.run.optimizer
                names = {f.name for f in dataclasses.fields(opt)}
                swap = {"learning_rate": new.lr}
                if "momentum" in names:
                    swap["momentum"] = new.momentum
                self.run = dataclasses.replace(
                    self.run, optimizer=dataclasses.replace(opt, **swap)
                )
                self.settings = new
                if self.state.epoch >= new.epochs:
                    self.playing = False
                self.version += 1
                return True
            self._build(new)
            return False

    # -- what the page shows

    def snapshot(self, since: int = 0) -> dict[str, Any]:
        """Everything the page draws; loss points from epoch ``since`` on."""
        with self.lock:
            run, params = self.run, self.state.params
            out: dict[str, Any] = {
                "id": self.id,
                "generation": self.generation,
                "version": self.version,
                "epoch": self.state.epoch,
                "budget": self.settings.epochs,
                "playing": self.playing,
                "diverged": self.diverged,
                "settings": self.settings.to_query(),
                "loss": {
                    "since": since,
                    "train": _finite(self.train_loss[since:]),
                    "test": _finite(self.test_loss[since:])
                    if len(run.x_test)
                    else None,
                },
                "train_loss": _finite(self.train_loss[-1:])[0]
                if self.train_loss
                else None,
                "test_loss": _finite(self.test_loss[-1:])[0]
                if self.test_loss
                else None,
                "train_accuracy": _finite(accuracy(run, params, run.x, run.y))[0],
                "test_accuracy": _finite(accuracy(run, params, run.x_test, run.y_test))[
                    0
                ],
                "network": self._network(),
                "boundary": self._boundary(),
                "outputs": self._outputs(),
                "findings": self._current_findings(),
            }
            if since == 0:
                out["points"] = self._points()
            return out

    def _network(self) -> dict[str, Any]:
        return {
            "layer_sizes": list(self.run.config.layer_sizes),
            "weights": [
                np.round(layer.w[0], 4).tolist() for layer in self.state.params
            ],
            "biases": [
                None if layer.b is None else np.round(layer.b[0], 4).tolist()
                for layer in self.state.params
            ],
        }

    def _extent(self) -> tuple[float, float, float, float]:
        """Return the square of the input plane that the boundary covers."""
        if self.settings.data == "xor":
            return -0.5, 1.5, -0.5, 1.5
        pts = np.vstack([self.run.x, self.run.x_test])
        low, high = float(pts.min()) - 0.2, float(pts.max()) + 0.2
        return low, high, low, high

    def _boundary(self) -> dict[str, Any]:
        """P(class 1) on a GRID x GRID lattice, rows from top (high x2) to bottom."""
        x0, x1, y0, y1 = self._extent()
        gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y1, y0, GRID))
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
        if self.run.config.n_features == 3:  # the original's constant input
            grid = np.hstack([grid, np.ones((len(grid), 1))])
        with np.errstate(over="ignore", invalid="ignore"):
            p = probabilities(self.run, self.state.params, grid)[0]
        return {
            "extent": [x0, x1, y0, y1],
            "n": GRID,
            "values": _finite(np.nan_to_num(p, nan=0.5), 3),
        }

    def _points(self) -> dict[str, Any]:
        run = self.run
        return {
            "train": np.round(run.x[:, :2], 4).tolist(),
            "train_y": run.y.tolist(),
            "test": np.round(run.x_test[:, :2], 4).tolist(),
            "test_y": run.y_test.tolist(),
        }

    def _outputs(self) -> dict[str, Any] | None:
        """Return the 4-point XOR table: rows and whether XOR is solved."""
        if self.settings.data != "xor":
            return None
        run = self.run
        p = probabilities(run, self.state.params, run.x)[0]
        rows = [
            {"input": r.tolist(), "target": float(t), "output": _finite([o])[0]}
            for r, t, o in zip(run.x, run.y, p, strict=True)
        ]
        return {"rows": rows, "solved": bool(np.all((p > 0.5) == (run.y > 0.5)))}

    def _current_findings(self) -> list[dict[str, str]]:
        """Return the findings, recomputed at most twice a second while training."""
        when, key, cached = self._findings
        now = time.monotonic()
        current = (self.state.epoch, self.settings)  # a live rate change counts
        if key == current or (self.playing and now - when < 0.5):
            return cached
        losses = np.asarray(self.train_loss[-500:])
        with np.errstate(over="ignore", invalid="ignore"):
            result = findings(
                self.run, self.state.params, losses, self.state.epoch, self.diverged
            )
        self._findings = (now, current, result)
        return result


class SessionRegistry:
    """The open sessions by id; idle ones without a page close on the next create."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()

    def create(self, settings: Settings) -> Session:
        """Open a session (closing idle ones first)."""
        self._close_idle()
        with self.lock:
            if len(self.sessions) >= MAX_SESSIONS:
                raise ConflictError(
                    f"too many open sessions (at most {MAX_SESSIONS}); close a tab"
                )
        session = Session(settings)
        with self.lock:
            self.sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        """Return the open session ``session_id`` or raise SessionNotFoundError."""
        with self.lock:
            session = self.sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(
                f"no session {session_id!r} (a session ends when its page closes)"
            )
        session.touched = time.monotonic()
        return session

    def close(self, session_id: str) -> None:
        """Close and forget a session (its training thread is joined)."""
        with self.lock:
            session = self.sessions.pop(session_id, None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        """Close every session (at server shutdown)."""
        for session_id in list(self.sessions):
            self.close(session_id)

    def _close_idle(self) -> None:
        now = time.monotonic()
        for session_id, s in list(self.sessions.items()):
            if s.connections == 0 and now - s.touched > IDLE_SECONDS:
                self.close(session_id)


# ---------------------------------------------------------------- the web application


def options() -> dict[str, Any]:
    """Return what the page needs to build its controls."""
    from .optimizers import OPTIMIZERS

    return {
        "defaults": Settings().to_query(),
        "presets": {
            "original": preset(fixed=False).to_query(),
            "corrected": preset(fixed=True).to_query(),
        },
        "choices": {
            "data": DATA_SETS,
            "activation": ACTIVATION_CHOICES,
            "loss": LOSS_CHOICES,
            "init": INIT_CHOICES,
            "optimizer": tuple(OPTIMIZERS),
            "style": STYLE_CHOICES,
        },
        "limits": LIMITS,
        "live_fields": sorted(LIVE_FIELDS),
    }


def _error(status: int, message: str) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Any, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Return the request's JSON object ({} when empty) or raise ValueError.

    With ``allowed``, any other key is an error (a misspelt field is never
    silently ignored).
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValueError("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValueError(
            f"the request body must be a JSON object; got {type(body).__name__}"
        )
    unknown = sorted(set(body) - set(allowed)) if allowed is not None else []
    if unknown:
        expected = ", ".join(allowed) if allowed else "no fields"
        raise ValueError(f"the body takes {expected}; got field {unknown[0]!r}")
    return body


def _registry(request: Any) -> SessionRegistry:
    return request.app.state.registry  # type: ignore[no-any-return]


async def _index(request: Any) -> Any:
    from starlette.responses import FileResponse

    return FileResponse(STATIC / "index.html")


async def _options(request: Any) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(options())


async def _create(request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    body = await _body(request, ("settings",))
    values = body.get("settings", {})
    if not isinstance(values, dict):
        raise ValueError("settings must be a JSON object of setting names and values")
    settings = parse_settings(values)
    session = await run_in_threadpool(_registry(request).create, settings)
    return JSONResponse(await run_in_threadpool(session.snapshot), status_code=201)


async def _get(request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    session = _registry(request).get(request.path_params["id"])
    return JSONResponse(await run_in_threadpool(session.snapshot))


async def _delete(request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    registry = _registry(request)
    registry.get(request.path_params["id"])
    await run_in_threadpool(registry.close, request.path_params["id"])
    return Response(status_code=204)


async def _change(request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    session = _registry(request).get(request.path_params["id"])
    body = await _body(request)
    kept = await run_in_threadpool(session.update, body)
    snapshot = await run_in_threadpool(session.snapshot)
    return JSONResponse({"kept_state": kept, **snapshot})


def _n_seeds(body: dict[str, Any], default: int, limit: int) -> int:
    return int(parse_number("n_seeds", body.get("n_seeds", default), int, 1, limit))


async def _action(request: Any) -> Any:
    """play, pause, step, reset, seeds and heatmap."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    session = _registry(request).get(request.path_params["id"])
    action = request.path_params["action"]
    fields = {"step": ("epochs",), "seeds": ("n_seeds",), "heatmap": ("n_seeds",)}
    if action not in (*fields, "play", "pause", "reset"):
        return _error(
            404,
            f"unknown action {action!r}; expected play, pause, step, reset, "
            "seeds or heatmap",
        )
    body = await _body(request, fields.get(action, ()))
    if action in ("play", "pause", "reset"):
        await run_in_threadpool(getattr(session, action))
    elif action == "step":
        epochs = int(
            parse_number("epochs", body.get("epochs", 1), int, 1, LIMITS["epochs"])
        )
        await run_in_threadpool(session.step, epochs)
    elif action == "seeds":
        n = _n_seeds(body, session.settings.seeds, LIMITS["seeds"])
        result = await run_in_threadpool(
            run_seeds, session.settings, n, lambda: session.closed
        )
        return JSONResponse(result)
    else:  # heatmap
        n = _n_seeds(body, 10, LIMITS["heatmap_seeds"])
        result = await run_in_threadpool(
            lr_momentum_heatmap, session.settings, n, lambda: session.closed
        )
        return JSONResponse(result)
    return JSONResponse(await run_in_threadpool(session.snapshot))


async def _live(websocket: Any) -> None:
    """Send a snapshot whenever the session changes (at most 20 a second)."""
    import anyio
    from starlette.concurrency import run_in_threadpool
    from starlette.websockets import WebSocketDisconnect

    registry = websocket.app.state.registry
    try:
        session = registry.get(websocket.path_params["id"])
    except SessionNotFoundError as e:
        await websocket.close(code=4404, reason=str(e.args[0])[:120])
        return
    await websocket.accept()
    session.connections += 1

    async def pump() -> None:
        generation, version, sent = -1, -1, 0
        while True:
            if session.version != version:
                if session.generation != generation:
                    sent = 0
                snap = await run_in_threadpool(session.snapshot, sent)
                generation, version = snap["generation"], snap["version"]
                sent += len(snap["loss"]["train"])
                await websocket.send_json(snap)
            await anyio.sleep(0.05)

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pump)
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
            tasks.cancel_scope.cancel()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the page went away while a snapshot was being sent
    finally:
        session.connections -= 1
        if session.connections == 0:
            # Shielded: the server may cancel this handler right after the
            # disconnect, and the training thread must still be stopped.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(registry.close, session.id)


def create_app() -> Any:
    """Build the Starlette application: the page, the static files and the API."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles

    registry = SessionRegistry()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        registry.close_all()

    async def bad_value(request: Any, exc: Exception) -> Any:
        return _error(400, str(exc))

    async def missing(request: Any, exc: Exception) -> Any:
        return _error(404, str(exc.args[0]) if exc.args else "not found")

    async def conflict(request: Any, exc: Exception) -> Any:
        return _error(409, str(exc))

    routes = [
        Route("/", _index),
        Route("/api/options", _options),
        Route("/api/sessions", _create, methods=["POST"]),
        Route("/api/sessions/{id}", _get, methods=["GET"]),
        Route("/api/sessions/{id}", _delete, methods=["DELETE"]),
        Route("/api/sessions/{id}/settings", _change, methods=["PATCH"]),
        WebSocketRoute("/api/sessions/{id}/live", _live),
        Route("/api/sessions/{id}/{action}", _action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {
        ValueError: bad_value,
        TypeError: bad_value,
        SessionNotFoundError: missing,
        ConflictError: conflict,
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.registry = registry
    return app


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the playground with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
