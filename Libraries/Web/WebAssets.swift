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
  const rows = await boards();
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

// The console: one terminal; its stream opened anew whenever the user's
// right to type changes (a console opened while watching stays read-only).
let consoleStream = null, consoleHolds = null;

function openConsole(name, holds) {
  if (consoleStream && consoleHolds === holds) return;
  consoleHolds = holds;
  if (consoleStream) consoleStream.close();
  const columns = 100, rows = 30;
  if (!window.provisionerTerminal) {
    const terminal = new Terminal({ cols: columns, rows: rows });
    terminal.open(document.getElementById("console"));
    window.provisionerTerminal = terminal;
    // What the console printed, as text (the terminal draws on a canvas):
    // for tests and for copying.
    window.provisionerTranscript = [];
    window.provisionerConsoleText = () => window.provisionerTranscript.join("");
    terminal.on("data", data => {
      if (window.provisionerConsoleID) post(`/api/v1/console/${window.provisionerConsoleID}/input`, data);
    });
  }
  const terminal = window.provisionerTerminal;
  const decoder = new TextDecoder();
  window.provisionerConsoleID = null;
  const source = new EventSource(`/api/v1/boards/${encodeURIComponent(name)}/console?cols=${columns}&rows=${rows}`);
  source.addEventListener("ready", event => { window.provisionerConsoleID = event.data; });
  source.onmessage = event => {
    const raw = atob(event.data);
    const bytes = new Uint8Array(raw.length);
    for (let index = 0; index < raw.length; index++) bytes[index] = raw.charCodeAt(index);
    const text = decoder.decode(bytes, { stream: true });
    window.provisionerTranscript.push(text);
    terminal.write(text);
  };
  consoleStream = source;
}

document.addEventListener("DOMContentLoaded", () => {
  const page = meta("page");
  if (page === "boards") {
    showBoards();
    follow(() => showBoards());
  } else if (page === "board") {
    const name = meta("board");
    showBoard(name);
    showJobs(name);
    follow(event => {
      if (event.board && event.board !== name) return;
      showBoard(name);
      if (event.type === "job.end") showJobs(name);
    });
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
.bar { background: #4a7ab5; color: white; margin: 2px 0; padding: 1px 4px; white-space: nowrap; font-size: small; }
"""
}
