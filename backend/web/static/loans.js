// Loans: fund, pay out, repay, claim; under a borrower's own loans what is due, its statement and
// its autopay.

import {
  $, api, confirmPlan, day, downloadCsv, guard, has, instant, keepTyped, money, newest, percent, plural, refreshWhenIndexed, say, sendAll,
  state, utcDay, wallet,
} from "./core.js";
import { refreshBorrowing } from "./borrow.js";
import { verifyAgreement, verifyCid } from "./verify.js";
import { choiceWords } from "./choices.js";
import { refreshPortfolio } from "./portfolio.js";

// Why the signed-in wallet may not fund, or null: LoanBook reverts a fund from a wallet not verified
// on chain, so the page says so rather than letting the wallet pay gas for a revert.
function fundingRefusal() {
  if (!has("investor")) return "Verify your identity (step 1) to invest.";
  const onChain = state.kyc?.attestation?.status;
  if (onChain && onChain !== "confirmed") return "Your verification is being recorded on-chain: funding opens once it is.";
  return null;
}

const reason = (text) => Object.assign(document.createElement("span"), { className: "reason", textContent: text });

// A row's button says which loan it acts on, "Fund loan 3", its visible words first: a screen
// reader's list of buttons would otherwise read "Fund, Fund, Fund".
const NAMES = { fund: "Fund loan", refund: "Take my money back from loan", disburse: "Receive funds of loan",
  repay: "Pay what is due on loan", payoff: "Pay off loan", verify: "Verify the agreement of loan", borrower: "Borrower of loan",
  statement: "Statement of loan", release: "Release letter of loan", hardship: "Ask for help with loan" };

function rowButton(label, loanId, action, onclick) {
  const b = Object.assign(document.createElement("button"), { textContent: label, onclick });
  Object.assign(b.dataset, { loan: loanId, action });
  b.setAttribute("aria-label", NAMES[action] ? `${NAMES[action]} ${loanId}` : `${label} for loan ${loanId}`);
  return b;
}

// `position`: the borrower's own active loan as LoanBook sees it now; `claimable`: the wallet's share
// of repayments waiting in this loan.
function actionCell(loan, refundable, autopay, position, claimable) {
  const cell = document.createElement("td");
  const mine = state.wallet && loan.borrower.toLowerCase() === state.wallet.toLowerCase();
  const button = (label, action, input) => rowButton(label, loan.loan_id, action, guard(() => walletAction(loan, action, input)));
  if (!state.wallet) return cell;
  if (refundable) {
    cell.append(button("Take my money back", "refund")); // the loan missed its funding deadline
  } else if (loan.status === "funding" && loan.remaining > 0 && mine) {
    cell.append("waiting for investors"); // a borrower may not fund its own loan
  } else if (loan.status === "funding" && loan.remaining > 0 && fundingRefusal()) {
    cell.append(reason(fundingRefusal()));
  } else if (loan.status === "funding" && loan.remaining > 0) {
    const most = loan.remaining / 10 ** state.decimals;
    const input = Object.assign(document.createElement("input"), {
      type: "number", min: "0.000001", max: String(most), step: "any", required: true, placeholder: "amount",
    });
    input.dataset.loan = loan.loan_id;
    input.setAttribute("aria-label", `amount to fund loan ${loan.loan_id}, in tokens (at most ${money(loan.remaining)})`);
    cell.append(input, button("Fund", "fund", input));
    const about = rowButton("Borrower", loan.loan_id, "borrower", guard(() => showBorrower(loan.loan_id, about))); // what an investor may know
    cell.append(" ", about);
  } else if (loan.status === "funding" && mine) {
    cell.append(button("Receive funds", "disburse"));
  } else if (loan.status === "active" && mine) {
    const repay = button("Pay what is due", "repay");
    if (position && position.due_now === 0) {  // LoanBook takes no repayment of nothing due
      repay.disabled = true;
      repay.title = `Nothing to pay now: the next installment can be paid from the start of its period, before ${utcDay(position.next_due_date)}.`;
    }
    cell.append(repay, button("Pay off", "payoff"), ...autopayButtons(loan.loan_id, autopay));
  } else if (loan.status === "defaulted" && mine) {
    cell.append(button("Pay off", "payoff")); // recoveries still reach the investors
  }
  if (!mine && claimable > 0) cell.append(button(`Claim ${money(claimable)}`, "claim"));
  if (mine && ["active", "repaid", "defaulted"].includes(loan.status)) {
    cell.append(rowButton("Statement", loan.loan_id, "statement", guard(() => downloadLoanStatement(loan.loan_id))));
  }
  if (mine && ["repaid", "defaulted"].includes(loan.status)) {
    cell.append(" ", rowButton("Release letter", loan.loan_id, "release", guard(() => showRelease(loan.loan_id))));
  }
  return cell;
}

