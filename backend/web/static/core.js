// What every part of the page shares: the signed-in state, the API and the user's own wallet
// (EIP-1193, window.ethereum) for every signature and every transaction that moves money.

import { onPlatformChain, watchNetwork } from "./network.js";

export const state = {
  wallet: null, token: null, refreshToken: null, roles: [], decimals: 6, symbol: "tokens", chainId: null, decision: null,
  offer: null, kyc: null,
};

export const $ = (id) => document.getElementById(id);

export function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

// What app.js does when the session cannot be renewed (show the signed-out state and clear the page)
// and when the server asks for a recent sign-in (sign in again with the wallet, same account).
// `generation` moves when the page stops being the signed-in user's (signed out, the session ended,
// another wallet signed in): an answer to a request sent before is not theirs to be shown (`api`).
export const session = { ended: () => {}, signInAgain: async () => false, generation: 0 };

// A 401 means the access token (15 minutes) ran out: the refresh token renews it once, shared by
// the requests that hit the 401 together (a refresh token is good for one exchange only).
let renewing = null;

function renewSession() {
  renewing ??= fetch("/api/v1/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: state.refreshToken }),
  }).then(async (response) => {
    if (!response.ok) return false;
    const tokens = await response.json();
    [state.token, state.refreshToken] = [tokens.access_token, tokens.refresh_token];
    return true;
  }).catch(() => false).finally(() => { renewing = null; });
  return renewing;
}

// One wallet prompt for the requests that asked for it together (two reveals, say).
let steppingUp = null;

function signInAgainOnce() {
  steppingUp ??= session.signInAgain().finally(() => { steppingUp = null; });
  return steppingUp;
}

// Asked for by the user: views that withhold sealed notes from an older sign-in (note_withheld).
export const signInAgain = () => signInAgainOnce();

// A 422 lists each refused field (`fields`): named as the page names them, "price: Input should be
// greater than 0" reads better than the API's "price_bps: ...".
const FIELD_NAMES = { note: "your note", amount: "amount", notes: "notes", price_bps: "price", per_loan: "per loan" };

function readable(status, data) {
  const detail = data.detail;
  if (Array.isArray(data.fields)) {
    return data.fields.map((e) => {
      const field = (e.loc ?? []).filter((part) => part !== "body" && part !== "query").join(".");
      return field ? `${FIELD_NAMES[field] ?? field.replaceAll("_", " ")}: ${e.msg}` : e.msg;
    }).join("; ");
  }
  if (status === 401 && data.error !== "fresh_sign_in_required") return "Sign in first (Connect wallet and sign in).";
  if (data.error === "role_required") return roleWords(detail);
  if (detail == null) return answered(status, "");
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

// An answer that is not the API's own (a proxy's HTML error page, an empty body) says what came back
// in words, never "{}".
const answered = (status, statusText) => `The platform answered ${status}${statusText ? ` ${statusText}` : ""}: try again in a moment.`;

const UNREACHABLE = "The platform cannot be reached: check your connection and try again.";

const ROLE_WORDS = { borrower: "a borrower (verify your identity with an ID document, step 1)",
  investor: "an investor (verify your identity, step 1)", underwriter: "an underwriter", auditor: "an auditor", admin: "an admin" };

function roleWords(detail) {
  const roles = /roles: (.+)$/.exec(detail ?? "")?.[1].split(", ");
  return roles ? `This needs a wallet verified as ${roles.map((r) => ROLE_WORDS[r] ?? r).join(" or ")}.` : detail;
}

async function request(path, { method = "GET", body, form } = {}) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // No answer at all (offline, the server down) rejects with a TypeError whose words are the browser's.
  return fetch(path, { method, headers, body: form ?? (body === undefined ? undefined : JSON.stringify(body)) })
    .catch(() => { throw new Error(UNREACHABLE); });
}

