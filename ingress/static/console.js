// The customer console (SPEC §13). No library, no storage: the session is an HttpOnly cookie the script
// never sees; credentials live in the sign-in form only until it is sent.
"use strict";

const FIGURES_EVERY_MS = 2000;
const $ = (id) => document.getElementById(id);
let figuresTimer = null;
let live = null;
const boards = new Map();

async function call(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let answer = {};
  try { answer = await response.json(); } catch (_) { answer = {}; }
  return { status: response.status, answer };
}

function say(element, text, failed) {
  element.textContent = text;
  element.classList.toggle("failed", Boolean(failed));
}

function messageOf(answer, status) {
  return answer.message || answer.error || `Request failed (HTTP ${status})`;
}

// Sign-in and sign-out

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const id = form.packageId.value.trim();
  const body = {
    packageId: /^\d+$/.test(id) ? Number(id) : id,
    username: form.username.value,
    password: form.password.value,
  };
  say($("sign-in-message"), "Signing in…");
  const { status, answer } = await call("POST", "/console/sign-in", body);
  form.password.value = "";
  if (status !== 200) {
    say($("sign-in-message"), messageOf(answer, status), true);
    form.password.focus();
    return;
  }
  say($("sign-in-message"), "");
  await showConsole();
}

async function signOut() {
  await call("POST", "/console/sign-out");
  showSignIn("Signed out.");
}

function showSignIn(note) {
  clearInterval(figuresTimer);
  if (live) live.close();
  live = null;
  boards.clear();
  $("boards").replaceChildren();
  $("console").hidden = true;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in-panel").hidden = false;
  say($("sign-in-message"), note || "");
  $("package-id").focus();
}

async function showConsole() {
  const signedIn = await refreshFigures();
  if (!signedIn) {
    showSignIn();
    return;
  }
  $("sign-in-panel").hidden = true;
  $("console").hidden = false;
  $("who").hidden = false;
  $("sign-out").hidden = false;
  $("package-title").focus();
  clearInterval(figuresTimer);
  figuresTimer = setInterval(refreshFigures, FIGURES_EVERY_MS);
  openLive();
}

// Status and figures

const FIGURE_NAMES = [["length", "Messages"], ["lag", "Backlog"], ["pending", "Unacknowledged"], ["consumers", "Consumers"]];

function fillQueue(tbody, queue) {
  const rows = FIGURE_NAMES.map(([key, label]) => {
    const row = document.createElement("tr");
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = label;
    const value = document.createElement("td");
    const figure = queue ? queue[key] : undefined;
    value.textContent = figure === undefined || figure === null ? "–" : String(figure);
    row.append(name, value);
    return row;
  });
  tbody.replaceChildren(...rows);
}

async function refreshFigures() {
  const { status, answer } = await call("GET", "/console/status");
  if (status === 401) {
    if (!$("console").hidden) showSignIn("Your session ended; sign in again.");
    return false;
  }
  if (status !== 200) {
    say($("figures-updated"), messageOf(answer, status), true);
    return true;
  }
  $("who").textContent = `Package ${answer.packageId} · ${answer.username}`;
  const badge = $("status");
  badge.textContent = answer.status;
  badge.dataset.status = answer.status;
  $("reason").textContent = answer.reason ? `(${answer.reason})` : "";
  fillQueue($("fixtures-queue"), answer.queue);
  fillQueue($("incidents-queue"), answer.incidentsQueue);
  say($("figures-updated"), `Updated ${new Date().toLocaleTimeString()}`);
  return true;
}

// Actions: each answered in place with the API's own message

async function act(path, body, button) {
  const out = $("action-message");
  if (button) button.disabled = true;
  say(out, "Working…");
  try {
    const { status, answer } = await call("POST", path, body);
    if (status === 401) {
      showSignIn("Your session ended; sign in again.");
      return;
    }
    const extra = answer.requestId ? ` (request ${answer.requestId})` : "";
    say(out, messageOf(answer, status) + extra, status >= 400);
    refreshFigures();
  } finally {
    if (button) button.disabled = false;
  }
}

function onAction(event) {
  const button = event.target.closest("button[data-action]");
  if (button) act(`/console/${button.dataset.action}`, undefined, button);
}

