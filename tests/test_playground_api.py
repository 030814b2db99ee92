"""Every playground endpoint through Starlette's test client, including bad input."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # starlette 1.x suggests httpx2 for its test client
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from mlplab.network import param_arrays
from mlplab.playground import GRID, create_app
from mlplab.playground_core import LIMITS, build_run, preset
from mlplab.training import fit

pytestmark = pytest.mark.filterwarnings("ignore:.*httpx2")


@pytest.fixture
def client():
    with TestClient(create_app()) as c:
        yield c


def _session(client, **settings):
    response = client.post("/api/sessions", json={"settings": settings})
    assert response.status_code == 201, response.text
    return response.json()


def _live(client, session_id):
    return client.app.state.registry.get(session_id)


def _training_threads():
    return [t for t in threading.enumerate() if t.name.startswith("mlplab-train-")]


def _wait(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_page_static_files_and_options(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "mlplab playground" in page.text
    for name in (
        "playground.js",
        "playground.css",
        "uPlot.iife.min.js",
        "uPlot.LICENSE",
    ):
        assert client.get(f"/static/{name}").status_code == 200
    options = client.get("/api/options").json()
    assert options["limits"] == LIMITS
    assert options["presets"]["original"]["activation"] == "sigmoid_wrong_derivative"
    assert options["presets"]["corrected"]["activation"] == "sigmoid"
    assert set(options["choices"]["style"]) == {
        "classical",
        "lr-inside",
        "dampened",
        "ema",
    }
    assert "adam" in options["choices"]["optimizer"]


def test_the_page_loads_nothing_from_the_internet(client):
    page = client.get("/").text
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links
    assert all(link.startswith(("/static/", "data:")) for link in links), links
    script = client.get("/static/playground.js").text
    assert "http://" not in script
    assert "https://" not in script


def test_create_returns_a_full_snapshot(client):
    snap = _session(client, data="moons", test="0.25", hidden="5,3", bias="1")
    assert snap["epoch"] == 0
    assert snap["playing"] is False
    assert snap["settings"]["hidden"] == "5,3"
    assert len(snap["boundary"]["values"]) == GRID * GRID
    assert all(0 <= v <= 1 for v in snap["boundary"]["values"])
    assert [np.shape(w) for w in snap["network"]["weights"]] == [(2, 5), (5, 3), (3, 1)]
    assert len(snap["points"]["train"]) == 150
    assert len(snap["points"]["test"]) == 50
    assert snap["outputs"] is None  # the table is for the 4-point XOR only
    assert snap["findings"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"data": "imagenet"}, "unknown data set 'imagenet'"),
        ({"lr": -0.1}, "lr must be > 0 and <= 100; got -0.1"),
        ({"momentum": 1.5}, "momentum must be in [0, 1); got 1.5"),
        ({"hidden": "4,500"}, "each hidden layer must have 1 to 32 units"),
        ({"seeds": 100000}, "seeds must be in [1, 1000]"),
        ({"points": 10**6}, "points must be in [20, 1000]"),
        ({"style": "heavy"}, "unknown momentum style 'heavy'"),
    ],
)
def test_bad_settings_are_400_and_the_server_keeps_serving(client, settings, message):
    good = _session(client)
    response = client.post("/api/sessions", json={"settings": settings})
    assert response.status_code == 400
    assert message in response.json()["error"]
    response = client.patch(f"/api/sessions/{good['id']}/settings", json=settings)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert client.get("/api/options").status_code == 200
    assert client.post(f"/api/sessions/{good['id']}/step").json()["epoch"] == 1


def test_malformed_requests(client):
    sid = _session(client)["id"]
    response = client.post("/api/sessions", content=b"{not json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]
    assert client.post("/api/sessions", json=[1, 2]).status_code == 400
    assert client.post("/api/sessions", json={"settings": 3}).status_code == 400
    assert client.get("/api/sessions/nope").status_code == 404
    assert "no session 'nope'" in client.get("/api/sessions/nope").json()["error"]
    assert client.post(f"/api/sessions/{sid}/dance").status_code == 404
    for bad in (0, -3, "x", LIMITS["epochs"] + 1):
        response = client.post(f"/api/sessions/{sid}/step", json={"epochs": bad})
        assert response.status_code == 400, bad
        assert "epochs must" in response.json()["error"]


def test_step_and_reset(client):
    sid = _session(client)["id"]
    snap = client.post(f"/api/sessions/{sid}/step", json={"epochs": 25}).json()
    assert snap["epoch"] == 25
    assert len(snap["loss"]["train"]) == 25
    assert snap["train_loss"] == pytest.approx(snap["loss"]["train"][-1])
    initial = client.get(f"/api/sessions/{sid}").json()
    run = build_run(preset(fixed=True))
    alone = fit(
        run.config, run.x, run.y, loss="sse", optimizer=run.optimizer, n_epochs=25
    )
    np.testing.assert_allclose(
        initial["loss"]["train"], alone.history.loss[:, 0], atol=1e-6
    )
    snap = client.post(f"/api/sessions/{sid}/reset").json()
    assert snap["epoch"] == 0
    assert snap["loss"]["train"] == []
    again = client.post(f"/api/sessions/{sid}/step", json={"epochs": 25}).json()
    assert again["loss"]["train"] == initial["loss"]["train"]


def test_play_trains_in_a_thread_until_paused(client):
    sid = _session(client)["id"]
    assert client.post(f"/api/sessions/{sid}/play").json()["playing"] is True
    assert _wait(lambda: client.get(f"/api/sessions/{sid}").json()["epoch"] > 50)
    assert _training_threads()
    paused = client.post(f"/api/sessions/{sid}/pause").json()
    assert paused["playing"] is False
    assert _wait(lambda: not _training_threads())
    epoch = client.get(f"/api/sessions/{sid}").json()["epoch"]
    time.sleep(0.2)
    assert client.get(f"/api/sessions/{sid}").json()["epoch"] == epoch


def test_play_stops_at_the_budget_and_then_is_409(client):
    sid = _session(client, epochs=300)["id"]
    client.post(f"/api/sessions/{sid}/play")
    assert _wait(lambda: client.get(f"/api/sessions/{sid}").json()["epoch"] == 300)
    assert _wait(lambda: not _training_threads())
    assert client.get(f"/api/sessions/{sid}").json()["playing"] is False
    for action in ("play", "step"):
        response = client.post(f"/api/sessions/{sid}/{action}")
        assert response.status_code == 409
        assert "budget of 300 epochs" in response.json()["error"]
    # raising the budget is a live change: training continues from epoch 300
    snap = client.patch(f"/api/sessions/{sid}/settings", json={"epochs": 400}).json()
    assert snap["kept_state"] is True
    assert client.post(f"/api/sessions/{sid}/step").json()["epoch"] == 301


def test_changing_rate_and_momentum_mid_run_keeps_the_optimizer_state(client):
    sid = _session(client)["id"]
    client.post(f"/api/sessions/{sid}/step", json={"epochs": 40})
    snap = client.patch(
        f"/api/sessions/{sid}/settings", json={"lr": 1.5, "momentum": 0.8}
    ).json()
    assert snap["kept_state"] is True
    assert snap["epoch"] == 40
    client.post(f"/api/sessions/{sid}/step", json={"epochs": 40})
    session = _live(client, sid)
    # the same run by hand: 40 epochs, then the new rate and momentum on the same state
    run = build_run(preset(fixed=True))
    first = fit(
        run.config, run.x, run.y, loss="sse", optimizer=run.optimizer, n_epochs=40
    )
    changed = dataclasses.replace(run.optimizer, learning_rate=1.5, momentum=0.8)
    second = fit(
        run.config,
        run.x,
        run.y,
        loss="sse",
        optimizer=changed,
        n_epochs=40,
        state=first.state,
    )
    for got, want in zip(
        param_arrays(session.state.params), param_arrays(second.params), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # restarting the optimizer instead would have given other weights
    fresh = fit(
        run.config,
        run.x,
        run.y,
        loss="sse",
        optimizer=changed,
        n_epochs=40,
        params=first.params,
    )
    assert not np.allclose(
        param_arrays(fresh.params)[0], param_arrays(second.params)[0], rtol=1e-6, atol=0
    )
    assert session.run.optimizer.momentum_style == "ema"
    curvature = next(
        f for f in snap["findings"] if f["title"] == "Step size and curvature"
    )
    assert "momentum 0.8" in curvature["text"]  # findings follow the live change


def test_other_changes_rebuild_the_run(client):
    sid = _session(client)["id"]
    client.post(f"/api/sessions/{sid}/step", json={"epochs": 10})
    snap = client.patch(
        f"/api/sessions/{sid}/settings", json={"hidden": "6", "activation": "tanh"}
    ).json()
    assert snap["kept_state"] is False
    assert snap["epoch"] == 0
    assert np.shape(snap["network"]["weights"][0]) == (3, 6)
    assert snap["settings"]["lr"] == "0.5"  # untouched settings stay


def test_seeds_endpoint(client):
    sid = _session(client, epochs=2000)["id"]
    result = client.post(f"/api/sessions/{sid}/seeds", json={"n_seeds": 20}).json()
    assert result["n_seeds"] == 20
    assert len(result["epochs_to_solve"]) == 20
    assert 0 <= result["interval"][0] <= result["rate"] <= result["interval"][1] <= 1
    assert result["solved"] == sum(e > 0 for e in result["epochs_to_solve"])
    response = client.post(f"/api/sessions/{sid}/seeds", json={"n_seeds": 5000})
    assert response.status_code == 400
    assert "n_seeds must be in [1, 1000]" in response.json()["error"]
    # a misspelt field is refused, not ignored (this ran 100 seeds once)
    response = client.post(f"/api/sessions/{sid}/seeds", json={"n": 100000})
    assert response.status_code == 400
    assert response.json()["error"] == "the body takes n_seeds; got field 'n'"
    response = client.post(f"/api/sessions/{sid}/play", json={"epochs": 5})
    assert response.status_code == 400
    assert response.json()["error"] == "the body takes no fields; got field 'epochs'"
    client.patch(f"/api/sessions/{sid}/settings", json={"epochs": 100000})
    response = client.post(f"/api/sessions/{sid}/seeds", json={"n_seeds": 100})
    assert response.status_code == 400
    assert "<= 5,000,000" in response.json()["error"]
    assert client.get("/api/options").status_code == 200


def test_heatmap_endpoint(client):
    sid = _session(client, epochs=300)["id"]
    result = client.post(f"/api/sessions/{sid}/heatmap", json={"n_seeds": 2}).json()
    assert result["learning_rates"] == [0.125, 0.25, 0.5, 1.0, 2.0]
    assert np.shape(result["rate"]) == (len(result["momenta"]), 5)
    client.patch(
        f"/api/sessions/{sid}/settings", json={"optimizer": "adam", "lr": 0.01}
    )
    response = client.post(f"/api/sessions/{sid}/heatmap", json={"n_seeds": 2})
    assert response.status_code == 400
    assert "does not have" in response.json()["error"]
    response = client.post(f"/api/sessions/{sid}/heatmap", json={"n_seeds": 51})
    assert response.status_code == 400


def test_delete_closes_the_session(client):
    sid = _session(client)["id"]
    client.post(f"/api/sessions/{sid}/play")
    assert client.delete(f"/api/sessions/{sid}").status_code == 204
    assert not _training_threads()
    assert client.get(f"/api/sessions/{sid}").status_code == 404
    assert client.delete(f"/api/sessions/{sid}").status_code == 404


def test_live_socket_streams_and_disconnect_stops_training(client):
    sid = _session(client, epochs=100000)["id"]
    with client.websocket_connect(f"/api/sessions/{sid}/live") as ws:
        first = ws.receive_json()
        assert first["epoch"] == 0
        assert "points" in first
        client.post(f"/api/sessions/{sid}/play")
        seen = 0
        for _ in range(200):
            snap = ws.receive_json()
            assert snap["loss"]["since"] == seen  # incremental curves, no gap
            seen += len(snap["loss"]["train"])
            if snap["epoch"] > 100:
                break
        assert seen == snap["epoch"]
        assert _training_threads()
    # the page went away: the thread ends and the session is dropped
    assert _wait(lambda: not _training_threads(), timeout=5)
    assert _wait(
        lambda: client.get(f"/api/sessions/{sid}").status_code == 404, timeout=5
    )
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/api/sessions/nope/live") as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 4404


def test_two_sessions_train_independently(client):
    a = _session(client)["id"]
    b = _session(client, seed=3)["id"]
    client.post(f"/api/sessions/{a}/play")
    assert _wait(lambda: client.get(f"/api/sessions/{a}").json()["epoch"] > 100)
    assert client.get(f"/api/sessions/{b}").json()["epoch"] == 0
    client.post(f"/api/sessions/{b}/step", json={"epochs": 7})
    client.patch(f"/api/sessions/{b}/settings", json={"lr": 3.0})
    client.post(f"/api/sessions/{a}/pause")
    assert _live(client, a).run.optimizer.learning_rate == 0.5
    assert client.get(f"/api/sessions/{b}").json()["epoch"] == 7
    run = build_run(preset(fixed=True))
    alone = fit(
        run.config,
        run.x,
        run.y,
        loss="sse",
        optimizer=run.optimizer,
        n_epochs=7,
        seeds=[3],
    )
    for got, want in zip(
        param_arrays(_live(client, b).state.params),
        param_arrays(alone.params),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    client.delete(f"/api/sessions/{a}")
    assert client.post(f"/api/sessions/{b}/step").json()["epoch"] == 8
