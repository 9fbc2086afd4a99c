// loanchain in the browser: sign-in and the wiring of every control. The parts live in their own
// modules (no build step: the browser loads them as ES modules).

import { $, api, guard, say, state, utf8Hex, wallet } from "./core.js";
import { eraseKyc, eraseWallet, refreshKyc, submitKyc } from "./identity.js";
import { apply, fillApplicationChoices, getOffer, refreshBorrowing, showDecision, signOffer } from "./borrow.js";
import { refreshLoans } from "./loans.js";
import { bidForNotes, offerNotes, refreshMarket } from "./market.js";
import { verifyRecord } from "./verify.js";
import {
  claimAll, downloadStatement, dropRule, fundMatches, planInvestment, refreshMandate, refreshPortfolio, refreshRule, saveRule,
  signMandate, withdrawMandate,
} from "./portfolio.js";
import { refreshDisclosure, refreshNotices, saveNoticePreferences } from "./disclosure.js";
import { changeRole, refreshStaff, trace } from "./staff.js";

async function signIn() {
  say("Signing in…");
  const [address] = await wallet("eth_requestAccounts");
  const issued = await api(`/api/v1/auth/nonce?address=${address}&domain=${encodeURIComponent(location.host)}`);
  const signature = await wallet("personal_sign", [utf8Hex(issued.message), address]);
  const tokens = await api("/api/v1/auth/login", { method: "POST", body: { message: issued.message, signature } });
  state.token = tokens.access_token;
  const me = await api("/api/v1/auth/me");
  if (state.wallet !== me.wallet) {  // another wallet: nothing of the previous one stays on screen
    state.offer = null;
    $("offer-section").hidden = true;
  }
  state.wallet = me.wallet;
  state.roles = me.roles;
  $("who").textContent = `${me.wallet} (${me.roles.join(", ") || "no role yet"})`;
  say("Signed in.");
  const [latest] = await api("/api/v1/score/mine");
  showDecision(latest ?? null);
  // Everything on screen, public figures included, as of this sign-in.
  await Promise.all([refreshKyc(), refreshLoans(), refreshNotices(), refreshPortfolio(), refreshStaff(), refreshMarket(),
    refreshDisclosure(), refreshRule(), refreshMandate(), refreshBorrowing()]);
}

$("connect").onclick = guard(signIn);
$("kyc-form").onsubmit = guard(submitKyc);
$("apply-form").onsubmit = guard(apply);
$("get-offer").onclick = guard(getOffer);
$("sign-offer").onclick = guard(signOffer);
$("refresh-loans").onclick = guard(async () => {
  await Promise.all([refreshLoans(), refreshDisclosure(), refreshMarket()]);
  if (state.token) await Promise.all([refreshPortfolio(), refreshNotices(), refreshStaff(), refreshRule(), refreshMandate(),
    refreshBorrowing()]);
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
for (let y = new Date().getUTCFullYear(); y >= new Date().getUTCFullYear() - 2; y--) {
  $("statement-year").append(Object.assign(document.createElement("option"), { value: String(y), textContent: String(y) }));
}
$("trace").onclick = guard(trace);
$("verify-form").onsubmit = guard(verifyRecord);
$("kyc-erase").onclick = guard(eraseKyc);
$("role-form").onsubmit = guard(changeRole);
$("erase-form").onsubmit = guard(eraseWallet);
$("notice-prefs").onsubmit = guard(saveNoticePreferences);

guard(async () => {
  if (!window.ethereum) say("No wallet found: install a browser wallet (EIP-1193) to sign in.", true);
  await fillApplicationChoices();
  try {
    state.decimals = (await api("/api/v1/chain")).asset_decimals;
  } catch (error) {
    say(`The chain is not reachable: ${error.message}`, true);
  }
  await Promise.all([refreshLoans(), refreshDisclosure(), refreshMarket()]);
})();
