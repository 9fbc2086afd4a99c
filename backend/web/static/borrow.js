// Borrowing: the application, the decision with its reasons, the offer and its EIP-712 signature.

import { $, api, has, instant, money, newest, percent, plural, say, state, wallet, wholeTokens } from "./core.js";
import { choiceWords } from "./choices.js";
import { refreshLoans } from "./loans.js";

// Each closed question starts unanswered and must be answered: a form sent untouched would
// otherwise be scored on its first answers (the worst ones) and recorded as a decline.
export async function fillApplicationChoices() {
  const spec = await api("/openapi.json");
  const properties = spec.components.schemas.ApplicationCreate.properties;
  for (const select of document.querySelectorAll("#apply-form select")) {
    const ask = new Option("Choose…", "", true, true);
    ask.disabled = true;
    select.replaceChildren(ask);
    select.required = true;
    for (const value of properties[select.name].enum ?? []) select.add(new Option(choiceWords(select.name, value), value));
  }
}

// `taken`: the offer of this decision already accepted, if any (one decision, one loan).
export function showDecision(decision, taken = null) {
  state.decision = decision;
  $("decision").hidden = !decision;
  if (!decision) return;
  $("decision-outcome").textContent = outcomeWords(decision);
  $("decision-grade").textContent = decision.grade;
  $("decision-score").textContent = decision.score;
  // A decline has no price: its place goes to the reasons and what to do next.
  const quote = decision.quote;
  $("decision-price").hidden = $("decision-apr-note").hidden = !quote;
  if (quote) {  // the quote prices interest and the reserve's fee together; the loan's own rate is the interest
    $("decision-rate").textContent = percent(quote.apr_bps - quote.reserve_fee_bps);
    $("decision-apr").textContent = percent(quote.apr_bps);
    // The reserve's fee as the quote states it (quotes of models before it was priced by risk state none).
    $("decision-fee-part").hidden = quote.origination_fee_bps == null;
    $("decision-fee").textContent = quote.origination_fee_bps == null ? "" : percent(quote.origination_fee_bps);
    $("decision-max").textContent = wholeTokens(quote.max_amount);
  }
  // The lending rules it did not meet come first: when one of them referred what the score would have
  // approved, it is the principal reason, not the score (Reg B).
  const rules = decision.policy_reasons ?? [];
  $("decision-policy-reasons").replaceChildren(...rules.map((r) => Object.assign(document.createElement("li"),
    { textContent: r.text })));
  $("decision-policy-title").hidden = !rules.length;
  $("decision-reasons").replaceChildren(...decision.reasons.map((r) => Object.assign(document.createElement("li"),
    { textContent: `${r.text} (${r.points_lost} points)` })));
  $("decision-reasons-title").hidden = !decision.reasons.length;
  const waiting = decision.decision === "refer" && !decision.review;
  const declined = decision.decision === "decline" || decision.review?.outcome === "decline";
  // Offers are for borrowers (KYC with an ID document); an investor-only wallet is told how to become one.
  const mayBorrow = has("borrower");
  $("get-offer").hidden = declined || waiting || Boolean(taken) || !mayBorrow;
  $("decision-next").textContent = !mayBorrow && !declined && !taken ? NOT_BORROWER : taken
    ? `You accepted the offer of this decision${taken.loan_id == null ? ": it is being recorded on-chain" : `: it is loan ${taken.loan_id}`}. Apply again for another loan.`
    : waiting ? "An underwriter reviews your application; once it is approved, your offer can be made here."
      : declined ? (rules.length ? DECLINED_BY_RULES : DECLINED) : "";
}

const NOT_BORROWER = "To get an offer, verify your identity with an ID document (step 1: upload it with the form): "
  + "borrowing needs one, investing does not.";

const OUTCOMES = { approve: "approved", refer: "referred to an underwriter", decline: "declined" };

const outcomeWords = (d) => (d.review ? `referred, then ${OUTCOMES[d.review.outcome]} by an underwriter` : OUTCOMES[d.decision]);

const DECLINED = "We cannot lend on this application. The answers listed above lowered your score most. You may ask "
  + "us to explain this decision (it is kept with its reasons), and apply again when your circumstances change.";
