// Investing: the portfolio, plans, standing instructions and their funding mandates, claims and statements.

import {
  $, api, confirmPlan, downloadCsv, guard, instant, keepTyped, money, newest, percent, plural, refreshWhenIndexed, say, sendAll, state,
  wallet,
} from "./core.js";
import { refreshLoans } from "./loans.js";
import { quoteSale, sellNow } from "./market.js";

export async function refreshPortfolio() {
  const current = newest("portfolio");
  const p = await api("/api/v1/portfolio");
  if (!current()) return;
  $("portfolio-summary").textContent = `${plural(p.loans_at_risk, "loan")} at risk, exposure ${money(p.exposure)}, `
    + `largest ${(p.largest_share * 100).toFixed(1)}%, effective number of loans ${p.effective_loans.toFixed(1)}`
    + (p.refundable > 0 ? `; ${money(p.refundable)} to take back from loans that did not fund` : "")
    + (p.claimable > 0 ? `; ${money(p.claimable)} to collect` : "")
    + (p.expected_loss > 0 ? `; expected loss ${money(p.expected_loss)}, ${money(p.expected_loss_after_cover)} after the reserve's cover` : "")
    + (p.fair_value > 0 ? `; notes worth ${money(p.fair_value)} at their loans' own rates, defaults expected` : "")
    + (p.open_bids > 0 ? `; ${money(p.bid_commitment)} offered in ${p.open_bids} open bids` : "")
    + (p.net_annual_return != null ? `; net annual return ${(p.net_annual_return * 100).toFixed(2)}%` : "");
  $("claim-all-row").hidden = !(p.claimable > 0);
  keepTyped($("positions"), [], () => $("positions").replaceChildren(...p.positions.map((pos) => {
    const row = document.createElement("tr");
    row.dataset.loan = pos.loan_id;
    const bidsNow = pos.bid_now > 0 ? `${money(pos.sell_now)} for ${money(pos.bid_now)}` : "-";
    const standing = pos.days_past_due == null ? pos.status : pos.days_past_due > 0 ? `${pos.days_past_due} days late` : "current";
    const pdNow = pos.pd_now == null ? "-" : `${(pos.pd_now * 100).toFixed(1)}%`;
    for (const text of [pos.loan_id, standing, pos.grade ?? "-", pdNow, percent(pos.apr_bps), money(pos.notes),
      money(pos.listed), money(pos.exposure), money(pos.claimable), bidsNow]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    const cell = document.createElement("td");
    if (pos.status === "active" && pos.notes > 0) {  // only notes of active loans trade: fill in the offer form
      const sell = Object.assign(document.createElement("button"), { textContent: "Sell" });
      Object.assign(sell.dataset, { loan: pos.loan_id, action: "sell" });
      sell.setAttribute("aria-label", `Sell notes of loan ${pos.loan_id}`);
      sell.onclick = () => {
        $("sell-form").elements.loan_id.value = pos.loan_id;
        $("sell-form").elements.notes.value = pos.notes / 10 ** state.decimals;
        $("sell-form").elements.price.focus();
        quoteSale();
      };
      cell.append(sell);
    }
    if (pos.bid_now > 0) {  // other investors' bids would take notes now: leave in one go
      const exit = Object.assign(document.createElement("button"), { textContent: "Sell to bids" });
      Object.assign(exit.dataset, { loan: pos.loan_id, action: "sell-now" });
      exit.setAttribute("aria-label", `Sell to bids: the notes of loan ${pos.loan_id}`);
      exit.onclick = guard(() => sellNow(pos));
      cell.append(" ", exit);
    }
    row.append(cell);
    return row;
  })));
  $("portfolio-warnings").replaceChildren(...p.warnings.map((w) => Object.assign(document.createElement("li"), { textContent: w })));
}

// A plan moves money into several loans at once: each ticket is named before the wallet is asked.
function confirmInvestment(plan, verb) {
  return confirmPlan({
    title: `${verb} ${money(plan.allocated)} in ${plural(plan.allocations.length, "loan")}?`,
    lines: [...plan.allocations.map((a) => `${money(a.amount)} into loan ${a.loan_id} (interest rate ${percent(a.apr_bps)}).`),
      ...(plan.unallocated > 0 ? [`${money(plan.unallocated)} stays in your wallet: no open loan could take it.`] : []),
      `Your wallet will ask you to send ${plural(plan.transactions.length, "transaction")}.`],
    yes: `Invest ${money(plan.allocated)}`,
  });
}

export async function planInvestment(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { amount: Math.round(Number(form.get("amount")) * 10 ** state.decimals) };
  if (form.get("max_per_loan")) body.max_per_loan = Math.round(Number(form.get("max_per_loan")) * 10 ** state.decimals);
  const plan = await api("/api/v1/portfolio/plan", { method: "POST", body });
  if (!(await confirmInvestment(plan, "Invest"))) return;
  const receipt = await sendAll(plan.transactions);
  say(`Invested ${money(plan.allocated)} in ${plural(plan.allocations.length, "loan")}.`);
  refreshWhenIndexed(receipt, refreshLoans, refreshPortfolio);
}

// A standing instruction: the worker tells the investor of each new matching loan; funding them
// is one click, and the wallet signs every transaction.
export async function refreshRule() {
  const current = newest("rule");
  let rule = null;
  try {
    rule = await api("/api/v1/portfolio/rule");
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  if (!current()) return;
  $("rule-summary").textContent = rule
    ? `Holding ${money(rule.per_loan)} per new loan`
      + (rule.grades ? ` of grade ${rule.grades.join(", ")}` : "")
      + (rule.min_apr_bps != null ? `, at least ${(rule.min_apr_bps / 100).toFixed(2)}% APR` : "")
      + (rule.max_installments != null ? `, at most ${rule.max_installments} installments` : "")
      + `; ${plural(rule.matching_now.length, "loan matches", "loans match")} now.`
    : "No standing instruction.";
  $("rule-fund").hidden = !(rule && rule.matching_now.length);
  $("rule-drop").hidden = !rule;
}

export async function saveRule(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { per_loan: Math.round(Number(form.get("per_loan")) * 10 ** state.decimals) };
  const grades = String(form.get("grades") || "").split(",").map((g) => g.trim().toUpperCase()).filter(Boolean);
  if (grades.length) body.grades = grades;
  if (form.get("min_apr")) body.min_apr_bps = Math.round(Number(form.get("min_apr")) * 100);
  if (form.get("max_installments")) body.max_installments = Number(form.get("max_installments"));
  await api("/api/v1/portfolio/rule", { method: "PUT", body });
  say("Standing instruction saved: you will be told of every new loan that matches.");
  await refreshRule();
}

export async function fundMatches() {
  const plan = await api("/api/v1/portfolio/rule/plan", { method: "POST" });
  if (!(await confirmInvestment(plan, "Fund my matches:"))) return;
  const receipt = await sendAll(plan.transactions);
  say(`Invested ${money(plan.allocated)} in ${plural(plan.allocations.length, "matching loan")}.`);
  refreshWhenIndexed(receipt, refreshLoans, refreshPortfolio, refreshRule);
}

export async function dropRule() {
  await api("/api/v1/portfolio/rule", { method: "DELETE" });
  say("Standing instruction dropped.");
  await refreshRule();
}

// A funding mandate: the investor signs bounds once (EIP-712) and the platform's keeper funds the
// standing instruction's matches within them, from the investor's wallet straight into each loan.
let unfinishedCancel = [];  // a withdrawn mandate's on-chain cancel, while the wallet has not sent it

export async function refreshMandate() {
  const current = newest("mandate");
  let m = null;
  try {
    m = await api("/api/v1/portfolio/rule/mandate");
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  if (!current()) return;
  const active = m?.status === "active";
  // A funding given back to the budget (its loan cancelled and refunded) was never invested.
  const fundings = (m?.fundings ?? []).filter((f) => !f.released);
  const loans = plural(new Set(fundings.map((f) => f.loan_id)).size, "loan");
  // Cancelled on chain, its `spent` is the whole budget: what it funded is the sum of its fundings.
  const funded = `it funded ${money(fundings.reduce((sum, f) => sum + f.amount, 0))} in ${loans}`;
  unfinishedCancel = m?.cancel_transactions ?? [];
  $("mandate-summary").textContent = !m ? "No funding mandate."
    : active ? `Mandate active until ${instant(m.mandate.expiry)}: ${money(m.spent)} of ${money(m.mandate.budget)} spent on ${loans}`
      + (m.mandate.max_apr_bps < 10_000 ? `; at most ${percent(m.mandate.max_apr_bps)} APR` : "") + "."
      + m.warnings.map((w) => ` Note: ${w}.`).join("")
      + (m.renewable ? " It ends within the week: sign a new one below, which takes over at once." : "")
    : m.status === "expired" ? `Mandate expired on ${instant(m.mandate.expiry)}: ${funded}.`
    : unfinishedCancel.length ? `Mandate withdrawn: ${funded}. The platform uses it no more, but it stays valid on chain `
      + `until ${instant(m.mandate.expiry)} unless you cancel it there.`
    : `Mandate withdrawn: ${funded}.`;
  $("mandate-summary").dataset.mandate = m?.mandate_hash ?? "";
  $("mandate-withdraw").hidden = !active && !unfinishedCancel.length;
  $("mandate-withdraw").textContent = active ? "Withdraw mandate" : "Cancel it on chain";
  $("mandate-form").hidden = active && !m.renewable;  // one mandate at a time, renewed in its last week
}

export async function signMandate(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { budget: Math.round(Number(form.get("budget")) * 10 ** state.decimals) };
  if (form.get("days")) body.days = Number(form.get("days"));
  if (form.get("max_apr")) body.max_apr_bps = Math.round(Number(form.get("max_apr")) * 100);
  const draft = await api("/api/v1/portfolio/rule/mandate/draft", { method: "POST", body });
  say(["Confirm in your wallet: sign the funding mandate.", ...draft.warnings.map((w) => `Note: ${w}.`)].join(" "));
  const signature = await wallet("eth_signTypedData_v4", [state.wallet, JSON.stringify(draft.typed_data)]);
  const m = await api("/api/v1/portfolio/rule/mandate", { method: "PUT", body: { mandate: draft.mandate, signature } });
  try {
    // let LoanBook take up to the budget; authorize the funding agent (the first time)
    if (draft.transactions.length) await sendAll(draft.transactions);
  } finally {
    await refreshMandate();  // signed, even if the wallet declined the approval (the summary then says so)
  }
  say(`Mandate signed: the platform funds your matches, up to ${money(m.mandate.budget)} in all, until ${instant(m.mandate.expiry)}.`);
}

// Withdraw the active mandate (the keeper stops now) and cancel it on chain; or, for one withdrawn
// earlier whose cancel the wallet did not send, send that cancel.
export async function withdrawMandate() {
  const transactions = unfinishedCancel.length ? unfinishedCancel
    : (await api("/api/v1/portfolio/rule/mandate", { method: "DELETE" })).transactions;
  try {
    await sendAll(transactions);
  } finally {
    await refreshMandate();  // withdrawn, even if the wallet declined
  }
  say("Mandate withdrawn and cancelled on chain: the platform funds nothing more with it.");
}

// Redrawn once the index has read the claim, the loans table too: until then both still offer the
// claim (Collect all, each row's Claim) and a second one would be sent.
export async function claimAll() {
  const plan = await api("/api/v1/portfolio/claim", { method: "POST" });
  const receipt = await sendAll(plan.transactions);
  say(`Collected ${money(plan.amount)}.`);
  refreshWhenIndexed(receipt, refreshPortfolio, refreshLoans);
}

// The years offered for a statement are the wallet's own (the API's `years`: any movement or
// earning), however long ago, not a guess at the last few. Read at sign-in and with each statement
// (it builds the whole history: not on every poll).
export async function refreshStatementYears() {
  const current = newest("statement-years");
  const { years } = await api("/api/v1/portfolio/statement");
  if (current()) showStatementYears(years);
}

function showStatementYears(years) {
  const select = $("statement-year");
  const chosen = select.value;
  const option = (value, text) => Object.assign(document.createElement("option"), { value, textContent: text });
  select.replaceChildren(option("all", "all years"), ...years.map((y) => option(String(y), String(y))));
  select.value = years.map(String).includes(chosen) ? chosen : "all";
}

export async function downloadStatement(event) {
  event.preventDefault();
  const year = new FormData(event.target).get("year");
  const query = year === "all" ? "" : `?year=${year}`;
  const part = event.submitter?.value === "earnings" ? "earnings" : "statement";
  // The file first, close to the click: a browser may hold back a download that starts long after
  // the user's gesture (several downloads on one page), and the summary can wait a request.
  await downloadCsv(`/api/v1/portfolio/${part}.csv${query}`, `loanchain-${part}-${year}.csv`);
  const s = await api(`/api/v1/portfolio/statement${query}`);
  showStatementYears(s.years);  // every year with a movement, whatever the period asked
  const e = s.earnings;
  $("statement-summary").textContent = `${plural(s.lines.length, "movement")}: paid in ${money(s.funded)}, `
    + `taken back ${money(s.refunded)}, collected ${money(s.collected)}; net ${money(s.net_cash)}. `
    + `Earned: interest ${money(e.interest)}, late fees ${money(e.late_fees)}, principal back ${money(e.principal)}, `
    + `reserve cover ${money(e.cover)}, recovered ${money(e.recovered)}, written off ${money(e.written_off)}, `
    + `trading ${money(e.market_result)}; net return ${money(e.net_return)}`;
}
