// Loans: fund, pay out, repay, claim; under a borrower's own loans what is due, and its statement.

import { $, api, day, downloadCsv, guard, has, keepTyped, money, newest, percent, refreshWhenIndexed, say, sendAll, state } from "./core.js";
import { verifyAgreement, verifyCid } from "./verify.js";
import { refreshPortfolio } from "./portfolio.js";

function actionCell(loan, refundable) {
  const cell = document.createElement("td");
  const mine = state.wallet && loan.borrower.toLowerCase() === state.wallet.toLowerCase();
  const button = (label, action, input) => {
    const b = Object.assign(document.createElement("button"), { textContent: label });
    b.dataset.loan = loan.loan_id;
    b.dataset.action = action;
    b.onclick = () => walletAction(loan.loan_id, action, input).catch((e) => say(e.message, true));
    return b;
  };
  if (!state.wallet) return cell;
  if (refundable) {
    cell.append(button("Take my money back", "refund")); // the loan missed its funding deadline
  } else if (loan.status === "funding" && loan.remaining > 0 && mine) {
    cell.append("waiting for investors"); // a borrower may not fund its own loan
  } else if (loan.status === "funding" && loan.remaining > 0) {
    const input = Object.assign(document.createElement("input"), { type: "number", min: "1", placeholder: "amount" });
    input.dataset.loan = loan.loan_id;
    cell.append(input, button("Fund", "fund", input));
  } else if (loan.status === "funding" && mine) {
    cell.append(button("Receive funds", "disburse"));
  } else if (loan.status === "active" && mine) {
    cell.append(button("Pay what is due", "repay"), button("Pay off", "payoff"));
  } else if (loan.status === "defaulted" && mine) {
    cell.append(button("Pay off", "payoff")); // recoveries still reach the investors
  }
  if (!mine && ["active", "repaid", "defaulted"].includes(loan.status)) cell.append(button("Claim", "claim"));
  if (mine && ["active", "repaid", "defaulted"].includes(loan.status)) {
    const statement = Object.assign(document.createElement("button"), { textContent: "Statement" });
    Object.assign(statement.dataset, { loan: loan.loan_id, action: "statement" });
    statement.onclick = guard(() => downloadLoanStatement(loan.loan_id));
    cell.append(statement);
  }
  if (mine && ["repaid", "defaulted"].includes(loan.status)) {
    const release = Object.assign(document.createElement("button"), { textContent: "Release letter" });
    Object.assign(release.dataset, { loan: loan.loan_id, action: "release" });
    release.onclick = guard(() => showRelease(loan.loan_id));
    cell.append(" ", release);
  }
  return cell;
}

// Once nothing more is owed: the letter that says so, checked against its anchor like any record.
async function showRelease(loanId) {
  const r = await api(`/api/v1/loans/${loanId}/release`);
  await verifyCid(r.cid);
  say(`${r.letter.statement} Your release letter is document ${r.cid}: give its CID to whoever asks, they can check it here.`);
}

// A borrower's own loan statement: the totals said on the page, the lines downloaded as CSV.
async function downloadLoanStatement(loanId) {
  const s = await api(`/api/v1/loans/${loanId}/statement`);
  const owed = s.closing_recoverable > 0 ? `; still owed after the default ${money(s.closing_recoverable)}` : "";
  say(`Loan ${loanId}: received ${money(s.received)}, paid ${money(s.paid)} (interest ${money(s.interest_paid)}, `
    + `principal ${money(s.principal_paid)}, late fees ${money(s.late_fee_paid)}); balance ${money(s.closing_principal)}${owed}.`);
  await downloadCsv(`/api/v1/loans/${loanId}/statement.csv`, `loanchain-loan-${loanId}-statement.csv`);
}

async function walletAction(loanId, action, input) {
  const body = { action };
  if (input) body.amount = Math.round(Number(input.value) * 10 ** state.decimals);
  const plan = await api(`/api/v1/loans/${loanId}/transactions`, { method: "POST", body });
  const receipt = await sendAll(plan.transactions);
  say(`Done: ${action} on loan ${loanId}.`);
  refreshWhenIndexed(receipt, refreshLoans, refreshPortfolio);
}

