// mlplab playground page: controls <-> URL <-> server session; live views over a WebSocket.
"use strict";

const $ = (id) => document.getElementById(id);
const ORANGE = [245, 147, 34], BLUE = [8, 119, 189], WHITE = [255, 255, 255];
let OPTIONS = null;      // /api/options
let session = null;      // current session id
let socket = null;       // its live WebSocket
let generation = -1;     // the run whose curves we hold
let version = -1;        // the newest snapshot shown (replies may overtake each other)
let curves = { x: [], train: [], test: [] };
let points = null;       // the data set's points (sent with full snapshots)
let playing = false;
let chart = null;
let queue = Promise.resolve();  // serialises requests that change the session

// ------------------------------------------------------------------ requests

async function api(method, path, body) {
  const init = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const data = response.status === 204 ? {} : await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showError(message) { $("error").textContent = message; $("error").hidden = !message; }

function enqueue(task) {
  queue = queue.then(task).catch((e) => showError(e.message));
  return queue;
}

// ------------------------------------------------------------------ controls and URL

function settingNames() { return Object.keys(OPTIONS.defaults); }

function readControls() {
  const s = {};
  for (const name of settingNames()) {
    const el = $("s-" + name);
    s[name] = el.type === "checkbox" ? (el.checked ? "1" : "0") : el.value.trim();
  }
  return s;
}

function writeControls(s) {
  for (const [name, value] of Object.entries(s)) {
    const el = $("s-" + name);
    if (!el) continue;
    if (el.type === "checkbox") el.checked = value === "1" || value === "true";
    else el.value = value;
  }
  updateVisibility();
}

function writeUrl(s) { history.replaceState(null, "", "?" + new URLSearchParams(s).toString()); }

function updateVisibility() {
  const show = (selector, visible) =>
    document.querySelectorAll(selector).forEach((el) => { el.hidden = !visible; });
  const opt = $("s-optimizer").value;
  show(".not-xor", $("s-data").value !== "xor");
  show(".sgd-only", opt === "sgd");
  show(".has-momentum", opt === "sgd" || opt === "rmsprop");
  show(".dampened-only", opt === "sgd" && $("s-style").value === "dampened");
}

function buildSelects() {
  for (const [name, choices] of Object.entries(OPTIONS.choices)) {
    const select = $("s-" + name);
    for (const choice of choices) {
      const option = document.createElement("option");
      option.value = choice;
      option.textContent = choice === "sigmoid_wrong_derivative" ? "sigmoid (original's wrong derivative)"
        : choice === "uniform" ? "uniform [0, 1) (original)" : choice;
      select.appendChild(option);
    }
  }
}

// ------------------------------------------------------------------ session lifecycle

function disconnect() {
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/sessions/${session}/live`);
  ws.onmessage = (event) => render(JSON.parse(event.data));
  ws.onclose = () => { if (socket === ws) $("status").textContent = "disconnected: reload the page"; };
  socket = ws;
}

async function startSession(settings) {
  disconnect();
  let snap;
  try {
    snap = await api("POST", "/api/sessions", { settings });
    showError("");
  } catch (e) {
    snap = await api("POST", "/api/sessions", { settings: OPTIONS.defaults });
    showError("The URL's settings were not accepted (" + e.message + "); showing the defaults.");
  }
  session = snap.id;
  version = -1;
  writeControls(snap.settings);
  writeUrl(snap.settings);
  render(snap);
  connect();
}

async function applySettings(settings) {
  const snap = await api("PATCH", `/api/sessions/${session}/settings`, settings);
  showError("");
  writeControls(snap.settings);
  writeUrl(snap.settings);
  render(snap);
}

function onControlChange() {
  updateVisibility();
  const settings = readControls();
  enqueue(() => applySettings(settings));
}

async function action(name, body) {
  const snap = await api("POST", `/api/sessions/${session}/${name}`, body);
  showError("");
  render(snap);
}

// ------------------------------------------------------------------ rendering

function render(snap) {
  if (snap.id !== session || snap.version < version) return;
  version = snap.version;
  if (snap.generation !== generation) { generation = snap.generation; curves = { x: [], train: [], test: [] }; }
  if (snap.points) points = snap.points;
  updateCurves(snap.loss);
  playing = snap.playing;
  $("play").textContent = playing ? "Pause" : "Play";
  const state = snap.diverged ? "diverged" : playing ? "training"
    : snap.epoch >= snap.budget ? "finished" : "paused";
  $("status").textContent = `epoch ${snap.epoch} / ${snap.budget} · ${state}`;
  $("loss-value").textContent = snap.train_loss === null ? "–" : fmt(snap.train_loss);
  $("test-value").textContent = snap.test_loss === null ? "" : `· test ${fmt(snap.test_loss)}`;
  $("accuracy").textContent = `training accuracy ${pct(snap.train_accuracy)}` +
    (snap.test_accuracy === null ? "" : ` · test accuracy ${pct(snap.test_accuracy)}`);
  drawBoundary(snap.boundary);
  drawNetwork(snap.network, snap.settings.data === "xor");
  renderOutputs(snap.outputs);
  renderFindings(snap.findings);
}

function fmt(v) { return v === null ? "–" : Number(v).toPrecision(4); }
function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"; }

function updateCurves(loss) {
  if (loss.since > curves.x.length) {  // a gap: fetch the whole curve again
    enqueue(async () => render(await api("GET", `/api/sessions/${session}`)));
    return;
  }
  for (const key of ["x", "train", "test"]) curves[key].length = loss.since;
  loss.train.forEach((v, i) => {
    curves.x.push(loss.since + i + 1);
    curves.train.push(v !== null && v > 0 ? v : null);
    const t = loss.test ? loss.test[i] : null;
    curves.test.push(t !== null && t > 0 ? t : null);
  });
  if (!chart) makeChart();
  chart.setData([curves.x, curves.train, curves.test]);
}

function makeChart() {
  const box = $("chart");
  chart = new uPlot({
    width: Math.max(box.clientWidth, 300), height: 220,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: "epoch" }, { label: "loss (log)" }],
    series: [{ label: "epoch" },
             { label: "train", stroke: "rgb(8,119,189)", width: 1.5, spanGaps: true },
             { label: "test", stroke: "rgb(245,147,34)", width: 1.5, spanGaps: true }],
  }, [[], [], []], box);
  window.addEventListener("resize", () => chart.setSize({ width: Math.max(box.clientWidth, 300), height: 220 }));
}

function mix(p) {
  const [a, b, t] = p < 0.5 ? [ORANGE, WHITE, p * 2] : [WHITE, BLUE, p * 2 - 1];
  return a.map((v, i) => Math.round(v + (b[i] - v) * t));
}

function drawBoundary(b) {
  const canvas = $("boundary"), ctx = canvas.getContext("2d");
  const off = document.createElement("canvas");
  off.width = off.height = b.n;
  const image = off.getContext("2d").createImageData(b.n, b.n);
  b.values.forEach((p, i) => {
    const [r, g, bl] = mix(p === null ? 0.5 : p);
    image.data.set([r, g, bl, 200], 4 * i);
  });
  off.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  if (!points) return;
  const [x0, x1, y0, y1] = b.extent;
  const px = (x) => (x - x0) / (x1 - x0) * canvas.width;
  const py = (y) => (y1 - y) / (y1 - y0) * canvas.height;
  const dot = (p, y, test) => {
    ctx.beginPath();
    ctx.arc(px(p[0]), py(p[1]), points.train.length <= 4 ? 8 : 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${(y > 0.5 ? BLUE : ORANGE).join(",")})`;
    ctx.strokeStyle = test ? "#000" : "#fff";
    ctx.fill(); ctx.stroke();
  };
  points.train.forEach((p, i) => dot(p, points.train_y[i], false));
  points.test.forEach((p, i) => dot(p, points.test_y[i], true));
}

