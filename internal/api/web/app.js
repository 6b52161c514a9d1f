// posd cashier page: the till's back office. No framework, no external
// assets, no inline script or style (strict CSP). The token lives in
// sessionStorage (this tab only) and is sent as a header; the event stream
// is read with fetch, not EventSource, so the token never goes in a URL.
// Money is handled as integer minor units (BigInt), never as floats.
"use strict";

const TOKEN_KEY = "posd.token";
const CURRENT_KEY = "posd.current";   // the open sale's payment id: a reload reattaches to it
const REFUND_KEY = "posd.refund.";    // + payment id: the pending refund's Idempotency-Key
const ANNUL_KEY = "posd.annul.";      // + payment id: the pending annulment's Idempotency-Key
const DEBIT_KEY = "posd.debit.";      // + payment id: the pending additional debit's Idempotency-Key
const LANG_KEY = "posd.lang";
const PAGE = 50;                       // history rows per page
const $ = (id) => document.getElementById(id);

let current = null;        // the payment being watched
let streamAbort = null;    // AbortController of the event stream
let windowEndsAt = null;   // Date, for the local countdown between poll events
let lastAnnounced = null;  // seconds last announced to a screen reader
let providers = [];        // GET /v1/status providers
let lang = "sv";
let hist = { next: null, legacy: null, shown: 0, loaded: false };
let detail = null;         // the payment shown in the history's detail
let scanning = false;

// ---- language -------------------------------------------------------------

