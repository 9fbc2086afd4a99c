// What every part of the page shares: the signed-in state, the API and the user's own wallet
// (EIP-1193, window.ethereum) for every signature and every transaction that moves money.

export const state = { wallet: null, token: null, roles: [], decimals: 6, decision: null, offer: null };

export const $ = (id) => document.getElementById(id);

export function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

export async function api(path, { method = "GET", body, form } = {}) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: form ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail ?? data);
    throw new Error(`${response.status}: ${detail}`);
  }
  return data;
}

export const wallet = (method, params = []) => window.ethereum.request({ method, params });

export function utf8Hex(text) {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function money(baseUnits) {
  return (Number(baseUnits) / 10 ** state.decimals).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export const percent = (bps) => `${(bps / 100).toFixed(2)}%`;

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// Refreshes overlap (sign-in, an action, the Refresh button) and their answers can arrive out of
// order: only the newest refresh of each kind may draw, or a list would show what was dealt with.
const generations = {};

export function newest(kind) {
  const mine = (generations[kind] = (generations[kind] ?? 0) + 1);
  return () => generations[kind] === mine;
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
    const hash = await wallet("eth_sendTransaction", [{ from: state.wallet, to: tx.to, data: tx.data, value: tx.value }]);
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
  untilIndexed(receipt).then(() => Promise.all(refreshers.map((refresh) => refresh()))).catch((e) => say(e.message, true));
}

// Downloads need the bearer token, so the file is fetched and handed to the browser.
export async function downloadCsv(url, filename) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) throw new Error(`${response.status}: ${filename} could not be downloaded`);
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(await response.blob()), download: filename });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

export const day = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 10);

// A refresh can land while someone types into a row's input (a new price, an amount to fund):
// the re-rendered rows get back what was typed or chosen, matched by each field's data-`key`.
export function keepTyped(body, keys, render) {
  const fields = (key) => [...body.querySelectorAll(`input[data-${key}], select[data-${key}]`)];
  const typed = [keys].flat().map((key) => [key, new Map(fields(key).filter((f) => f.value)
    .map((f) => [f.getAttribute(`data-${key}`), f.value]))]);
  render();
  for (const [key, values] of typed) {
    for (const field of fields(key)) field.value = values.get(field.getAttribute(`data-${key}`)) ?? field.value;
  }
}

export const has = (...roles) => roles.some((r) => state.roles.includes(r));

export const listItems = (texts) => texts.map((textContent) => Object.assign(document.createElement("li"), { textContent }));

export function guard(fn) {
  return (...args) => fn(...args).catch((error) => say(error.message, true));
}