// The borrower as an investor may see it: banded facts and the credit decision, never identity. Shown
// in a panel under the table whose button was clicked (the status line stays one line).
export async function showBorrower(loanId, clicked) {
  const p = await api(`/api/v1/loans/${loanId}/borrower`);
  const words = (question, answer) => choiceWords(question, answer, true);
  const ratio = p.debt_service_ratio_band == null ? "income band starts at 0"
    : `debt payments ${p.debt_service_ratio_band} of income (at most ${Math.round(p.debt_service_ratio_cap * 100)}%)`;
  const pd = (x) => `${(x * 100).toFixed(1)}%`;
  const panel = $("borrower-profile");
  const close = Object.assign(document.createElement("button"), { textContent: "Close", onclick: () => { panel.hidden = true; } });
  close.setAttribute("aria-label", "close the borrower profile");
  panel.replaceChildren(Object.assign(document.createElement("p"), {
    textContent: `Loan ${loanId}'s borrower: grade ${p.grade} (PD ${pd(p.pd_low)} to ${pd(p.pd_high)}), `
      + `${words("purpose", p.purpose)}, ${p.term_months} months; income ${words("monthly_income_band", p.monthly_income_band)} `
      + `a month, ${words("employment_length", p.employment_length)}, housing: ${words("housing", p.housing)}, credit history: `
      + `${words("credit_history", p.credit_history)}, ${plural(p.existing_loans_with_us, "loan")} `
      + `with us; ${ratio}.` + (p.score_reasons.length ? ` Lowered the score, of the facts shown: ${p.score_reasons.join("; ")}.` : ""),
  }), close);
  panel.dataset.loan = loanId;
  clicked?.closest("table")?.after(panel);
  panel.hidden = false;
  panel.scrollIntoView({ block: "nearest" });
}

// Autopay: the borrower signs a repayment mandate for its active loan once (EIP-712) and approves the
// repayment agent; the platform's keeper then pays each installment from the borrower's wallet in
// the last day before it falls due. Withdrawn, the keeper stops at once and the wallet cancels it on
// chain; one withdrawn whose cancel the wallet did not send is offered again (`cancel_transactions`).
async function autopayOf(loanId) {
  try {
    return await api(`/api/v1/loans/${loanId}/autopay`);
  } catch (e) {
    if (e.status !== 404) throw e;
    return null;  // never had autopay
  }
}

function autopayButtons(loanId, autopay) {
  const on = autopay?.status === "active";
  const unfinishedCancel = autopay?.cancel_transactions ?? [];
  const b = rowButton(on ? "Turn autopay off" : unfinishedCancel.length ? "Cancel autopay on chain" : "Turn autopay on", loanId,
    "autopay", guard(() => (on || unfinishedCancel.length ? turnAutopayOff(loanId, unfinishedCancel) : turnAutopayOn(loanId))));
  if (!autopay?.renewable) return [b];
  // In its last week: a new mandate takes over from it at once.
  return [b, rowButton("Renew autopay", loanId, "autopay-renew", guard(() => turnAutopayOn(loanId)))];
}

function autopayLine(loanId, autopay) {
  const payments = autopay?.payments ?? [];
  const paid = `${plural(payments.length, "payment")} made` + (payments.length
    ? `, ${money(payments.reduce((sum, p) => sum + p.amount, 0))} in all` : "");
  const line = Object.assign(document.createElement("p"), {
    className: "autopay",
    textContent: !autopay ? "Autopay off: you pay each installment yourself."
      : autopay.status === "active" ? `Autopay on until ${instant(autopay.mandate.expiry)}, up to `
        + `${money(autopay.mandate.max_per_payment)} a payment: ${paid}.` + autopay.warnings.map((w) => ` Note: ${w}.`).join("")
        + (autopay.renewable ? " It ends within the week: renew it to keep paying automatically." : "")
      : autopay.status === "expired" ? `Autopay expired on ${instant(autopay.mandate.expiry)}: ${paid}.`
      : autopay.cancel_transactions.length ? `Autopay withdrawn: ${paid}. The platform uses it no more, but it stays valid `
        + `on chain until ${instant(autopay.mandate.expiry)} unless you cancel it there.`
      : `Autopay off (withdrawn): ${paid}.`,
  });
  Object.assign(line.dataset, { autopay: loanId, status: autopay?.status ?? "off", mandate: autopay?.mandate_hash ?? "" });
  return line;
}

