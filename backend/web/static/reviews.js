// Staff review queues: referred applications and flagged KYC records. Each item is decided on its
// own, so it carries everything behind its flag, its own reason field and buttons that name it:
// a screen reader hears "Approve referral 1a2b3c4d", not one of many "approve" buttons.

import { choiceWords } from "./choices.js";
import { api, fetchFile, guard, percent, say, state, wholeTokens } from "./core.js";

const words = (code) => code.replaceAll("_", " ");
const whole = wholeTokens;

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// The verdict controls: a required reason (the API keeps it with the decision) and one button per
// outcome; the browser asks for the reason before anything is sent. Not a <form>: Enter in the
// reason field would submit with the first button, approving by accident.
function verdictControls({ what, reasonLabel, reasonKey, id, minLength, outcomes, send }) {
  const reason = element("input", { required: true, minLength, maxLength: 500, placeholder: "why (kept for oversight)" });
  reason.dataset[reasonKey] = id;
  reason.setAttribute("aria-label", `${reasonLabel} ${what}`);
  const controls = element("div", { className: "verdict" }, element("label", {}, "Reason ", reason));
  for (const [label, value] of outcomes) {
    const button = element("button", { type: "button", value, textContent: label });
    button.setAttribute("aria-label", `${label} ${what}`);
    button.onclick = guard(async () => {
      if (reason.reportValidity()) await send(value, reason.value);
    });
    controls.append(button);
  }
  return controls;
}

// The questions as the referral's "Declared" line words them, for what another application answered.
const QUESTION = { amount: "amount", term_months: "term", purpose: "purpose", monthly_income_band: "net income",
  monthly_debt_payments: "debt payments", employment_length: "employed", housing: "housing",
  existing_loans_with_us: "loans here already", checking_account: "checking", savings: "savings",
  credit_history: "history", property: "property", other_instalment_plans: "other instalments", guarantor: "guarantor" };

function answerWords(question, answer) {
  if (question === "amount" || question === "monthly_debt_payments") return whole(answer);
  if (question === "term_months") return `${answer} months`;
  if (question === "existing_loans_with_us") return String(answer);
  return choiceWords(question, answer, true);
}

// The applicant's other decisions of the 30 days before the referral, from any wallet of its person
// as a borrower (review-fraud L1): an applicant shopping for a pass changes answers between tries, from
// one wallet or several, which the underwriter should weigh. Each names the wallet it came from.
function otherApplications(others) {
  if (!others.length) return [];
  const items = others.map((o) => {
    const verdict = o.review ? `${o.decision}, ${o.review}d on review` : o.decision;
    const changed = Object.entries(o.changed).map(([question, answer]) => `${QUESTION[question] ?? words(question)} `
      + answerWords(question, answer));
    const line = element("li", { textContent: `${o.created_at.slice(0, 10)}, wallet ${o.wallet}: ${verdict}, grade ${o.grade}; `
      + (changed.length ? `answered then: ${changed.join(", ")}` : "the same answers") });
    line.dataset.otherDecision = o.id;
    return line;
  });
  return [element("p", {}, "Other applications of this applicant in the 30 days before, from this wallet or another "
    + "verified with its national ID, newest first (answers that differ from this one's):"), element("ul", { className: "other-applications" }, ...items)];
}

export function referralItem(d, refresh) {
  const a = d.application;
  const short = d.id.slice(0, 8);
  const item = element("li", { className: "review-item" });
  item.dataset.decision = d.id;
  const q = d.quote;
  const ratio = d.debt_service_ratio == null ? "no income to measure it against"
    : `${d.debt_service_ratio.toFixed(2)} of income (cap ${d.debt_service_ratio_cap.toFixed(2)})`;
  item.append(
    element("p", { className: "review-what" }, `Referral ${short}: ${whole(a.amount)} over ${a.term_months} months `
      + `for ${words(a.purpose)}`),
    element("p", {}, `Declared: net income ${choiceWords("monthly_income_band", a.monthly_income_band, true)} a month, `
      + `debt payments ${whole(a.monthly_debt_payments)} a month, employed ${words(a.employment_length)}, housing `
      + `${a.housing}, ${words(a.checking_account)} checking, savings ${words(a.savings)}, history `
      + `${words(a.credit_history)}, property ${words(a.property)}, other instalments ${a.other_instalment_plans}, `
      + `guarantor ${words(a.guarantor)}, ${a.existing_loans_with_us} loans here already.`),
    element("p", {}, `Score ${d.score} (referred from ${d.cutoffs.refer_min_score}, approved from `
      + `${d.cutoffs.approve_min_score}), grade ${d.grade}, PD ${(d.pd * 100).toFixed(1)}%`
      + (q ? `; quoted APR ${percent(q.apr_bps)}, installment ${q.monthly_payment.toFixed(2)}, `
        + `affordable up to ${whole(q.max_amount)}` : "") + `; debt service ${ratio}.`),
  );
  const why = [...d.policy_notes.map((n) => `Policy: ${n}`),
    ...d.reasons.map((r) => `${r.text} (−${r.points_lost} points)`)];
  if (why.length) {
    item.append(element("p", {}, "Behind the referral:"), element("ul", {}, ...why.map((text) => element("li", { textContent: text }))));
  }
  item.append(...otherApplications(d.other_applications ?? []));
  item.append(verdictControls({
    what: `referral ${short}`, reasonLabel: "Reason for your verdict on", reasonKey: "reviewNote", id: d.id, minLength: 3,
    outcomes: [["Approve", "approve"], ["Decline", "decline"]],
    send: async (outcome, note) => {
      await api(`/api/v1/score/${d.id}/review`, { method: "POST", body: { outcome, note } });
      say(`Referral ${short}: ${outcome}d.`);
      await refresh();
    },
  }));
  return item;
}

