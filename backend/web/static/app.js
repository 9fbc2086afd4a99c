// loanchain in the browser: the API for everything off-chain, the user's own wallet
// (EIP-1193, window.ethereum) for every signature and every transaction that moves money.

const state = { wallet: null, token: null, roles: [], decimals: 6, decision: null, offer: null };

const $ = (id) => document.getElementById(id);

function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(path, { method = "GET", body, form } = {}) {
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

const wallet = (method, params = []) => window.ethereum.request({ method, params });

function utf8Hex(text) {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

function money(baseUnits) {
  return (Number(baseUnits) / 10 ** state.decimals).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

const percent = (bps) => `${(bps / 100).toFixed(2)}%`;

// Refreshes overlap (sign-in, an action, the Refresh button) and their answers can arrive out of
// order: only the newest refresh of each kind may draw, or a list would show what was dealt with.
const generations = {};
function newest(kind) {
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

async function sendAll(transactions) {
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

function refreshWhenIndexed(receipt, ...refreshers) {
  untilIndexed(receipt).then(() => Promise.all(refreshers.map((refresh) => refresh()))).catch((e) => say(e.message, true));
}

// --- sign-in (EIP-4361) --------------------------------------------------------------------

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
    refreshDisclosure(), refreshRule()]);
}

// --- KYC -----------------------------------------------------------------------------------

async function refreshKyc() {
  const status = await api("/api/v1/kyc/me");
  const current = status.current;
  const attestation = current?.attestation?.status;
  $("kyc-status").textContent = current ? `${current.status}${attestation ? `, on-chain ${attestation}` : ""}` : "not submitted";
  $("kyc-erase-row").hidden = !current || current.status === "erased";
}

async function eraseWallet(event) {
  event.preventDefault();
  const target = new FormData(event.target).get("wallet");
  if (!confirm(`Erase the personal data of ${target}? Its verification is revoked on-chain.`)) return;
  const result = await api(`/api/v1/admin/kyc/wallets/${target}`, { method: "DELETE" });
  say(`Erased ${result.erased_records.length} record(s) of ${result.wallet}; ${result.revocations.length} revocation(s) queued.`);
  event.target.reset();
  await refreshStaff();
}

async function refreshRoles() {
  const me = await api("/api/v1/auth/me");
  state.roles = me.roles;
  $("who").textContent = `${me.wallet} (${me.roles.join(", ") || "no role yet"})`;
}

async function eraseKyc() {
  if (!confirm("Erase your personal data? You will have to verify again to borrow or invest.")) return;
  const result = await api("/api/v1/kyc/me", { method: "DELETE" });
  say(`Personal data erased (${result.erased_records.length} record${result.erased_records.length === 1 ? "" : "s"})`
    + `${result.revocations.length ? "; the on-chain verification is being revoked" : ""}.`);
  await Promise.all([refreshKyc(), refreshRoles()]);
}

async function submitKyc(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  if (!form.get("documents")?.size) form.delete("documents");
  const record = await api("/api/v1/kyc", { method: "POST", form });
  say(`KYC ${record.status}.`);
  await Promise.all([refreshKyc(), refreshRoles()]);
}

// --- application, decision, offer ----------------------------------------------------------

async function fillApplicationChoices() {
  const spec = await api("/openapi.json");
  const properties = spec.components.schemas.ApplicationCreate.properties;
  for (const select of document.querySelectorAll("#apply-form select")) {
    for (const value of properties[select.name].enum ?? []) select.add(new Option(value.replaceAll("_", " "), value));
  }
}

function showDecision(decision) {
  state.decision = decision;
  $("decision").hidden = !decision;
  if (!decision) return;
  const review = decision.review ? ` (underwriter: ${decision.review.outcome})` : "";
  $("decision-outcome").textContent = decision.decision + review;
  $("decision-grade").textContent = decision.grade;
  $("decision-score").textContent = decision.score;
  $("decision-apr").textContent = decision.quote ? percent(decision.quote.apr_bps) : "-";
  $("decision-max").textContent = decision.quote ? decision.quote.max_amount.toLocaleString("en-US") : "-";
  $("decision-reasons").replaceChildren(...decision.reasons.map((r) => Object.assign(document.createElement("li"),
    { textContent: `${r.text} (${r.points_lost} points)` })));
  $("decision-reasons-title").hidden = !decision.reasons.length;
  const referred = decision.decision === "refer" && decision.review?.outcome !== "approve";
  $("get-offer").hidden = decision.decision === "decline" || decision.review?.outcome === "decline";
  $("get-offer").textContent = referred ? "Ask for my offer (after an underwriter's review)" : "Get my loan offer";
}

async function apply(event) {
  event.preventDefault();
  const application = {};
  for (const [key, value] of new FormData(event.target)) {
    application[key] = event.target.elements[key].type === "number" ? Number(value) : value;
  }
  const decision = await api("/api/v1/score", { method: "POST", body: application });
  showDecision(decision);
  say(`Decision: ${decision.decision}.`);
}

function showOffer(offer) {
  state.offer = offer;
  $("offer-section").hidden = false;
  $("offer-principal").textContent = money(offer.terms.principal);
  $("offer-apr").textContent = percent(offer.price.interest_apr_bps);
  $("offer-fee").textContent = percent(offer.price.origination_fee_bps);
  $("offer-installments").textContent = `${offer.terms.installments} × ${money(offer.price.installment_amount)}`;
  $("offer-total").textContent = money(offer.price.total_repayable);
  $("offer-cid").textContent = offer.agreement_cid;
  $("offer-state").textContent = offer.loan_id == null ? offer.state : `${offer.state}: loan ${offer.loan_id}`;
  $("sign-offer").hidden = offer.state !== "offered";
}

async function showAgreement(offer) {
  const doc = await api(`/api/v1/offers/${offer.id}/agreement`);
  const s = doc.servicing;
  $("agreement-servicing").textContent = `Grace period ${s.grace_period_seconds / 86400} days, late fee `
    + `${percent(s.late_fee_bps)} of the installment, default after ${s.default_after_seconds / 86400} days late; `
    + `credit decision ${doc.credit_decision.decision_hash.slice(0, 10)}…`;
  $("agreement-clauses").replaceChildren(...doc.clauses.map((c) => Object.assign(document.createElement("li"), { textContent: c })));
}

async function getOffer() {
  showOffer(await api("/api/v1/offers", { method: "POST", body: { decision_id: state.decision.id } }));
  await showAgreement(state.offer);
  say("Your offer is ready: read the terms, then sign them with your wallet.");
}

async function signOffer() {
  const signature = await wallet("eth_signTypedData_v4", [state.wallet, JSON.stringify(state.offer.typed_data)]);
  let offer = await api(`/api/v1/offers/${state.offer.id}/accept`, { method: "POST", body: { signature } });
  showOffer(offer);
  say("Accepted: your loan is being recorded on-chain.");
  for (let i = 0; i < 240 && offer.state === "submitting"; i++) {
    await new Promise((r) => setTimeout(r, 500));
    offer = await api(`/api/v1/offers/${offer.id}`);
    showOffer(offer);
  }
  if (offer.state === "created") say(`Loan ${offer.loan_id} is open for funding.`);
  else say(`The loan was not created: ${offer.error ?? offer.state}`, true);
  await refreshLoans();
}

// --- loans: fund, pay out, repay, claim ----------------------------------------------------

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
  return cell;
}

// A borrower's own loan statement: the totals said on the page, the lines downloaded as CSV.
async function downloadLoanStatement(loanId) {
  const s = await api(`/api/v1/loans/${loanId}/statement`);
  const owed = s.closing_recoverable > 0 ? `; still owed after the default ${money(s.closing_recoverable)}` : "";
  say(`Loan ${loanId}: received ${money(s.received)}, paid ${money(s.paid)} (interest ${money(s.interest_paid)}, `
    + `principal ${money(s.principal_paid)}, late fees ${money(s.late_fee_paid)}); balance ${money(s.closing_principal)}${owed}.`);
  await downloadCsv(`/api/v1/loans/${loanId}/statement.csv`, `loanchain-loan-${loanId}-statement.csv`);
}

// Downloads need the bearer token, so the file is fetched and handed to the browser.
async function downloadCsv(url, filename) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) throw new Error(`${response.status}: ${filename} could not be downloaded`);
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(await response.blob()), download: filename });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

