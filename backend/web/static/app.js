// loanchain in the browser: sign-in and the wiring of every control. The parts live in their own
// modules (no build step: the browser loads them as ES modules).

import { $, api, guard, NO_WALLET, say, sayFailure, session, state, utf8Hex, wallet } from "./core.js";
import { loadPlatform, networkHooks } from "./network.js";
import { clearFieldErrors, eraseKyc, eraseWallet, exportKyc, refreshKyc, submitKyc } from "./identity.js";
import { apply, fillApplicationChoices, getOffer, refreshBorrowing, refreshDecision, showDecision, signOffer } from "./borrow.js";
import { refreshLoans } from "./loans.js";
import { bidForNotes, offerNotes, refreshMarket } from "./market.js";
import { verifyRecord } from "./verify.js";
import {
  claimAll, downloadStatement, dropRule, fundMatches, planInvestment, refreshMandate, refreshPortfolio, refreshRule,
  refreshStatementYears, saveRule, signMandate, withdrawMandate,
} from "./portfolio.js";
import { refreshDisclosure, refreshNotices, saveNoticePreferences } from "./disclosure.js";
import { changeRole, refreshStaff, trace } from "./staff.js";

const FORMS = ["kyc-form", "apply-form", "plan-form", "rule-form", "mandate-form", "statement-form", "sell-form", "bid-form",
  "verify-form", "notice-prefs", "erase-form", "role-form"];
const EMPTIED = ["statement-summary", "portfolio-warnings", "positions", "rule-summary", "mandate-summary", "apply-ledger",
  "notices", "sell-form-quote", "bid-form-quote", "verify-result", "verify-details", "trace-result", "trace-checks",
  "trace-events", "trace-case-log", "referrals", "kyc-queue", "role-grants", "role-pending", "alerts", "collections", "aging",
  "ops-status", "fair-lending", "borrower-profile", "decision-next"];
const HIDDEN = ["offer-section", "apply-ledger", "claim-all-row", "rule-fund", "rule-drop", "mandate-withdraw", "kyc-erase-row",
  "kyc-export-row", "notice-prefs", "verify-proof", "borrower-profile", "staff-section", "staff-link", "underwriting", "kyc-review",
  "role-admin", "oversight"];

// Another wallet, or none: nothing the previous one typed, submitted or was shown stays on the page.
function clearUserViews() {
  session.generation += 1;  // what the previous user asked for and has not been answered yet is not drawn
  Object.assign(state, { offer: null, decision: null, kyc: null });
  for (const id of FORMS) $(id).reset();
  $("statement-year").replaceChildren($("statement-year").options[0]);  // "all years": the next wallet's come with it
  clearFieldErrors($("kyc-form"));
  for (const id of EMPTIED) $(id).replaceChildren();
  for (const id of HIDDEN) $(id).hidden = true;
  $("kyc-form").hidden = false;
  $("mandate-form").hidden = false;
  $("portfolio-summary").textContent = "Sign in to see your notes.";
  $("kyc-status").textContent = "sign in to see it";
  showDecision(null);
}

function showSignedIn() {
  const signedIn = Boolean(state.wallet);
  $("who").textContent = signedIn ? `${state.wallet} (${state.roles.join(", ") || "not verified yet"})` : "not signed in";
  $("who").title = state.wallet ?? "";
  $("sign-out").hidden = !signedIn;
  $("connect").textContent = signedIn ? "Switch wallet" : "Connect wallet and sign in";
}

// Signed out on purpose or because the session could not be renewed: every user view is cleared and
// the public lists redrawn without the user's buttons.
async function endSession(message, error = false) {
  Object.assign(state, { wallet: null, token: null, refreshToken: null, roles: [] });
  clearUserViews();
  showSignedIn();
  say(message, error);
  await Promise.all([refreshLoans(), refreshMarket()]);
}

session.ended = () => {  // once, though every request in flight hits the same end
  if (state.wallet) endSession("Your session ended: sign in again (Connect wallet and sign in).", true).catch(() => {});
};

async function signOut() {
  try {
    await api("/api/v1/auth/logout", { method: "POST" });  // the refresh tokens are revoked on the server too
  } finally {
    await endSession("Signed out: nothing of yours is left on this page.");
  }
}

// Everything of the signed-in user, as of now.
const refreshMine = () => Promise.all([refreshKyc(), refreshLoans(), refreshNotices(), refreshPortfolio(), refreshStaff(),
  refreshMarket(), refreshDisclosure(), refreshRule(), refreshMandate(), refreshBorrowing()]);

