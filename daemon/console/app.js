/* evidock console: the live board (server-sent events) and the label form's check
 * while typing. Everything is drawn with textContent: names never become markup. */
"use strict";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function size(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  return (n / 1024).toFixed(1) + " KiB";
}

function duration(s) {
  if (s === null || s === undefined) return "";
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (h > 0) return h + ":" + String(m % 60).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  return m + ":" + String(s % 60).padStart(2, "0");
}

function row(card, label, value, cls) {
  const p = el("p", "row" + (cls ? " " + cls : ""));
  p.append(el("span", "k", label), el("span", "v", value));
  card.append(p);
}

function dockCard(d, m) {
  const card = el("article", "card state-" + d.state);
  card.dataset.serial = d.serial;
  card.dataset.state = d.state;
  card.dataset.files = d.files_done; // with state: what a progress change changed
  card.dataset.bytes = d.bytes_done;
  const head = el("h2");
  head.append(el("span", "port", m.port + " " + d.port), el("span", "serial", d.serial));
  card.append(head);
  if (d.holder) row(card, m.holder, d.holder);
  card.append(el("p", "state", m[d.state] || d.state));
  const bar = el("progress");
  bar.max = d.bytes_total > 0 ? d.bytes_total : 1;
  bar.value = d.bytes_total > 0 ? d.bytes_done : (d.state === "done" ? 1 : 0);
  card.append(bar);
  row(card, m.files, d.files_done + " / " + d.files_total + "  (" + size(d.bytes_done) + " / " +
      size(d.bytes_total) + ")", "files");
  if (d.state === "copying") {
    row(card, m.rate, (d.rate_bps / 1e6).toFixed(1) + " MB/s", "rate");
    row(card, m.left, duration(d.eta_s), "left");
  }
  if (d.safe_to_remove) card.append(el("p", "safe", m.safe));
  if (d.error) card.append(el("p", "reason", d.error));
  return card;
}

function rejectedCard(r, m) {
  const card = el("article", "card state-rejected");
  card.dataset.serial = r.serial;
  card.dataset.state = "rejected";
  const head = el("h2");
  head.append(el("span", "port", m.port + " " + r.port), el("span", "serial", r.serial));
  card.append(head, el("p", "state", m.rejected), el("p", "reason", r.reason));
  return card;
}

function health(h, m) {
  const box = el("div", "health");
  box.append(el("h2", null, m.health));
  if (!h) return box;
  row(box, m.free, size(h.free_bytes), "free");
  row(box, m.daysleft, h.days_left === null || h.days_left === undefined ? "—" : String(h.days_left), "daysleft");
  row(box, m.items, h.items_total);
  const r = h.replication;
  if (r && r.enabled) {
    row(box, m.replication, r.pending + " / " + r.items + "  (" + size(r.pending_bytes || 0) + ", " +
        duration(r.oldest_pending_s || 0) + ")", r.alarms ? "replication alarm" : "replication");
  }
  if (h.scrub) {
    let s = !h.scrub.enabled ? m.scruboff : h.scrub.running ? m.scrubrun : m.scrubidle;
    if (h.scrub.alarms > 0) s += " — " + h.scrub.alarms + " " + m.alarms;
    row(box, m.scrub, s, h.scrub.alarms > 0 ? "alarm" : "");
  }
  if (h.warnings && h.warnings.length) {
    box.append(el("h3", null, m.warnings));
    const ul = el("ul", "warnings");
    for (const w of h.warnings) ul.append(el("li", null, w));
    box.append(ul);
  }
  return box;
}

function board(root) {
  const m = {};
  for (const k in root.dataset) if (k.startsWith("m")) m[k.slice(1).toLowerCase()] = root.dataset[k];
  const docks = document.getElementById("docks");
  const hbox = document.getElementById("health");
  const status = document.getElementById("status");
  const src = new EventSource(root.dataset.events);
  src.onmessage = (ev) => {
    const b = JSON.parse(ev.data);
    if (b.offline) {
      status.textContent = m.offline;
      status.hidden = false;
      return;
    }
    status.hidden = true;
    const cards = [];
    for (const d of b.docks || []) cards.push(dockCard(d, m));
    for (const r of b.rejected || []) cards.push(rejectedCard(r, m));
    if (cards.length === 0) cards.push(el("p", "empty", m.nodocks));
    docks.replaceChildren(...cards);
    hbox.replaceChildren(health(b.health, m));
    root.dataset.updated = String(Date.now());
  };
  stationStatus(root, m);
  src.onerror = () => {
    status.textContent = m.offline;
    status.hidden = false;
  };
}

/* Signed in: every warning status gives, every 10 s (days left and the replication lag
 * are on the public board's health already). */
function stationStatus(root, m) {
  const box = document.getElementById("station");
  if (!root.dataset.status || !box) return;
  const draw = (s) => {
    const div = el("div", "station");
    div.id = "station-status";
    if (s.warnings && s.warnings.length) {
      div.append(el("h3", null, m.warnings));
      const ul = el("ul", "warnings");
      for (const w of s.warnings) ul.append(el("li", null, w));
      div.append(ul);
    }
    if (s.error) div.append(el("p", "reason", s.error));
    box.replaceChildren(div);
  };
  const poll = () => fetch(root.dataset.status, {credentials: "same-origin"})
    .then((r) => r.json()).then(draw).catch(() => {});
  poll();
  setInterval(poll, 10000);
}

/* POSIX classes the case pattern uses, in JavaScript's words. */
function jsPattern(p) {
  return p.replace(/\[:cntrl:\]/g, "\\x00-\\x1f\\x7f").replace(/\[:digit:\]/g, "0-9")
    .replace(/\[:space:\]/g, "\\s").replace(/\[:alpha:\]/g, "A-Za-z");
}

function labelForm(form) {
  let re = null;
  try { re = new RegExp(jsPattern(form.dataset.pattern), "u"); } catch (e) { re = null; }
  const input = document.getElementById("f-case");
  const out = document.getElementById("e-case");
  if (!re || !input || !out) return;
  input.addEventListener("input", () => {
    out.textContent = input.value === "" || re.test(input.value) ? "" : form.dataset.bad;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("board");
  if (root) board(root);
  const form = document.getElementById("label-form");
  if (form) labelForm(form);
  const print = document.getElementById("print");
  if (print) print.addEventListener("click", () => window.print());
});