const DECLINED_BY_RULES = "We cannot lend on this application, principally because of the lending rules listed first "
  + "above; the answers listed after them are what lowered your score. You may ask us to explain this decision (it is "
  + "kept with its reasons), and apply again when your circumstances change, or for a smaller amount or a longer term.";

// The signed-in wallet's latest decision, and whether its offer was already accepted.
export async function refreshDecision() {
  const current = newest("decision");
  const [latest] = await api("/api/v1/score/mine");
  // That decision's offers only: the list comes a page at a time, and older decisions' offers could fill it.
  const offers = latest ? await api(`/api/v1/offers?decision_id=${encodeURIComponent(latest.id)}`) : [];
  if (!current()) return;
  showDecision(latest ?? null, latest && offers.find((o) => o.decision_id === latest.id && ["submitting", "created"].includes(o.state)));
}

// What the ledger shows of the signed-in wallet's borrowing: the application is checked against it,
// so the form says it first and starts from it.
export async function refreshBorrowing() {
  const b = await api("/api/v1/offers/borrowing");
  const form = $("apply-form").elements;
  form.existing_loans_with_us.min = b.open_loans;
  form.existing_loans_with_us.value = Math.max(Number(form.existing_loans_with_us.value), b.open_loans);
  form.monthly_debt_payments.min = b.monthly_debt_with_us;
  form.monthly_debt_payments.value = Math.max(Number(form.monthly_debt_payments.value), b.monthly_debt_with_us);
  form.amount.max = Math.min(20000, b.headroom);
  $("apply-ledger").hidden = b.open_loans === 0;
  $("apply-ledger").textContent = b.owing_defaulted.length
    ? `Settle loan ${b.owing_defaulted.join(", ")} (in default) before borrowing again.`
    : `You have ${plural(b.open_loans, "open loan")} with us, taking ${wholeTokens(b.monthly_debt_with_us)} a month `
      + `(counted in your monthly debt payments); you may borrow up to ${wholeTokens(b.headroom)} more `
      + `(one borrower owes at most ${wholeTokens(b.cap)} at once).`;
}

export async function apply(event) {
  event.preventDefault();
  const application = {};
  for (const [key, value] of new FormData(event.target)) {
    application[key] = event.target.elements[key].type === "number" ? Number(value) : value;
  }
  const decision = await api("/api/v1/score", { method: "POST", body: application });
  showDecision(decision);
  say(`Decision: ${outcomeWords(decision)}.`);
}

function showOffer(offer) {
  state.offer = offer;
  $("offer-section").hidden = false;
  $("offer-principal").textContent = money(offer.terms.principal);
  $("offer-apr").textContent = percent(offer.price.interest_apr_bps);
  const t = offer.terms;
  $("offer-fee").textContent = `${money(t.principal - offer.price.amount_financed)} (${percent(offer.price.origination_fee_bps)})`;
  const period = t.installment_period / 86_400;
  $("offer-installments").textContent = `${t.installments} × ${money(offer.price.installment_amount)}, every ${plural(period, "day")}`;
  // Due dates run from the payout, unknown until the loan is funded and paid out.
  $("offer-first-due").textContent = `${plural(period, "day")} after the payout`;
  $("offer-expires").textContent = instant(t.deadline);
  $("offer-funding-deadline").textContent = instant(t.funding_deadline);
  $("offer-total").textContent = money(offer.price.total_repayable);
  $("offer-financed").textContent = money(offer.price.amount_financed);
  $("offer-charge").textContent = money(offer.price.finance_charge);
  $("offer-true-apr").textContent = percent(offer.price.apr_actuarial_bps);
  $("offer-aprc").textContent = percent(offer.price.aprc_bps);
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

export async function getOffer() {
  showOffer(await api("/api/v1/offers", { method: "POST", body: { decision_id: state.decision.id } }));
  await showAgreement(state.offer);
  say("Your offer is ready: read the terms, then sign them with your wallet.");
}

export async function signOffer() {
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
  await Promise.all([refreshLoans(), refreshBorrowing(), refreshDecision()]);
}