const T = {
  sv: {
    skip: "Hoppa till innehållet", views: "Vyer", tabSale: "Försäljning", tabHistory: "Historik", tabClose: "Dagsavslut",
    tabTill: "Kassan", language: "Språk", tokenTitle: "API-nyckel", token: "Nyckel", useToken: "Använd nyckeln",
    tokenHelp: "Klistra in nyckeln från <state_dir>/api-token. Den sparas bara i den här fliken.",
    newSale: "Ny försäljning", rowsCaption: "Kvittorader", desc: "Beskrivning", qty: "Antal", unitPrice: "À-pris",
    vat: "Moms %", rowTotal: "Summa", remove: "Ta bort", addRow: "Lägg till rad", receiptTotal: "Att betala",
    vatCaption: "Moms per sats", vatAmount: "Moms", net: "Netto", gross: "Brutto", method: "Betalsätt",
    amountBy: "Belopp med betalsättet", cashier: "Kassör", currency: "Valuta",
    amountHelp: "Tomt: hela summan. Mindre: resten betalas på annat sätt (delbetalning).",
    pay: "Betala", payment: "Betalning", secondsLeft: "sekunder kvar i fönster",
    customerViewHelp: "Kunden betalar här, eller skannar koden med sin telefon.", customerFrame: "Betalsida",
    retry: "Försök igen", cancel: "Avbryt", reprint: "Skriv ut kopia", newSaleBtn: "Ny försäljning",
    from: "Från", to: "Till", state: "Status", any: "Alla", provider: "Leverantör", amount: "Belopp",
    search: "Referens eller försäljnings-id", searchBtn: "Sök", paymentsCaption: "Betalningar", time: "Tid",
    saleId: "Försäljning", reference: "Referens", more: "Visa fler",
    unknownHelp: "Utfallet är okänt: posd frågar leverantören igen. Lämna inte ut varorna och ta inte betalt på nytt förrän statusen är betald eller avbruten; kontrollera dagsavslutets avstämning.",
    noRows: "Raderna finns inte i API:ets svar.", audit: "Händelser", receiptText: "Kvittot", refund: "Återbetala",
    refundAmount: "Belopp att återbetala", reason: "Orsak", next: "Fortsätt", confirmRefund: "Ja, återbetala", back: "Tillbaka",
    closeHelp: "Stänger perioden hos leverantören och jämför dess avstämning med kassans egna poster.",
    closeBtn: "Stäng perioden", zReport: "Z-rapport", count: "Antal", sum: "Summa", remote: "Leverantören", local: "Kassan",
    printZ: "Skriv ut Z-rapport", status: "Status", terminal: "Terminal", seqrId: "SEQR-id", openPayments: "Öppna betalningar",
    printer: "Skrivare", scanner: "Skanner", storage: "Lagring", version: "Version", providers: "Leverantörer",
    testPrint: "Testutskrift", testPrintNote: "Skriver en testremsa (inget kvitto) på kvittoskrivaren.", testPrintQueued: "Testutskriften ligger i skrivarkön.", forget: "Glöm nyckeln",
    registration: "SEQR-registrering", resellerId: "Återförsäljar-id", resellerUser: "Användar-id",
    resellerPassword: "Lösenord (skickas en gång, sparas inte)", externalId: "Kassans id", tillName: "Namn",
    registerBtn: "Registrera", unregisterBtn: "Avregistrera", unregisterQ: "Avregistrera kassan hos SEQR?",
    yesUnregister: "Ja, avregistrera", seqrIdTitle: "SEQR-id", seqrIdTyped: "SEQR-id (skrivet)", assign: "Spara",
    scanBtn: "Skanna klistermärket",
    st_created: "skapad", st_polling: "väntar på kunden", st_awaiting_decision: "väntar på kassören", st_paid: "betald",
    st_canceled: "avbruten", st_failed: "misslyckad", st_unknown: "okänd",
    notConnected: "inte ansluten", tokenRefused: "Nyckeln godtogs inte.", reachable: "nåbar", unreachable: "NÅS INTE",
    since: "sedan", notReady: "inte redo", ready: "redo", online: "online", offline: "offline", paper: "papper",
    paperOk: "ok", paperNear: "snart slut", paperOut: "SLUT", coverOpen: "luckan öppen", queued: "i kö",
    connected: "ansluten", disconnected: "frånkopplad", none: "ingen", notRegistered: "inte registrerad",
    noneAssigned: "inget tilldelat", recovering: "återställer", checked: "kontrollerad",
    windowRanOut: "Fönstret tog slut. Försök igen eller avbryt.", unreachableSince: "Leverantören nås inte sedan {t}; posd försöker igen.",
    printerSays: "Skrivare: {m}", copyQueued: "Kopian ligger i skrivarens kö.", lostStream: "Tappade händelseströmmen ({e}); ansluter igen.",
    secondsLeftSR: "{n} sekunder kvar", stateSR: "Status: {s}", reference_: "Referens {r}",
    row: "rad {n}", rowDescEmpty: "{r}: beskrivningen är tom", rowQtyBad: "{r}: antalet är inte ett tal över 0",
    rowPriceBad: "{r}: à-priset är inget belopp", amountBad: "beloppet är inget belopp som 20,00",
    splitRest: "Resten, {a}, betalas på annat sätt.", splitChange: "{a} ges tillbaka som växel.",
    noProviders: "Inga betalsätt är konfigurerade.", loading: "Hämtar…", found: "Visade betalningar: {n}.",
    foundMore: "Visade betalningar: {n}; det finns fler.", amountFiltered: "Beloppsfiltret gäller de hämtade raderna.",
    nothing: "Inga betalningar.", f_state: "Status", f_provider: "Leverantör", f_method: "Betalsätt", f_methodName: "Betalat med",
    f_amount: "Belopp", f_receiptTotal: "Kvittosumma", f_balancing: "Delbetalning", f_refunded: "Återbetalt", f_saleId: "Försäljnings-id",
    f_cashierId: "Kassör", f_title: "Rubrik", f_providerRef: "Leverantörens referens", f_transactionRef: "Transaktionsreferens",
    f_createdAt: "Skapad", f_updatedAt: "Ändrad", f_error: "Fel", f_validUntil: "Giltig till",
    bal_none: "nej", bal_other: "resten på annat sätt", bal_change: "växel tillbaka",
    auditCreated: "Skapad av kassör {c}", auditUpdated: "Senast ändrad: {s}", auditNone: "API:et har ingen händelselogg (vem gjorde vad); här visas bara betalningens tider.",
    receiptNone: "API:et ger inte kvittots text; skriv ut en kopia.", confirmRefundQ: "Återbetala {a} av betalning {id}?",
    refunded: "Återbetalt {a}, referens {r}.", refundUnknown: "Svar saknas: återbetalningen kan ha gjorts. Kontrollera dagsavslutets avstämning innan du försöker igen.",
    refundNotPaid: "Bara en betald betalning kan återbetalas.", closing: "Stänger perioden och hämtar avstämningen…",
    match: "Stämmer", mismatch: "AVVIKELSE", onlyRemote: "Bara hos leverantören", onlyLocal: "Bara i kassan",
    registered: "Kassan är registrerad som {id}.", unregistered: "Kassan är avregistrerad.", assigned: "SEQR-id {s} sparat.",
    scanWait: "Väntar på skanningen… skanna klistermärket nu.", scanRead: "Läst: {s}. Sparat.", scanTimeout: "Ingen skanning i tid.",
    scanBad: "Läst men inte godkänt: {e}",
    annul: "Annullera", annulAmount: "Belopp att annullera", confirmAnnul: "Ja, annullera",
    annulHelp: "Släpper det som kunden ännu inte debiterats för. En betalning som redan är slutdebiterad återbetalas i stället.",
    confirmAnnulQ: "Annullera {a} av betalning {id}? Beloppet debiteras aldrig kunden.",
    annulled: "Annullerat {a}, referens {r}.", annulUnknown: "Svar saknas: annulleringen kan ha gjorts. Kontrollera dagsavslutets avstämning innan du försöker igen.",
    debit: "Tilläggsdebitera", debitAmount: "Belopp inkl. moms", debitHelp: "Lägger till en rad på kundens betalning (samma faktura eller konto), inom betalningens kreditgräns.",
    confirmDebit: "Ja, tilläggsdebitera", confirmDebitQ: "Debitera {a} ({d}, moms {v} %) på betalning {id}?",
    debited: "Tilläggsdebiterat {a}, referens {r}.", debitUnknown: "Svar saknas: tilläggsdebiteringen kan ha gjorts. Kontrollera dagsavslutets avstämning innan du försöker igen.",
    debitDescEmpty: "beskrivningen är tom", f_annulled: "Annullerat", f_debited: "Tilläggsdebiterat",
    refundWhat: "Vad återbetalas", modeWhole: "Hela beloppet", modeAmount: "Ett belopp", modeLines: "Valda rader",
    linesCaption: "Rader att återbetala", sold: "Sålt", returnQty: "Återbetala antal", linesSum: "Att återbetala",
    returnQtyOf: "Antal att återbetala av {d}", atMost: "högst {q}", leftToRefund: "Kvar att återbetala: {a}.",
    refundTooMuch: "högst {a} finns kvar att återbetala", noLines: "välj minst en rad att återbetala",
    lineQtyWhole: "{d}: antalet ska vara ett heltal från 0 till {q}", lineQtyDec: "{d}: antalet ska vara 0 till {q} med högst {n} decimaler",
    confirmRefundWholeQ: "Återbetala allt som är kvar, {a}, av betalning {id}?",
    confirmRefundLinesQ: "Återbetala {lines}: totalt {a} av betalning {id}?",
    refundedLines: "Återbetalt {a}: {lines}. Referens {r}.",
    adjustments: "Återbetalningar, annulleringar och tilläggsdebiteringar", adjWhat: "Vad",
    adjNone: "Inga återbetalningar, annulleringar eller tilläggsdebiteringar.",
    k_refund: "Återbetalning", k_annul: "Annullering", k_debit: "Tilläggsdebitering",
    u_refund: "återbetalningen", u_annul: "annulleringen", u_debit: "tilläggsdebiteringen",
    as_sending: "skickas", as_done: "klar", as_failed: "misslyckad", as_unknown: "OKÄNT UTFALL",
    adjUnknown: "Okänt utfall: {what} på {a} ({t}) kan ha gjorts hos leverantören. Gör den aldrig igen: posd frågar leverantören där det går, annars avgör dagsavslutets avstämning den.",
    fromDebit: "tilläggsdebiterad", backBefore: "(återbetalt förut: {q})",
  },
  en: {
    skip: "Skip to content", views: "Views", tabSale: "Sale", tabHistory: "History", tabClose: "Day close",
    tabTill: "Till", language: "Language", tokenTitle: "API token", token: "Token", useToken: "Use token",
    tokenHelp: "Paste the token from <state_dir>/api-token. It is kept in this tab only.",
    newSale: "New sale", rowsCaption: "Receipt rows", desc: "Description", qty: "Qty", unitPrice: "Unit price",
    vat: "VAT %", rowTotal: "Total", remove: "Remove", addRow: "Add row", receiptTotal: "To pay",
    vatCaption: "VAT per rate", vatAmount: "VAT", net: "Net", gross: "Gross", method: "Payment method",
    amountBy: "Amount by this method", cashier: "Cashier", currency: "Currency",
    amountHelp: "Empty: the whole total. Less: the rest is paid otherwise (split tender).",
    pay: "Pay", payment: "Payment", secondsLeft: "seconds left in window",
    customerViewHelp: "The customer pays here, or scans the code with a phone.", customerFrame: "Payment page",
    retry: "Try again", cancel: "Cancel", reprint: "Print copy", newSaleBtn: "New sale",
    from: "From", to: "To", state: "State", any: "Any", provider: "Provider", amount: "Amount",
    search: "Reference or sale id", searchBtn: "Search", paymentsCaption: "Payments", time: "Time",
    saleId: "Sale", reference: "Reference", more: "Show more",
    unknownHelp: "The outcome is unknown: posd keeps asking the provider. Do not hand over the goods or charge again until the state is paid or canceled; check the day close's reconciliation.",
    noRows: "The API's answer has no rows.", audit: "Audit trail", receiptText: "Receipt", refund: "Refund",
    refundAmount: "Amount to refund", reason: "Reason", next: "Continue", confirmRefund: "Yes, refund", back: "Back",
    closeHelp: "Closes the period at the provider and compares its reconciliation with the till's own records.",
    closeBtn: "Close the period", zReport: "Z report", count: "Count", sum: "Sum", remote: "Provider", local: "Till",
    printZ: "Print Z report", status: "Status", terminal: "Terminal", seqrId: "SEQR id", openPayments: "Open payments",
    printer: "Printer", scanner: "Scanner", storage: "Storage", version: "Version", providers: "Providers",
    testPrint: "Test print", testPrintNote: "Prints a test slip (not a receipt) on the receipt printer.", testPrintQueued: "The test print is queued for the printer.", forget: "Forget token",
    registration: "SEQR registration", resellerId: "Reseller id", resellerUser: "Reseller user id",
    resellerPassword: "Password (sent once, never kept)", externalId: "Till id", tillName: "Name",
    registerBtn: "Register", unregisterBtn: "Unregister", unregisterQ: "Unregister this till from SEQR?",
    yesUnregister: "Yes, unregister", seqrIdTitle: "SEQR id", seqrIdTyped: "SEQR id (typed)", assign: "Save",
    scanBtn: "Scan the sticker",
    st_created: "created", st_polling: "waiting for the customer", st_awaiting_decision: "waiting for the cashier", st_paid: "paid",
    st_canceled: "canceled", st_failed: "failed", st_unknown: "unknown",
    notConnected: "not connected", tokenRefused: "The token was refused.", reachable: "reachable", unreachable: "UNREACHABLE",
    since: "since", notReady: "not ready", ready: "ready", online: "online", offline: "offline", paper: "paper",
    paperOk: "ok", paperNear: "near end", paperOut: "OUT", coverOpen: "cover open", queued: "queued",
    connected: "connected", disconnected: "disconnected", none: "none", notRegistered: "not registered",
    noneAssigned: "none assigned", recovering: "recovering", checked: "checked",
    windowRanOut: "The window ran out. Try again, or cancel.", unreachableSince: "The provider is unreachable since {t}; posd keeps trying.",
    printerSays: "Printer: {m}", copyQueued: "Copy queued for the printer.", lostStream: "Lost the event stream ({e}); reconnecting.",
    secondsLeftSR: "{n} seconds left", stateSR: "State: {s}", reference_: "Reference {r}",
    row: "row {n}", rowDescEmpty: "{r}: description is empty", rowQtyBad: "{r}: quantity is not a number above 0",
    rowPriceBad: "{r}: unit price is not an amount", amountBad: "amount is not an amount such as 20.00",
    splitRest: "The rest, {a}, is paid otherwise.", splitChange: "{a} is given back as change.",
    noProviders: "No payment method is configured.", loading: "Loading…", found: "Payments shown: {n}.",
    foundMore: "Payments shown: {n}; there are more.", amountFiltered: "The amount filter applies to the rows loaded.",
    nothing: "No payments.", f_state: "State", f_provider: "Provider", f_method: "Method", f_methodName: "Paid with",
    f_amount: "Amount", f_receiptTotal: "Receipt total", f_balancing: "Split tender", f_refunded: "Refunded", f_saleId: "Sale id",
    f_cashierId: "Cashier", f_title: "Title", f_providerRef: "Provider reference", f_transactionRef: "Transaction reference",
    f_createdAt: "Created", f_updatedAt: "Updated", f_error: "Error", f_validUntil: "Valid until",
    bal_none: "no", bal_other: "rest paid otherwise", bal_change: "change given back",
    auditCreated: "Created by cashier {c}", auditUpdated: "Last changed: {s}", auditNone: "The API has no audit trail (who did what); only the payment's times are shown.",
    receiptNone: "The API does not give the receipt's text; print a copy.", confirmRefundQ: "Refund {a} of payment {id}?",
    refunded: "Refunded {a}, reference {r}.", refundUnknown: "No answer: the refund may have been made. Check the day close's reconciliation before trying again.",
    refundNotPaid: "Only a paid payment can be refunded.", closing: "Closing the period and fetching the reconciliation…",
    match: "Matches", mismatch: "DISCREPANCY", onlyRemote: "Only at the provider", onlyLocal: "Only in the till",
    registered: "The till is registered as {id}.", unregistered: "The till is unregistered.", assigned: "SEQR id {s} saved.",
    scanWait: "Waiting for the scan… scan the sticker now.", scanRead: "Read: {s}. Saved.", scanTimeout: "No scan in time.",
    scanBad: "Read but not accepted: {e}",
    annul: "Annul", annulAmount: "Amount to annul", confirmAnnul: "Yes, annul",
    annulHelp: "Releases what the customer has not been charged for yet. A payment that is already captured is refunded instead.",
    confirmAnnulQ: "Annul {a} of payment {id}? The customer is never charged this amount.",
    annulled: "Annulled {a}, reference {r}.", annulUnknown: "No answer: the annulment may have been made. Check the day close's reconciliation before trying again.",
    debit: "Additional debit", debitAmount: "Amount incl. VAT", debitHelp: "Adds a row to the customer's payment (the same invoice or account), within the payment's credit limit.",
    confirmDebit: "Yes, debit", confirmDebitQ: "Debit {a} ({d}, VAT {v} %) on payment {id}?",
    debited: "Debited {a}, reference {r}.", debitUnknown: "No answer: the additional debit may have been made. Check the day close's reconciliation before trying again.",
    debitDescEmpty: "description is empty", f_annulled: "Annulled", f_debited: "Additional debits",
    refundWhat: "What is refunded", modeWhole: "The whole amount", modeAmount: "An amount", modeLines: "Chosen lines",
    linesCaption: "Lines to refund", sold: "Sold", returnQty: "Quantity returned", linesSum: "To refund",
    returnQtyOf: "Quantity returned of {d}", atMost: "at most {q}", leftToRefund: "Left to refund: {a}.",
    refundTooMuch: "at most {a} is left to refund", noLines: "choose at least one line to refund",
    lineQtyWhole: "{d}: the quantity must be a whole number from 0 to {q}", lineQtyDec: "{d}: the quantity must be 0 to {q} with at most {n} decimals",
    confirmRefundWholeQ: "Refund all that is left, {a}, of payment {id}?",
    confirmRefundLinesQ: "Refund {lines}: in all {a} of payment {id}?",
    refundedLines: "Refunded {a}: {lines}. Reference {r}.",
    adjustments: "Refunds, annulments and additional debits", adjWhat: "What",
    adjNone: "No refunds, annulments or additional debits.",
    k_refund: "Refund", k_annul: "Annulment", k_debit: "Additional debit",
    u_refund: "the refund", u_annul: "the annulment", u_debit: "the additional debit",
    as_sending: "sending", as_done: "done", as_failed: "failed", as_unknown: "UNKNOWN OUTCOME",
    adjUnknown: "Unknown outcome: {what} of {a} ({t}) may have been made at the provider. Never make it again: posd asks the provider where it can, else the day close's reconciliation settles it.",
    fromDebit: "additional debit", backBefore: "(refunded before: {q})",
  },
};

