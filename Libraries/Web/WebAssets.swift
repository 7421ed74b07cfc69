/// The page's script and style, served by the coordinator itself (the
/// Content-Security-Policy allows nothing else: no inline script or style).
/// The script writes every string it shows with `textContent`, never as
/// markup.
enum WebAssets {
    static let script = #"""
"use strict";
const meta = name => document.querySelector(`meta[name="${name}"]`).content;
const csrf = meta("csrf"), me = meta("user"), admin = meta("admin") === "true";

// State-changing requests carry the session's CSRF token; one at a time, in order.
let posting = Promise.resolve();
function post(path, body) {
  const sent = posting.then(() => fetch(path, { method: "POST", headers: { "X-CSRF-Token": csrf }, body: body || "" }));
  posting = sent.catch(() => {});
  return sent;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function say(text) {
  const line = document.getElementById("said");
  if (line) line.textContent = text;
}

async function boards() {
  const answer = await fetch("/api/v1/boards");
  return answer.ok ? answer.json() : [];
}

function holderText(board) {
  if (board.locked) return "(locked) " + board.locked;
  return board.holder ? board.holder + " until " + board.until : "-";
}

async function showBoards() {
  const table = document.getElementById("boards");
  const body = table.tBodies[0];
  const [rows, waiting] = await Promise.all([boards(), fetch("/api/v1/queue").then(answer => answer.ok ? answer.json() : [])]);
  body.replaceChildren();
  for (const board of rows) {
    const row = document.createElement("tr");
    row.dataset.board = board.name;
    const name = document.createElement("a");
    name.href = "/board/" + encodeURIComponent(board.name);
    name.textContent = board.name;
    const first = document.createElement("td");
    first.appendChild(name);
    row.appendChild(first);
    cell(row, (board.tags || []).join(", "));
    cell(row, board.agent);
    cell(row, board.online ? "yes" : "no");
    cell(row, board.power);
    cell(row, board.state);
    cell(row, holderText(board));
    // Who waits for a board with tags this one has (reserve --tag … --wait).
    cell(row, String(waiting.filter(waiter => waiter.tags.every(tag => (board.tags || []).includes(tag))).length));
    body.appendChild(row);
  }
}

function follow(onEvent) {
  const source = new EventSource("/api/v1/events");
  source.onmessage = event => onEvent(JSON.parse(event.data));
  return source;
}

async function act(board, path, body) {
  const answer = await post("/api/v1/boards/" + encodeURIComponent(board) + "/" + path, body);
  const result = await answer.json();
  say(((result.stdout || "") + (result.stderr || "")).trim() || (answer.ok ? "done" : "refused"));
  await showBoard(board);
}

async function showBoard(name) {
  const board = (await boards()).find(row => row.name === name);
  document.getElementById("status").textContent =
    board ? `${board.online ? "online" : "offline"}, power ${board.power}, ${board.state}; holder: ${holderText(board)}` : "no such board";
  const holds = board && !board.locked && (board.holder === me || (board.guests || []).includes(me));
  const free = board && !board.locked && !board.holder;
  const buttons = document.getElementById("actions");
  buttons.replaceChildren();
  const button = (label, path, body) => {
    const element = document.createElement("button");
    element.textContent = label;
    element.id = "do-" + label.replaceAll(" ", "-");
    element.addEventListener("click", () => act(name, path, body));
    buttons.appendChild(element);
  };
  if (free) button("reserve 1h", "reserve", "1h");
  if (holds) {
    button("power on", "power/on");
    button("power off", "power/off");
    button("power cycle", "power/cycle");
    if (board.holder === me) {
      button("extend 1h", "reserve", "1h");
      button("release", "release");
    }
  }
  document.getElementById("console-mode").textContent = holds ? "you hold this board: the console is yours to type in"
    : "read-only: reserve the board to type";
  openConsole(name, Boolean(holds));
}

async function showJobs(name) {
  const answer = await fetch(`/api/v1/boards/${encodeURIComponent(name)}/jobs`);
  const body = document.getElementById("jobs").tBodies[0];
  body.replaceChildren();
  const jobs = answer.ok ? await answer.json() : [];
  for (const job of jobs.slice().reverse().slice(0, 20)) {
    const row = document.createElement("tr");
    cell(row, job.started);
    cell(row, job.kind);
    cell(row, job.user);
    cell(row, job.seconds.toFixed(1) + " s");
    cell(row, job.result + (job.error ? ": " + job.error : ""));
    cell(row, (job.phases || []).map(phase => `${phase.name} ${phase.seconds.toFixed(1)} s`).join(" · "));
    body.appendChild(row);
  }
  // The last flashes' MB/s, as bars (their widths set from the script: no inline style).
  const chart = document.getElementById("rates");
  chart.replaceChildren();
  const flashes = jobs.filter(job => job.kind === "flash" && job.result === "ok" && job.bytes && job.seconds > 0).slice(-10);
  const rates = flashes.map(job => job.bytes / job.seconds / 1e6);
  const top = Math.max(1, ...rates);
  flashes.forEach((job, index) => {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = Math.max(2, rates[index] / top * 400) + "px";
    bar.textContent = `${rates[index].toFixed(1)} MB/s`;
    bar.title = `${job.started} by ${job.user}`;
    chart.appendChild(bar);
  });
  if (!flashes.length) chart.textContent = "no flash yet";
}

async function showAudit() {
  const answer = await fetch("/api/v1/audit");
  const body = document.getElementById("audit").tBodies[0];
  body.replaceChildren();
  if (!answer.ok) {
    say((await answer.json()).stderr || "refused");
    return;
  }
  for (const line of (await answer.json()).slice().reverse()) {
    const row = document.createElement("tr");
    cell(row, line.time);
    cell(row, line.user);
    cell(row, line.action);
    cell(row, line.board || "-");
    cell(row, line.detail || "");
    body.appendChild(row);
  }
}

// A week of reservations per board, from the start of today: local ones
// and calendar bookings told apart, now marked. A click on a board's row
// reserves it from now until the end of the hour clicked (if free till then).
const hourWidth = 6;

async function showTimeline() {
  const [rows, answer] = await Promise.all([boards(), fetch("/api/v1/reservations")]);
  const reservations = answer.ok ? await answer.json() : [];
  const start = new Date();
  start.setHours(0, 0, 0, 0);
  const left = time => (time - start.getTime()) / 3600000 * hourWidth;
  const grid = document.getElementById("timeline");
  grid.replaceChildren();
  const scale = document.createElement("div");
  scale.className = "lane scale";
  for (let day = 0; day < 7; day++) {
    const label = document.createElement("span");
    label.className = "day";
    label.style.left = (day * 24 * hourWidth) + "px";
    label.textContent = new Date(start.getTime() + day * 86400000).toDateString();
    scale.appendChild(label);
  }
  grid.appendChild(row("", scale));
  for (const board of rows) {
    const lane = document.createElement("div");
    lane.className = "lane";
    lane.dataset.board = board.name;
    for (const reservation of reservations.filter(item => item.board === board.name)) {
      const from = reservation.start ? Date.parse(reservation.start) : Date.now();
      const to = Date.parse(reservation.end);
      const block = document.createElement("div");
      block.className = "slot " + (reservation.source === "calendar" ? "calendar" : "local");
      block.style.left = Math.max(0, left(from)) + "px";
      block.style.width = Math.max(2, left(to) - Math.max(0, left(from))) + "px";
      block.textContent = reservation.user + (reservation.title ? ": " + reservation.title : "");
      block.title = `${reservation.user} (${reservation.source}${reservation.title ? ": " + reservation.title : ""}) `
        + `${reservation.start || ""} – ${reservation.end}`;
      lane.appendChild(block);
    }
    const now = document.createElement("div");
    now.className = "now";
    now.style.left = left(Date.now()) + "px";
    lane.appendChild(now);
    lane.addEventListener("click", event => {
      if (event.target !== lane) return;
      const hour = Math.floor((event.clientX - lane.getBoundingClientRect().left) / hourWidth);
      const until = new Date(start.getTime() + (hour + 1) * 3600000);
      if (until.getTime() <= Date.now()) return say("that hour is over");
      reserveUntil(board.name, until);
    });
    grid.appendChild(row(board.name, lane));
  }
}

function row(name, lane) {
  const line = document.createElement("div");
  line.className = "row";
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = name;
  line.appendChild(label);
  line.appendChild(lane);
  return line;
}

async function reserveUntil(name, until) {
  const answer = await post("/api/v1/boards/" + encodeURIComponent(name) + "/reserve-until", until.toISOString().slice(0, 19) + "Z");
  const result = await answer.json();
  say(((result.stdout || "") + (result.stderr || "")).trim());
  showTimeline();
}

// The console: one terminal on a WebSocket (output in, keys out), opened
// anew whenever the user's right to type changes (a console opened while
// watching stays read-only), and again 3 s after the server went away.
let consoleSocket = null, consoleHolds = null;

function openConsole(name, holds) {
  if (consoleSocket && consoleHolds === holds) return;
  consoleHolds = holds;
  if (consoleSocket) { consoleSocket.onclose = null; consoleSocket.close(); }
  const columns = 100, rows = 30;
  if (!window.provisionerTerminal) {
    const terminal = new Terminal({ cols: columns, rows: rows });
    terminal.open(document.getElementById("console"));
    window.provisionerTerminal = terminal;
    // What the console printed, as text (the terminal draws on a canvas):
    // for tests and for copying.
    window.provisionerTranscript = [];
    window.provisionerConsoleText = () => window.provisionerTranscript.join("");
    window.provisionerConsoleSend = data => {
      if (consoleSocket && consoleSocket.readyState === WebSocket.OPEN) consoleSocket.send(data);
    };
    terminal.on("data", data => window.provisionerConsoleSend(data));
  }
  const terminal = window.provisionerTerminal;
  const decoder = new TextDecoder();
  window.provisionerConsoleReady = false;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/api/v1/boards/${encodeURIComponent(name)}/console`
    + `?cols=${columns}&rows=${rows}&csrf=${encodeURIComponent(csrf)}`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => { window.provisionerConsoleReady = true; };
  socket.onmessage = event => {
    const text = decoder.decode(new Uint8Array(event.data), { stream: true });
    window.provisionerTranscript.push(text);
    terminal.write(text);
    if (window.provisionerOnOutput) window.provisionerOnOutput(text);
  };
  socket.onclose = () => {
    window.provisionerConsoleReady = false;
    if (consoleSocket !== socket) return;
    consoleSocket = null;
    setTimeout(() => { if (!consoleSocket) openConsole(name, holds); }, 3000);
  };
  consoleSocket = socket;
}

document.addEventListener("DOMContentLoaded", () => {
  const page = meta("page");
  if (page === "boards") {
    showBoards();
    follow(event => showBoards());
  } else if (page === "board") {
    const name = meta("board");
    showBoard(name);
    showJobs(name);
    follow(event => {
      if (event.board && event.board !== name) return;
      showBoard(name);
      if (event.type === "job.end") showJobs(name);
    });
  } else if (page === "timeline") {
    showTimeline();
    follow(event => { if (event.type.startsWith("reservation.")) showTimeline(); });
  } else if (page === "audit") {
    showAudit();
    follow(() => showAudit());
  }
});
"""#

    static let style = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }
#actions button { margin-right: 0.5em; }
#console { margin-top: 1em; }
#said { color: #555; font-family: monospace; white-space: pre-wrap; }
header form { display: inline; }
#timeline { overflow-x: auto; }
.row { display: flex; align-items: center; height: 26px; }
.label { width: 6em; flex: none; }
.lane { position: relative; width: 1008px; height: 22px; background: #f3f3f3; border-left: 1px solid #ccc; flex: none; cursor: pointer; }
.scale { background: none; cursor: default; }
.day { position: absolute; font-size: x-small; color: #555; }
.slot { position: absolute; top: 2px; height: 18px; font-size: x-small; overflow: hidden; color: white; cursor: default; }
.slot.local { background: #4a7ab5; }
.slot.calendar { background: #b5794a; }
.now { position: absolute; top: 0; width: 2px; height: 22px; background: #c00; }
.bar { background: #4a7ab5; color: white; margin: 2px 0; padding: 1px 4px; white-space: nowrap; font-size: small; }
"""
}