// Reading or erasing personal data, or changing roles, needs a sign-in of the last minutes: the
// wallet signs a new sign-in message, then the request goes once more.
async function withRecentSignIn(response, path, options) {
  const refusal = response.status === 401 ? await response.clone().json().catch(() => ({})) : {};
  if (refusal.error !== "fresh_sign_in_required") return response;
  return await signInAgainOnce() ? request(path, options) : response;
}

// The answer, the access token renewed once if it had expired (and a recent sign-in asked for
// if the renewed token's session is too old, as after a tab hidden past both limits); signed out
// if the session cannot be renewed.
async function authorized(path, options = {}) {
  const sentWith = state.token;
  const response = await request(path, options);
  if (response.status !== 401 || !sentWith || /^\/api\/v1\/auth\/(login|refresh|nonce)/.test(path)) return response;
  const refusal = await response.clone().json().catch(() => ({}));
  if (refusal.error === "fresh_sign_in_required") return withRecentSignIn(response, path, options);
  const renewed = (state.token && state.token !== sentWith)  // renewed meanwhile by another request
    || (state.refreshToken && await renewSession());
  if (renewed) return withRecentSignIn(await request(path, options), path, options);
  session.ended();
  throw Object.assign(new Error("Your session ended: sign in again (Connect wallet and sign in)."), { status: 401 });
}

// An error keeps the HTTP status (`error.status`) for callers; its message is for the user.
export async function api(path, options = {}) {
  const generation = session.generation;
  const response = await authorized(path, options);
  const data = await response.json().catch(() => null);
  // Asked for the user who was signed in then: drawn now, it would put their data back on a page
  // that was cleared of it (a refresh on its way when they signed out). Dropped, silently (`stale`).
  if (session.generation !== generation) throw Object.assign(new Error("answer for an ended session"), { stale: true });
  if (!response.ok) {
    const message = data === null ? answered(response.status, response.statusText) : readable(response.status, data);
    throw Object.assign(new Error(message), { status: response.status, data: data ?? {} });
  }
  return data ?? {};
}

// A list the API pages (`limit`, at most 500, and `offset`) read whole, for the staff lists a person
// works through: a page shorter than the limit is the last.
export async function allPages(path, limit = 500) {
  const items = [];
  for (let offset = 0; ; offset += limit) {
    const page = await api(`${path}${path.includes("?") ? "&" : "?"}limit=${limit}&offset=${offset}`);
    items.push(...page);
    if (page.length < limit) return items;
  }
}

export const NO_WALLET = "No browser wallet found: install MetaMask or another EIP-1193 wallet to sign in here, or "
  + "sign with a local key instead (the README's \"Without a browser wallet\").";

// What moves money or signs for the user waits until the wallet is on the platform's chain.
const GUARDED = new Set(["eth_sendTransaction", "eth_signTypedData_v4", "personal_sign"]);

export async function wallet(method, params = []) {
  const ethereum = window.ethereum;
  if (!ethereum?.request) throw new Error(NO_WALLET);
  watchNetwork(ethereum);
  if (GUARDED.has(method)) await onPlatformChain(ethereum);
  return ethereum.request({ method, params });
}

export function utf8Hex(text) {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Every amount the page shows carries the loan token's symbol (GET /api/v1/chain): "3,000.00 mUSD".
// An amount that would round to 0.00 (a dust claim) shows the token's own decimals: "Claim 0.00 mUSD"
// would offer nothing.
export function money(baseUnits) {
  const value = Number(baseUnits) / 10 ** state.decimals;
  const digits = value !== 0 && Math.abs(value) < 0.005 ? state.decimals : 2;
  const tokens = value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: digits });
  return `${tokens} ${state.symbol}`;
}

// Servicing's aging buckets (backend/servicing/aging.py BUCKETS) in words: days past due.
const BUCKET_WORDS = { current: "current", grace: "1-15 days late", late_16_30: "16-30 days late",
  late_31_120: "31-120 days late", defaultable: "past the default period (may be declared in default)" };