function t(key, args) {
  let s = (T[lang] && T[lang][key]) || T.en[key] || key;
  if (args) for (const k of Object.keys(args)) s = s.split("{" + k + "}").join(String(args[k]));
  return s;
}

function applyLang() {
  document.documentElement.lang = lang;
  $("lang").value = lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-aria]")) el.setAttribute("aria-label", t(el.dataset.tAria));
  for (const el of document.querySelectorAll("[data-t-title]")) el.title = t(el.dataset.tTitle);
  document.title = "posd · " + t("tabSale");
  fillMethods();
  recompute();
  if (current) render(current, undefined, "");
  if (detail) showDetail(detail);
  if (detail && !$("refund-form").hidden) refundTexts(true);
}

function stateText(s) { return t("st_" + s); }
function locale() { return lang === "sv" ? "sv-SE" : "en-GB"; }

// ---- money --------------------------------------------------------------

// toMinor parses "12", "12.5", "12,50" into minor units; null if not an amount.
function toMinor(s) {
  s = String(s).trim().replace(",", ".");
  const m = /^(-?)(\d{1,13})(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) return null;
  const v = BigInt(m[2]) * 100n + BigInt((m[3] || "").padEnd(2, "0"));
  return m[1] ? -v : v;
}

// fromMinor is the API's decimal text ("20.00").
function fromMinor(v) {
  const neg = v < 0n;
  if (neg) v = -v;
  const cents = (v % 100n).toString().padStart(2, "0");
  return (neg ? "-" : "") + (v / 100n).toString() + "." + cents;
}

// apiMinor reads an API amount ("20.00", "5", "93.31000") exactly.
function apiMinor(s) {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(s || "0"));
  if (!m) return 0n;
  const frac = (m[3] || "").padEnd(2, "0").slice(0, 2);
  const v = BigInt(m[2]) * 100n + BigInt(frac);
  return m[1] ? -v : v;
}

// money formats minor units in the page's language: grouping and decimal
// sign from Intl, the digits from the integer (no float ever holds money).
function money(v, currency) {
  const neg = v < 0n;
  if (neg) v = -v;
  const parts = new Intl.NumberFormat(locale()).formatToParts(1.5);
  const dec = (parts.find((p) => p.type === "decimal") || { value: "." }).value;
  const whole = (v / 100n).toLocaleString(locale());
  const s = (neg ? "−" : "") + whole + dec + (v % 100n).toString().padStart(2, "0");
  return currency ? s + " " + currency : s;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return new Intl.DateTimeFormat(locale(), { dateStyle: "short", timeStyle: "medium" }).format(d);
}

// quantity in thousandths ("0.5" -> 500n); null if invalid.
function toMilli(s) {
  const m = /^(\d{1,9})(?:[.,](\d{1,3}))?$/.exec(String(s).trim());
  if (!m) return null;
  return BigInt(m[1]) * 1000n + BigInt((m[2] || "").padEnd(3, "0"));
}

// rowTotal = unit * qty, rounded half away from zero to whole minor units.
function rowTotal(unit, qtyMilli) {
  const p = unit * qtyMilli;
  const half = p < 0n ? -500n : 500n;
  return (p + half) / 1000n;
}

// vatPart is the VAT in a gross amount at rate percent, as the receipt
// computes it: gross*rate/(100+rate), half away from zero, on integers.
function vatPart(gross, rate) {
  const m = /^(\d+)(?:\.(\d{1,4}))?$/.exec(rate);
  if (!m) return 0n;
  const scaled = BigInt(m[1]) * 10000n + BigInt((m[2] || "").padEnd(4, "0"));
  if (scaled === 0n || gross === 0n) return 0n;
  const neg = gross < 0n;
  const g = neg ? -gross : gross;
  const den = 1000000n + scaled;
  const q = (2n * g * scaled + den) / (2n * den);
  return neg ? -q : q;
}

// ---- API ----------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class APIError extends Error {
  constructor(status, problem) {
    super(problem && (problem.detail || problem.title) || ("HTTP " + status));
    this.status = status;
    this.problem = problem;
  }
  get slug() { return this.problem && this.problem.type ? this.problem.type.split("/").pop() : ""; }
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
    showLogin(t("tokenRefused"));
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

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// ---- login and views ----------------------------------------------------

function showLogin(msg) {
  $("app").hidden = true;
  $("tabs").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
  $("conn").textContent = t("notConnected");
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
  $("tabs").hidden = false;
  show("sale");
  await reattach();
}

function show(view) {
  for (const v of ["sale", "history", "close", "till"]) {
    $("view-" + v).hidden = v !== view;
    const tab = $("tab-" + v);
    if (v === view) tab.setAttribute("aria-current", "page"); else tab.removeAttribute("aria-current");
  }
  if (view === "history" && !hist.loaded) search();
  if (view === "till") refreshStatus().catch(() => {});
}

// reattach follows the sale this tab had open before a reload.
async function reattach() {
  const id = sessionStorage.getItem(CURRENT_KEY);
  if (!id) return;
  try {
    const p = await api("GET", "/v1/payments/" + encodeURIComponent(id));
    watch(p);
  } catch (e) {
    if (e.status === 404) sessionStorage.removeItem(CURRENT_KEY);
  }
}

// ---- status -------------------------------------------------------------

const METHOD_NAMES = { seqr: "SEQR", resurs: "Resurs", resurs_later: "Resurs Betala sen", payson: "Payson" };

function providerLine(p) {
  let s = (METHOD_NAMES[p.name] || p.name) + ": " + (p.reachable ? t("reachable") : t("unreachable"));
  if (p.outageSince) s += " " + t("since") + " " + fmtTime(p.outageSince);
  if (p.ready === false) s += ", " + t("notReady") + (p.notReady ? " (" + p.notReady + ")" : "");
  if (p.lastChecked) s += ", " + t("checked") + " " + fmtTime(p.lastChecked);
  if (p.lastError) s += " (" + p.lastError + ")";
  return s;
}

async function refreshStatus() {
  const st = await api("GET", "/v1/status");
  const tm = st.terminal || {};
  $("st-terminal").textContent = tm.registered ? (tm.terminalId + (tm.name ? " (" + tm.name + ")" : "")) : t("notRegistered");
  $("st-seqr").textContent = tm.seqrId || t("noneAssigned");
  $("st-open").textContent = String(st.openPayments);
  const pr = st.printer;
  const paper = pr ? ({ ok: t("paperOk"), near_end: t("paperNear"), out: t("paperOut") }[pr.paper] || pr.paper) : "";
  $("st-printer").textContent = pr ? ((pr.online ? t("online") : t("offline")) + ", " + t("paper") + " " + paper +
    (pr.coverOpen ? ", " + t("coverOpen") : "") + (pr.queued ? ", " + pr.queued + " " + t("queued") : "") +
    (pr.lastError ? " (" + pr.lastError + ")" : "")) : t("none");
  $("st-printer").className = pr && (!pr.online || pr.paper === "out" || pr.coverOpen) ? "bad-text" : "";
  const sc = st.scanner;
  $("st-scanner").className = sc && !sc.connected ? "bad-text" : "";
  $("st-scanner").textContent = sc ? ((sc.connected ? t("connected") : t("disconnected")) +
    (sc.lastScanAt ? ", " + fmtTime(sc.lastScanAt) : "") + (sc.lastError ? " (" + sc.lastError + ")" : "")) : t("none");
  $("st-storage").textContent = st.storage;
  $("st-version").textContent = st.version + (st.ready ? "" : " (" + t("recovering") + ")");
  // providers lists every configured provider; an older posd has only provider.
  providers = Array.isArray(st.providers) && st.providers.length ? st.providers
    : [Object.assign({ methods: [(st.provider && st.provider.name) || "seqr"] }, st.provider || { name: "seqr" })];
  const ul = $("st-providers");
  ul.replaceChildren(...providers.map((p) => el("li", providerLine(p), p.reachable ? "" : "bad-text")));
  const allUp = providers.every((p) => p.reachable);
  $("conn").textContent = providers.map((p) => (METHOD_NAMES[p.name] || p.name) + " " + (p.reachable ? "✓" : "✗")).join(" · ");
  $("conn").className = "badge " + (allUp ? "ok" : "bad");
  $("unreg-btn").hidden = !tm.registered;
  $("reg-form").hidden = !!tm.registered;
  fillMethods();
  fillProviderSelects();
}

function fillMethods() {
  const sel = $("method");
  const keep = sel.value;
  const opts = [];
  for (const p of providers) {
    for (const m of (p.methods && p.methods.length ? p.methods : [p.name])) {
      const o = el("option", (METHOD_NAMES[m] || m) + (p.ready === false || !p.reachable ? " (" + (p.reachable ? t("notReady") : t("unreachable")) + ")" : ""));
      o.value = m;
      opts.push(o);
    }
  }
  sel.replaceChildren(...opts);
  if (keep && opts.some((o) => o.value === keep)) sel.value = keep;
}

function fillProviderSelects() {
  for (const id of ["f-provider", "close-provider"]) {
    const sel = $(id);
    const keep = sel.value;
    const opts = id === "f-provider" ? [sel.options[0]] : [];
    for (const p of providers) {
      const o = el("option", METHOD_NAMES[p.name] || p.name);
      o.value = p.name;
      opts.push(o);
    }
    sel.replaceChildren(...opts);
    if (keep && opts.some((o) => o.value === keep)) sel.value = keep;
  }
}

// ---- sale rows ----------------------------------------------------------

