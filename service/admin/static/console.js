// The operator console: plain JavaScript, no build step, nothing from the internet.
// Every /admin call carries the token, kept only in this tab's sessionStorage. Every value
// is put on the page with textContent, never as HTML.
"use strict";

const KEY = "bridge-admin-token";
const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);
const baseline = new Map(); // error counts when the page started watching
let timer = null;

function token() { return sessionStorage.getItem(KEY); }

function notice(text, isError = false) {
  const el = $("notice");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token()}`, "Content-Type": "application/json" },
  });
  if (response.status === 401) {
    signOut();
    throw new Error("The token was refused: sign in again.");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "—" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tbodyId, rows, columns, render, emptyText) {
  const tbody = $(tbodyId);
  tbody.replaceChildren();
  if (!rows.length) {
    const tr = tbody.insertRow();
    const td = cell(tr, emptyText, "empty");
    td.colSpan = columns;
    return;
  }
  for (const row of rows) render(tbody.insertRow(), row);
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

function button(label, className, onClick, ariaLabel) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (className) b.className = className;
  if (ariaLabel) b.setAttribute("aria-label", ariaLabel);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await onClick(); } catch (err) { notice(err.message, true); } finally { b.disabled = false; }
  });
  return b;
}

function renderChats(sessions) {
  const now = Date.now() / 1000;
  $("n-chats").textContent = `(${sessions.length})`;
  fill("chats", sessions, 6, (tr, s) => {
    cell(tr, s.customer_key, "mono");
    cell(tr, s.business_phone_number_id, "mono");
    cell(tr, s.contact_id, "mono");
    cell(tr, s.initial_contact_id, "mono");
    const left = 86400 - (now - s.last_customer_message_at);
    cell(tr, left > 0 ? `open, ${age(left)} left` : "closed (template needed)");
    cell(tr, age(now - s.created_at));
  }, "No live chat.");
}

function renderBuffers(customers) {
  $("n-buffers").textContent = `(${customers.length})`;
  fill("buffers", customers, 6, (tr, c) => {
    cell(tr, c.customer_key, "mono");
    cell(tr, c.messages);
    cell(tr, age(c.age_s));
    cell(tr, `${c.quiet_s.toFixed(1)} s`);
    cell(tr, c.next_flush_in_s === null ? "delivering" : `${c.next_flush_in_s.toFixed(1)} s`);
    const td = cell(tr, "", "action-cell");
    td.replaceChildren(button("Flush now", "", async () => {
      await api(`/admin/buffers/refs/${encodeURIComponent(c.ref)}/flush`, { method: "POST" });
      notice(`Flushed ${c.customer_key}.`);
      await refresh();
    }, `Flush the burst of ${c.customer_key}`));
  }, "Nothing buffered on this worker.");
}

function renderShards(data) {
  $("n-shards").textContent = `(${data.shards.length}; this worker holds ${data.held.length})`;
  fill("shards", data.shards, 6, (tr, s) => {
    cell(tr, s.shard_id, "mono");
    cell(tr, s.owner || "none", "mono");
    cell(tr, s.checkpoint, "mono");
    cell(tr, s.pending_records);
    cell(tr, s.checkpoint_lag_s === null ? null : `${s.checkpoint_lag_s.toFixed(1)} s`);
    cell(tr, s.state);
  }, "No shard.");
}

async function redrive(queue, ids) {
  const result = await api(`/admin/dead-letters/${encodeURIComponent(queue)}/redrive`, {
    method: "POST", body: JSON.stringify({ message_ids: ids }),
  });
  const parts = [`${result.redriven.length} redriven`];
  if (result.not_redrivable.length) parts.push(`${result.not_redrivable.length} not redrivable`);
  if (result.not_found.length) parts.push(`${result.not_found.length} already gone`);
  if (result.failed.length) parts.push(`${result.failed.length} failed`);
  notice(`${queue}: ${parts.join(", ")}.`);
  await refresh();
}

async function purge(queue, count) {
  const answer = window.prompt(
    `Purge deletes all ${count} parked message(s) of "${queue}" for good. Type the queue name to confirm.`);
  if (answer === null) return;
  await api(`/admin/dead-letters/${encodeURIComponent(queue)}/purge`, {
    method: "POST", body: JSON.stringify({ confirm: answer.trim() }),
  });
  notice(`${queue}: purged.`);
  await refresh();
}

function renderDeadLetters(queues) {
  const root = $("dead-letters");
  root.replaceChildren();
  for (const q of queues) {
    const section = document.createElement("section");
    section.setAttribute("aria-label", `Dead-letter queue ${q.queue}`);
    const head = document.createElement("div");
    head.className = "queue-head";
    const h3 = document.createElement("h3");
    h3.textContent = `${q.queue} (${q.messages.length}${q.more ? "+" : ""} parked)`;
    head.appendChild(h3);
    if (q.error) {
      const err = document.createElement("span");
      err.textContent = `could not be read: ${q.error}`;
      head.appendChild(err);
    }
    if (q.messages.length) {
      const actions = document.createElement("span");
      actions.className = "action";
      actions.append(
        button("Redrive all", "", () => redrive(q.queue, null), `Redrive every message of ${q.queue}`),
        " ",
        button("Purge…", "danger", () => purge(q.queue, q.messages.length), `Purge ${q.queue}`),
      );
      head.appendChild(actions);
    }
    section.appendChild(head);
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th scope=col>Message</th><th scope=col>Reason</th>"
      + "<th scope=col>Source</th><th scope=col>Cause</th><th scope=col>Parked at</th>"
      + "<th scope=col>First seen</th><th scope=col>Receives</th>"
      + "<th scope=col class=action>Action</th></tr></thead><tbody></tbody>";
    const tbody = table.tBodies[0];
    if (!q.messages.length) {
      const td = cell(tbody.insertRow(), "Nothing parked.", "empty");
      td.colSpan = 8;
    }
    for (const m of q.messages) {
      const tr = tbody.insertRow();
      cell(tr, m.message_id, "mono");
      cell(tr, m.reason);
      cell(tr, m.source || "SQS redrive policy");
      cell(tr, m.cause);
      cell(tr, m.parked_at);
      cell(tr, m.first_seen);
      cell(tr, m.receives);
      const td = cell(tr, "", "action-cell");
      if (m.redrivable) {
        td.replaceChildren(button("Redrive", "secondary", () => redrive(q.queue, [m.message_id]),
          `Redrive message ${m.message_id}`));
      } else {
        td.textContent = "not redrivable (stream record)";
      }
    }
    section.appendChild(table);
    root.appendChild(section);
  }
}

function renderErrors(errors) {
  fill("errors", errors, 5, (tr, e) => {
    const key = `${e.metric}|${e.code}|${JSON.stringify(e.labels)}`;
    if (!baseline.has(key)) baseline.set(key, e.count);
    cell(tr, e.code, "mono");
    cell(tr, e.metric, "mono");
    cell(tr, Object.entries(e.labels).map(([k, v]) => `${k}=${v}`).join(", "));
    cell(tr, e.count);
    cell(tr, e.count - baseline.get(key));
  }, "No error counted on this worker.");
}

async function refresh() {
  const [status, sessions, buffers, shards, deadLetters, errors] = await Promise.all([
    api("/admin/status"), api("/admin/sessions?limit=200"), api("/admin/buffers"),
    api("/admin/shards"), api("/admin/dead-letters"), api("/admin/errors"),
  ]);
  $("worker").textContent = `— worker ${status.worker_id}, version ${status.version}`;
  renderChats(sessions.sessions);
  renderBuffers(buffers.customers);
  renderShards(shards);
  renderDeadLetters(deadLetters.queues);
  renderErrors(errors.errors);
}

async function loop() {
  try {
    await refresh();
    if ($("notice").className === "error") notice("");
  } catch (err) {
    notice(err.message, true);
  }
  if (token()) timer = setTimeout(loop, REFRESH_MS);
}

function showSignedIn(on) {
  $("signin").hidden = on;
  $("signedin").hidden = !on;
  $("main").hidden = !on;
}

function signIn(value) {
  sessionStorage.setItem(KEY, value);
  showSignedIn(true);
  clearTimeout(timer);
  loop();
}

function signOut() {
  sessionStorage.removeItem(KEY);
  clearTimeout(timer);
  showSignedIn(false);
  $("token").value = "";
}

function setActions(on) {
  document.body.classList.toggle("actions-off", !on);
}

document.addEventListener("DOMContentLoaded", () => {
  $("origin").textContent = location.host;
  setActions(false);
  $("actions").addEventListener("change", (e) => setActions(e.target.checked));
  $("signin").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("token").value);
    $("token").value = "";
  });
  $("signout").addEventListener("click", () => { signOut(); notice("Signed out."); });
  // `make dev` prints a link with the token in the fragment (never sent to a server):
  // take it into this tab's storage and out of the address bar and history.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem(KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (token()) signIn(token()); else showSignedIn(false);
});
