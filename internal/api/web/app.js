// posd cashier page. No framework, no external assets. The token lives in
// sessionStorage (this tab only) and is sent as a header; the event stream
// is read with fetch, not EventSource, so the token never goes in a URL.
// Money is handled as integer minor units (BigInt), never as floats.
"use strict";

const TOKEN_KEY = "posd.token";
const $ = (id) => document.getElementById(id);

let current = null;        // the payment being watched
let streamAbort = null;    // AbortController of the event stream
let windowEndsAt = null;   // Date, for the local countdown between poll events

// ---- money --------------------------------------------------------------

// toMinor parses "12", "12.5", "12.50" into minor units; null if not an amount.
function toMinor(s) {
  s = String(s).trim();
  const m = /^(-?)(\d{1,13})(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) return null;
  const v = BigInt(m[2]) * 100n + BigInt((m[3] || "").padEnd(2, "0"));
  return m[1] ? -v : v;
}

function fromMinor(v) {
  const neg = v < 0n;
  if (neg) v = -v;
  const cents = (v % 100n).toString().padStart(2, "0");
  return (neg ? "-" : "") + (v / 100n).toString() + "." + cents;
}

// quantity in thousandths ("0.5" -> 500n); null if invalid.
function toMilli(s) {
  const m = /^(\d{1,9})(?:\.(\d{1,3}))?$/.exec(String(s).trim());
  if (!m) return null;
  return BigInt(m[1]) * 1000n + BigInt((m[2] || "").padEnd(3, "0"));
}

// rowTotal = unit * qty, rounded half away from zero to whole minor units.
function rowTotal(unit, qtyMilli) {
  const p = unit * qtyMilli;
  const half = p < 0n ? -500n : 500n;
  return (p + half) / 1000n;
}

// ---- API ----------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class APIError extends Error {
  constructor(status, problem) {
    super(problem && (problem.detail || problem.title) || ("HTTP " + status));
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body, headers) {
  const h = Object.assign({ "Authorization": "Bearer " + token() }, headers || {});
  const init = { method, headers: h, cache: "no-store" };
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) {
    showLogin("The token was refused.");
    throw new APIError(401, null);
  }
  const ct = resp.headers.get("Content-Type") || "";
  const data = ct.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

function problemText(err) {
  const p = err.problem;
  if (!p) return err.message;
  return (p.field ? p.field + ": " : "") + (p.detail || p.title);
}

// ---- login --------------------------------------------------------------

function showLogin(msg) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
  $("conn").textContent = "not connected";
  $("conn").className = "badge bad";
}