function drawNetwork(net, xor) {
  const canvas = $("network"), ctx = canvas.getContext("2d");
  const sizes = net.layer_sizes, W = canvas.width, H = canvas.height, m = 24;
  ctx.clearRect(0, 0, W, H);
  const pos = sizes.map((n, l) => Array.from({ length: n }, (_, j) => [
    m + l * (W - 2 * m) / (sizes.length - 1), (j + 1) * H / (n + 1)]));
  let largest = 1e-12;
  net.weights.forEach((w) => w.forEach((row) => row.forEach((v) => { largest = Math.max(largest, Math.abs(v)); })));
  net.weights.forEach((w, l) => w.forEach((row, i) => row.forEach((v, j) => {
    ctx.beginPath();
    ctx.moveTo(...pos[l][i]); ctx.lineTo(...pos[l + 1][j]);
    ctx.lineWidth = 0.5 + 5 * Math.abs(v) / largest;
    ctx.strokeStyle = `rgba(${(v >= 0 ? BLUE : ORANGE).join(",")},0.8)`;
    ctx.stroke();
  })));
  const names = xor ? ["x1", "x2", "1"] : ["x1", "x2"];
  pos.forEach((layer, l) => layer.forEach(([x, y], j) => {
    ctx.beginPath(); ctx.arc(x, y, 9, 0, 2 * Math.PI);
    ctx.fillStyle = "#fff"; ctx.strokeStyle = "#444"; ctx.lineWidth = 1.5;
    ctx.fill(); ctx.stroke();
    if (l === 0) { ctx.fillStyle = "#222"; ctx.fillText(names[j] || "", x - 22, y + 4); }
  }));
}

