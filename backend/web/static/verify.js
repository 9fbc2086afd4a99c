// Verify a record: anyone checks a document against its on-chain anchor.

import { $, answerIn, api, say } from "./core.js";

// The verdict in words and a mark, not in colour alone.
const MARKS = { verified: "✔ ", tampered: "✖ " };

const verdict = (v) => `${MARKS[v.status] ?? ""}${v.status.toUpperCase()}: ${v.reason}`;

function showVerification(v) {
  $("verify-result").textContent = verdict(v);
  $("verify-result").dataset.status = v.status;
  const block = v.block_number == null ? null : `${v.block_number}${v.timestamp ? `, ${v.timestamp}` : ""}`;
  const facts = [
    ["CID", v.cid], ["document hash (keccak-256)", v.doc_hash], ["Merkle root", v.root], ["block", block],
    ["confirmations (blocks on top of the anchor)", v.confirmations], ["transaction", v.tx_hash], ["DocumentAnchor", v.contract && `${v.contract} on chain ${v.chain_id}`],
    ["Merkle proof", v.proof && `${v.proof.length} sibling hashes`],
  ].filter(([, value]) => value != null);
  $("verify-details").replaceChildren(...facts.map(([name, value]) => Object.assign(document.createElement("li"), {
    textContent: `${name}: ${value}`,
  })));
  $("verify-proof").hidden = v.status !== "verified";
  if (v.status === "verified") $("verify-proof").href = `/api/v1/verify/proof?cid=${encodeURIComponent(v.cid)}`;
  return v;
}

function checked(query) {
  $("verify-proof").hidden = true;
  delete $("verify-result").dataset.status;
  return answerIn(["verify-result", "verify-details"], async () => showVerification(await query()), (error) => {
    $("verify-result").textContent = `Not checked: ${error.message}`;
    $("verify-result").dataset.status = "error";
  });
}

export async function verifyRecord(event) {
  event.preventDefault();
  const cid = $("verify-cid").value.trim();
  const file = $("verify-file").files[0];
  if (!file) {
    return checked(() => (cid ? api(`/api/v1/verify?cid=${encodeURIComponent(cid)}`)
      : Promise.reject(new Error("Give a CID, a file, or both."))));
  }
  const form = new FormData();
  form.append("file", file);
  if (cid) form.append("cid", cid);
  await checked(() => api("/api/v1/verify", { method: "POST", form }));
}

// A row's Verify: the verdict is said where the user is (the status line, one line) and the focus
// follows the page to the result, so the next Tab goes on from there.
export async function verifyAgreement(loanId) {
  const loan = await api(`/api/v1/loans/${loanId}`);
  if (!loan.agreement_cid) throw new Error(`Loan ${loanId}: its agreement is not stored on this platform.`);
  const v = await verifyCid(loan.agreement_cid);
  say(`Agreement of loan ${loanId}: ${verdict(v)}`);
}

// A document of the platform's by its CID, checked in the Verify section as anyone would check it.
export async function verifyCid(cid) {
  $("verify-cid").value = cid;
  $("verify-file").value = "";
  const v = await checked(() => api(`/api/v1/verify?cid=${encodeURIComponent(cid)}`));
  $("verify-section").scrollIntoView();
  $("verify-result").focus();
  return v;
}