export const bucketWords = (bucket) => BUCKET_WORDS[bucket] ?? bucket.replaceAll("_", " ");

// An application's amounts are whole tokens, not base units.
export const wholeTokens = (n) => `${Number(n).toLocaleString("en-US")} ${state.symbol}`;

export const percent = (bps) => `${(bps / 100).toFixed(2)}%`;

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// Refreshes overlap (sign-in, an action, the Refresh button, the poll) and their answers can arrive
// out of order: an answer older than one already drawn is dropped, or a list would show what was
// dealt with. (Only the newest may not be the rule: refreshes started faster than they answer would
// then never draw.)
const started = {};
const drawn = {};

export function newest(kind) {
  const mine = (started[kind] = (started[kind] ?? 0) + 1);
  return () => {
    if (mine < (drawn[kind] ?? 0)) return false;
    drawn[kind] = mine;
    return true;
  };
}

async function waitForReceipt(hash) {
  for (let i = 0; i < 240; i++) {
    const receipt = await wallet("eth_getTransactionReceipt", [hash]);
    if (receipt) {
      if (receipt.status !== "0x1") throw new Error(`transaction ${hash} reverted`);
      return receipt;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`transaction ${hash} was not mined`);
}

export async function sendAll(transactions) {
  let receipt = null;
  for (const tx of transactions) {
    say(`Confirm in your wallet: ${tx.description}`);
    const hash = await wallet("eth_sendTransaction", [{
      from: state.wallet, to: tx.to, data: tx.data, value: tx.value, chainId: `0x${state.chainId.toString(16)}`,
    }]);
    say("Sent: waiting for the transaction to be mined…");  // the wallet is done: the wait (up to minutes) is the chain's
    receipt = await waitForReceipt(hash);
  }
  return receipt; // the last one's
}

// Lists and figures come from the chain index: after a wallet's transactions, refresh them once the
// index has read the block of the last one, rather than after a guessed delay.
async function untilIndexed(receipt) {
  const block = receipt ? Number(receipt.blockNumber) : 0;
  for (let i = 0; block && i < 60; i++) {
    const { indexed_block: indexed } = await api("/api/v1/chain/index");
    if (indexed !== null && indexed >= block) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function refreshWhenIndexed(receipt, ...refreshers) {
  untilIndexed(receipt).then(() => Promise.all(refreshers.map((refresh) => refresh()))).catch(sayFailure);
}

// Downloads need the bearer token, so the file is fetched and handed to the browser.
export async function downloadCsv(url, filename) {
  const response = await authorized(url);
  if (!response.ok) throw new Error(`${response.status}: ${filename} could not be downloaded`);
  saveFile(await response.blob(), filename);
}

export function saveFile(blob, filename) {
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: filename });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// A file behind the bearer token (an ID document under review) as a Blob, asking for a recent
// sign-in when the API does; refused, it throws with the API's words as `api` does.
export async function fetchFile(url) {
  const response = await authorized(url);
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new Error(data === null ? answered(response.status, response.statusText) : readable(response.status, data));
  }
  return response.blob();
}

export const day = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 10);

// Due dates and expiries are the chain's, in UTC: said so wherever one is shown, since west of UTC a
// UTC day ends the evening before. `instant` where the minute matters (an expiry).
export const utcDay = (seconds) => `${day(seconds)} UTC`;
export const instant = (seconds) => `${new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC`;

// A control's identity across redraws: its data attributes (which loan, listing or bid, which
// action), else its id, else its accessible name, and which form it submits. A redrawn row's button
// is a new element with the same identity.
export function controlKey(element) {
  const data = Object.keys(element.dataset).sort().map((key) => `${key}=${element.dataset[key]}`).join(",");
  const name = data || element.id || element.getAttribute("aria-label") || element.textContent;
  return [element.tagName, element.form?.id ?? "", name, element.value ?? ""].join("|");
}