function renderOutputs(outputs) {
  $("xor-panel").hidden = !outputs;
  if (!outputs) return;
  const body = $("xor-table").tBodies[0];
  body.innerHTML = "";
  for (const row of outputs.rows) {
    const ok = row.output !== null && (row.output > 0.5) === (row.target > 0.5);
    const tr = body.insertRow();
    tr.innerHTML = `<td>${row.input.join(" ")}</td><td>${row.target}</td>` +
      `<td>${row.output === null ? "–" : row.output.toFixed(4)}</td><td class="${ok ? "ok" : "bad"}">${ok ? "✓" : "✗"}</td>`;
  }
  $("xor-status").textContent = outputs.solved ? "solves XOR" : "does not solve XOR yet";
  $("xor-status").className = outputs.solved ? "ok" : "bad";
}

function renderFindings(findings) {
  const list = $("findings");
  list.innerHTML = "";
  for (const f of findings) {
    const li = document.createElement("li");
    li.className = f.kind;
    const title = document.createElement("b");
    title.textContent = f.title + ". ";
    li.append(title, f.text);
    list.appendChild(li);
  }
}

// ------------------------------------------------------------------ many seeds

async function runSeeds() {
  $("seed-busy").textContent = "training…";
  try {
    const r = await api("POST", `/api/sessions/${session}/seeds`, { n_seeds: Number($("s-seeds").value) });
    const [low, high] = r.interval;
    $("seed-rate").innerHTML = `<b id="success-rate">${pct(r.rate)}</b> of ${r.n_seeds} seeds solved ` +
      `(95% Wilson interval ${pct(low)} to ${pct(high)})`;
    const other = r.n_seeds - r.solved - r.plateau - r.diverged;
    $("seed-detail").textContent = `within ${r.epochs} epochs: ${r.solved} solved, ${r.plateau} stalled ` +
      `on the constant-output plateau, ${r.diverged} diverged, ${Math.max(other, 0)} unfinished.`;
    drawHistogram(r.epochs_to_solve.filter((e) => e >= 0), r.epochs);
    showError("");
  } catch (e) { showError(e.message); }
  $("seed-busy").textContent = "";
}

function drawHistogram(epochs, budget) {
  const canvas = $("histogram"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#222";
  if (!epochs.length) { ctx.fillText("no seed solved", 10, 20); return; }
  const top = Math.max(...epochs), bins = 20, width = Math.max(top, 1) / bins;
  const counts = new Array(bins).fill(0);
  epochs.forEach((e) => { counts[Math.min(bins - 1, Math.floor(e / width))] += 1; });
  const most = Math.max(...counts);
  counts.forEach((c, i) => {
    const h = (H - 30) * c / most;
    ctx.fillStyle = "rgb(8,119,189)";
    ctx.fillRect(10 + i * (W - 20) / bins, H - 18 - h, (W - 20) / bins - 2, h);
  });
  ctx.fillStyle = "#222";
  ctx.fillText("0", 10, H - 4);
  ctx.fillText(`${Math.round(top)} epochs`, W - 70, H - 4);
  ctx.fillText(`most: ${most}`, 10, 12);
}

async function runHeatmap() {
  $("seed-busy").textContent = "training the grid…";
  try {
    const r = await api("POST", `/api/sessions/${session}/heatmap`, { n_seeds: 10 });
    const table = $("heatmap");
    const lr = Number($("s-lr").value), mu = Number($("s-momentum").value);
    let html = "<tr><th>momentum \\ lr</th>" + r.learning_rates.map((v) => `<th>${+v.toPrecision(3)}</th>`).join("") + "</tr>";
    r.rate.forEach((row, i) => {
      html += `<tr><th>${r.momenta[i]}</th>` + row.map((v, j) => {
        const [cr, cg, cb] = mix(v);
        const current = r.momenta[i] === mu && Math.abs(r.learning_rates[j] - lr) < 1e-12 ? "current" : "";
        return `<td class="${current}" style="background: rgb(${cr},${cg},${cb})">${pct(v)}</td>`;
      }).join("") + "</tr>";
    });
    table.innerHTML = html + `<caption>${r.n_seeds} seeds per cell</caption>`;
    showError("");
  } catch (e) { showError(e.message); }
  $("seed-busy").textContent = "";
}

// ------------------------------------------------------------------ wiring

async function main() {
  OPTIONS = await api("GET", "/api/options");
  buildSelects();
  $("host").textContent = location.host;
  for (const name of settingNames()) $("s-" + name).addEventListener("change", onControlChange);
  $("play").onclick = () => enqueue(() => action(playing ? "pause" : "play"));
  $("step").onclick = () => enqueue(() => action("step", { epochs: 1 }));
  $("reset").onclick = () => enqueue(() => action("reset"));
  $("preset-original").onclick = () => { writeControls(OPTIONS.presets.original); onControlChange(); };
  $("preset-corrected").onclick = () => { writeControls(OPTIONS.presets.corrected); onControlChange(); };
  $("run-seeds").onclick = () => enqueue(runSeeds);
  $("run-heatmap").onclick = () => enqueue(runHeatmap);
  const fromUrl = Object.fromEntries(new URLSearchParams(location.search));
  await startSession({ ...OPTIONS.defaults, ...fromUrl });
}

main().catch((e) => showError(e.message));