async function walletAction(loanId, action, input) {
  const body = { action };
  if (input) body.amount = Math.round(Number(input.value) * 10 ** state.decimals);
  const plan = await api(`/api/v1/loans/${loanId}/transactions`, { method: "POST", body });
  const receipt = await sendAll(plan.transactions);
  say(`Done: ${action} on loan ${loanId}.`);
  refreshWhenIndexed(receipt, refreshLoans, refreshPortfolio);
}

async function refreshLoans() {
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

const day = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 10);

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

// --- the secondary market: public listings and bids; signed in, take or withdraw one, or place one

function orderRow(o, id, kind, mine, cells) {
  const row = document.createElement("tr");
  row.dataset[kind] = id;
  const ratio = o.price_to_outstanding == null ? "-" : `${(o.price_to_outstanding * 100).toFixed(1)}%`;
  const until = o.expires_at == null ? "-" : day(o.expires_at);
  const ytm = o.yield_to_maturity == null ? "-" : `${(o.yield_to_maturity * 100).toFixed(2)}%`;
  for (const text of [id, o.loan_id, o.grade ?? "-", percent(o.apr_bps), money(o.notes_left), percent(o.price_bps),
    ...cells, ratio, ytm, until]) {
    row.append(Object.assign(document.createElement("td"), { textContent: text }));
  }
  const cell = document.createElement("td");
  if (state.wallet) {
    const [label, action] = kind === "listing" ? (mine ? ["Withdraw", "delist"] : ["Buy", "buy"])
      : (mine ? ["Cancel", "cancel"] : ["Sell", "sell"]);
    const button = Object.assign(document.createElement("button"), { textContent: label });
    Object.assign(button.dataset, { [kind]: id, action });
    button.onclick = guard(() => marketAction(kind, id, action));
    cell.append(button);
    if (mine) cell.append(" ", ...repriceControls(kind, id));
  }
  row.append(cell);
  return row;
}

