// The playground: a customer's phone and an agent's desk on the simulator's sandbox API.
// Plain JavaScript, no build step, nothing from the internet. The page follows the world
// through server-sent events (/sandbox/events) and re-reads /sandbox/playground/state after
// each change. Every value is put on the page as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const NAMES = ["Ana", "Bruno", "Carmen", "Diego", "Elena", "Farid", "Grace", "Hugo"];
const NOTE_PREFIX = "⚠️";
const TYPING_SHOWN_MS = 25000;

const ui = {
  data: null,
  skewMs: 0, // server clock minus this browser's clock
  customer: null, // {id, name, business}
  contactId: null,
  // The desk follows the phone's customer until the agent opens another chat by hand.
  pinned: false,
  fetching: false,
  again: false,
  buffers: null,
  polling: null,
  typingSince: null,
};

// ------------------------------------------------------------------ helpers

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function postJson(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function say(id, text, isError = false) {
  const node = $(id);
  node.textContent = text;
  node.style.color = isError ? "#a50e0e" : "";
}

async function guarded(noticeId, work) {
  try { await work(); } catch (err) { say(noticeId, err.message, true); }
}

const serverNow = () => Date.now() + ui.skewMs;
const ms = (iso) => Date.parse(iso);
const clock = (iso) => new Date(ms(iso)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const bare = (recipient) => (recipient || "").replace(/^\+/, "");

// WhatsApp formatting → DOM: *bold*, _italic_, ~strike~, ```mono```, `code`, "> " quotes.
const INLINE = /(```[\s\S]+?```|`[^`\n]+`|\*[^*\n]+\*|_[^_\n]+_|~[^~\n]+~)/;
function formatInline(text) {
  const out = document.createDocumentFragment();
  for (const part of text.split(INLINE)) {
    if (!part) continue;
    if (part.startsWith("```") && part.endsWith("```") && part.length > 6) out.append(el("span", { class: "wa-mono", text: part.slice(3, -3) }));
    else if (part.startsWith("`") && part.endsWith("`") && part.length > 2) out.append(el("code", { text: part.slice(1, -1) }));
    else if (part.length > 2 && part[0] === part[part.length - 1] && "*_~".includes(part[0])) {
      const tag = { "*": "strong", _: "em", "~": "s" }[part[0]];
      out.append(el(tag, {}, formatInline(part.slice(1, -1))));
    } else out.append(document.createTextNode(part));
  }
  return out;
}
function formatWhatsApp(text) {
  const out = el("span", { class: "body" });
  text.split("\n").forEach((line, index) => {
    if (index) out.append("\n");
    if (line.startsWith("> ")) out.append(el("span", { class: "wa-quote" }, formatInline(line.slice(2))));
    else out.append(formatInline(line));
  });
  return out;
}

function mediaNode(kind, part, url, name) {
  if (kind === "image" || kind === "sticker") return el("img", { src: url, alt: part.caption || `${kind} ${name || ""}`.trim() });
  if (kind === "audio") return el("audio", { src: url, controls: "", "aria-label": name || "voice note" });
  if (kind === "video") return el("video", { src: url, controls: "", width: "220", "aria-label": name || "video" });
  return el("a", { href: url, download: name || "" , text: `📄 ${name || "document"}` });
}

// ------------------------------------------------------------------ the phone

function currentCustomerRecords() {
  const { id, business } = ui.customer;
  return ui.data.inbound.filter((r) => r.customer === id && r.businessPhoneNumberId === business);
}

function businessEntries() {
  const { id, business } = ui.customer;
  return ui.data.outbox.filter((e) => e.businessPhoneNumberId === business && bare(e.recipient) === id);
}

function renderMine(record) {
  const m = record.message || {};
  const kind = record.type;
  const li = el("li", { class: "mine", "data-id": record.messageId });
  if (kind === "text") li.append(formatWhatsApp(m.text.body));
  else if (["image", "audio", "video", "document", "sticker"].includes(kind)) {
    const part = m[kind] || {};
    li.append(mediaNode(kind, part, `/sandbox/whatsapp/media/${encodeURIComponent(part.id)}`, part.filename));
    if (part.caption) li.append(formatWhatsApp(part.caption));
  } else if (kind === "interactive") {
    const reply = m.interactive.button_reply || m.interactive.list_reply || {};
    li.append(el("span", { class: "body", text: `↩ ${reply.title || "reply"}` }));
  } else li.append(el("span", { class: "body", text: `[${kind}]` }));
  return li;
}

function chooseButton(entry, reply, interactiveType) {
  return el("button", {
    type: "button", class: "secondary", text: reply.title,
    onclick: () => guarded("phone-notice", () => sendAsCustomer([{
      type: "interactive",
      interactive: { type: interactiveType, [interactiveType]: reply },
      context: { id: entry.messageId },
    }])),
  });
}

function renderTheirs(entry) {
  const m = entry.message;
  const li = el("li", { class: "theirs", "data-id": entry.messageId });
  const kind = entry.type;
  if (kind === "text") li.append(formatWhatsApp(m.text.body));
  else if (["image", "audio", "video", "document", "sticker"].includes(kind)) {
    const part = m[kind];
    const url = part.id ? `/sandbox/whatsapp/media/${encodeURIComponent(part.id)}` : "#";
    li.append(mediaNode(kind, part, url, part.filename));
    if (part.caption) li.append(formatWhatsApp(part.caption));
  } else if (kind === "interactive") {
    const it = m.interactive;
    if (it.header && it.header.text) li.append(el("strong", { text: it.header.text }), el("br"));
    li.append(formatWhatsApp(it.body.text));
    if (it.footer) li.append(el("span", { class: "meta", text: it.footer.text }));
    const choices = el("div", { class: "choices", role: "group", "aria-label": "Choices" });
    if (it.type === "button") {
      for (const b of it.action.buttons) choices.append(chooseButton(entry, { id: b.reply.id, title: b.reply.title }, "button_reply"));
    } else {
      choices.append(el("span", { class: "meta", text: `☰ ${it.action.button}` }));
      for (const section of it.action.sections) {
        if (section.title) choices.append(el("strong", { text: section.title }));
        for (const row of section.rows) {
          const reply = { id: row.id, title: row.title };
          if (row.description) reply.description = row.description;
          choices.append(chooseButton(entry, reply, "list_reply"));
        }
      }
    }
    li.append(choices);
  } else if (kind === "template") {
    // The text the customer sees; a template WhatsApp could not send shows only its name.
    if (entry.rendered) li.append(formatWhatsApp(entry.rendered));
    else li.append(el("span", { class: "body", text: `[template ${m.template.name}]` }));
  }
  else li.append(el("span", { class: "body", text: `[${kind}]` }));
  return li;
}

function renderTyping() {
  const shown = ui.typingSince && serverNow() - ui.typingSince < TYPING_SHOWN_MS;
  $("typing").textContent = shown ? "typing…" : "";
}

function renderPhone() {
  const mine = currentCustomerRecords();
  const entries = businessEntries();
  const mineIds = new Set(mine.map((r) => r.messageId));
  const ofBusiness = ui.data.outbox.filter((e) => e.businessPhoneNumberId === ui.customer.business);
  // Reactions and read receipts name a message of this customer.
  const reactions = new Map();
  let readUpTo = -1;
  let typingSince = null;
  for (const e of ofBusiness) {
    if (e.type === "reaction" && mineIds.has(e.message.reaction.message_id)) reactions.set(e.message.reaction.message_id, e.message.reaction.emoji);
    if (e.type === "read" && mineIds.has(e.message.message_id)) {
      readUpTo = Math.max(readUpTo, mine.findIndex((r) => r.messageId === e.message.message_id));
      if (e.message.typing_indicator) typingSince = ms(e.time);
    }
  }
  const bubbles = [
    ...mine.map((r, i) => ({ time: r.time, key: `${r.messageId}:${i <= readUpTo}:${reactions.get(r.messageId) || ""}`, node: () => {
      const li = renderMine(r);
      const read = i <= readUpTo;
      li.append(el("span", { class: "meta" }, clock(r.time), " ",
        el("span", { class: read ? "ticks read" : "ticks", "aria-label": read ? "read" : "sent", text: read ? "✓✓" : "✓" })));
      const emoji = reactions.get(r.messageId);
      if (emoji) li.append(el("span", { class: "reaction", "aria-label": `reaction ${emoji}`, text: emoji }));
      return li;
    } })),
    ...entries.filter((e) => !["read", "reaction"].includes(e.type)).map((e) => ({ time: e.time, key: e.messageId, node: () => {
      const li = renderTheirs(e);
      li.append(el("span", { class: "meta", text: clock(e.time) }));
      return li;
    } })),
  ].sort((a, b) => a.time.localeCompare(b.time));
  const thread = $("thread");
  // Rebuilt only when something in it changed: a rebuild would stop a playing voice note.
  const signature = `${ui.customer.id}|${ui.customer.business}|${bubbles.map((b) => b.key).join(",")}`;
  if (thread.dataset.signature !== signature) {
    const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    thread.replaceChildren(...bubbles.map((b) => b.node()));
    thread.dataset.signature = signature;
    if (atBottom) thread.scrollTop = thread.scrollHeight;
  }
  const lastFromBusiness = Math.max(0, ...entries.filter((e) => e.type !== "read").map((e) => ms(e.time)));
  ui.typingSince = typingSince && typingSince > lastFromBusiness ? typingSince : null;
  renderTyping();
  const number = ui.data.businessNumbers.find((n) => n.phoneNumberId === ui.customer.business);
  $("business-name").textContent = number ? `Business +${number.displayPhoneNumber}` : "Business";
}

// A phone sends in the order things were typed; separate fetches may overtake each other,
// so each send waits for the one before it.
let sending = Promise.resolve();
async function sendAsCustomer(messages) {
  const { id, name, business } = ui.customer;
  const body = messages.map((m) => ({ ...m, profile_name: name, business }));
  const sent = sending.then(() => postJson(`/sandbox/customers/${encodeURIComponent(id)}/messages`, body));
  sending = sent.catch(() => undefined);
  await sent;
  say("phone-notice", "");
  startClock();
}

function mediaKind(type) {
  if (type.startsWith("image/")) return "image";
  if (type.startsWith("audio/")) return "audio";
  if (type.startsWith("video/")) return "video";
  return "document";
}

async function sendFile() {
  const file = $("file").files[0];
  if (!file) throw new Error("Choose a file first.");
  const type = file.type || "application/octet-stream";
  const params = new URLSearchParams({ filename: file.name });
  const spoken = $("spoken").value.trim();
  if (spoken && type.startsWith("audio/")) params.set("transcript", spoken);
  const media = await api(`/sandbox/customers/${encodeURIComponent(ui.customer.id)}/media?${params}`, {
    method: "POST", headers: { "Content-Type": type }, body: file,
  });
  const kind = mediaKind(type);
  const part = { id: media.mediaId };
  const caption = $("caption").value.trim();
  if (caption && kind !== "audio") part.caption = caption;
  await sendAsCustomer([{ type: kind, [kind]: part }]);
  $("file").value = "";
  $("caption").value = "";
  $("spoken").value = "";
}

// ------------------------------------------------------------------ who is the customer

function saveCustomer() {
  localStorage.setItem("playground-customer", JSON.stringify(ui.customer));
}

function newCustomer() {
  const digits = String(Math.floor(Math.random() * 1e8)).padStart(8, "0");
  return { id: `52155${digits}`, name: NAMES[Math.floor(Math.random() * NAMES.length)], business: ui.customer ? ui.customer.business : null };
}

function renderWho() {
  const data = ui.data;
  if (!ui.customer.business || !data.businessNumbers.some((n) => n.phoneNumberId === ui.customer.business)) {
    ui.customer.business = data.businessNumbers[0].phoneNumberId;
  }
  const known = data.customers.map((c) => c.id);
  const options = [...new Set([ui.customer.id, ...known])];
  const select = $("customer");
  if (select.dataset.options !== options.join(",")) {
    select.replaceChildren(...options.map((id) => {
      const c = data.customers.find((x) => x.id === id);
      const label = c && c.profileName ? `+${id} (${c.profileName})` : `+${id}`;
      return el("option", { value: id, text: label });
    }));
    select.dataset.options = options.join(",");
  }
  select.value = ui.customer.id;
  const business = $("business");
  const numbers = data.businessNumbers.map((n) => n.phoneNumberId).join(",");
  if (business.dataset.options !== numbers) {
    business.replaceChildren(...data.businessNumbers.map((n) => el("option", { value: n.phoneNumberId, text: `+${n.displayPhoneNumber} (${n.phoneNumberId})` })));
    business.dataset.options = numbers;
  }
  business.value = ui.customer.business;
  if (document.activeElement !== $("profile")) $("profile").value = ui.customer.name;
}

// ------------------------------------------------------------------ the agent's desk

function chatLabel(chat) {
  const attributes = chat.attributes || {};
  const customer = chat.participants.find((p) => p.role === "CUSTOMER");
  return attributes.customerName || (customer && customer.displayName) || chat.contactId.slice(0, 8);
}

function chatOfCustomer() {
  const { id, business } = ui.customer;
  const mine = ui.data.contacts.filter((c) => c.attributes.customerId === id && c.attributes.systemNumber === business);
  return mine.length ? mine[mine.length - 1] : null;
}

function selectedChat() {
  return ui.data.contacts.find((c) => c.contactIds.includes(ui.contactId)) || null;
}

function renderChats() {
  if (!ui.pinned || !selectedChat()) {
    const chat = chatOfCustomer() || selectedChat() || ui.data.contacts[ui.data.contacts.length - 1];
    ui.contactId = chat ? chat.contactId : null;
  }
  const list = $("chats");
  const chats = [...ui.data.contacts].reverse();
  list.replaceChildren(...chats.map((chat) => {
    const current = chat.contactIds.includes(ui.contactId);
    const messages = chat.transcript.filter((i) => i.type !== "EVENT").length;
    return el("li", { "aria-current": current ? "true" : "false" },
      el("button", {
        type: "button", class: current ? "" : "secondary",
        "aria-label": `Open the chat with ${chatLabel(chat)}`,
        onclick: () => { ui.contactId = chat.contactId; ui.pinned = true; render(); },
      }, `${chatLabel(chat)} · ${chat.state === "ENDED" ? "ended" : "live"} · ${messages}`));
  }));
  if (!chats.length) list.append(el("li", { class: "muted", text: "No chat yet: send a message from the phone." }));
}

const EVENT_TEXT = {
  "participant.joined": "joined", "participant.left": "left", "chat.ended": "Chat ended",
  "transfer.succeeded": "Transferred",
};

function interactiveSummary(content) {
  try {
    const doc = JSON.parse(content);
    const c = (doc.data && doc.data.content) || {};
    const options = (c.elements || []).map((e) => e.title).join(", ");
    return `${doc.templateType}: ${c.title || ""}${options ? ` (${options})` : ""}`;
  } catch (err) {
    return content;
  }
}

function renderItem(chat, item) {
  const role = (item.participantRole || "").toLowerCase();
  if (item.type === "EVENT") {
    const name = (item.contentType || "").split("event.")[1] || "";
    const text = EVENT_TEXT[name];
    if (!text) return null; // typing and receipts show as ticks, not lines
    const who = item.displayName && name.startsWith("participant") ? `${item.displayName} ` : "";
    return el("li", { class: "event", text: `${who}${text} · ${clock(item.time)}` });
  }
  // The bridge speaks as its own CUSTOM_BOT participant; older bridges wrote notes as the
  // customer, with a warning sign.
  const isNote = role === "custom_bot" || (role === "customer" && (item.content || "").startsWith(NOTE_PREFIX));
  const li = el("li", { class: isNote ? "note" : role || "system" });
  li.append(el("span", { class: "who-said", text: `${isNote ? `Bridge note (${item.displayName || "bridge"})` : item.displayName || role} · ${clock(item.time)}` }));
  if (item.type === "ATTACHMENT") {
    for (const a of item.attachments) {
      const url = `/sandbox/contacts/${encodeURIComponent(chat.contactId)}/attachments/${encodeURIComponent(a.attachmentId)}`;
      const kind = a.contentType.startsWith("image/") ? "image" : a.contentType.startsWith("audio/") ? "audio"
        : a.contentType.startsWith("video/") ? "video" : "document";
      li.append(a.uploaded ? mediaNode(kind, {}, url, a.name) : el("span", { text: `${a.name} (uploading)` }));
    }
  } else if ((item.contentType || "").includes("message.interactive")) {
    li.append(el("span", { class: "body", text: interactiveSummary(item.content) }));
  } else {
    li.append(el("span", { class: "body", text: item.content || "" }));
  }
  const receipts = Object.values(item.receipts || {});
  if (role === "agent" && receipts.length) {
    const read = receipts.some((r) => r.ReadTimestamp);
    li.append(el("span", { class: read ? "meta ticks read" : "meta ticks", text: read ? "✓✓ read" : "✓✓ delivered" }));
  }
  return li;
}

function renderDesk() {
  renderChats();
  const chat = selectedChat();
  const transcript = $("transcript");
  const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  if (!chat) {
    $("chat-title").textContent = "No chat yet";
    $("chat-state").textContent = "";
    transcript.replaceChildren();
    transcript.dataset.signature = "";
    return;
  }
  $("chat-title").textContent = `${chatLabel(chat)} (+${chat.attributes.customerId || "?"})`;
  $("chat-state").textContent = `${chat.state.toLowerCase()} · contact ${chat.contactId}`;
  const signature = `${chat.contactId}|${chat.state}|` + chat.transcript.map((i) =>
    `${i.id}:${Object.keys(i.receipts || {}).length}:${JSON.stringify(i.receipts || {}).length}:${i.attachments.map((a) => a.uploaded).join("")}`).join(",");
  if (transcript.dataset.signature !== signature) {
    transcript.replaceChildren(...chat.transcript.map((item) => renderItem(chat, item)).filter(Boolean));
    transcript.dataset.signature = signature;
    if (atBottom || transcript.dataset.chat !== chat.contactId) transcript.scrollTop = transcript.scrollHeight;
    transcript.dataset.chat = chat.contactId;
  }
  for (const control of $("reply").querySelectorAll("button, textarea")) control.disabled = chat.state === "ENDED";
}

function agentPath(suffix) {
  const chat = selectedChat();
  if (!chat) throw new Error("No chat selected.");
  return `/sandbox/contacts/${encodeURIComponent(chat.contactId)}/${suffix}`;
}

async function agentSays(contentType, content) {
  await postJson(agentPath("agent/messages"), { contentType, content });
  say("desk-notice", "");
}

// The agent's attachment, as Connect's agent app uploads it: the bridge forwards it as media.
async function agentSendsFile() {
  const file = $("agent-file").files[0];
  if (!file) throw new Error("Choose a file first.");
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  // In slices: spreading a whole file into fromCharCode overflows the call stack.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  await postJson(agentPath("agent/attachments"), {
    name: file.name, contentType: file.type || "application/octet-stream", contentBase64: btoa(binary),
  });
  $("agent-file").value = "";
  say("desk-notice", "");
}

// ------------------------------------------------------------------ the clock panel

function lastSentMs() {
  const mine = currentCustomerRecords();
  return mine.length ? ms(mine[mine.length - 1].time) : null;
}

function landedAfter(sentMs) {
  const chat = chatOfCustomer();
  if (!chat || sentMs === null) return null;
  const item = chat.transcript.find((i) => i.participantRole === "CUSTOMER" && i.type !== "EVENT" && ms(i.time) >= sentMs);
  return item ? ms(item.time) : null;
}

function bufferRow() {
  if (!ui.buffers || !ui.buffers.available) return null;
  const { id, business } = ui.customer;
  const key = `${business}#${id}`;
  return ui.buffers.customers.find((row) => row.customer_key.length === key.length
    && row.customer_key.startsWith(`${business}#`) && row.customer_key.endsWith(id.slice(-4))) || null;
}

function renderClock() {
  if (!ui.data || !ui.customer) return;
  const sent = lastSentMs();
  const bar = $("clock-bar");
  if (sent === null) {
    say("clock-since", "No message yet from this customer.");
    bar.value = 0;
    say("clock-state", "");
    return;
  }
  const since = (serverNow() - sent) / 1000;
  say("clock-since", `Last message ${since.toFixed(1)} s ago.`);
  const landed = landedAfter(sent);
  const row = bufferRow();
  if (row) {
    const flushIn = row.next_flush_in_s;
    const window = row.quiet_s + (flushIn || 0);
    bar.value = flushIn === null ? 1 : Math.min(1, row.quiet_s / Math.max(window, 0.001));
    say("clock-state", flushIn === null
      ? `Delivering ${row.messages} message(s) to the agent…`
      : `${row.messages} message(s) held; quiet for ${row.quiet_s.toFixed(1)} s; delivered in ${flushIn.toFixed(1)} s unless another arrives.`);
  } else if (landed !== null) {
    bar.value = 1;
    say("clock-state", `Delivered to the agent as one message, ${((landed - sent) / 1000).toFixed(1)} s after the last one.`);
  } else if (ui.buffers && !ui.buffers.available) {
    bar.value = 0;
    say("clock-state", "The bridge's buffer is not visible from here (the simulator was not given the workers' admin URLs); the agent's desk shows when the burst lands.");
  } else {
    say("clock-state", "Waiting for the bridge to take the message…");
  }
}

async function pollBuffers() {
  try { ui.buffers = await api("/sandbox/bridge/buffers"); } catch (err) { ui.buffers = null; }
  renderClock();
  const sent = lastSentMs();
  const busy = bufferRow() || (sent !== null && landedAfter(sent) === null && serverNow() - sent < 60000);
  ui.polling = busy ? setTimeout(pollBuffers, 250) : null;
}

function startClock() {
  if (!ui.polling) ui.polling = setTimeout(pollBuffers, 100);
}

// ------------------------------------------------------------------ live updates

function render() {
  if (!ui.data) return;
  renderWho();
  renderPhone();
  renderDesk();
  renderClock();
}

async function refresh() {
  if (ui.fetching) { ui.again = true; return; }
  ui.fetching = true;
  try {
    const before = Date.now();
    const data = await api("/sandbox/playground/state");
    ui.skewMs = ms(data.now) - (before + Date.now()) / 2;
    ui.data = data;
    render();
  } catch (err) {
    say("live", `could not read the sandbox: ${err.message}`, true);
  } finally {
    ui.fetching = false;
    if (ui.again) { ui.again = false; refresh(); }
  }
}

function follow() {
  const events = new EventSource("/sandbox/events");
  events.addEventListener("open", () => say("live", "live"));
  events.addEventListener("change", () => refresh());
  events.addEventListener("error", () => say("live", "reconnecting…"));
}

// ------------------------------------------------------------------ wiring

document.addEventListener("DOMContentLoaded", () => {
  try { ui.customer = JSON.parse(localStorage.getItem("playground-customer")); } catch (err) { ui.customer = null; }
  if (!ui.customer || !ui.customer.id) ui.customer = newCustomer();
  saveCustomer();

  $("compose").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("message").value.trim();
    if (!text) return;
    $("message").value = "";
    guarded("phone-notice", () => sendAsCustomer([{ type: "text", text: { body: text } }]));
  });
  $("attach-form").addEventListener("submit", (e) => { e.preventDefault(); guarded("phone-notice", sendFile); });
  $("sample-burst").addEventListener("click", () => guarded("phone-notice", () => sendAsCustomer(
    ["Hello", "I need help", "with my order", "P12345"].map((body, i) => ({ type: "text", text: { body }, delay_ms: i ? 400 : 0 })))));
  $("customer").addEventListener("change", (e) => {
    const known = ui.data.customers.find((c) => c.id === e.target.value);
    ui.customer = { id: e.target.value, name: known ? known.profileName : ui.customer.name, business: ui.customer.business };
    ui.contactId = null; ui.pinned = false;
    saveCustomer();
    render();
  });
  $("new-customer").addEventListener("click", () => {
    ui.customer = newCustomer();
    ui.contactId = null; ui.pinned = false;
    saveCustomer();
    render();
    $("message").focus();
  });
  $("profile").addEventListener("change", (e) => { ui.customer.name = e.target.value.trim() || ui.customer.name; saveCustomer(); });
  $("business").addEventListener("change", (e) => { ui.customer.business = e.target.value; ui.contactId = null; ui.pinned = false; saveCustomer(); render(); });

  $("reply").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("reply-text").value.trim();
    if (!text) return;
    guarded("desk-notice", async () => { await agentSays("text/markdown", text); $("reply-text").value = ""; });
  });
  $("reply-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); $("reply").requestSubmit(); }
  });
  $("picker").addEventListener("submit", (e) => {
    e.preventDefault();
    const elements = $("picker-options").value.split("\n").map((t) => t.trim()).filter(Boolean).map((title) => ({ title }));
    const content = { templateType: "ListPicker", version: "1.0", data: { content: { title: $("picker-title").value.trim() || "Choose", elements } } };
    guarded("desk-notice", () => agentSays("application/vnd.amazonaws.connect.message.interactive", JSON.stringify(content)));
  });
  $("agent-file-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded("desk-notice", agentSendsFile);
  });
  $("agent-typing").addEventListener("click", () => guarded("desk-notice", () => postJson(agentPath("agent/events"), { type: "typing" })));
  $("agent-read").addEventListener("click", () => guarded("desk-notice", async () => {
    const chat = selectedChat();
    const last = chat && [...chat.transcript].reverse().find((i) => i.participantRole === "CUSTOMER" && i.type !== "EVENT");
    if (!last) throw new Error("No customer message to mark read.");
    await postJson(agentPath("agent/events"), { type: "read", messageId: last.id });
    say("desk-notice", "Marked read.");
  }));
  $("agent-transfer").addEventListener("click", () => guarded("desk-notice", async () => {
    const moved = await postJson(agentPath("transfer"), {});
    ui.contactId = moved.contactId;
    say("desk-notice", "Transferred: a new contact id, the same chat.");
  }));
  $("agent-end").addEventListener("click", () => guarded("desk-notice", async () => {
    if (!window.confirm("End this chat for the customer?")) return;
    await postJson(agentPath("end"), {});
  }));

  setInterval(() => { if (ui.data) { renderClock(); renderTyping(); } }, 500);
  follow();
  refresh();
});