const sameControl = (root, key) => [...root.querySelectorAll("button")].find((b) => controlKey(b) === key);

// A refresh can land while someone types into a row's input (a new price, an amount to fund):
// the re-rendered rows get back what was typed or chosen, matched by each field's data-`key`.
// The field being typed into keeps the focus and the caret too: otherwise the next keystrokes of a
// note typed as a refresh lands would go to the field the refresh removed, and be lost.
// A focused button (Fund, Verify, Sell…) keeps the focus the same way, on its replacement found by
// its identity (controlKey): otherwise each redraw (the poll, an action's refresh) would throw a
// keyboard or screen-reader user back to the top of the page. A button whose action is still
// under way is redrawn busy, as it was, and a <details> opened (marked data-details) stays open.
export function keepTyped(body, keys, render) {
  const fields = (key) => [...body.querySelectorAll(`input[data-${key}], select[data-${key}]`)];
  const typed = [keys].flat().map((key) => [key, new Map(fields(key).filter((f) => f.value)
    .map((f) => [f.getAttribute(`data-${key}`), f.value]))]);
  const active = document.activeElement;
  const inside = body.contains(active);
  const typing = inside && ["INPUT", "SELECT"].includes(active.tagName);  // a row's button has data-loan too
  const focused = typing ? [keys].flat().find((key) => active.hasAttribute(`data-${key}`)) : undefined;
  const focusedId = focused && active.getAttribute(`data-${focused}`);
  const caret = focused ? caretOf(active) : null;
  const button = inside && active.tagName === "BUTTON" ? controlKey(active) : null;
  // A section the user opened (a loan's schedule, the form asking for help) stays open: the poll
  // redraws while they read or type in it.
  const opened = new Set([...body.querySelectorAll("details[data-details][open]")].map((d) => d.dataset.details));
  render();
  for (const d of body.querySelectorAll("details[data-details]")) if (opened.has(d.dataset.details)) d.open = true;
  for (const [key, values] of typed) {
    for (const field of fields(key)) field.value = values.get(field.getAttribute(`data-${key}`)) ?? field.value;
  }
  for (const b of body.querySelectorAll("button")) if (busy.has(controlKey(b))) markBusy(b, true);
  const again = focused ? fields(focused).find((f) => f.getAttribute(`data-${focused}`) === focusedId)
    : button && sameControl(body, button);
  if (again && !again.isSameNode(active)) {
    again.focus();
    if (caret) again.setSelectionRange(...caret);
  }
}

function caretOf(field) {
  try {
    return field.selectionStart == null ? null : [field.selectionStart, field.selectionEnd];
  } catch {
    return null;  // a number input has no caret to read
  }
}

export const has = (...roles) => roles.some((r) => state.roles.includes(r));

export const listItems = (texts) => texts.map((textContent) => Object.assign(document.createElement("li"), { textContent }));

// The actions under way, by the identity of the control that started them (controlKey).
const busy = new Set();
let lastControl = null;  // the control of the latest action: a dialog it opens gives the focus back to it

function markBusy(control, on) {
  control.disabled = on;
  if (on) control.setAttribute("aria-busy", "true");
  else control.removeAttribute("aria-busy");
}

// Nowhere a user would have put it: on <body> (its button was disabled or redrawn), or still on a
// button of the dialog that has just closed.
const focusLost = () => !document.activeElement || document.activeElement === document.body
  || Boolean(document.activeElement.closest("dialog:not([open])"));

// The button clicked, or the form's submitter; none for a call that is not an event's.
function controlOf(event) {
  if (!(event instanceof Event)) return null;
  const control = event.type === "submit" ? event.submitter : event.currentTarget;
  return control instanceof HTMLButtonElement ? control : null;
}

// An error in the status line, unless it is an answer dropped for a session that ended (`api`).
export function sayFailure(error) {
  if (!error.stale) say(error.message, true);
}