async function turnAutopayOn(loanId) {
  const draft = await api(`/api/v1/loans/${loanId}/autopay/draft`, { method: "POST", body: {} });
  say(`Confirm in your wallet: sign the autopay mandate for loan ${loanId}.`);
  const signature = await wallet("eth_signTypedData_v4", [state.wallet, JSON.stringify(draft.typed_data)]);
  const a = await api(`/api/v1/loans/${loanId}/autopay`, { method: "PUT", body: { mandate: draft.mandate, signature } });
  try {
    if (draft.transactions.length) await sendAll(draft.transactions);  // let the repayment agent take the installments
  } finally {
    await refreshLoans();  // signed, even if the wallet declined the approval (the loan's line then says so)
  }
  say(`Autopay on for loan ${loanId}: each installment is paid from your wallet in the last day before it falls due, `
    + `up to ${money(a.mandate.max_per_payment)} a payment.`);
}

// Withdraw the loan's autopay (the keeper stops now) and cancel it on chain; or, for one withdrawn
// earlier whose cancel the wallet did not send, send that cancel.
async function turnAutopayOff(loanId, unfinishedCancel) {
  const transactions = unfinishedCancel.length ? unfinishedCancel
    : (await api(`/api/v1/loans/${loanId}/autopay`, { method: "DELETE" })).transactions;
  try {
    await sendAll(transactions);
  } finally {
    await refreshLoans();  // withdrawn, even if the wallet declined
  }
  say(`Autopay off for loan ${loanId}: withdrawn and cancelled on chain, the platform pays nothing more with it.`);
}

// Once nothing more is owed: the letter that says so, checked against its anchor like any record.
async function showRelease(loanId) {
  const r = await api(`/api/v1/loans/${loanId}/release`);
  await verifyCid(r.cid);
  say(`${r.letter.statement} Your release letter is document ${r.cid}: give its CID to whoever asks, they can check it here.`);
}

// A borrower's own loan statement: the totals said on the page, the lines downloaded as CSV.
async function downloadLoanStatement(loanId) {
  await downloadCsv(`/api/v1/loans/${loanId}/statement.csv`, `loanchain-loan-${loanId}-statement.csv`);  // first: close to the click
  const s = await api(`/api/v1/loans/${loanId}/statement`);
  const owed = s.closing_recoverable > 0 ? `; still owed after the default ${money(s.closing_recoverable)}` : "";
  say(`Loan ${loanId}: received ${money(s.received)}, paid ${money(s.paid)} (interest ${money(s.interest_paid)}, `
    + `principal ${money(s.principal_paid)}, late fees ${money(s.late_fee_paid)}); balance ${money(s.closing_principal)}${owed}.`);
}

// What the user agrees to before an action moves money out of its wallet, in tokens. Payout,
// claim and refund only bring money in: they go straight to the wallet.
function confirmation(loan, action, plan) {
  const txs = plural(plan.transactions.length, "transaction");
  const rate = `interest rate ${percent(loan.apr_bps)}, ${loan.installments} months`;
  if (action === "fund") {
    return { title: `Fund loan ${loan.loan_id}?`, yes: `Fund ${money(plan.amount)}`, lines: [
      `${money(plan.amount)} leaves your wallet for loan ${loan.loan_id} (${loan.grade ? `grade ${loan.grade}` : "not graded"}, ${rate}).`,
      `You receive ${money(plan.amount)} of its notes (face value); the money is at risk if the borrower defaults.`,
      `Your wallet will ask you to send ${txs}.`] };
  }
  if (action === "repay") {
    return { title: `Pay loan ${loan.loan_id}?`, yes: `Pay ${money(plan.amount)}`, lines: [
      `${money(plan.amount)} leaves your wallet towards loan ${loan.loan_id}: the installments due first, then late fees.`,
      `Your wallet will ask you to send ${txs}.`] };
  }
  if (action === "payoff") {
    return { title: `Pay off loan ${loan.loan_id}?`, yes: `Pay off ${money(plan.amount)}`, lines: [
      `${money(plan.amount)} leaves your wallet: everything owed on loan ${loan.loan_id} today, with no prepayment penalty.`,
      "The loan is then closed; this cannot be undone.", `Your wallet will ask you to send ${txs}.`] };
  }
  return null;
}

