// The wallet's network against the platform's: a transaction sent on another chain would go to
// whatever sits at the same addresses there (the local deployment's addresses are well known), so
// nothing is signed or sent until the wallet is on the platform's chain.

import { api, say, state } from "./core.js";

const NAMES = { 1: "Ethereum mainnet", 10: "OP Mainnet", 137: "Polygon", 8453: "Base", 42161: "Arbitrum One",
  11155111: "Sepolia", 31337: "the local development chain" };

export const chainName = (id) => `chain ${id}${NAMES[id] ? ` (${NAMES[id]})` : ""}`;

// The deployment the page talks to (GET /api/v1/chain): its chain, and the loan token's decimals and symbol.
export async function loadPlatform() {
  const info = await api("/api/v1/chain");
  Object.assign(state, { chainId: info.chain_id, decimals: info.asset_decimals, symbol: info.asset_symbol ?? "tokens" });
}

export function mismatch(have) {
  return `Your wallet is on ${chainName(have)}; this platform runs on ${chainName(state.chainId)}. Switch your wallet `
    + `to ${chainName(state.chainId)}: nothing is signed or sent until then.`;
}

const current = async (ethereum) => parseInt(await ethereum.request({ method: "eth_chainId", params: [] }), 16);

// Asks the wallet to switch when it is elsewhere; refuses, naming both chains, if it cannot or the user says no.
export async function onPlatformChain(ethereum) {
  if (state.chainId == null) await loadPlatform();
  const have = await current(ethereum);
  if (have === state.chainId) return;
  say(`Your wallet is on ${chainName(have)}: confirm the switch to ${chainName(state.chainId)} in your wallet…`);
  try {
    await ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId: `0x${state.chainId.toString(16)}` }] });
  } catch {
    throw new Error(mismatch(have));
  }
  const now = await current(ethereum);
  if (now !== state.chainId) throw new Error(mismatch(now));
}

// What app.js does when the wallet moves to another chain (redraw the user's state, or say why nothing can be sent).
export const networkHooks = { changed: () => {} };

const watched = new WeakSet();

export function watchNetwork(ethereum) {
  if (watched.has(ethereum) || typeof ethereum.on !== "function") return;
  watched.add(ethereum);
  ethereum.on("chainChanged", (hex) => {
    const id = parseInt(hex, 16);
    if (id === state.chainId) say(`Your wallet is back on ${chainName(id)}.`);
    else say(mismatch(id), true);
    networkHooks.changed(id);
  });
}