function addRow(desc, qty, price, vat) {
  const tr = document.createElement("tr");
  const n = $("rows").tBodies[0].rows.length + 1;
  const cell = (e) => { const td = document.createElement("td"); td.appendChild(e); tr.appendChild(td); return e; };
  const input = (cls, val, size, label) => {
    const i = document.createElement("input");
    i.className = cls; i.value = val; i.size = size;
    i.setAttribute("aria-label", label + " " + n);
    i.addEventListener("input", recompute);
    return i;
  };
  cell(input("desc", desc, 18, t("desc")));
  cell(input("qty", qty, 4, t("qty"))).inputMode = "decimal";
  cell(input("price", price, 8, t("unitPrice"))).inputMode = "decimal";
  const sel = document.createElement("select");
  sel.className = "vat";
  sel.setAttribute("aria-label", t("vat") + " " + n);
  for (const r of ["25", "12", "6", "0"]) { const o = el("option", r); o.value = r; sel.appendChild(o); }
  sel.value = vat;
  sel.addEventListener("change", recompute);
  cell(sel);
  const out = el("output", "", "total");
  const td = el("td", undefined, "num"); td.appendChild(out); tr.appendChild(td);
  const del = el("button", "×", "secondary small");
  del.type = "button";
  del.setAttribute("aria-label", t("remove") + " " + n);
  del.addEventListener("click", () => { tr.remove(); recompute(); });
  cell(del);
  $("rows").tBodies[0].appendChild(tr);
  recompute();
  return tr;
}

// readRows returns the rows and their sum, or throws naming the bad cell.
function readRows() {
  const rows = [];
  let sum = 0n;
  [...$("rows").tBodies[0].rows].forEach((tr, i) => {
    const r = t("row", { n: i + 1 });
    const desc = tr.querySelector(".desc").value.trim();
    const qty = tr.querySelector(".qty").value.trim().replace(",", ".");
    const unit = toMinor(tr.querySelector(".price").value);
    const q = toMilli(qty);
    if (!desc) throw new Error(t("rowDescEmpty", { r }));
    if (q === null || q === 0n) throw new Error(t("rowQtyBad", { r }));
    if (unit === null) throw new Error(t("rowPriceBad", { r }));
    const total = rowTotal(unit, q);
    sum += total;
    const row = { description: desc, quantity: qty, totalAmount: fromMinor(total), taxRate: tr.querySelector(".vat").value };
    // unitPrice only when qty x unit is exact: the API checks it to the öre.
    if (unit * q % 1000n === 0n) row.unitPrice = fromMinor(unit);
    rows.push(row);
  });
  return { rows, sum };
}

function recompute() {
  const cur = $("currency") ? $("currency").value : "SEK";
  for (const tr of $("rows").tBodies[0].rows) {
    const unit = toMinor(tr.querySelector(".price").value);
    const q = toMilli(tr.querySelector(".qty").value);
    tr.querySelector(".total").textContent = (unit === null || q === null) ? "?" : money(rowTotal(unit, q));
  }
  const vb = $("vat-table").tBodies[0];
  let rows;
  try { rows = readRows(); } catch (e) { $("receipt-total").textContent = "?"; vb.replaceChildren(); $("split-note").textContent = ""; return; }
  $("receipt-total").textContent = money(rows.sum, cur);
  // VAT per rate, highest first, from each rate's sum as the receipt does.
  const by = new Map();
  for (const r of rows.rows) by.set(r.taxRate, (by.get(r.taxRate) || 0n) + apiMinor(r.totalAmount));
  const rates = [...by.keys()].sort((a, b) => Number(b) - Number(a));
  vb.replaceChildren(...rates.map((rate) => {
    const gross = by.get(rate), v = vatPart(gross, rate);
    const tr = document.createElement("tr");
    tr.append(el("td", rate), el("td", money(v), "num"), el("td", money(gross - v), "num"), el("td", money(gross), "num"));
    return tr;
  }));
  const a = $("amount").value.trim() === "" ? rows.sum : toMinor($("amount").value);
  $("split-note").textContent = a === null || a === rows.sum ? "" :
    a < rows.sum ? t("splitRest", { a: money(rows.sum - a, cur) }) : t("splitChange", { a: money(a - rows.sum, cur) });
}

// ---- the sale's payment ---------------------------------------------------

async function startPayment(ev) {
  if (ev) ev.preventDefault();
  if ($("pay").disabled || !$("payment").hidden) return;
  $("pay-error").textContent = "";
  let body;
  try {
    if (!$("method").value) throw new Error(t("noProviders"));
    const { rows, sum } = readRows();
    const amountText = $("amount").value.trim();
    const amount = amountText === "" ? sum : toMinor(amountText);
    if (amount === null) throw new Error(t("amountBad"));
    body = {
      method: $("method").value, saleId: "page-" + Date.now(), cashierId: $("cashier").value.trim(),
      amount: fromMinor(amount), currency: $("currency").value, receiptTotal: fromMinor(sum), rows,
    };
  } catch (e) {
    $("pay-error").textContent = e.message;
    return;
  }
  $("pay").disabled = true;
  try {
    // One key per attempt: a double press or a retried request cannot start a second payment.
    const p = await api("POST", "/v1/payments", body, { "Idempotency-Key": newKey() });
    watch(p);
  } catch (e) {
    $("pay-error").textContent = problemText(e);
  } finally {
    $("pay").disabled = false;
  }
}

function isFinal(s) { return s === "paid" || s === "canceled" || s === "failed"; }

// render shows the payment; message is the page's word (the printer's
// news), note the provider's own status text, shown small and untranslated.
function render(p, secondsLeft, message, note) {
  const prevState = current && current.id === p.id ? current.state : null;
  current = p;
  $("payment").hidden = false;
  $("sale").hidden = true;
  $("pay-id").textContent = p.id;
  $("pay-state").textContent = stateText(p.state);
  $("pay-state").className = "badge " + p.state;
  const amt = apiMinor(p.amount), total = apiMinor(p.receiptTotal);
  $("pay-amount").textContent = money(amt, p.currency) + (amt !== total ? " (" + t("receiptTotal") + " " + money(total, p.currency) + ")" : "");
  $("pay-provider").textContent = METHOD_NAMES[p.method] || p.method || "";
  $("pay-window").textContent = String(p.window);
  windowEndsAt = p.windowEndsAt ? new Date(p.windowEndsAt) : null;
  if (typeof secondsLeft === "number") setCountdown(secondsLeft);
  const open = (p.state === "polling" || p.state === "created") && p.window > 0;
  $("countdown-box").hidden = !open;
  let msg = message || "";
  if (p.outageSince) msg = t("unreachableSince", { t: fmtTime(p.outageSince) }) + " " + msg;
  if (p.state === "awaiting_decision") msg = t("windowRanOut") + " " + msg;
  if (p.state === "unknown") msg = t("unknownHelp") + " " + msg;
  if (p.error) msg += " " + p.error;
  $("pay-message").textContent = msg.trim();
  if (note !== undefined) $("pay-note").textContent = note;
  const ref = p.transactionRef || p.ersReference;
  $("pay-ers").textContent = ref ? t("reference_", { r: ref }) : "";
  renderCustomerView(p);
  $("retry").hidden = p.state !== "awaiting_decision";
  $("cancel").hidden = !(p.state === "awaiting_decision" || p.state === "polling" || p.state === "created");
  $("reprint").hidden = p.state !== "paid";
  $("done").hidden = !isFinal(p.state);
  if (prevState !== p.state) $("countdown-sr").textContent = t("stateSR", { s: stateText(p.state) });
}

// renderCustomerView shows a provider's page (Resurs, Payson) in a
// sandboxed frame and its address as a QR code for the customer's phone.
// Provider HTML is never inserted into this page: the frame loads the URL,
// or, with HTML only, renders it in an opaque-origin srcdoc frame.
function renderCustomerView(p) {
  const v = p.customerView;
  const box = $("customer-view");
  if (!v || isFinal(p.state) || (!v.url && !v.html)) {
    box.hidden = true;
    $("cv-frame").removeAttribute("src");
    $("cv-frame").removeAttribute("srcdoc");
    return;
  }
  box.hidden = false;
  const frame = $("cv-frame");
  const isHTTP = v.url && /^https?:\/\//i.test(v.url);
  if (isHTTP) {
    if (frame.getAttribute("src") !== v.url) frame.src = v.url;
    frame.hidden = false;
  } else if (v.html) {
    frame.setAttribute("sandbox", "");
    if (frame.srcdoc !== v.html) frame.srcdoc = v.html;
    frame.hidden = false;
  }
  const qrBox = $("cv-qr-box");
  if (isHTTP && window.posdQR) {
    if ($("cv-url").href !== v.url) {
      $("cv-url").href = v.url;
      $("cv-url").textContent = v.url;
      $("cv-qr").replaceChildren(window.posdQR.svg(v.url, 4));
      $("cv-qr").setAttribute("aria-label", "QR: " + v.url);
    }
    qrBox.hidden = false;
  } else {
    qrBox.hidden = true;
  }
}

function setCountdown(n) {
  $("countdown").textContent = String(n);
  // A screen reader hears the countdown at 20, 10 and 5 s, not every second.
  if ((n === 20 || n === 10 || n === 5) && lastAnnounced !== n) {
    lastAnnounced = n;
    $("countdown-sr").textContent = t("secondsLeftSR", { n });
  }
}

// watch reads the payment's event stream with fetch (the token stays in a
// header) and reconnects after a dropped connection until a final state.
async function watch(p) {
  if (streamAbort) streamAbort.abort();
  const ctl = new AbortController();
  streamAbort = ctl;
  sessionStorage.setItem(CURRENT_KEY, p.id);
  show("sale");
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
        if (ctl.signal.aborted) return;
        const ev = JSON.parse(data);
        if (type === "printer") {
          printerMsg = t("printerSays", { m: ev.message || "" });
          render(ev.payment, ev.secondsLeft, printerMsg);
        } else {
          render(ev.payment, ev.secondsLeft, printerMsg, ev.message || "");
        }
      });
    } catch (e) {
      // After the final state only printer news was left to hear.
      if (ctl.signal.aborted || isFinal(current.state)) return;
      $("action-error").textContent = t("lostStream", { e: problemText(e) });
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
    else if (p && p.status === "queued") $("pay-message").textContent = t("copyQueued");
  } catch (e) {
    $("action-error").textContent = problemText(e);
  } finally {
    for (const b of ["retry", "cancel", "reprint"]) $(b).disabled = false;
  }
}

function newSale() {
  if (streamAbort) streamAbort.abort();
  sessionStorage.removeItem(CURRENT_KEY);
  current = null;
  $("payment").hidden = true;
  $("sale").hidden = false;
  $("customer-view").hidden = true;
  $("cv-frame").removeAttribute("src");
  $("action-error").textContent = "";
  $("pay-note").textContent = "";
  $("amount").value = "";
  recompute();
  $("rows").querySelector("input") && $("rows").querySelector("input").focus();
}