// A maker's own order: a new price (in % of face) and the button that sends it.
function repriceControls(kind, id) {
  const price = Object.assign(document.createElement("input"), {
    type: "number", step: "0.01", min: "0.01", max: "200", placeholder: "new %", className: "reprice",
  });
  price.dataset.reprice = id;
  price.setAttribute("aria-label", `new price of ${kind} ${id}, in % of face value`);
  const button = Object.assign(document.createElement("button"), { textContent: "Reprice" });
  Object.assign(button.dataset, { [kind]: id, action: "reprice" });
  button.onclick = guard(() => repriceOrder(kind, id, price.value));
  return [price, button];
}

async function repriceOrder(kind, id, percentValue) {
  if (!percentValue) throw new Error("Enter the new price, in % of face value.");
  const side = kind === "listing" ? "listings" : "bids";
  const plan = await api(`/api/v1/market/${side}/${id}/reprice`,
    { method: "POST", body: { price_bps: Math.round(Number(percentValue) * 100) } });
  const receipt = await sendAll(plan.transactions);
  say(`${kind === "listing" ? "Listing" : "Bid"} ${id} repriced to ${Number(percentValue).toFixed(2)}%.`);
  refreshWhenIndexed(receipt, refreshMarket, refreshPortfolio);
}

async function refreshMarket() {
  const current = newest("market");
  const [listings, bids, trades] = await Promise.all([api("/api/v1/market"), api("/api/v1/market/bids"),
    api("/api/v1/market/trades?limit=20")]);
  if (!current()) return;
  $("trades").replaceChildren(...trades.map((t) => {
    const row = document.createElement("tr");
    const when = t.timestamp == null ? "-" : new Date(t.timestamp * 1000).toISOString().slice(0, 16).replace("T", " ");
    for (const text of [when, t.loan_id, t.how, money(t.notes), `${(t.price_bps / 100).toFixed(2)}%`, money(t.cost)]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    return row;
  }));
  const own = (wallet) => state.wallet && wallet.toLowerCase() === state.wallet.toLowerCase();
  keepTyped($("market"), "reprice", () => $("market").replaceChildren(
    ...listings.map((l) => orderRow(l, l.listing_id, "listing", own(l.seller), [money(l.cost)]))));
  keepTyped($("bids"), "reprice", () => $("bids").replaceChildren(
    ...bids.map((b) => orderRow(b, b.bid_id, "bid", own(b.bidder), [money(b.proceeds)]))));
}

// A refresh can land while someone types into a row's input (a new price, an amount to fund):
// the re-rendered rows get back what was typed or chosen, matched by each field's data-`key`.
function keepTyped(body, keys, render) {
  const fields = (key) => [...body.querySelectorAll(`input[data-${key}], select[data-${key}]`)];
  const typed = [keys].flat().map((key) => [key, new Map(fields(key).filter((f) => f.value)
    .map((f) => [f.getAttribute(`data-${key}`), f.value]))]);
  render();
  for (const [key, values] of typed) {
    for (const field of fields(key)) field.value = values.get(field.getAttribute(`data-${key}`)) ?? field.value;
  }
}

const MARKET_DONE = {
  buy: (p) => `Bought ${money(p.notes)} of notes of loan ${p.loan_id} for ${money(p.cost)}.`,
  delist: (p) => `Listing ${p.listing_id} withdrawn.`,
  sell: (p) => `Sold ${money(p.notes)} of notes of loan ${p.loan_id} for ${money(p.cost)}.`,
  cancel_bid: (p) => `Bid ${p.bid_id} cancelled.`,
};

async function sellNow(loanId) {
  const plan = await api("/api/v1/market/sell-now", { method: "POST", body: { loan_id: loanId } });
  const receipt = await sendAll(plan.transactions);
  say(`Sold ${money(plan.notes)} of notes of loan ${plan.loan_id} for ${money(plan.cost)} into ${plan.bid_ids.length} bid(s).`);
  refreshWhenIndexed(receipt, refreshMarket, refreshPortfolio);
}

async function marketAction(kind, id, action) {
  const takes = action === "buy" || action === "sell";
  const plan = await api(`/api/v1/market/${kind === "listing" ? "listings" : "bids"}/${id}/${action}`,
    { method: "POST", body: takes ? {} : undefined });
  const receipt = await sendAll(plan.transactions);
  say(MARKET_DONE[plan.action](plan));
  refreshWhenIndexed(receipt, refreshMarket, refreshPortfolio);
}

async function placeOrder(event, path, verb) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {
    loan_id: Number(form.get("loan_id")),
    notes: Math.round(Number(form.get("notes")) * 10 ** state.decimals),
    price_bps: Math.round(Number(form.get("price")) * 100),
    good_for_days: form.get("days") ? Number(form.get("days")) : null,
  };
  const plan = await api(path, { method: "POST", body });
  const receipt = await sendAll(plan.transactions);
  say(`${verb} ${money(plan.notes)} of notes of loan ${plan.loan_id}.`);
  event.target.reset();
  refreshWhenIndexed(receipt, refreshMarket);
}