async function walletAction(loan, action, input) {
  const loanId = loan.loan_id;
  const body = { action };
  if (input) {
    if (!input.checkValidity()) {
      input.reportValidity();
      throw new Error(`Loan ${loanId}: enter an amount in tokens, at most ${money(loan.remaining)}.`);
    }
    body.amount = Math.round(Number(input.value) * 10 ** state.decimals);
  }
  const plan = await api(`/api/v1/loans/${loanId}/transactions`, { method: "POST", body });
  const asked = confirmation(loan, action, plan);
  if (asked && !(await confirmPlan(asked))) return;
  const receipt = await sendAll(plan.transactions);
  say(`Done: ${action} on loan ${loanId}.`);
  refreshWhenIndexed(receipt, refreshLoans, refreshPortfolio, refreshBorrowing);
}

export async function refreshLoans() {
  const current = newest("loans");
  const [{ loans }, portfolio] = await Promise.all([
    api("/api/v1/loans"), state.token ? api("/api/v1/portfolio") : null,
  ]);
  // Under the signed-in borrower's own active loans: what is due, the schedule, autopay, asking for help.
  const own = new Set(loans.filter((loan) => loan.status === "active" && state.wallet
    && loan.borrower.toLowerCase() === state.wallet.toLowerCase()).map((loan) => loan.loan_id));
  // The chain can be ahead of the index: a loan the index still lists as active may be repaid or
  // defaulted already (409 from its position), and is shown without a repayment row until indexed.
  const details = new Map(await Promise.all(loans.filter((loan) => own.has(loan.loan_id))
    .map(async (loan) => [loan.loan_id, await repaymentRow(loan).catch((e) => {
      if (e.status === 409) return undefined;
      throw e;
    })])));
  if (!current()) return;
  const positions = portfolio?.positions ?? [];
  const refundable = new Set(positions.filter((p) => p.refundable > 0).map((p) => p.loan_id));
  const claimable = new Map(positions.map((p) => [p.loan_id, p.claimable]));
  keepTyped($("loans"), ["loan", "hardship"], () => $("loans").replaceChildren(...loans.flatMap((loan) => {
    const row = document.createElement("tr");
    row.dataset.loan = loan.loan_id;
    for (const text of [loan.loan_id, loan.status, loan.grade ?? "-", money(loan.principal), money(loan.funded), percent(loan.apr_bps), `${loan.installments} months`]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    const verify = rowButton("Verify", loan.loan_id, "verify", guard(() => verifyAgreement(loan.loan_id)));
    const agreement = document.createElement("td");
    agreement.append(verify);
    const detail = details.get(loan.loan_id);
    row.append(agreement, actionCell(loan, refundable.has(loan.loan_id), detail?.autopay, detail?.position,
      claimable.get(loan.loan_id) ?? 0));
    return detail ? [row, detail.row] : [row];
  })));
}

// The loan's latest hardship plan, when one is running or has just ended: what it asks by when. The
// loan's own schedule is not changed by it (LoanBook knows nothing of plans), so both are shown.
function planLines(plans) {
  const p = plans[0];
  if (!p || p.status === "completed") return [];
  const terms = `${plural(p.periods, "payment")} of ${money(p.installment_amount)} every ${p.period_days} days`;
  const line = document.createElement("p");
  line.dataset.plan = p.loan_id;
  line.textContent = p.status === "on_track"
    ? `Hardship plan agreed ${utcDay(p.agreed_at)}: ${terms}. Pay ${money(Math.max(p.owed_by_now - p.paid_since, 0))} more `
      + `by ${utcDay(p.next_end)} (${money(p.paid_since)} paid since it started); it ends ${utcDay(p.ends_at)}. While you `
      + "keep to it we send no reminders and do not declare the loan in default; what is still owed when it ends is due then."
    : `Your hardship plan (${terms}) ended on ${utcDay(p.broken_at)}: less than it asked was paid by then. `
      + "The loan's schedule applies again.";
  return [line];
}

// Under a borrower's own active loan: what is due and when, as LoanBook computes it now, its autopay,
// and the schedule agreed in the terms. Returns the row and the autopay (for the loan's button).
async function repaymentRow(loan) {
  const [pos, detail, autopay, plans] = await Promise.all([api(`/api/v1/loans/${loan.loan_id}/position`),
    api(`/api/v1/loans/${loan.loan_id}`), autopayOf(loan.loan_id), api(`/api/v1/loans/${loan.loan_id}/plans`)]);
  const row = document.createElement("tr");
  row.dataset.repayments = loan.loan_id;
  const cell = Object.assign(document.createElement("td"), { colSpan: 9 });
  // LoanBook's due now counts the current period's installment from the period's start: before its
  // due date that is the next installment, payable early, not money owed late.
  const number = pos.installments_paid + 1;
  const upcoming = detail.schedule.find((i) => i.number === number);
  const allPaid = pos.installments_paid >= loan.installments;
  const which = `installment ${number} of ${loan.installments}`;
  const next = allPaid ? "every installment paid" : `${which}, ${money(upcoming?.amount ?? 0)}, due ${utcDay(pos.next_due_date)}`;
  // Late, the oldest unpaid installment is the one overdue, not the next; payable early, it is named once.
  const standing = pos.days_past_due > 0
    ? `Overdue: ${money(pos.due_now)} to pay now, ${pos.days_past_due} days late`
      + `${pos.bucket === "defaultable" ? " (the loan may now be declared in default)" : ""}; `
      + (allPaid ? "every installment paid, late fees left" : `${which} was due ${utcDay(pos.next_due_date)}`)
    : pos.due_now > 0 ? `Next payment ${money(pos.due_now)}, due ${utcDay(pos.next_due_date)} (you may pay it now): ${which}`
    : `Nothing to pay now; next: ${next}`;
  const summary = Object.assign(document.createElement("p"), {
    textContent: `${standing}; ${money(pos.payoff)} pays it off today.`,
  });
  const table = document.createElement("table");
  const head = table.insertRow();
  for (const text of ["#", "Due (UTC)", "Amount", "Interest", "Principal", "Paid?"]) head.append(Object.assign(document.createElement("th"), { textContent: text }));
  for (const i of detail.schedule) {
    const mark = i.number <= pos.installments_paid ? "paid" : i.due_at <= pos.as_of ? "overdue" : "";
    const line = table.insertRow();
    for (const text of [i.number, i.due_at ? day(i.due_at) : "-", money(i.amount), money(i.interest), money(i.principal), mark]) {
      line.insertCell().textContent = text;
    }
  }
  const schedule = document.createElement("details");
  schedule.dataset.details = `schedule-${loan.loan_id}`;
  schedule.append(Object.assign(document.createElement("summary"), { textContent: "Repayment schedule (as agreed)" }), table);
  // Hardship: the borrower tells the lender early, in its own words; staff see it in collections.
  const help = document.createElement("details");
  help.dataset.details = `help-${loan.loan_id}`;
  const what = Object.assign(document.createElement("input"), {
    placeholder: "what happened, and what you could pay", size: 50, required: true, minLength: 3, maxLength: 1000,
  });
  what.dataset.hardship = loan.loan_id;
  what.setAttribute("aria-label", `what happened, and what you could pay on loan ${loan.loan_id}`);
  const send = rowButton("Ask for help", loan.loan_id, "hardship", guard(async () => {
    if (!what.checkValidity()) {
      what.reportValidity();
      throw new Error(`Loan ${loan.loan_id}: tell us in a few words what happened (at least 3 characters).`);
    }
    await api(`/api/v1/loans/${loan.loan_id}/hardship`, { method: "POST", body: { note: what.value } });
    what.value = "";
    say(`Loan ${loan.loan_id}: your request for help reached the lender's collections team.`);
  }));
  help.append(Object.assign(document.createElement("summary"), { textContent: "Cannot pay as agreed? Tell us" }), what, " ", send);
  cell.append(summary, ...planLines(plans), autopayLine(loan.loan_id, autopay), schedule, help);
  row.append(cell);
  return { row, autopay, position: pos };
}