function tick() {
  if (!current || !windowEndsAt || current.state !== "polling") return;
  setCountdown(Math.max(0, Math.ceil((windowEndsAt - Date.now()) / 1000)));
}

// ---- history ------------------------------------------------------------

function searchParams(cursor) {
  const q = new URLSearchParams();
  q.set("limit", String(PAGE));
  q.set("order", "desc"); // the history reads newest first
  if (cursor) q.set("cursor", cursor);
  const add = (k, id) => { const v = $(id).value.trim(); if (v) q.set(k, v); };
  add("state", "f-state"); add("provider", "f-provider"); add("q", "f-q");
  if ($("f-from").value) q.set("from", new Date($("f-from").value + "T00:00:00").toISOString());
  if ($("f-to").value) q.set("to", new Date($("f-to").value + "T23:59:59.999").toISOString());
  return q;
}

// localMatch applies the filters to a row; the amount filter always (the
// API has none), the others only for a posd whose list has no cursor yet
// (it ignores them and answers every payment).
function localMatch(p, all) {
  const amt = $("f-amount").value.trim();
  if (amt && toMinor(amt) !== apiMinor(p.amount)) return false;
  if (!all) return true;
  if ($("f-provider").value && (p.provider || p.method) !== $("f-provider").value) return false;
  const q = $("f-q").value.trim().toLowerCase();
  if (q && ![p.id, p.saleId, p.providerRef, p.transactionRef, p.ersReference, p.invoiceReference]
    .some((s) => s && String(s).toLowerCase().includes(q))) return false;
  const created = new Date(p.createdAt);
  if ($("f-from").value && created < new Date($("f-from").value + "T00:00:00")) return false;
  if ($("f-to").value && created > new Date($("f-to").value + "T23:59:59.999")) return false;
  return true;
}

async function search(ev) {
  if (ev) ev.preventDefault();
  hist = { next: null, legacy: null, shown: 0, loaded: true };
  $("history-table").tBodies[0].replaceChildren();
  $("detail").hidden = true;
  detail = null;
  await loadMore();
}

async function loadMore() {
  $("history-error").textContent = "";
  $("history-status").textContent = t("loading");
  try {
    if (hist.legacy) {
      appendRows(hist.legacy.slice(hist.shown, hist.shown + PAGE));
    } else {
      const data = await api("GET", "/v1/payments?" + searchParams(hist.next).toString());
      const ps = data.payments || [];
      if ("next" in data || hist.next) {
        hist.next = data.next || null;
        appendRows(ps.filter((p) => localMatch(p, false)));
      } else {
        // No cursor: this posd answers the whole list; page through it here, newest first.
        hist.legacy = ps.filter((p) => localMatch(p, true))
          .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
        appendRows(hist.legacy.slice(0, PAGE));
      }
    }
  } catch (e) {
    $("history-error").textContent = problemText(e);
  }
  const more = hist.legacy ? hist.shown < hist.legacy.length : !!hist.next;
  $("more").hidden = !more;
  $("history-status").textContent = (hist.shown === 0 ? t("nothing") : t(more ? "foundMore" : "found", { n: hist.shown })) +
    ($("f-amount").value.trim() ? " " + t("amountFiltered") : "");
}

function appendRows(ps) {
  const tb = $("history-table").tBodies[0];
  for (const p of ps) {
    const tr = document.createElement("tr");
    if (p.state === "unknown") tr.className = "unknown-row";
    const idBtn = el("button", fmtTime(p.createdAt), "link");
    idBtn.type = "button";
    idBtn.dataset.id = p.id;
    idBtn.setAttribute("aria-label", p.id + ", " + fmtTime(p.createdAt));
    idBtn.addEventListener("click", () => openDetail(p.id));
    const td0 = el("td"); td0.appendChild(idBtn);
    const badge = el("span", stateText(p.state), "badge " + p.state);
    const td1 = el("td"); td1.appendChild(badge);
    tr.append(td0, td1, el("td", METHOD_NAMES[p.method] || p.provider || p.method),
      el("td", money(apiMinor(p.amount), p.currency), "num"), el("td", p.saleId || ""),
      el("td", p.transactionRef || p.ersReference || p.providerRef || p.invoiceReference || ""));
    tb.appendChild(tr);
  }
  hist.shown += ps.length;
}

async function openDetail(id) {
  $("history-error").textContent = "";
  try {
    const p = await api("GET", "/v1/payments/" + encodeURIComponent(id));
    closeForms();
    $("r-result").hidden = true;
    $("d-message").textContent = "";
    showDetail(p);
    $("detail").focus();
  } catch (e) {
    $("history-error").textContent = problemText(e);
  }
}

function showDetail(p) {
  detail = p;
  $("detail").hidden = false;
  $("d-id").textContent = p.id;
  $("d-unknown").hidden = p.state !== "unknown";
  const dl = $("d-fields");
  const items = [];
  const add = (k, v) => { if (v !== undefined && v !== null && v !== "") { items.push(el("dt", t("f_" + k)), el("dd", v)); } };
  add("state", stateText(p.state));
  add("provider", METHOD_NAMES[p.provider] || p.provider);
  add("method", METHOD_NAMES[p.method] || p.method);
  add("methodName", p.methodName);
  add("amount", money(apiMinor(p.amount), p.currency));
  add("receiptTotal", money(apiMinor(p.receiptTotal), p.currency));
  add("balancing", p.balancing ? t("bal_" + p.balancing) : "");
  if (apiMinor(p.debited) !== 0n) add("debited", money(apiMinor(p.debited), p.currency));
  if (apiMinor(p.refunded) !== 0n) add("refunded", money(apiMinor(p.refunded), p.currency));
  if (apiMinor(p.annulled) !== 0n) add("annulled", money(apiMinor(p.annulled), p.currency));
  add("saleId", p.saleId); add("cashierId", p.cashierId); add("title", p.title);
  add("providerRef", p.providerRef || p.invoiceReference);
  add("transactionRef", p.transactionRef || p.ersReference);
  add("validUntil", p.validUntil ? fmtTime(p.validUntil) : "");
  add("createdAt", fmtTime(p.createdAt)); add("updatedAt", fmtTime(p.updatedAt));
  add("error", p.error);
  dl.replaceChildren(...items);

  const rows = Array.isArray(p.rows) ? p.rows : null;
  $("d-rows").hidden = !rows;
  $("d-rows-none").hidden = !!rows;
  $("d-rows").tBodies[0].replaceChildren(...(rows || []).map((r) => {
    const tr = document.createElement("tr");
    // A row without a unit price (the API answers 0.00) shows none.
    tr.append(el("td", r.description), el("td", r.quantity), el("td", apiMinor(r.unitPrice) !== 0n ? money(apiMinor(r.unitPrice)) : "", "num"),
      el("td", r.taxRate || ""), el("td", money(apiMinor(r.totalAmount)), "num"));
    return tr;
  }));

  // The audit trail, when the API gives one; else what the payment itself says.
  // An entry that did not succeed (a refused annulment) says so.
  const audit = Array.isArray(p.audit) ? p.audit.map((a) => el("li", fmtTime(a.at) + " " +
    [a.actor, a.action, a.detail, a.outcome && a.outcome !== "success" ? a.outcome : ""].filter(Boolean).join(" · ")))
    : [el("li", fmtTime(p.createdAt) + " " + t("auditCreated", { c: p.cashierId || "-" })),
      el("li", fmtTime(p.updatedAt) + " " + t("auditUpdated", { s: stateText(p.state) })),
      el("li", t("auditNone"), "hint")];
  $("d-audit").replaceChildren(...audit);
  showAdjustments(p);
  $("d-receipt").textContent = typeof p.receiptText === "string" ? p.receiptText : t("receiptNone");
  $("d-receipt").className = typeof p.receiptText === "string" ? "receipt" : "hint";
  // Each action only where the payment's provider offers it (actions); a
  // posd that does not list them offers refunds only. What may still be
  // given back is what was paid and debited less what went back already.
  const open = p.state === "paid" && leftOf(p) > 0n;
  const can = (a) => Array.isArray(p.actions) ? p.actions.includes(a) : a === "refund";
  $("d-refund").hidden = !(open && can("refund"));
  $("d-annul").hidden = !(open && can("annul"));
  $("d-debit").hidden = !(open && can("debit"));
  // A form whose action the refreshed payment no longer offers goes.
  for (const [form, btn] of [["refund-form", "d-refund"], ["annul-form", "d-annul"], ["debit-form", "d-debit"]]) {
    if ($(btn).hidden) $(form).hidden = true;
  }
  $("d-reprint").hidden = p.state !== "paid";
}

// adjustmentsOf is the payment's refunds, annulments and debits, oldest
// first, as the detail gives them (none from a posd that does not).
function adjustmentsOf(p) {
  return Array.isArray(p.adjustments) ? p.adjustments : [];
}

// showAdjustments lists the payment's refunds, annulments and additional
// debits. One whose outcome is unknown may have been made at the provider:
// it is marked in its row and named in a warning above the table, because
// making it again could take or give the money twice; posd asks the
// provider where it can tell (done or failed then), else the day close's
// reconciliation settles it. A failed one shows why.
function showAdjustments(p) {
  const adj = adjustmentsOf(p);
  $("d-adj").hidden = !adj.length;
  $("d-adj-none").hidden = !!adj.length;
  const warnings = [];
  $("d-adj").tBodies[0].replaceChildren(...adj.map((a) => {
    const kind = a.kind || "refund";
    const amount = money(apiMinor(a.amount), a.currency || p.currency);
    const what = el("td", t("k_" + kind));
    if (Array.isArray(a.rows) && a.rows.length) what.append(": " + a.rows.map(lineText).join(", "));
    const st = el("td");
    st.append(el("span", T.en["as_" + a.state] ? t("as_" + a.state) : a.state || "", "badge " + adjBadge(a.state)));
    if (a.error && (a.state === "failed" || a.state === "unknown")) st.append(" ", el("span", a.error, "adj-error"));
    const tr = document.createElement("tr");
    if (a.state === "unknown") {
      tr.className = "unknown-row";
      warnings.push(el("p", t("adjUnknown", { what: t("u_" + kind), a: amount, t: fmtTime(a.createdAt) }), "warn adj-unknown"));
    }
    tr.append(el("td", fmtTime(a.createdAt)), what, el("td", amount, "num"), st,
      el("td", a.providerRef || a.ersReference || ""), el("td", a.cashierId || ""), el("td", a.reason || ""));
    return tr;
  }));
  $("d-adj-unknown").replaceChildren(...warnings);
}