// What an order would fetch, shown as the maker types: the cost and the buyer's yield at that price.
const quoteTimers = {};

function watchQuote(formId) {
  const form = $(formId);
  const later = () => {
    clearTimeout(quoteTimers[formId]);
    quoteTimers[formId] = setTimeout(() => showQuote(form, $(`${formId}-quote`)), 300);
  };
  form.addEventListener("input", later);
  form.addEventListener("reset", () => { $(`${formId}-quote`).textContent = ""; });
  return later;
}

async function showQuote(form, output) {
  const current = newest(form.id);
  const [loan, notes, price] = ["loan_id", "notes", "price"].map((name) => Number(form.elements[name].value));
  if (!(loan >= 1 && notes > 0 && price > 0)) {
    output.textContent = "";
    return;
  }
  const query = `loan_id=${loan}&notes=${Math.round(notes * 10 ** state.decimals)}&price_bps=${Math.round(price * 100)}`;
  const text = await api(`/api/v1/market/quote?${query}`).then((q) => {
    const ytm = q.yield_to_maturity == null ? "nothing left to earn"
      : `the buyer's yield to maturity ${(q.yield_to_maturity * 100).toFixed(2)}% a year`;
    return `At ${percent(q.price_bps)} of face: ${money(q.cost)} for ${money(q.outstanding)} of principal outstanding, ${ytm}.`;
  }, (error) => error.message);
  if (current()) output.textContent = text;
}

const quoteSale = watchQuote("sell-form");
watchQuote("bid-form");

const offerNotes = (event) => placeOrder(event, "/api/v1/market/listings", "Offered");
const bidForNotes = (event) => placeOrder(event, "/api/v1/market/bids", "Bid for");

// --- verify a record: anyone checks a document against its on-chain anchor --------------------

function showVerification(v) {
  $("verify-result").textContent = `${v.status.toUpperCase()}: ${v.reason}`;
  $("verify-result").dataset.status = v.status;
  const block = v.block_number == null ? null : `${v.block_number}${v.timestamp ? `, ${v.timestamp}` : ""}`;
  const facts = [
    ["CID", v.cid], ["document hash (keccak-256)", v.doc_hash], ["Merkle root", v.root], ["block", block],
    ["transaction", v.tx_hash], ["DocumentAnchor", v.contract && `${v.contract} on chain ${v.chain_id}`],
    ["Merkle proof", v.proof && `${v.proof.length} sibling hashes`],
  ].filter(([, value]) => value != null);
  $("verify-details").replaceChildren(...facts.map(([name, value]) => Object.assign(document.createElement("li"), {
    textContent: `${name}: ${value}`,
  })));
  $("verify-proof").hidden = v.status !== "verified";
  if (v.status === "verified") $("verify-proof").href = `/api/v1/verify/proof?cid=${encodeURIComponent(v.cid)}`;
}

async function verifyRecord(event) {
  event.preventDefault();
  const cid = $("verify-cid").value.trim();
  const file = $("verify-file").files[0];
  if (!cid && !file) throw new Error("Give a CID, a file, or both.");
  if (!file) return showVerification(await api(`/api/v1/verify?cid=${encodeURIComponent(cid)}`));
  const form = new FormData();
  form.append("file", file);
  if (cid) form.append("cid", cid);
  showVerification(await api("/api/v1/verify", { method: "POST", form }));
}

async function verifyAgreement(loanId) {
  const loan = await api(`/api/v1/loans/${loanId}`);
  if (!loan.agreement_cid) throw new Error(`Loan ${loanId}: its agreement is not stored on this platform.`);
  $("verify-cid").value = loan.agreement_cid;
  $("verify-file").value = "";
  showVerification(await api(`/api/v1/verify?cid=${encodeURIComponent(loan.agreement_cid)}`));
  $("verify-section").scrollIntoView();
}