// An error stays in the status line only until the next action: a later one that goes through
// must not read as failed (nor a dialog open under an old refusal).
// While an action is under way its button (or its form's submitter) is disabled and aria-busy,
// and another call for the same control is ignored, even from its redrawn replacement: a double
// click, or a second click because nothing seemed to happen, must not send (and pay) twice. Once
// it settles, the button, or its replacement, is free again and gets back the focus it had.
export function guard(fn) {
  return (...args) => {
    const control = controlOf(args[0]);
    const key = control && controlKey(control);
    if (key && busy.has(key)) return Promise.resolve();
    if ($("status").className === "error") say("");
    let done;
    try {
      done = fn(...args);
    } catch (error) {
      done = Promise.reject(error);
    }
    done = Promise.resolve(done).catch(sayFailure);
    if (!control) return done;
    const hadFocus = document.activeElement === control;
    busy.add(key);
    lastControl = control;
    markBusy(control, true);
    return done.finally(() => {
      busy.delete(key);
      markBusy(control, false);
      const now = control.isConnected ? control : sameControl(document, key);
      if (!now) return;
      markBusy(now, false);
      if (hadFocus && focusLost()) now.focus();
    });
  };
}

// A query's answer panel: emptied when a new query starts, so an earlier answer never stands for a
// later one, and the refusal said in it when the query fails (then in the status line too).
export async function answerIn(ids, query, failed) {
  for (const id of ids) $(id).replaceChildren();
  try {
    return await query();
  } catch (error) {
    if (!error.stale) failed(error);
    throw error;
  }
}

// Money moves only once the user has read, in tokens, what happens and said yes: an in-page dialog
// (not window.confirm) whose Cancel, Escape or close sends nothing. Focus starts on Cancel, and
// goes back to the button that opened it, or to that button's replacement if a redraw came
// meanwhile. One dialog at a time: a second over the first would be answered by the same click.
export function confirmPlan({ title, lines, warning = null, yes }) {
  const dialog = $("confirm");
  if (dialog.open) return Promise.reject(new Error("A confirmation is already open: answer it first."));
  const active = document.activeElement;
  const opener = active && active !== document.body ? active : lastControl;
  const openerKey = opener?.tagName === "BUTTON" ? controlKey(opener) : null;
  $("confirm-title").textContent = title;
  $("confirm-lines").replaceChildren(...listItems(lines));
  $("confirm-warning").textContent = warning ?? "";
  $("confirm-warning").hidden = !warning;
  $("confirm-yes").textContent = yes;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => {
    const yes = dialog.returnValue === "yes";
    if (!yes) say("Cancelled: nothing was sent.");
    const back = opener?.isConnected ? opener : openerKey && sameControl(document, openerKey);
    back?.focus();  // a busy (disabled) one takes it when its action settles (guard)
    resolve(yes);
  }, { once: true }));
}

// A price more than this share off the fair price, against the user, gets a warning.
export const FAIR_GAP = 0.05;

// The price against the fair price (both in basis points of the principal outstanding), said plainly, and a warning when
// selling under it (or buying over it) by more than FAIR_GAP.
export function againstFair(priceBps, fairBps, selling) {
  if (fairBps == null || !(fairBps > 0)) return { line: "No fair price is known for this loan (not scored here).", warning: null };
  const gap = priceBps / fairBps - 1;
  const off = `${Math.abs(gap * 100).toFixed(1)}% ${gap < 0 ? "below" : "above"}`;
  const line = `Fair price ${percent(fairBps)} of the principal outstanding (the price at which the buyer earns the loan's own rate, defaults `
    + `expected): this price is ${off} it.`;
  const against = selling ? gap < -FAIR_GAP : gap > FAIR_GAP;
  const warning = against ? `Warning: you would ${selling ? "sell" : "buy"} ${off} the fair price (we warn beyond `
    + `${FAIR_GAP * 100}%). A trade cannot be undone.` : null;
  return { line, warning };
}