// adjBadge is the badge's class for an adjustment's state.
function adjBadge(state) {
  return { done: "ok", failed: "bad", unknown: "unknown", sending: "polling" }[state] || "";
}

// leftOf is what a paid payment may still give back (refund or annul):
// amount + debited - refunded - annulled, in minor units.
function leftOf(p) {
  return apiMinor(p.amount) + apiMinor(p.debited) - apiMinor(p.refunded) - apiMinor(p.annulled);
}

// readAmount reads a money input as the cashier typed it ("1 234,50").
function readAmount(id) {
  return toMinor($(id).value.replace(/[\s\u00a0]/g, "").replace("−", "-"));
}

// ---- refund, annulment, additional debit ----------------------------------

// pendingAction is the action (prefix: REFUND_KEY, ANNUL_KEY, DEBIT_KEY)
// this tab is about to send, or sent without an answer: the same body keeps
// its Idempotency-Key, kept in sessionStorage, so a double press, a retry
// or a reload during the request never makes it twice. Another body is
// another action and gets a new key.
function pendingAction(prefix, id, fields) {
  const raw = sessionStorage.getItem(prefix + id);
  let pa = null;
  try { pa = raw ? JSON.parse(raw) : null; } catch (e) { pa = null; }
  const same = pa && Object.keys(fields).every((k) => pa[k] === fields[k]) &&
    Object.keys(pa).every((k) => k === "key" || k in fields);
  if (!same) {
    pa = Object.assign({ key: newKey() }, fields);
    sessionStorage.setItem(prefix + id, JSON.stringify(pa));
  }
  return pa;
}

// closeForms hides the detail's action forms: one is open at a time.
function closeForms() {
  for (const f of ["refund-form", "annul-form", "debit-form"]) $(f).hidden = true;
}

// openForm opens one action's form at its first step.
function openForm(form, prefix) {
  closeForms();
  $(form).hidden = false;
  $(prefix + "-confirm").hidden = true;
  $(prefix + "-next").hidden = false;
  $(prefix + "-error").textContent = "";
  $("r-result").hidden = true;
}

// confirmStep shows the confirmation of a form whose input is good.
function confirmStep(prefix, question) {
  $(prefix + "-confirm-text").textContent = question;
  $(prefix + "-confirm").hidden = false;
  $(prefix + "-next").hidden = true;
  $(prefix + "-yes").disabled = false;
  $(prefix + "-yes").focus();
}

// sendAction sends a confirmed action once: the button is disabled before
// any await, the key is the pending one, and the detail is read again
// after the answer (whatever it was). o.unknown names the text the cashier
// reads when no answer came: it may have been made, so never just again.
async function sendAction(o) {
  const btn = $(o.prefix + "-yes");
  if (btn.disabled) return;
  btn.disabled = true; // before any await: a second click sends nothing
  const p = detail;
  $(o.prefix + "-error").textContent = "";
  try {
    const r = await api("POST", "/v1/payments/" + encodeURIComponent(p.id) + o.path, o.body, { "Idempotency-Key": o.pending.key });
    sessionStorage.removeItem(o.storage + p.id);
    $(o.form).hidden = true;
    const ref = r.providerRef || r.ersReference || "";
    $("r-result-text").textContent = (o.doneText && o.doneText(r, ref)) || t(o.done, { a: money(apiMinor(r.amount), r.currency), r: ref });
    $("r-result").hidden = false;
    await refreshDetail(p.id);
    $("r-result").hidden = false;
  } catch (e) {
    $(o.prefix + "-error").textContent = e.slug === "outcome-unknown" ? t(o.unknown) : problemText(e);
    // Keep the key: trying again with it can never make a second one.
    btn.disabled = false;
    await refreshDetail(p.id);
    // The answer stays in view even when the refreshed payment no longer
    // offers the action (an unknown outcome counts against what is left).
    $(o.form).hidden = false;
  }
}

// refreshDetail shows the payment as posd has it now, if it is still the
// one shown; a failure to read it leaves the detail as it was.
async function refreshDetail(id) {
  try {
    const p = await api("GET", "/v1/payments/" + encodeURIComponent(id));
    if (detail && detail.id === id) showDetail(p);
  } catch (e) { /* the action's own answer is what the cashier needs */ }
}

// A refund is the whole of what is left, an amount, or the lines the
// customer brings back (rows). pendingRefund keys what is sent: the body's
// members, so the same refund asked again keeps its Idempotency-Key.
function pendingRefund(id, fields) {
  return pendingAction(REFUND_KEY, id, fields);
}

let refundLines = [];      // the detail's rows offered for a refund by lines (saleLine)
let refundConfirmed = null; // { id, fields }: the refund the cashier confirmed, as it is sent

// refundMode is the refund form's choice: "whole", "amount" or "lines".
function refundMode() {
  const r = document.querySelector('input[name="r-mode"]:checked');
  return r ? r.value : "amount";
}

function decimalSign() {
  return (new Intl.NumberFormat(locale()).formatToParts(1.5).find((x) => x.type === "decimal") || { value: "." }).value;
}

// qtyText writes a quantity in thousandths without trailing zeros: the
// API's text with sep ".", the page's with the language's decimal sign.
function qtyText(v, sep) {
  const f = (v % 1000n).toString().padStart(3, "0").replace(/0+$/, "");
  return (v / 1000n).toString() + (f ? (sep || decimalSign()) + f : "");
}

// saleLine reads one of the sale's rows (or a done debit's, debit true)
// for a refund: its quantity in thousandths, the decimals it was sold with
// (weighed goods; 0: whole units), its unit price and total in öre. back
// and backTotal are what earlier refunds named of it (thousandths, öre).
function saleLine(row, debit) {
  const m = /\.(\d+)$/.exec(String(row.quantity || ""));
  const decimals = m ? Math.min(m[1].length, 3) : 0;
  return { row, debit: !!debit, q: toMilli(row.quantity), decimals, step: 10n ** BigInt(3 - decimals),
    unit: apiMinor(row.unitPrice), total: apiMinor(row.totalAmount), back: 0n, backTotal: 0n, max: 0n };
}

// lineKey names a line as a refund names it: description, SKU, VAT rate and
// (with unit) unit price in öre.
function lineKey(row, unit) {
  return [row.description || "", row.sku || "", row.taxRate || "", unit ? String(apiMinor(row.unitPrice)) : "-"].join("\u0000");
}

// offeredLines is what a refund by lines may give back: the sale's rows and
// the rows of its done additional debits, each less what earlier refunds
// named of it. Every refund that may have been made counts (done, sending,
// unknown; not failed). A refund's line is its sale line by description,
// SKU, VAT rate and unit price; a line sent without a unit price (a part of
// a unit-priced row that is not whole öre) is matched without it when no
// line has the same key. A quantity beyond one line goes to the next line
// with the same key (the same goods sold twice).
function offeredLines(p) {
  const lines = (Array.isArray(p.rows) ? p.rows : []).map((r) => saleLine(r, false));
  const adj = adjustmentsOf(p);
  for (const a of adj) {
    if (a.kind === "debit" && a.state === "done" && Array.isArray(a.rows)) lines.push(...a.rows.map((r) => saleLine(r, true)));
  }
  const ok = lines.filter((l) => l.q !== null && l.q > 0n);
  for (const a of adj) {
    if ((a.kind || "refund") !== "refund" || !["done", "sending", "unknown"].includes(a.state) || !Array.isArray(a.rows)) continue;
    for (const r of a.rows) {
      let rq = toMilli(r.quantity);
      if (rq === null || rq <= 0n) continue;
      const rt = apiMinor(r.totalAmount);
      const all = rq;
      let same = ok.filter((l) => lineKey(l.row, true) === lineKey(r, true));
      if (!same.length && apiMinor(r.unitPrice) === 0n) same = ok.filter((l) => lineKey(l.row, false) === lineKey(r, false));
      let given = 0n;
      for (const l of same) {
        const take = rq < l.q - l.back ? rq : l.q - l.back;
        if (take <= 0n) continue;
        rq -= take;
        // The line's share of the refund's total; the last share takes the
        // rest, so the öre add up.
        const part = rq === 0n ? rt - given : rt * take / all;
        given += part;
        l.back += take;
        l.backTotal += part;
        if (rq === 0n) break;
      }
    }
  }
  return ok;
}

// halfUp is n / d (d > 0) rounded half up (away from zero) to an integer.
function halfUp(n, d) {
  const neg = n < 0n;
  const q = (2n * (neg ? -n : n) + d) / (2n * d);
  return neg ? -q : q;
}

// lineBack is the line given back when r (thousandths) of line l are
// returned: its totalAmount in öre, on integers only, and whether the unit
// price goes with it.
//   - All of the row: the row's own totalAmount, what was paid for it.
//   - With a unit price: unitPrice x r. The unit price is sent only when
//     that is a whole number of öre (the API checks quantity x unitPrice to
//     the öre); else the total is rounded half up to öre, without it.
//   - Without a unit price (0 or absent): totalAmount x r / quantity,
//     rounded half up to öre.
//   - All that is left of a row that was partly refunded before: the row's
//     totalAmount less what went back, so the row's refunds add up to what
//     was paid for it; the unit price only when it gives that total.
function lineBack(l, r) {
  if (r === l.q && l.back === 0n) return { total: l.total, unit: l.unit !== 0n };
  if (r > 0n && r === l.q - l.back) {
    const total = l.total - l.backTotal;
    return { total, unit: l.unit !== 0n && l.unit * r === total * 1000n };
  }
  if (l.unit !== 0n) {
    const p = l.unit * r;
    return { total: halfUp(p, 1000n), unit: p % 1000n === 0n };
  }
  return { total: halfUp(l.total * r, l.q), unit: false };
}

// maxBack is the most of line l that may go back when left (öre) is all
// that may still be refunded: what earlier refunds left of the row, or
// fewer units (or weighed steps) whose total fits in left. A discount row
// (below 0) adds nothing to the sum, so all of it is offered.
function maxBack(l, left) {
  const rest = l.q - l.back;
  if (rest <= 0n) return 0n;
  if (l.total <= 0n || lineBack(l, rest).total <= left) return rest;
  let lo = 0n, hi = rest / l.step; // lineBack grows with the quantity
  while (lo < hi) {
    const mid = (lo + hi + 1n) / 2n;
    if (lineBack(l, mid * l.step).total <= left) lo = mid; else hi = mid - 1n;
  }
  return lo * l.step;
}