async function refreshPortfolio() {
  const current = newest("portfolio");
  const p = await api("/api/v1/portfolio");
  if (!current()) return;
  $("portfolio-summary").textContent = `${p.loans_at_risk} loan${p.loans_at_risk === 1 ? "" : "s"} at risk, exposure ${money(p.exposure)}, `
    + `largest ${(p.largest_share * 100).toFixed(1)}%, effective number of loans ${p.effective_loans.toFixed(1)}`
    + (p.refundable > 0 ? `; ${money(p.refundable)} to take back from loans that did not fund` : "")
    + (p.claimable > 0 ? `; ${money(p.claimable)} to collect` : "")
    + (p.expected_loss > 0 ? `; expected loss ${money(p.expected_loss)} before the reserve's cover` : "")
    + (p.open_bids > 0 ? `; ${money(p.bid_commitment)} offered in ${p.open_bids} open bids` : "")
    + (p.net_annual_return != null ? `; net annual return ${(p.net_annual_return * 100).toFixed(2)}%` : "");
  $("claim-all-row").hidden = !(p.claimable > 0);
  $("positions").replaceChildren(...p.positions.map((pos) => {
    const row = document.createElement("tr");
    row.dataset.loan = pos.loan_id;
    const bidsNow = pos.bid_now > 0 ? `${money(pos.sell_now)} for ${money(pos.bid_now)}` : "-";
    const standing = pos.days_past_due == null ? pos.status : pos.days_past_due > 0 ? `${pos.days_past_due} days late` : "current";
    for (const text of [pos.loan_id, standing, pos.grade ?? "-", percent(pos.apr_bps), money(pos.notes),
      money(pos.listed), money(pos.exposure), money(pos.claimable), bidsNow]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    const cell = document.createElement("td");
    if (pos.status === "active" && pos.notes > 0) {  // only notes of active loans trade: fill in the offer form
      const sell = Object.assign(document.createElement("button"), { textContent: "Sell" });
      Object.assign(sell.dataset, { loan: pos.loan_id, action: "sell" });
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
      exit.onclick = guard(() => sellNow(pos.loan_id));
      cell.append(" ", exit);
    }
    row.append(cell);
    return row;
  }));
  $("portfolio-warnings").replaceChildren(...p.warnings.map((w) => Object.assign(document.createElement("li"), { textContent: w })));
}

async function planInvestment(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { amount: Math.round(Number(form.get("amount")) * 10 ** state.decimals) };
  if (form.get("max_per_loan")) body.max_per_loan = Math.round(Number(form.get("max_per_loan")) * 10 ** state.decimals);
  const plan = await api("/api/v1/portfolio/plan", { method: "POST", body });
  const receipt = await sendAll(plan.transactions);
  say(`Invested ${money(plan.allocated)} in ${plan.allocations.length} loans.`);
  refreshWhenIndexed(receipt, refreshLoans, refreshPortfolio);
}

// A standing instruction: the worker tells the investor of each new matching loan; funding them
// is one click, and the wallet signs every transaction.
async function refreshRule() {
  const current = newest("rule");
  let rule = null;
  try {
    rule = await api("/api/v1/portfolio/rule");
  } catch (e) {
    if (!e.message.startsWith("404")) throw e;
  }
  if (!current()) return;
  $("rule-summary").textContent = rule
    ? `Holding ${money(rule.per_loan)} per new loan`
      + (rule.grades ? ` of grade ${rule.grades.join(", ")}` : "")
      + (rule.min_apr_bps != null ? `, at least ${(rule.min_apr_bps / 100).toFixed(2)}% APR` : "")
      + (rule.max_installments != null ? `, at most ${rule.max_installments} installments` : "")
      + `; ${rule.matching_now.length} loans match now.`
    : "No standing instruction.";
  $("rule-fund").hidden = !(rule && rule.matching_now.length);
  $("rule-drop").hidden = !rule;
}

async function saveRule(event) {
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

async function fundMatches() {
  const plan = await api("/api/v1/portfolio/rule/plan", { method: "POST" });
  const receipt = await sendAll(plan.transactions);
  say(`Invested ${money(plan.allocated)} in ${plan.allocations.length} matching loans.`);
  refreshWhenIndexed(receipt, refreshLoans, refreshPortfolio, refreshRule);
}

async function dropRule() {
  await api("/api/v1/portfolio/rule", { method: "DELETE" });
  say("Standing instruction dropped.");
  await refreshRule();
}

async function claimAll() {
  const plan = await api("/api/v1/portfolio/claim", { method: "POST" });
  await sendAll(plan.transactions);
  say(`Collected ${money(plan.amount)}.`);
  await refreshPortfolio();
}

async function downloadStatement(event) {
  event.preventDefault();
  const year = new FormData(event.target).get("year");
  const query = year === "all" ? "" : `?year=${year}`;
  const s = await api(`/api/v1/portfolio/statement${query}`);
  const e = s.earnings;
  $("statement-summary").textContent = `${s.lines.length} movements: paid in ${money(s.funded)}, `
    + `taken back ${money(s.refunded)}, collected ${money(s.collected)}; net ${money(s.net_cash)}. `
    + `Earned: interest ${money(e.interest)}, late fees ${money(e.late_fees)}, principal back ${money(e.principal)}, `
    + `reserve cover ${money(e.cover)}, recovered ${money(e.recovered)}, written off ${money(e.written_off)}, `
    + `trading ${money(e.market_result)}; net return ${money(e.net_return)}`;
  const part = event.submitter?.value === "earnings" ? "earnings" : "statement";
  await downloadCsv(`/api/v1/portfolio/${part}.csv${query}`, `loanchain-${part}-${year}.csv`);
}

async function refreshDisclosure() {
  const current = newest("disclosure");
  const d = await api("/api/v1/disclosure");
  if (!current()) return;
  const rate = (x) => (x == null ? "n/a" : `${(x * 100).toFixed(2)}%`);
  const cover = d.reserve.coverage_of_expected_loss;
  $("disclosure").textContent = `${Object.entries(d.loans).map(([k, v]) => `${v} ${k}`).join(", ")} loans; `
    + `${money(d.principal_originated)} originated, ${money(d.principal_outstanding)} outstanding; `
    + `default rate ${rate(d.default_rate)}, net loss rate ${rate(d.net_loss_rate)}; `
    + `${d.delinquency.loans_16_plus} loans 16+ days late; reserve ${money(d.reserve.balance)}`
    + (cover == null ? "" : ` (${cover.toFixed(1)}x the expected loss)`)
    + `; ${d.borrowers} borrowers, ${d.investors} investors`
    + (d.concentration.top10_borrowers_share == null ? "" : `; top 10 borrowers owe ${rate(d.concentration.top10_borrowers_share)}`)
    + (d.by_grade.length ? `; default rate by grade: ${d.by_grade.map((g) => `${g.grade} ${rate(g.default_rate)}`).join(", ")}` : "")
    + `; secondary market: ${d.market.open_listings} offers, ${d.market.open_bids} bids, ${d.market.trades} trades, volume ${money(d.market.volume)}`;
  const [reports, month] = await Promise.all([api("/api/v1/disclosure/reports"),
    api("/api/v1/disclosure/flows").catch(() => null)]); // no block indexed yet: no month to speak of
  if (!current()) return;
  $("disclosure-month").textContent = month == null ? "" : `This month so far (since ${day(month.start)}): `
    + `${month.loans_disbursed} loans disbursed for ${money(month.principal_disbursed)}, `
    + `${money(month.principal_repaid)} principal and ${money(month.interest_paid)} interest repaid, `
    + `${month.loans_repaid} loans paid off, ${month.defaults} defaults, ${month.trades} trades for ${money(month.trade_volume)}`;
  $("disclosure-reports").replaceChildren(...reports.map((r) => {
    const item = document.createElement("li");
    const doc = Object.assign(document.createElement("a"), { href: `/api/v1/disclosure/reports/${r.period}`, textContent: r.period });
    const proof = Object.assign(document.createElement("a"), { href: r.verify_url, textContent: r.anchor_tx ? "anchored: verify" : "anchoring pending" });
    item.append(doc, ` (as of block ${r.as_of_block}, CID ${r.cid}) `, proof);
    return item;
  }));
}

async function refreshNotices() {
  const notices = await api("/api/v1/servicing/notices");
  // Newest first, each with the day it was made (UTC).
  $("notices").replaceChildren(...notices.map((n) => Object.assign(document.createElement("li"),
    { textContent: `${n.created_at.slice(0, 10)}: ${n.message}` })));
}

// --- staff: referrals, traces, aging -----------------------------------------------------------

const has = (...roles) => roles.some((r) => state.roles.includes(r));

async function refreshStaff() {
  const current = newest("staff");
  const oversight = has("auditor", "admin");
  const [waiting, kycQueue, grants, collections, aging, alerts] = await Promise.all([
    has("underwriter") ? api("/api/v1/score/referrals") : null,
    has("admin") ? api("/api/v1/admin/kyc/queue") : null,
    has("admin") ? api("/api/v1/admin/roles") : null,
    oversight ? api("/api/v1/servicing/collections") : null,
    oversight ? api("/api/v1/servicing/aging") : null,
    oversight ? api("/api/v1/audit/alerts") : null,
  ]);
  if (!current()) return;
  $("staff-section").hidden = $("staff-link").hidden = !has("underwriter", "auditor", "admin");
  $("underwriting").hidden = !has("underwriter");
  $("oversight").hidden = !oversight;
  if (waiting) {
    $("referrals").replaceChildren(...waiting.map((d) => {
      const item = document.createElement("li");
      item.dataset.decision = d.id;
      item.textContent = `${d.id.slice(0, 8)}: grade ${d.grade}, score ${d.score}, ${d.reasons.map((r) => r.text).join("; ")} `;
      for (const outcome of ["approve", "decline"]) {
        const b = Object.assign(document.createElement("button"), { textContent: outcome });
        b.dataset.outcome = outcome;
        b.onclick = guard(async () => {
          await api(`/api/v1/score/${d.id}/review`, { method: "POST", body: { outcome, note: $("review-note").value } });
          say(`Referral ${d.id.slice(0, 8)}: ${outcome}d.`);
          await refreshStaff();
        });
        item.append(b);
      }
      return item;
    }));
  }
  $("role-admin").hidden = !grants;
  if (grants) {
    $("role-grants").replaceChildren(...grants.map((g) => Object.assign(document.createElement("li"), {
      textContent: `${g.wallet}: ${g.role}, granted by ${g.granted_by}`,
    })));
  }
  $("kyc-review").hidden = !kycQueue;
  if (kycQueue) {
    $("kyc-queue").replaceChildren(...kycQueue.map(({ record, data }) => {
      const item = document.createElement("li");
      item.dataset.record = record.id;
      item.textContent = `${record.wallet}: ${data.full_name}, ${record.reasons.map((r) => r.code).join(", ")} `;
      for (const decision of ["approve", "reject"]) {
        const b = Object.assign(document.createElement("button"), { textContent: decision });
        b.dataset.decision = decision;
        b.onclick = guard(async () => {
          await api(`/api/v1/admin/kyc/${record.id}/${decision}`, { method: "POST", body: { note: $("kyc-note").value } });
          say(`KYC record ${record.id.slice(0, 8)}: ${decision === "approve" ? "approved" : "rejected"}.`);
          await refreshStaff();
        });
        item.append(b);
      }
      // The masked view is the default; unmasking is a deliberate, audited step with a reason.
      const reveal = Object.assign(document.createElement("button"), { textContent: "reveal for review" });
      reveal.dataset.decision = "reveal";
      reveal.onclick = guard(async () => {
        const r = await api(`/api/v1/admin/kyc/${record.id}/reveal`, { method: "POST", body: { reason: "review" } });
        const d = r.data;
        item.querySelector(".revealed")?.remove();
        item.append(Object.assign(document.createElement("p"), {
          className: "revealed",
          textContent: `Unmasked (audited): ${d.full_name}, born ${d.date_of_birth}, ${d.nationality}; `
            + `${d.id_type} ${d.id_number}; ${d.address_line}, ${d.postal_code} ${d.city}, ${d.country}; ${d.phone}, ${d.email}`,
        }));
      });
      item.append(reveal);
      return item;
    }));
  }
  if (oversight) {
    keepTyped($("alerts"), "alert-note", () => $("alerts").replaceChildren(...(alerts.length ? alerts.map(alertItem)
      : listItems(["No alerts: no note movement matches a monitoring rule."]))));
    keepTyped($("collections"), ["case", "case-kind", "case-amount", "case-days"],
      () => $("collections").replaceChildren(...collections.map(collectionItem)));
    $("aging").replaceChildren(...aging.buckets.map((b) => {
      const row = document.createElement("tr");
      for (const text of [b.bucket, b.loans, money(b.principal_outstanding), money(b.due_now)]) {
        row.append(Object.assign(document.createElement("td"), { textContent: text }));
      }
      return row;
    }));
  }
}

async function changeRole(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { wallet: form.get("wallet"), role: form.get("role"), action: event.submitter.value };
  const result = await api("/api/v1/admin/roles", { method: "POST", body });
  say(`${result.wallet}: ${result.changed ? `${result.role} ${result.action === "grant" ? "granted" : "revoked"}` : "no change"}; `
    + `roles now ${result.roles.join(", ") || "none"}.`);
  await refreshStaff();
}

// A monitoring alert for the case file: reviewed (decision, who, why), or open with Clear / Escalate.
function alertItem(a) {
  const item = Object.assign(document.createElement("li"), { textContent: `${a.rule}, loan ${a.loan_id}: ${a.detail}` });
  item.dataset.alert = a.key;
  if (a.review) {
    item.append(` (${a.review.decision} by ${a.review.reviewer}: ${a.review.note})`);
    return item;
  }
  const note = Object.assign(document.createElement("input"), { placeholder: "what you looked at and found" });
  note.dataset.alertNote = a.key;
  item.append(" ", note);
  for (const [label, decision] of [["Clear", "cleared"], ["Escalate", "escalated"]]) {
    const button = Object.assign(document.createElement("button"), { textContent: label });
    Object.assign(button.dataset, { alert: a.key, decision });
    button.onclick = guard(() => reviewAlert(a.key, decision, document.querySelector(`input[data-alert-note="${a.key}"]`).value));
    item.append(" ", button);
  }
  return item;
}

// A loan in collections with its case log, and (for underwriters and admins) a line to add to it.
function collectionItem(c) {
  const item = Object.assign(document.createElement("li"), {
    textContent: `loan ${c.loan_id} ${c.bucket}${c.days_past_due == null ? "" : `, ${c.days_past_due} days past due`}: `
      + `${money(c.amount_owed)} owed; notices ${c.notices.join(", ") || "none"}`,
  });
  item.dataset.collection = c.loan_id;
  if (has("underwriter", "admin")) item.append(" ", ...caseControls(c.loan_id));
  if (c.actions.length) {
    const log = document.createElement("ul");
    log.replaceChildren(...listItems(c.actions.map((a) => `${day(a.chain_time)} ${a.kind.replaceAll("_", " ")}`
      + (a.promised_amount ? ` of ${money(a.promised_amount)} by ${day(a.promised_by)} (${a.promise_status})` : "")
      + `: ${a.note ?? "(erased)"} (${a.actor.slice(0, 10)}…)`)));
    item.append(log);
  }
  return item;
}

function caseControls(loanId) {
  const kind = document.createElement("select");
  kind.dataset.caseKind = loanId;
  kind.append(...["contacted", "no_answer", "promise_to_pay", "dispute", "hardship", "note"].map((k) =>
    Object.assign(document.createElement("option"), { value: k, textContent: k.replaceAll("_", " ") })));
  const note = Object.assign(document.createElement("input"), { placeholder: "what was done or said" });
  note.dataset.case = loanId;
  const amount = Object.assign(document.createElement("input"), { type: "number", min: "0", placeholder: "promised amount" });
  const days = Object.assign(document.createElement("input"), { type: "number", min: "1", max: "60", placeholder: "within days" });
  amount.dataset.caseAmount = days.dataset.caseDays = loanId;
  const record = Object.assign(document.createElement("button"), { textContent: "Record" });
  Object.assign(record.dataset, { loan: loanId, action: "record-case" });
  record.onclick = guard(() => recordCase(loanId, kind.value, note.value, amount.value, days.value));
  return [kind, " ", note, " ", amount, " ", days, " ", record];
}

async function recordCase(loanId, kind, note, amount, days) {
  const body = { kind, note };
  if (kind === "promise_to_pay") {
    body.promised_amount = Math.round(Number(amount) * 10 ** state.decimals);
    body.promised_in_days = Number(days);
  }
  const a = await api(`/api/v1/servicing/collections/${loanId}/actions`, { method: "POST", body });
  say(`Loan ${loanId}: ${a.kind.replaceAll("_", " ")} recorded${a.promise_status ? ` (promise ${a.promise_status})` : ""}.`);
  await refreshStaff();
}

async function reviewAlert(key, decision, note) {
  const a = await api(`/api/v1/audit/alerts/${key}/review`, { method: "POST", body: { decision, note } });
  say(`Alert ${a.rule} on loan ${a.loan_id}: ${a.review.decision}.`);
  await refreshStaff();
}

const listItems = (texts) => texts.map((textContent) => Object.assign(document.createElement("li"), { textContent }));

function eventLine(e) {
  const args = Object.entries(e.args).map(([k, v]) => `${k}=${v}`).join(", ");
  return `block ${e.block_number}, tx ${e.tx_hash.slice(0, 10)}…: ${e.contract}.${e.event}(${args})`;
}

async function traceLoan(loanId) {
  const trace = await api(`/api/v1/audit/trace/loan/${loanId}`);
  $("trace-result").textContent = `Loan ${trace.loan_id} (${trace.status}): ${trace.consistent ? "consistent" : "INCONSISTENT"}, `
    + `${trace.events.length} events`;
  $("trace-checks").replaceChildren(...listItems(trace.checks.map((c) => `${c.ok ? "ok" : "FAIL"} ${c.name}: ${c.detail}`)));
  $("trace-events").replaceChildren(...listItems(trace.events.map(eventLine)));
}

async function traceTx(hash) {
  const trace = await api(`/api/v1/audit/trace/tx/${hash}`);
  const sender = trace.intent_key ? `sent by the platform (outbox ${trace.intent_key}, ${trace.intent_status}, ${trace.function})`
    : "not sent by the platform";
  $("trace-result").textContent = `Transaction ${trace.tx_hash}: ${trace.events.length} events, ${sender}`;
  $("trace-checks").replaceChildren();
  $("trace-events").replaceChildren(...listItems(trace.events.map(eventLine)));
}

async function traceAddress(address) {
  const trace = await api(`/api/v1/audit/trace/address/${address}`);
  const notes = Object.entries(trace.notes).map(([loan, n]) => `loan ${loan}: ${money(n)}`).join(", ") || "none";
  $("trace-result").textContent = `${trace.address}: KYC level ${trace.attestation_level} on-chain; borrower in loans `
    + `${trace.loans_as_borrower.join(", ") || "none"}; notes ${notes}; funded ${money(trace.funded)}, repaid ${money(trace.repaid)}`;
  $("trace-checks").replaceChildren();
  $("trace-events").replaceChildren(...listItems(trace.transactions.map((tx) => `transaction ${tx}`)));
}

async function trace() {
  const what = $("trace-what").value.trim();
  if (/^\d+$/.test(what)) return traceLoan(Number(what));
  if (/^0x[0-9a-fA-F]{64}$/.test(what)) return traceTx(what);
  if (/^0x[0-9a-fA-F]{40}$/.test(what)) return traceAddress(what);
  throw new Error("Trace a loan id, a transaction hash (0x + 64 hex) or an address (0x + 40 hex).");
}

// --- wiring ----------------------------------------------------------------------------------

function guard(fn) {
  return (...args) => fn(...args).catch((error) => say(error.message, true));
}

$("connect").onclick = guard(signIn);
$("kyc-form").onsubmit = guard(submitKyc);
$("apply-form").onsubmit = guard(apply);
$("get-offer").onclick = guard(getOffer);
$("sign-offer").onclick = guard(signOffer);
$("refresh-loans").onclick = guard(async () => {
  await Promise.all([refreshLoans(), refreshDisclosure(), refreshMarket()]);
  if (state.token) await Promise.all([refreshPortfolio(), refreshNotices(), refreshStaff(), refreshRule()]);
});
$("plan-form").onsubmit = guard(planInvestment);
$("claim-all").onclick = guard(claimAll);
$("rule-form").onsubmit = guard(saveRule);
$("rule-fund").onclick = guard(fundMatches);
$("rule-drop").onclick = guard(dropRule);
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