// Why an admin unmasks a record (the API's reveal reasons), as the picker words them.
const PURPOSES = { review: "this review", fraud_investigation: "a fraud investigation", legal_request: "a legal request",
  customer_request: "the customer's own request" };

// Whether `wallet` is the signed-in admin's (addresses compared without their checksum case).
const mine = (wallet) => Boolean(wallet && state.wallet && wallet.toLowerCase() === state.wallet.toLowerCase());

export function kycItem(entry, refresh) {
  const { record, data, same_id_wallets: twins, same_id_loans: loans = [], same_contact: sharing = [] } = entry;
  const short = record.id.slice(0, 8);
  const what = `KYC record ${short} of ${record.wallet}`;
  const item = element("li", { className: "review-item" });
  item.dataset.record = record.id;
  item.append(
    element("p", { className: "review-what" }, `KYC record ${short}: wallet ${record.wallet}, level ${record.level}, `
      + `submitted ${record.submitted_at.slice(0, 10)}, ${record.document_count} document(s)`),
    element("p", {}, `Masked: ${data.full_name}, born ${data.date_of_birth}, ${data.nationality}; `
      + `${data.id_type} ${data.id_number}; ${data.city}, ${data.country}`),
    element("ul", {}, ...record.reasons.map((r) => {
      const flag = element("li", { textContent: `${r.code}: ${r.message}` });
      flag.dataset.flag = r.code;
      if (r.code === "DUPLICATE_IDENTITY") {
        // A record of any status counts (fraud review H3): a rejected or expired one still tells who used the ID.
        flag.append(twins.length ? `; on a record (of any status) of: ${twins.join(", ")}` : "; that record has been erased");
      }
      if (r.code === "SHARED_CONTACT") {
        // What is shared, never the value: the reviewer reads the contact only by revealing (audited).
        flag.append(sharing.length ? `; shared with: ${sharing.map((s) => `${s.wallet} (${s.shared.join(", ")})`).join("; ")}`
          : "; no longer shared (those records have been erased)");
      }
      return flag;
    })),
  );
  if (loans.length) {
    // Each wallet's debt checks see that wallet only: the reviewer sees what the other wallets owe.
    item.append(element("p", {}, "Their loans still owed:"), element("ul", { className: "same-id-loans" }, ...loans.map((l) =>
      element("li", { textContent: `loan ${l.loan_id} of ${l.borrower}: ${l.standing}`
        + (l.days_late ? `, ${l.days_late} days late` : "") + `, ${l.owed} base units owed` }))));
  }
  const controls = verdictControls({
    what, reasonLabel: "Reason for your decision on", reasonKey: "kycNote", id: record.id, minLength: 1,
    // A sanctions or duplicate-ID flag needs two admins: the one who approved first may only reject.
    outcomes: mine(entry.first_approved_by) ? [["Reject", "reject"]] : [["Approve", "approve"], ["Reject", "reject"]],
    send: async (decision, note) => {
      const result = await api(`/api/v1/admin/kyc/${record.id}/${decision}`, { method: "POST", body: { note } });
      const outcome = decision === "reject" ? "rejected"
        : result.status === "approved" ? "approved"
        : result.reasons.some((r) => r.code === "FIRST_APPROVAL") ? "approved by you; a second admin must approve it too"
        : "not approved: another person gave its contact data since (SHARED_CONTACT), look at it first";
      say(`KYC record ${short}: ${outcome}.`);
      await refresh();
    },
  });
  personLinks(entry, controls, { what, short, refresh });
  if (mine(entry.first_approved_by)) controls.prepend(element("p", { className: "review-waiting" }, "You approved it: waiting for a second admin."));
  // The masked view is the default; unmasking is a deliberate, audited step with a purpose. While the
  // wallet's erasure is scheduled, only a fraud investigation or a legal request may unmask it (the API's
  // 409 says so): the purpose is chosen here, for the reveal and the documents alike, and audited with them.
  const purpose = element("select", {}, ...Object.entries(PURPOSES).map(([value, text]) => element("option", { value }, text)));
  purpose.dataset.purpose = record.id;
  purpose.setAttribute("aria-label", `Purpose of a reveal or a document of ${what}`);
  controls.append(element("label", {}, "Purpose ", purpose));
  const reveal = element("button", { type: "button", textContent: "Reveal" });
  Object.assign(reveal.dataset, { decision: "reveal", record: record.id });
  reveal.setAttribute("aria-label", `Reveal the personal data of ${what} (audited)`);
  reveal.onclick = guard(async () => {
    const body = { reason: purpose.value };
    const d = (await api(`/api/v1/admin/kyc/${record.id}/reveal`, { method: "POST", body })).data;
    showInItem(item, ":scope > .revealed", element("p", {
      className: "revealed",
      textContent: `Unmasked (audited): ${d.full_name}, born ${d.date_of_birth}, ${d.nationality}; `
        + `${d.id_type} ${d.id_number}; ${d.address_line}, ${d.postal_code} ${d.city}, ${d.country}; ${d.phone}, ${d.email}`,
    }));
  });
  controls.append(reveal);
  // Each ID document is opened on purpose (audited), and an admin approves only what they opened.
  for (let index = 0; index < record.document_count; index += 1) {
    const label = `ID document ${index + 1} of ${what}`;
    const open = element("button", { type: "button", textContent: `Open document ${index + 1}` });
    Object.assign(open.dataset, { decision: "document", record: record.id });
    open.setAttribute("aria-label", `Open ${label} (audited)`);
    open.onclick = guard(async () => {
      const file = await fetchFile(`/api/v1/admin/kyc/${record.id}/documents/${index}?reason=${purpose.value}`);
      const shown = await documentView(file, label);
      if (shown) {
        shown.dataset.document = index;
        showInItem(item, `:scope > [data-document="${index}"]`, shown);
      }
      say(`Opened ${label}.`);
    });
    controls.append(open);
  }
  item.append(controls);
  return item;
}

