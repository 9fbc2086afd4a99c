// KYC: submit with an ID document, see the status, download or erase one's own personal data.

import { $, api, fetchFile, plural, saveFile, say, sayFailure, state } from "./core.js";
import { refreshDecision } from "./borrow.js";
import { refreshLoans } from "./loans.js";
import { refreshMarket } from "./market.js";
import { refreshStaff } from "./staff.js";

export async function refreshKyc() {
  const status = await api("/api/v1/kyc/me");
  const current = status.current;
  const line = (kyc) => (kyc ? `${kyc.status}/${kyc.attestation?.status}` : "none");
  const moved = state.kyc !== null && line(state.kyc) !== line(current);
  state.kyc = current ?? null;
  // What a wallet may do (Fund, Buy, Borrow) follows its KYC and its attestation on chain: redraw
  // those views when either moves, whether or not the index has read a new block since (the outbox
  // may confirm the attestation after the poll that saw its block).
  if (moved) refreshRoles().catch(sayFailure);
  const attestation = current?.attestation?.status;
  // Waiting or refused, the owner reads why in the API's words: a generic "under review" for any
  // flag (which check caught them is for staff only), or the rule that refused them.
  const why = ["needs_review", "rejected"].includes(current?.status) && current.reasons.length
    ? ` (${current.reasons.map((r) => r.message).join("; ")})` : "";
  const erasure = status.erasure ? `; erasure scheduled: ${whenDue(status.erasure)}` : "";
  $("kyc-status").textContent = (current ? `${current.status}${why}${attestation ? `, on-chain ${attestation}` : ""}` : "not submitted")
    + erasure;
  $("kyc-erase-row").hidden = !current || current.status === "erased" || Boolean(status.erasure);  // asked once is enough
  $("kyc-export-row").hidden = false;  // applications and notices are the wallet's too, with no record or after erasure
  // Verified (or waiting for review): the form has nothing more to take.
  $("kyc-form").hidden = ["approved", "needs_review", "pending"].includes(current?.status);
}

// An erasure the AML record-keeping period holds off (202): when it will happen.
function whenDue(scheduled) {
  return scheduled.erase_after
    ? `anti-money-laundering law keeps the data until ${scheduled.erase_after.slice(0, 10)}, then it is erased automatically`
    : "anti-money-laundering law keeps the data while a loan the wallet borrowed or holds notes of is not yet repaid, "
      + "then for its record-keeping period (the date is set once the loan is repaid)";
}

export async function eraseWallet(event) {
  event.preventDefault();
  const target = new FormData(event.target).get("wallet");
  if (!confirm(`Erase the personal data of ${target}? Its verification is revoked on-chain.`)) return;
  const result = await api(`/api/v1/admin/kyc/wallets/${target}`, { method: "DELETE" });
  if (result.status === "scheduled") say(`Erasure of ${result.wallet} scheduled: ${whenDue(result)}.`);
  else say(`Erased ${plural(result.erased_records.length, "record")} of ${result.wallet}; ${plural(result.revocations.length, "revocation")} queued.`);
  event.target.reset();
  await refreshStaff();
}

// Roles follow KYC: the buttons they allow (Fund, Buy, Borrower) are redrawn with them.
export async function refreshRoles() {
  const me = await api("/api/v1/auth/me");
  state.roles = me.roles;
  $("who").textContent = `${me.wallet} (${me.roles.join(", ") || "not verified yet"})`;
  $("who").title = me.wallet;
  await Promise.all([refreshLoans(), refreshMarket(), refreshDecision()]);  // an offer follows the borrower role
}

// Everything the platform holds about the wallet's person that it gives out (GDPR art. 15 and 20):
// records with their documents, applications, requests for help, case log, notices. The API asks
// for a recent sign-in first, which `fetchFile` handles.
export async function exportKyc() {
  const data = await fetchFile("/api/v1/kyc/me/export");
  saveFile(data, `loanchain-my-data-${state.wallet}.json`);
  say("Your data was downloaded: keep the file safe, it holds your ID documents.");
}

export async function eraseKyc() {
  if (!confirm("Erase your personal data? You will have to verify again to borrow or invest.")) return;
  const result = await api("/api/v1/kyc/me", { method: "DELETE" });
  if (result.status === "scheduled") say(`Erasure scheduled: ${whenDue(result)}. Until then your data is used only for what the law keeps it for.`);
  else say(`Personal data erased (${plural(result.erased_records.length, "record")})`
    + `${result.revocations.length ? "; the on-chain verification is being revoked" : ""}.`);
  await Promise.all([refreshKyc(), refreshRoles()]);
}

// A refused field is marked where it is (aria-invalid, its message after it, focus on the first),
// not only in the status line at the top.
export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
}

function markFields(form, error) {
  const refused = Array.isArray(error.data?.fields) ? error.data.fields : [];
  const marked = refused.map((e) => [form.elements[(e.loc ?? []).at(-1)], e.msg]).filter(([field]) => field?.name);
  for (const [field, message] of marked) {
    const note = Object.assign(document.createElement("span"), { className: "field-error", id: `${field.name}-error`,
      textContent: message.replace(/^Value error, /, "") });
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-errormessage", note.id);
    field.after(note);
  }
  marked[0]?.[0].focus();
}

export async function submitKyc(event) {
  event.preventDefault();
  clearFieldErrors(event.target);
  const form = new FormData(event.target);
  if (!form.get("documents")?.size) form.delete("documents");
  const record = await api("/api/v1/kyc", { method: "POST", form }).catch((error) => {
    markFields(event.target, error);
    throw error;
  });
  event.target.reset();  // personal data stays on screen no longer than it takes to send it
  say(`KYC ${record.status}.`);
  await Promise.all([refreshKyc(), refreshRoles()]);
}