async function start() {
  if (!token()) { showLogin(""); return; }
  try {
    await refreshStatus();
  } catch (e) {
    if (e.status !== 401) showLogin(problemText(e));
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
}

// ---- status -------------------------------------------------------------

async function refreshStatus() {
  const st = await api("GET", "/v1/status");
  const t = st.terminal || {};
  $("st-terminal").textContent = t.registered ? (t.terminalId + (t.name ? " (" + t.name + ")" : "")) : "not registered";
  $("st-seqr").textContent = t.seqrId || "none assigned";
  const p = st.provider || {};
  $("st-provider").textContent = (p.reachable ? "reachable" : "UNREACHABLE") +
    (p.lastChecked ? ", checked " + new Date(p.lastChecked).toLocaleTimeString() : "") +
    (p.lastError ? " (" + p.lastError + ")" : "");
  $("st-open").textContent = String(st.openPayments);
  const pr = st.printer;
  $("st-printer").textContent = pr ? ((pr.online ? "online" : "offline") + ", paper " + pr.paper +
    (pr.coverOpen ? ", cover open" : "") + (pr.queued ? ", " + pr.queued + " queued" : "")) : "none";
  const sc = st.scanner;
  $("st-scanner").textContent = sc ? (sc.connected ? "connected" : "disconnected") : "none";
  $("st-version").textContent = st.version + (st.ready ? "" : " (recovering)");
  $("conn").textContent = p.reachable ? "SEQR reachable" : "SEQR offline";
  $("conn").className = "badge " + (p.reachable ? "ok" : "bad");
}

// ---- rows ---------------------------------------------------------------

function addRow(desc, qty, price, vat) {
  const tr = document.createElement("tr");
  const cell = (el) => { const td = document.createElement("td"); td.appendChild(el); tr.appendChild(td); return el; };
  const input = (cls, val, size) => { const i = document.createElement("input"); i.className = cls; i.value = val; i.size = size; i.addEventListener("input", recompute); return i; };
  cell(input("desc", desc, 20));
  cell(input("qty", qty, 4)).inputMode = "decimal";
  cell(input("price", price, 8)).inputMode = "decimal";
  const sel = document.createElement("select");
  sel.className = "vat";
  for (const r of ["25", "12", "6", "0"]) { const o = document.createElement("option"); o.textContent = r; sel.appendChild(o); }
  sel.value = vat;
  cell(sel);
  const out = document.createElement("output");
  out.className = "total";
  const td = document.createElement("td"); td.className = "num"; td.appendChild(out); tr.appendChild(td);
  const del = document.createElement("button");
  del.type = "button"; del.className = "secondary"; del.textContent = "×";
  del.addEventListener("click", () => { tr.remove(); recompute(); });
  cell(del);
  $("rows").tBodies[0].appendChild(tr);
  recompute();
}

// readRows returns the rows and their sum, or throws naming the bad cell.
function readRows() {
  const rows = [];
  let sum = 0n;
  [...$("rows").tBodies[0].rows].forEach((tr, i) => {
    const desc = tr.querySelector(".desc").value.trim();
    const qty = tr.querySelector(".qty").value.trim();
    const unit = toMinor(tr.querySelector(".price").value);
    const q = toMilli(qty);
    if (!desc) throw new Error("row " + (i + 1) + ": description is empty");
    if (q === null || q === 0n) throw new Error("row " + (i + 1) + ": quantity is not a number above 0");
    if (unit === null) throw new Error("row " + (i + 1) + ": unit price is not an amount");
    const total = rowTotal(unit, q);
    sum += total;
    rows.push({ description: desc, quantity: qty, unitPrice: fromMinor(unit), totalAmount: fromMinor(total), taxRate: tr.querySelector(".vat").value });
  });
  return { rows, sum };
}

function recompute() {
  for (const tr of $("rows").tBodies[0].rows) {
    const unit = toMinor(tr.querySelector(".price").value);
    const q = toMilli(tr.querySelector(".qty").value);
    tr.querySelector(".total").textContent = (unit === null || q === null) ? "?" : fromMinor(rowTotal(unit, q));
  }
  try { $("receipt-total").textContent = fromMinor(readRows().sum); } catch (e) { $("receipt-total").textContent = "?"; }
}

// ---- payment ------------------------------------------------------------

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

async function startPayment(ev) {
  ev.preventDefault();
  $("pay-error").textContent = "";
  let body;
  try {
    const { rows, sum } = readRows();
    const amountText = $("amount").value.trim();
    const amount = amountText === "" ? sum : toMinor(amountText);
    if (amount === null) throw new Error("amount is not an amount such as 20.00");
    body = {
      method: "seqr", saleId: "page-" + Date.now(), cashierId: $("cashier").value.trim(), title: "Sale",
      amount: fromMinor(amount), currency: $("currency").value, rows,
    };
    if (rows.length > 0) body.receiptTotal = fromMinor(sum);
  } catch (e) {
    $("pay-error").textContent = e.message;
    return;
  }
  $("pay").disabled = true;
  try {
    // One key per attempt: a double click or a retried request cannot start a second payment.
    const p = await api("POST", "/v1/payments", body, { "Idempotency-Key": newKey() });
    watch(p);
  } catch (e) {
    $("pay-error").textContent = problemText(e);
  } finally {
    $("pay").disabled = false;
  }
}

function render(p, secondsLeft, message) {
  current = p;
  $("payment").hidden = false;
  $("sale").hidden = !isFinal(p.state) ? true : $("sale").hidden;
  $("pay-id").textContent = p.id;
  $("pay-state").textContent = p.state.replace("_", " ");
  $("pay-state").className = "badge " + p.state;
  $("pay-amount").textContent = p.amount + " " + p.currency + (p.receiptTotal !== p.amount ? " (receipt " + p.receiptTotal + ")" : "");
  $("pay-window").textContent = String(p.window);
  windowEndsAt = p.windowEndsAt ? new Date(p.windowEndsAt) : null;
  if (typeof secondsLeft === "number") $("countdown").textContent = String(secondsLeft);
  const open = p.state === "polling" || p.state === "created" || p.state === "unknown";
  $("countdown-box").hidden = !open;
  let msg = message || "";
  if (p.outageSince) msg = "SEQR unreachable since " + new Date(p.outageSince).toLocaleTimeString() + "; still trying. " + msg;
  if (p.state === "awaiting_decision") msg = "The 30 s window ran out. Try again, or cancel. " + msg;
  if (p.error) msg += " " + p.error;
  $("pay-message").textContent = msg.trim();
  $("pay-ers").textContent = p.ersReference ? "SEQR reference " + p.ersReference : "";
  $("retry").hidden = p.state !== "awaiting_decision";
  $("cancel").hidden = !(p.state === "awaiting_decision" || p.state === "polling");
  $("reprint").hidden = p.state !== "paid";
  $("done").hidden = !isFinal(p.state);
}

function isFinal(s) { return s === "paid" || s === "canceled" || s === "failed"; }

// watch reads the payment's event stream with fetch (the token stays in a
// header) and reconnects after a dropped connection until a final state.
async function watch(p) {
  if (streamAbort) streamAbort.abort();
  const ctl = new AbortController();
  streamAbort = ctl;
  render(p, undefined, "");
  // The printer's last word on this payment's receipt ("printer out of
  // paper: receipt waits", then "printer ok: receipt printed"): shown with
  // every later event, since the register sends a printer problem just
  // before the paid event. After the final state the stream carries only
  // printer events and ends when the receipt is printed or dropped.
  let printerMsg = "";
  while (!ctl.signal.aborted && !isFinal(current.state)) {
    try {
      const resp = await fetch("/v1/payments/" + encodeURIComponent(p.id) + "/events", {
        headers: { "Authorization": "Bearer " + token(), "Accept": "text/event-stream" },
        signal: ctl.signal, cache: "no-store",
      });
      if (!resp.ok) {
        const data = await resp.json().catch(() => null);
        throw new APIError(resp.status, data);
      }
      await readSSE(resp.body, (type, data) => {
        const ev = JSON.parse(data);
        if (type === "printer") {
          printerMsg = "Printer: " + (ev.message || "");
          render(ev.payment, ev.secondsLeft, printerMsg);
        } else {
          render(ev.payment, ev.secondsLeft, ((ev.message || "") + " " + printerMsg).trim());
        }
      });
    } catch (e) {
      // After the final state only printer news was left to hear.
      if (ctl.signal.aborted || isFinal(current.state)) return;
      $("action-error").textContent = "Lost the event stream (" + problemText(e) + "); reconnecting.";
      if (e.status === 401 || e.status === 404) return;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    $("action-error").textContent = "";
  }
}

async function readSSE(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) type = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(type, data);
    }
  }
}