function onRecovery(event) {
  event.preventDefault();
  const after = $("after").value.trim();
  act("/console/recovery", after ? { after } : {}, event.submitter);
}

// Live panel: Server-Sent Events from the live state (never the package's queues)

const FEED_TEXT = { live: "feed live", quiet: "feed quiet", inactive: "package inactive: no feed" };

function openLive() {
  if (live) live.close();
  live = new EventSource("/console/live");
  live.addEventListener("board", (e) => showBoard(JSON.parse(e.data)));
  live.addEventListener("gone", (e) => dropBoard(JSON.parse(e.data).fixtureId));
  live.addEventListener("feed", (e) => showFeed(JSON.parse(e.data).state));
  live.addEventListener("signed-out", () => showSignIn("Your session ended; sign in again."));
  live.onerror = () => {
    // EventSource reconnects by itself (an ingress restarted); a refused session does not come back.
    if (live && live.readyState === EventSource.CLOSED) refreshFigures();
    else showFeed("reconnecting");
  };
}

function showFeed(state) {
  const feed = $("feed");
  feed.textContent = FEED_TEXT[state] || "reconnecting…";
  feed.dataset.state = state;
}

function team(board, position) {
  const found = (board.fixture.participants || []).find((p) => p.position === position);
  return found ? found.name : `Position ${position}`;
}

function score(board, position) {
  const found = (board.results || []).find((r) => r.position === position);
  return found ? found.value : "0";
}

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function renderBoard(board) {
  const item = element("li", "board");
  item.id = `fixture-${board.fixtureId}`;
  item.dataset.fixture = board.fixtureId;
  const where = `${board.fixture.league.name} · ${board.fixture.sport.name}`;
  const line = element("div", "scoreline");
  line.append(element("span", "team home", team(board, 1)),
    element("span", "score", `${score(board, 1)} – ${score(board, 2)}`),
    element("span", "team away", team(board, 2)));
  const period = board.period ? board.period.name : "";
  const meta = element("p", "meta", [period, clock(board.seconds)].filter(Boolean).join(" · "));
  item.append(element("p", "where", where), line, meta, element("p", "fine", lastIncident(board)));
  return item;
}

function lastIncident(board) {
  if (board.lastIncidentId === null) return "No incident yet";
  const at = new Date(board.updated).toLocaleTimeString();
  const incident = board.lastIncident;
  if (!incident || incident.id !== board.lastIncidentId) return `Last incident #${board.lastIncidentId} at ${at}`;
  const kind = incident.kind && incident.kind !== incident.name ? ` (${incident.kind})` : "";
  const when = incident.seconds === null || incident.seconds === undefined ? "" : `, ${clock(incident.seconds)}`;
  return `Last incident: ${incident.name || incident.kind}${kind}${when} · ${at}`;
}

function showBoard(board) {
  const before = boards.get(board.fixtureId);
  boards.set(board.fixtureId, board);
  const item = renderBoard(board);
  const old = $(`fixture-${board.fixtureId}`);
  if (old) old.replaceWith(item);
  else placeBoard(item, board.fixtureId);
  $("no-matches").hidden = boards.size > 0;
  const text = `${team(board, 1)} ${score(board, 1)}, ${team(board, 2)} ${score(board, 2)}`;
  if (before && JSON.stringify(before.results) !== JSON.stringify(board.results)) {
    item.classList.add("changed");
    announce(`Score: ${text}`);
  }
}

function placeBoard(item, fixtureId) {
  const list = $("boards");
  const after = [...list.children].find((child) => Number(child.dataset.fixture) > fixtureId);
  list.insertBefore(item, after || null);
}

function dropBoard(fixtureId) {
  boards.delete(fixtureId);
  const old = $(`fixture-${fixtureId}`);
  if (old) old.remove();
  $("no-matches").hidden = boards.size > 0;
}

function announce(text) {
  const news = $("score-news");
  const line = element("p", "", text);
  news.append(line);
  while (news.children.length > 5) news.firstElementChild.remove();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  document.querySelector(".actions").addEventListener("click", onAction);
  $("recovery").addEventListener("submit", onRecovery);
  showConsole();
});