export async function refreshLoans() {
  const current = newest("loans");
  const [{ loans }, portfolio] = await Promise.all([
    api("/api/v1/loans"), state.token && has("investor") ? api("/api/v1/portfolio") : null,
  ]);
  // Under the signed-in borrower's own active loans: what is due, the schedule, asking for help.
  const own = new Set(loans.filter((loan) => loan.status === "active" && state.wallet
    && loan.borrower.toLowerCase() === state.wallet.toLowerCase()).map((loan) => loan.loan_id));
  const details = new Map(await Promise.all(loans.filter((loan) => own.has(loan.loan_id))
    .map(async (loan) => [loan.loan_id, await repaymentRow(loan)])));
  if (!current()) return;
  const refundable = new Set((portfolio?.positions ?? []).filter((p) => p.refundable > 0).map((p) => p.loan_id));
  keepTyped($("loans"), ["loan", "hardship"], () => $("loans").replaceChildren(...loans.flatMap((loan) => {
    const row = document.createElement("tr");
    row.dataset.loan = loan.loan_id;
    const grade = loan.grade ? `${loan.grade}${loan.purpose ? `, ${loan.purpose.replaceAll("_", " ")}` : ""}` : "-";
    for (const text of [loan.loan_id, loan.status, grade, money(loan.principal), money(loan.funded), percent(loan.apr_bps), `${loan.installments} months`]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    const verify = Object.assign(document.createElement("button"), { textContent: "Verify" });
    Object.assign(verify.dataset, { loan: loan.loan_id, action: "verify" });
    verify.onclick = guard(() => verifyAgreement(loan.loan_id));
    const agreement = document.createElement("td");
    agreement.append(verify);
    row.append(agreement, actionCell(loan, refundable.has(loan.loan_id)));
    return details.has(loan.loan_id) ? [row, details.get(loan.loan_id)] : [row];
  })));
}

// Under a borrower's own active loan: what is due and when, as LoanBook computes it now, and the
// schedule agreed in the terms.
async function repaymentRow(loan) {
  const [pos, detail] = await Promise.all([api(`/api/v1/loans/${loan.loan_id}/position`), api(`/api/v1/loans/${loan.loan_id}`)]);
  const row = document.createElement("tr");
  row.dataset.repayments = loan.loan_id;
  const cell = Object.assign(document.createElement("td"), { colSpan: 9 });
  const next = pos.installments_paid < loan.installments
    ? `installment ${pos.installments_paid + 1} of ${loan.installments} due ${day(pos.next_due_date)}` : "every installment paid";
  const late = pos.days_past_due === 0 ? ""
    : `, ${pos.days_past_due} days late${pos.bucket === "defaultable" ? ": the loan may now be declared in default" : ""}`;
  const summary = Object.assign(document.createElement("p"), {
    textContent: `Due now ${money(pos.due_now)}; ${next}${late}; ${money(pos.payoff)} pays it off today.`,
  });
  const table = document.createElement("table");
  const head = table.insertRow();
  for (const text of ["#", "Due", "Amount", "Interest", "Principal", ""]) head.append(Object.assign(document.createElement("th"), { textContent: text }));
  for (const i of detail.schedule) {
    const mark = i.number <= pos.installments_paid ? "paid" : i.due_at <= pos.as_of ? "overdue" : "";
    const line = table.insertRow();
    for (const text of [i.number, i.due_at ? day(i.due_at) : "-", money(i.amount), money(i.interest), money(i.principal), mark]) {
      line.insertCell().textContent = text;
    }
  }
  const schedule = document.createElement("details");
  schedule.append(Object.assign(document.createElement("summary"), { textContent: "Repayment schedule (as agreed)" }), table);
  // Hardship: the borrower tells the lender early, in its own words; staff see it in collections.
  const help = document.createElement("details");
  const what = Object.assign(document.createElement("input"), { placeholder: "what happened, and what you could pay", size: 50 });
  what.dataset.hardship = loan.loan_id;
  const send = Object.assign(document.createElement("button"), { textContent: "Ask for help" });
  Object.assign(send.dataset, { loan: loan.loan_id, action: "hardship" });
  send.onclick = guard(async () => {
    await api(`/api/v1/loans/${loan.loan_id}/hardship`, { method: "POST", body: { note: what.value } });
    what.value = "";
    say(`Loan ${loan.loan_id}: your request for help reached the lender's collections team.`);
  });
  help.append(Object.assign(document.createElement("summary"), { textContent: "Cannot pay as agreed? Tell us" }), what, " ", send);
  cell.append(summary, schedule, help);
  row.append(cell);
  return row;
}