async function act(path) {
  $("action-error").textContent = "";
  for (const b of ["retry", "cancel", "reprint"]) $(b).disabled = true;
  try {
    const p = await api("POST", path);
    if (p && p.id) render(p, undefined, "");
    else if (p && p.status === "queued") $("pay-message").textContent = "Copy queued for the printer.";
  } catch (e) {
    $("action-error").textContent = problemText(e);
  } finally {
    for (const b of ["retry", "cancel", "reprint"]) $(b).disabled = false;
  }
}

function tick() {
  if (!current || !windowEndsAt || current.state !== "polling") return;
  const left = Math.max(0, Math.ceil((windowEndsAt - Date.now()) / 1000));
  $("countdown").textContent = String(left);
}

// ---- wiring -------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showLogin(""); });
  $("add-row").addEventListener("click", () => addRow("", "1", "", "25"));
  $("pay-form").addEventListener("submit", startPayment);
  $("retry").addEventListener("click", () => act("/v1/payments/" + encodeURIComponent(current.id) + "/retry"));
  $("cancel").addEventListener("click", () => act("/v1/payments/" + encodeURIComponent(current.id) + "/cancel"));
  $("reprint").addEventListener("click", () => act("/v1/payments/" + encodeURIComponent(current.id) + "/receipt/print"));
  $("done").addEventListener("click", () => {
    if (streamAbort) streamAbort.abort();
    current = null;
    $("payment").hidden = true;
    $("sale").hidden = false;
  });
  addRow("Kaffe", "1", "20.00", "12");
  setInterval(tick, 250);
  setInterval(() => { if (token() && !$("app").hidden) refreshStatus().catch(() => {}); }, 5000);
  start();
});