// fillRefundLines lists the sale's and its debits' rows with a quantity to
// return each; keep keeps what the cashier typed (a change of language).
function fillRefundLines(keep) {
  const p = detail;
  const old = keep ? [...$("r-lines").tBodies[0].querySelectorAll("input.back")].map((i) => i.value) : [];
  const left = leftOf(p);
  refundLines = offeredLines(p);
  $("r-lines").tBodies[0].replaceChildren(...refundLines.map((l, i) => {
    l.max = maxBack(l, left);
    const inp = el("input", undefined, "back");
    inp.inputMode = l.decimals ? "decimal" : "numeric";
    inp.size = 6;
    inp.value = old[i] !== undefined ? old[i] : "0";
    inp.disabled = l.max === 0n; // not even one unit fits in what is left
    inp.setAttribute("aria-label", t("returnQtyOf", { d: l.row.description }) + ", " + t("atMost", { q: qtyText(l.max) }));
    inp.addEventListener("input", recomputeRefundLines);
    const td = el("td");
    td.append(inp);
    if (l.max !== l.q) td.append(" ", el("span", t("atMost", { q: qtyText(l.max) }), "hint"));
    if (l.back > 0n) td.append(" ", el("span", t("backBefore", { q: qtyText(l.back) }), "hint back-before"));
    const desc = el("td", l.row.description);
    if (l.debit) desc.append(" ", el("span", "(" + t("fromDebit") + ")", "hint"));
    const tr = document.createElement("tr");
    tr.append(desc, el("td", qtyText(l.q), "num"), el("td", l.unit !== 0n ? money(l.unit) : "", "num"), td,
      el("td", "", "num back-total"));
    return tr;
  }));
  recomputeRefundLines();
}

// readBack reads the quantity of line l returned (thousandths) from its
// input: 0 when empty, null when not a step of the row or above its most.
function readBack(l, input) {
  const s = input.value.trim();
  const r = s === "" ? 0n : toMilli(s);
  if (r === null || r % l.step !== 0n || r > l.max) return null;
  return r;
}

function recomputeRefundLines() {
  const trs = [...$("r-lines").tBodies[0].rows];
  let sum = 0n, ok = true;
  refundLines.forEach((l, i) => {
    const r = readBack(l, trs[i].querySelector("input.back"));
    const b = r === null ? null : lineBack(l, r);
    trs[i].querySelector(".back-total").textContent = b === null ? "?" : money(b.total);
    if (b === null) ok = false; else sum += b.total;
  });
  $("r-lines-sum").textContent = ok ? money(sum, detail.currency) : "?";
}

// readRefundLines is the rows returned, their sum and their text for the
// confirmation; it throws naming the line that is wrong.
function readRefundLines() {
  const trs = [...$("r-lines").tBodies[0].rows];
  const rows = [], parts = [];
  let sum = 0n;
  refundLines.forEach((l, i) => {
    const r = readBack(l, trs[i].querySelector("input.back"));
    const b = r === null ? null : lineBack(l, r);
    if (b === null || (r > 0n && b.total === 0n)) {
      throw new Error(t(l.decimals ? "lineQtyDec" : "lineQtyWhole", { d: l.row.description, q: qtyText(l.max), n: l.decimals }));
    }
    if (r === 0n) return;
    const row = { description: l.row.description, quantity: qtyText(r, "."), totalAmount: fromMinor(b.total) };
    if (b.unit) row.unitPrice = fromMinor(l.unit);
    if (l.row.taxRate) row.taxRate = l.row.taxRate;
    if (l.row.sku) row.sku = l.row.sku;
    if (l.row.ean) row.ean = l.row.ean;
    rows.push(row);
    parts.push(lineText(row));
    sum += b.total;
  });
  return { rows, sum, text: parts.join(", ") };
}

// lineText names a returned line: "2 × Kaffefilter (50,00)".
function lineText(row) {
  const q = toMilli(row.quantity);
  return (q === null ? row.quantity : qtyText(q)) + " × " + row.description + " (" + money(apiMinor(row.totalAmount)) + ")";
}

// refundInput is the refund the form asks for: fields (the body's members)
// and, for the confirmation, its sum and lines; it throws naming what is
// wrong. Nothing beyond what is left may be asked.
function refundInput() {
  const p = detail;
  const left = leftOf(p);
  const mode = refundMode();
  const fields = { reason: $("r-reason").value.trim(), cashierId: $("cashier").value.trim() };
  if (mode === "whole") return { mode, sum: left, fields: Object.assign(fields, { amount: fromMinor(left) }) };
  if (mode === "amount") {
    const a = readAmount("r-amount");
    if (a === null || a <= 0n) throw new Error(t("amountBad"));
    if (a > left) throw new Error(t("refundTooMuch", { a: money(left, p.currency) }));
    return { mode, sum: a, fields: Object.assign(fields, { amount: fromMinor(a) }) };
  }
  const ls = readRefundLines();
  if (!ls.rows.length || ls.sum <= 0n) throw new Error(t("noLines"));
  if (ls.sum > left) throw new Error(t("refundTooMuch", { a: money(left, p.currency) }));
  // The rows as JSON text: the pending refund's members compare as strings.
  return { mode, sum: ls.sum, text: ls.text, fields: Object.assign(fields, { amount: fromMinor(ls.sum), rows: JSON.stringify(ls.rows) }) };
}

function showRefundMode() {
  const m = refundMode();
  $("r-amount-box").hidden = m !== "amount";
  $("r-lines-box").hidden = m !== "lines";
}

// refundTexts writes what is left (and the lines) in the page's language.
function refundTexts(keep) {
  const p = detail;
  const left = leftOf(p);
  $("r-whole-amount").textContent = "(" + money(left, p.currency) + ")";
  $("r-left").textContent = t("leftToRefund", { a: money(left, p.currency) });
  fillRefundLines(keep);
}

function openRefund() {
  const p = detail;
  if (!p) return;
  openForm("refund-form", "r");
  refundConfirmed = null;
  $("r-amount").value = money(leftOf(p));
  $("r-mode-amount").checked = true;
  refundTexts(false);
  // Lines only when the detail has the sale's (or its debits') rows.
  $("r-mode-lines-box").hidden = !refundLines.length;
  showRefundMode();
  $("r-amount").focus();
}

function refundNext(ev) {
  ev.preventDefault();
  const p = detail;
  $("r-error").textContent = "";
  let r;
  try { r = refundInput(); } catch (e) { $("r-error").textContent = e.message; return; }
  pendingRefund(p.id, r.fields);
  refundConfirmed = { id: p.id, fields: r.fields };
  const a = money(r.sum, p.currency);
  confirmStep("r", r.mode === "whole" ? t("confirmRefundWholeQ", { a, id: p.id })
    : r.mode === "lines" ? t("confirmRefundLinesQ", { lines: r.text, a, id: p.id })
      : t("confirmRefundQ", { a, id: p.id }));
}

// refundYes sends the refund as confirmed, not as the form would read now:
// after an unknown outcome the refreshed payment counts it against what is
// left, and trying again must send the same body with the same key.
async function refundYes() {
  const p = detail;
  const c = refundConfirmed;
  if (!p || !c || c.id !== p.id) return;
  const pr = pendingRefund(p.id, c.fields);
  const body = { amount: pr.amount, cashierId: pr.cashierId };
  if (pr.reason) body.reason = pr.reason;
  if (pr.rows) body.rows = JSON.parse(pr.rows);
  await sendAction({ prefix: "r", form: "refund-form", storage: REFUND_KEY, path: "/refunds", body, pending: pr,
    done: "refunded", unknown: "refundUnknown",
    doneText: (r, ref) => Array.isArray(r.rows) && r.rows.length
      ? t("refundedLines", { a: money(apiMinor(r.amount), r.currency), lines: r.rows.map(lineText).join(", "), r: ref }) : null });
}

// An annulment releases what a payment authorized and has not captured; the
// field offers all that is left, and the amount confirmed is the one sent.
function pendingAnnul(id, amount, reason) {
  return pendingAction(ANNUL_KEY, id, { amount, reason, cashierId: $("cashier").value.trim() });
}

function openAnnul() {
  const p = detail;
  if (!p) return;
  openForm("annul-form", "a");
  $("a-amount").value = money(leftOf(p));
  $("a-amount").focus();
}

function annulNext(ev) {
  ev.preventDefault();
  const p = detail;
  $("a-error").textContent = "";
  const a = readAmount("a-amount");
  if (a === null || a <= 0n) { $("a-error").textContent = t("amountBad"); return; }
  pendingAnnul(p.id, fromMinor(a), $("a-reason").value.trim());
  confirmStep("a", t("confirmAnnulQ", { a: money(a, p.currency), id: p.id }));
}

async function annulYes() {
  const p = detail;
  const a = readAmount("a-amount");
  if (!p || a === null) return;
  const pa = pendingAnnul(p.id, fromMinor(a), $("a-reason").value.trim());
  const body = { amount: pa.amount, cashierId: pa.cashierId };
  if (pa.reason) body.reason = pa.reason;
  await sendAction({ prefix: "a", form: "annul-form", storage: ANNUL_KEY, path: "/annul", body, pending: pa,
    done: "annulled", unknown: "annulUnknown" });
}

// An additional debit is one row (quantity 1) charged on the same payment.
function pendingDebit(id, d) {
  return pendingAction(DEBIT_KEY, id, d);
}

// debitInput reads the debit form; it throws naming what is wrong.
function debitInput() {
  const description = $("db-desc").value.trim();
  if (!description) throw new Error(t("debitDescEmpty"));
  const a = readAmount("db-amount");
  if (a === null || a <= 0n) throw new Error(t("amountBad"));
  return { description, amount: fromMinor(a), taxRate: $("db-vat").value, reason: $("db-reason").value.trim(),
    cashierId: $("cashier").value.trim() };
}

function openDebit() {
  if (!detail) return;
  openForm("debit-form", "db");
  $("db-desc").focus();
}