// Sign-In with Ethereum: the wallet signs the server's message; the tokens name `address`.
async function signInAs(address) {
  const issued = await api(`/api/v1/auth/nonce?address=${address}&domain=${encodeURIComponent(location.host)}`);
  const signature = await wallet("personal_sign", [utf8Hex(issued.message), address]);
  const tokens = await api("/api/v1/auth/login", { method: "POST", body: { message: issued.message, signature } });
  [state.token, state.refreshToken] = [tokens.access_token, tokens.refresh_token];
}

// A step-up keeps the page as it is: only the same account may confirm, never the one the wallet
// happens to show now.
session.signInAgain = async () => {
  const [address] = await wallet("eth_requestAccounts");
  if (!state.wallet || address.toLowerCase() !== state.wallet.toLowerCase()) {
    throw new Error(`Sign in again as ${state.wallet} to confirm (the wallet shows ${address}).`);
  }
  say("This needs a recent sign-in: confirm it in your wallet…");
  await signInAs(address);
  return true;
};

async function signIn() {
  say("Signing in…");
  const [address] = await wallet("eth_requestAccounts");
  await signInAs(address);
  const me = await api("/api/v1/auth/me");
  if (state.wallet !== me.wallet) clearUserViews();  // another wallet: nothing of the previous one stays on screen
  state.wallet = me.wallet;
  state.roles = me.roles;
  showSignedIn();
  say("Signed in.");
  await Promise.all([refreshDecision(), refreshMine(), refreshStatementYears()]);  // years: once, not every poll
}

// The signed-in user's own state moves without them (investors fund the borrower's loan, a worker
// attests the KYC, repayments arrive): while the tab is shown, look every POLL_MS and redraw once
// the index has read new blocks; notices and the KYC line come from workers, so they are read each time.
const POLL_MS = 12_000;
let lastIndexed = null;

async function poll() {
  if (!state.token || document.hidden) return;
  const { indexed_block: indexed } = await api("/api/v1/chain/index");
  const moved = indexed !== lastIndexed;
  lastIndexed = indexed;
  await Promise.all([refreshKyc(), refreshNotices(), ...(moved ? [refreshMine()] : [])]);
}

// Back on the platform's chain after a switch: what the wallet holds there is redrawn.
networkHooks.changed = (chainId) => {
  if (state.token && chainId === state.chainId) refreshMine().catch(sayFailure);
};

setInterval(() => poll().catch(() => {}), POLL_MS);

// The sticky bar grows with a long status line and wrapping links (a phone, 200% zoom): the room kept
// above a control scrolled into view (by Tab, a section link) follows its height, or the bar would
// cover the control that has the focus.
new ResizeObserver(([entry]) => {
  document.documentElement.style.scrollPaddingTop = `${entry.target.offsetHeight + 8}px`;
}).observe(document.querySelector(".topbar"));  // a failed poll is retried by the next; actions report errors

$("connect").onclick = guard(signIn);
$("sign-out").onclick = guard(signOut);
$("kyc-form").onsubmit = guard(submitKyc);
$("apply-form").onsubmit = guard(apply);
$("get-offer").onclick = guard(getOffer);
$("sign-offer").onclick = guard(signOffer);
$("refresh-loans").onclick = guard(async () => {
  await (state.token ? refreshMine() : Promise.all([refreshLoans(), refreshDisclosure(), refreshMarket()]));
});
$("plan-form").onsubmit = guard(planInvestment);
$("claim-all").onclick = guard(claimAll);
$("rule-form").onsubmit = guard(saveRule);
$("rule-fund").onclick = guard(fundMatches);
$("rule-drop").onclick = guard(dropRule);
$("mandate-form").onsubmit = guard(signMandate);
$("mandate-withdraw").onclick = guard(withdrawMandate);
$("statement-form").onsubmit = guard(downloadStatement);
$("sell-form").onsubmit = guard(offerNotes);
$("bid-form").onsubmit = guard(bidForNotes);
$("trace").onclick = guard(trace);
$("verify-form").onsubmit = guard(verifyRecord);
$("kyc-erase").onclick = guard(eraseKyc);
$("kyc-export").onclick = guard(exportKyc);
$("role-form").onsubmit = guard(changeRole);
$("erase-form").onsubmit = guard(eraseWallet);
$("notice-prefs").onsubmit = guard(saveNoticePreferences);

guard(async () => {
  // A visitor reading the figures has done nothing wrong: told how to sign in, not shown an error
  // (*Connect* without a wallet is one).
  if (!window.ethereum) say(NO_WALLET);
  try {
    await loadPlatform();
  } catch (error) {
    say(`The chain is not reachable: ${error.message}`, true);
  }
  await fillApplicationChoices();  // after the platform: its answers name the token
  await Promise.all([refreshLoans(), refreshDisclosure(), refreshMarket()]);
})();