// What came back for a KYC item, shown in it in place of `replaces`: in the item on the page now, which
// a redraw (the poll) while the answer was on its way put in place of the one clicked. None once the
// record has left the queue (decided meanwhile).
function showInItem(item, replaces, node) {
  const live = item.isConnected ? item : document.querySelector(`#kyc-queue > li[data-record="${item.dataset.record}"]`);
  if (!live) return;
  live.querySelector(replaces)?.remove();
  live.querySelector(":scope > .verdict").before(node);
}

// What an admin unmasked or opened stays in its item when the queue is redrawn (the poll, another
// item's decision): gone mid-read, it would be revealed again, and audited twice. Sign-out clears it.
export function keepUnmasked(queue, render) {
  const items = () => queue.querySelectorAll(":scope > li[data-record]");
  const shown = new Map([...items()].map((item) => [item.dataset.record,
    [...item.querySelectorAll(":scope > .revealed, :scope > .revealed-document")]]));
  render();
  for (const item of items()) {
    const kept = shown.get(item.dataset.record) ?? [];
    if (kept.length) item.querySelector(":scope > .verdict").before(...kept);
  }
}

// The same person under a second document (SHARED_CONTACT: a passport beside a national ID) is joined to
// the other record for the debt checks by two admins, one proposing and another confirming; the item's
// reason field is the link's note. One control per record shared with, saying where the link stands.
function personLinks(entry, controls, { what, short, refresh }) {
  const { record, same_contact: sharing = [], person_links: links = [] } = entry;
  const reason = controls.querySelector("input");
  for (const s of sharing) {
    for (const otherId of s.record_ids ?? []) {
      const link = links.find((l) => l.other_record_id === otherId);
      const other = `record ${otherId.slice(0, 8)} of ${s.wallet}`;
      if (link?.status === "confirmed" || (link && mine(link.proposed_by))) {
        const line = element("p", { className: "person-link", textContent: link.status === "confirmed"
          ? `One person with ${other} (linked by ${link.proposed_by}, confirmed by ${link.confirmed_by}): its loans count as this one's.`
          : `You said it is the same person as ${other}: waiting for a second admin.` });
        line.dataset.personLink = otherId;
        controls.prepend(line);
        continue;
      }
      const label = link ? `Confirm same person as ${other}` : `Same person as ${other}`;
      const button = element("button", { type: "button", textContent: label });
      Object.assign(button.dataset, { decision: "person-link", record: record.id, other: otherId });
      button.setAttribute("aria-label", `${label}, for ${what}`);
      button.onclick = guard(async () => {
        if (!reason.reportValidity()) return;
        const result = await api(`/api/v1/admin/kyc/${record.id}/person-links`, {
          method: "POST", body: { other_record_id: otherId, note: reason.value } });
        say(`KYC record ${short}: ` + (result.status === "confirmed" ? `one person with ${other} now, for the debt checks.`
          : `proposed as the same person as ${other}; a second admin must confirm it.`));
        await refresh();
      });
      controls.append(button);
    }
  }
}

// An image is shown in the item (as a data: URL, which the page's image policy allows); a PDF opens
// in the browser's own viewer, in a tab of its own (null: nothing to place in the item).
async function documentView(blob, label) {
  if (!blob.type.startsWith("image/")) {
    const url = URL.createObjectURL(blob);
    window.open(url, "_blank", "noopener");
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    return null;
  }
  const src = await new Promise((resolve, reject) => {
    Object.assign(new FileReader(), { onload: (e) => resolve(e.target.result), onerror: reject }).readAsDataURL(blob);
  });
  return element("img", { className: "revealed-document", src, alt: label });
}