function debitNext(ev) {
  ev.preventDefault();
  const p = detail;
  $("db-error").textContent = "";
  let d;
  try { d = debitInput(); } catch (e) { $("db-error").textContent = e.message; return; }
  pendingDebit(p.id, d);
  confirmStep("db", t("confirmDebitQ", { a: money(apiMinor(d.amount), p.currency), d: d.description, v: d.taxRate, id: p.id }));
}

async function debitYes() {
  const p = detail;
  let d;
  try { d = debitInput(); } catch (e) { $("db-error").textContent = e.message; return; }
  if (!p) return;
  const pd = pendingDebit(p.id, d);
  const body = {
    rows: [{ description: pd.description, quantity: "1", unitPrice: pd.amount, totalAmount: pd.amount, taxRate: pd.taxRate }],
    cashierId: pd.cashierId,
  };
  if (pd.reason) body.reason = pd.reason;
  await sendAction({ prefix: "db", form: "debit-form", storage: DEBIT_KEY, path: "/debits", body, pending: pd,
    done: "debited", unknown: "debitUnknown" });
}

async function testPrint() {
  const note = $("test-print-note");
  try {
    await api("POST", "/v1/printer/test-print");
    note.textContent = t("testPrintQueued");
  } catch (e) {
    note.textContent = problemText(e);
  }
}

async function detailReprint() {
  if (!detail) return;
  try {
    await api("POST", "/v1/payments/" + encodeURIComponent(detail.id) + "/receipt/print");
    $("d-message").textContent = t("copyQueued");
  } catch (e) {
    $("d-message").textContent = problemText(e);
  }
}

// ---- day close ------------------------------------------------------------

async function closePeriod() {
  const btn = $("close-btn");
  if (btn.disabled) return;
  btn.disabled = true;
  $("close-error").textContent = "";
  $("close-status").textContent = t("closing");
  try {
    const prov = $("close-provider").value;
    const r = await api("POST", "/v1/periods/close" + (prov ? "?provider=" + encodeURIComponent(prov) : ""));
    showReport(r);
    $("close-status").textContent = r.match ? t("match") : t("mismatch");
  } catch (e) {
    $("close-status").textContent = "";
    $("close-error").textContent = problemText(e);
  } finally {
    btn.disabled = false;
  }
}

function showReport(r) {
  $("report").hidden = false;
  $("rep-period").textContent = (r.periodRef || r.transactionPeriodId || "") + " · " + fmtTime(r.markedAt);
  $("rep-match").textContent = r.match ? t("match") : t("mismatch");
  $("rep-match").className = "badge " + (r.match ? "ok" : "bad");
  $("rep-rc").textContent = String(r.remoteCount);
  $("rep-lc").textContent = String(r.localCount);
  $("rep-rt").textContent = money(apiMinor(r.remoteTotal));
  $("rep-lt").textContent = money(apiMinor(r.localTotal));
  const diff = [];
  for (const [k, list] of [["onlyRemote", r.onlyRemote], ["onlyLocal", r.onlyLocal]]) {
    if (!list || !list.length) continue;
    diff.push(el("h4", t(k)));
    const ul = el("ul", undefined, "diff");
    for (const ref of list) ul.appendChild(el("li", ref, "discrepancy"));
    diff.push(ul);
  }
  $("rep-diff").replaceChildren(...diff);
}

// ---- till setup -----------------------------------------------------------

function tillMsg(msg, err) {
  $("till-message").textContent = err ? "" : msg;
  $("till-error").textContent = err ? msg : "";
}

async function registerTill(ev) {
  ev.preventDefault();
  const body = {
    resellerId: $("reg-reseller").value.trim(), resellerUserId: $("reg-user").value.trim(),
    resellerPassword: $("reg-password").value, externalTerminalId: $("reg-ext").value.trim(), name: $("reg-name").value.trim(),
  };
  // The password goes out in this one request and is not kept anywhere.
  $("reg-password").value = "";
  $("reg-btn").disabled = true;
  try {
    const tm = await api("POST", "/v1/terminal/register", body);
    tillMsg(t("registered", { id: tm.terminalId }));
    await refreshStatus();
  } catch (e) {
    tillMsg(problemText(e), true);
  } finally {
    $("reg-btn").disabled = false;
  }
}

async function unregisterTill() {
  $("unreg-yes").disabled = true;
  try {
    await api("DELETE", "/v1/terminal");
    $("unreg-confirm").hidden = true;
    tillMsg(t("unregistered"));
    await refreshStatus();
  } catch (e) {
    tillMsg(problemText(e), true);
  } finally {
    $("unreg-yes").disabled = false;
  }
}

async function assignTyped(ev) {
  ev.preventDefault();
  try {
    const tm = await api("PUT", "/v1/terminal/seqr-id", { seqrId: $("seqr-id").value.trim() });
    tillMsg(t("assigned", { s: tm.seqrId }));
    await refreshStatus();
  } catch (e) {
    tillMsg(problemText(e), true);
  }
}

async function scanSeqrID() {
  if (scanning) return;
  scanning = true;
  $("scan-btn").disabled = true;
  $("scan-status").textContent = t("scanWait");
  tillMsg("");
  try {
    const tm = await api("POST", "/v1/terminal/seqr-id/scan", { timeoutSeconds: 60 });
    $("scan-status").textContent = t("scanRead", { s: tm.seqrId });
    await refreshStatus();
  } catch (e) {
    $("scan-status").textContent = e.slug === "scan-timeout" ? t("scanTimeout") : t("scanBad", { e: problemText(e) });
  } finally {
    scanning = false;
    $("scan-btn").disabled = false;
  }
}

// ---- wiring -------------------------------------------------------------

// Function keys at the till: F2 pay, F7 try again, F8 cancel, F9 new sale.
function onKey(ev) {
  if ($("app").hidden) return;
  const visible = (id) => !$(id).hidden && !$("view-sale").hidden && !$(id).closest("[hidden]");
  const keys = {
    F2: () => { if (visible("sale")) startPayment(); },
    F7: () => { if (visible("retry")) $("retry").click(); },
    F8: () => { if (visible("cancel")) $("cancel").click(); },
    F9: () => { if (visible("done")) newSale(); },
  };
  if (keys[ev.key]) {
    ev.preventDefault();
    if ($("view-sale").hidden) show("sale");
    keys[ev.key]();
  }
}

function initialLang() {
  const saved = sessionStorage.getItem(LANG_KEY);
  if (saved && T[saved]) return saved;
  // posd chose html lang from Accept-Language; Swedish is the default.
  return document.documentElement.lang === "en" ? "en" : "sv";
}

document.addEventListener("DOMContentLoaded", () => {
  lang = initialLang();
  // The currency select lives in the sale's line with the amount.
  const cur = el("select"); cur.id = "currency";
  for (const c of ["SEK", "NOK", "DKK", "EUR"]) { const o = el("option", c); o.value = c; cur.appendChild(o); }
  const lab = el("label"); const span = el("span", t("currency")); span.dataset.t = "currency";
  lab.append(span, " ", cur);
  $("amount").closest(".line").appendChild(lab);
  cur.addEventListener("change", recompute);

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("lang").addEventListener("change", () => { lang = $("lang").value; sessionStorage.setItem(LANG_KEY, lang); applyLang(); });
  for (const b of document.querySelectorAll("#tabs .tab")) b.addEventListener("click", () => show(b.dataset.view));
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showLogin(""); });
  $("add-row").addEventListener("click", () => addRow("", "1", "", "25").querySelector("input").focus());
  $("amount").addEventListener("input", recompute);
  $("pay-form").addEventListener("submit", startPayment);
  $("retry").addEventListener("click", () => act("/v1/payments/" + encodeURIComponent(current.id) + "/retry"));
  $("cancel").addEventListener("click", () => act("/v1/payments/" + encodeURIComponent(current.id) + "/cancel"));
  $("reprint").addEventListener("click", () => act("/v1/payments/" + encodeURIComponent(current.id) + "/receipt/print"));
  $("done").addEventListener("click", newSale);
  $("search-form").addEventListener("submit", search);
  $("more").addEventListener("click", loadMore);
  $("d-refund").addEventListener("click", openRefund);
  $("d-reprint").addEventListener("click", detailReprint);
  $("test-print").addEventListener("click", testPrint);
  $("refund-form").addEventListener("submit", refundNext);
  $("r-yes").addEventListener("click", refundYes);
  $("r-no").addEventListener("click", () => { $("r-confirm").hidden = true; $("r-next").hidden = false; });
  $("r-mode").addEventListener("change", showRefundMode);
  // Changing a form after its confirmation asks for the confirmation again:
  // the cashier confirms what is sent.
  for (const [form, prefix] of [["refund-form", "r"], ["annul-form", "a"], ["debit-form", "db"]]) {
    $(form).addEventListener("input", () => { $(prefix + "-confirm").hidden = true; $(prefix + "-next").hidden = false; });
  }
  $("d-annul").addEventListener("click", openAnnul);
  $("annul-form").addEventListener("submit", annulNext);
  $("a-yes").addEventListener("click", annulYes);
  $("a-no").addEventListener("click", () => { $("a-confirm").hidden = true; $("a-next").hidden = false; });
  $("d-debit").addEventListener("click", openDebit);
  $("debit-form").addEventListener("submit", debitNext);
  $("db-yes").addEventListener("click", debitYes);
  $("db-no").addEventListener("click", () => { $("db-confirm").hidden = true; $("db-next").hidden = false; });
  $("close-btn").addEventListener("click", closePeriod);
  $("rep-print").addEventListener("click", () => window.print());
  $("reg-form").addEventListener("submit", registerTill);
  $("unreg-btn").addEventListener("click", () => { $("unreg-confirm").hidden = false; $("unreg-yes").focus(); });
  $("unreg-no").addEventListener("click", () => { $("unreg-confirm").hidden = true; });
  $("unreg-yes").addEventListener("click", unregisterTill);
  $("seqr-form").addEventListener("submit", assignTyped);
  $("scan-btn").addEventListener("click", scanSeqrID);
  document.addEventListener("keydown", onKey);
  addRow("Kaffe", "1", "20.00", "12");
  applyLang();
  setInterval(tick, 250);
  // Printer, scanner and providers refreshed live.
  setInterval(() => { if (token() && !$("app").hidden) refreshStatus().catch(() => {}); }, 3000);
  start();
});
