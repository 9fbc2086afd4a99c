// The notes' secondary market: public listings and bids; signed in, take or withdraw one, or place one.
// Prices are in % of the principal the notes still stand for (NoteMarket's): a note is a unit of the
// principal funded, and what the borrower has repaid of it went to whoever held it then.

import {
  $, againstFair, api, confirmPlan, guard, has, instant, keepTyped, money, newest, percent, plural, refreshWhenIndexed, say, sendAll,
  state,
} from "./core.js";
import { showBorrower } from "./loans.js";
import { refreshPortfolio } from "./portfolio.js";

const rate = (y) => `${(y * 100).toFixed(2)}%`;

function orderRow(o, id, kind, mine, cells) {
  const row = document.createElement("tr");
  row.dataset[kind] = id;
  const ratio = o.price_to_outstanding == null ? "-" : `${(o.price_to_outstanding * 100).toFixed(1)}%`;
  const until = o.expires_at == null ? "-" : instant(o.expires_at);
  const [ytm, expected] = [o.yield_to_maturity, o.expected_yield].map((y) => (y == null ? "-" : rate(y)));
  const fair = o.fair_price_bps == null ? "-" : percent(o.fair_price_bps);
  for (const text of [id, o.loan_id, o.grade ?? "-", percent(o.apr_bps), money(o.notes_left), percent(o.price_bps),
    ...cells, ratio, ytm, expected, fair, until]) {
    row.append(Object.assign(document.createElement("td"), { textContent: text }));
  }
  const cell = document.createElement("td");
  if (state.wallet) {
    const [label, action] = kind === "listing" ? (mine ? ["Withdraw", "delist"] : ["Buy", "buy"])
      : (mine ? ["Cancel", "cancel"] : ["Sell", "sell"]);
    const name = { delist: `Withdraw listing ${id}`, buy: `Buy listing ${id}`, cancel: `Cancel bid ${id}`, sell: `Sell into bid ${id}` }[action];
    if (action === "buy" && !has("investor")) {  // LoanBook moves notes to verified wallets only
      cell.append(Object.assign(document.createElement("span"), { className: "reason", textContent: "Verify your identity to buy." }));
    } else {
      const button = Object.assign(document.createElement("button"), { textContent: label });
      Object.assign(button.dataset, { [kind]: id, action });
      button.setAttribute("aria-label", name);
      button.onclick = guard(() => marketAction(kind, id, action, o));
      cell.append(button);
    }
    if (mine) cell.append(" ", ...repriceControls(kind, id));
    if (kind === "listing" && !mine && has("investor")) {  // a buyer decides as a funder does
      const about = Object.assign(document.createElement("button"), { textContent: "Borrower" });
      Object.assign(about.dataset, { listing: id, action: "borrower" });
      about.setAttribute("aria-label", `Borrower of loan ${o.loan_id}, listing ${id}`);
      about.onclick = guard(() => showBorrower(o.loan_id, about));
      cell.append(" ", about);
    }
  }
  row.append(cell);
  return row;
}

// A maker's own order: a new price (in % of the principal outstanding) and the button that sends it.
function repriceControls(kind, id) {
  const price = Object.assign(document.createElement("input"), {
    type: "number", step: "0.01", min: "0.01", max: "200", placeholder: "new %", className: "reprice",
  });
  price.dataset.reprice = id;
  price.setAttribute("aria-label", `new price of ${kind} ${id}, in % of the principal outstanding`);
  const button = Object.assign(document.createElement("button"), { textContent: "Reprice" });
  Object.assign(button.dataset, { [kind]: id, action: "reprice" });
  button.setAttribute("aria-label", `Reprice ${kind} ${id}`);
  button.onclick = guard(() => repriceOrder(kind, id, price.value));
  return [price, button];
}

async function repriceOrder(kind, id, percentValue) {
  if (!percentValue) throw new Error("Enter the new price, in % of the principal outstanding.");
  const side = kind === "listing" ? "listings" : "bids";
  const plan = await api(`/api/v1/market/${side}/${id}/reprice`,
    { method: "POST", body: { price_bps: Math.round(Number(percentValue) * 100) } });
  const receipt = await sendAll(plan.transactions);
  say(`${kind === "listing" ? "Listing" : "Bid"} ${id} repriced to ${Number(percentValue).toFixed(2)}%.`);
  refreshWhenIndexed(receipt, refreshMarket, refreshPortfolio);
}

export async function refreshMarket() {
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

const MARKET_DONE = {
  buy: (p) => `Bought ${money(p.notes)} of notes of loan ${p.loan_id} for ${money(p.cost)}.`,
  delist: (p) => `Listing ${p.listing_id} withdrawn.`,
  sell: (p) => `Sold ${money(p.notes)} of notes of loan ${p.loan_id} for ${money(p.cost)}.`,
  cancel_bid: (p) => `Bid ${p.bid_id} cancelled.`,
};

// Leaving a loan into the bids: `position` is the portfolio's row, whose fair value the sale is
// weighed against; both prices are of the principal the notes stand for (the position's exposure).
export async function sellNow(position) {
  const plan = await api("/api/v1/market/sell-now", { method: "POST", body: { loan_id: position.loan_id } });
  const standsFor = position.notes ? (position.exposure * plan.notes) / position.notes : 0;
  const priceBps = standsFor ? (plan.cost / standsFor) * 10_000 : 0;
  const fairBps = position.fair_value == null || !position.exposure ? null : (position.fair_value / position.exposure) * 10_000;
  const fair = againstFair(priceBps, fairBps, true);
  const fairValue = fairBps == null ? "" : ` (worth ${money((position.fair_value * plan.notes) / position.notes)} at the fair price)`;
  const yes = await confirmPlan({
    title: `Sell ${money(plan.notes)} of notes of loan ${plan.loan_id}?`,
    lines: [`You give up ${money(plan.notes)} of notes (face value)${fairValue} and receive ${money(plan.cost)}, `
      + `${percent(priceBps)} of the principal outstanding on average, from ${plural(plan.bid_ids.length, "bid")}.`, fair.line,
    `Your wallet will ask you to send ${plural(plan.transactions.length, "transaction")}.`],
    warning: fair.warning, yes: `Sell for ${money(plan.cost)}`,
  });
  if (!yes) return;
  const receipt = await sendAll(plan.transactions);
  say(`Sold ${money(plan.notes)} of notes of loan ${plan.loan_id} for ${money(plan.cost)} into ${plural(plan.bid_ids.length, "bid")}.`);
  refreshWhenIndexed(receipt, refreshMarket, refreshPortfolio);
}

// Taking an order moves money and notes at once: the user confirms the plan first. What the order
// row showed (`o`) gives the fair price.
function takingConfirmation(kind, id, plan, o) {
  const selling = kind === "bid";
  const priceBps = o.price_bps;
  const fair = againstFair(priceBps, o.fair_price_bps, selling);
  const txs = `Your wallet will ask you to send ${plural(plan.transactions.length, "transaction")}.`;
  return selling ? {
    title: `Sell into bid ${id}?`, warning: fair.warning, yes: `Sell for ${money(plan.cost)}`,
    lines: [`You give up ${money(plan.notes)} of notes of loan ${plan.loan_id} (face value) and receive ${money(plan.cost)}, `
      + `${percent(priceBps)} of the principal they stand for.`, fair.line, txs],
  } : {
    // A purchase can leave the wallet's open bids short of money: the buyer reads that before sending, beside the price's warning.
    title: `Buy listing ${id}?`, warning: [fair.warning, ...plan.warnings].filter(Boolean).join(" ") || null,
    yes: `Buy for ${money(plan.cost)}`,
    lines: [`${money(plan.cost)} leaves your wallet for ${money(plan.notes)} of notes of loan ${plan.loan_id} (face value), `
      + `${percent(priceBps)} of the principal they stand for.`, fair.line, txs],
  };
}

// Taking an order sends the price the table showed: the transaction reverts if the maker reprices past it.
async function marketAction(kind, id, action, o) {
  const takes = action === "buy" || action === "sell";
  const plan = await api(`/api/v1/market/${kind === "listing" ? "listings" : "bids"}/${id}/${action}`,
    { method: "POST", body: takes ? { quoted_price_bps: o.price_bps } : undefined });
  if (takes && !(await confirmPlan(takingConfirmation(kind, id, plan, o)))) return;
  const receipt = await sendAll(plan.transactions);
  say(MARKET_DONE[plan.action](plan));
  refreshWhenIndexed(receipt, refreshMarket, refreshPortfolio);
}

// Placing an order commits notes or money to whoever takes it first: confirmed with its quote.
async function placeOrder(event, path, verb) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {
    loan_id: Number(form.get("loan_id")),
    notes: Math.round(Number(form.get("notes")) * 10 ** state.decimals),
    price_bps: Math.round(Number(form.get("price")) * 100),
    good_for_days: form.get("days") ? Number(form.get("days")) : null,
  };
  const selling = verb === "Offered";
  const q = await api(`/api/v1/market/quote?loan_id=${body.loan_id}&notes=${body.notes}&price_bps=${body.price_bps}`);
  const plan = await api(path, { method: "POST", body });
  const fair = againstFair(body.price_bps, q.fair_price_bps, selling);
  const until = body.good_for_days ? `for ${plural(body.good_for_days, "day")}` : "until you withdraw it";
  const yes = await confirmPlan({
    title: selling ? `Offer ${money(body.notes)} of notes of loan ${body.loan_id} for sale?`
      : `Bid for ${money(body.notes)} of notes of loan ${body.loan_id}?`,
    lines: [selling
      ? `Anyone may buy them at ${percent(body.price_bps)} of the principal outstanding, ${until}: you would receive `
        + `${money(q.cost)} now (less as the borrower repays: you keep the repayments).`
      : `Any holder may sell them to you at ${percent(body.price_bps)} of the principal outstanding, ${until}: `
        + `${money(q.proceeds)} would leave your wallet now (less as the borrower repays).`,
    fair.line, `Your wallet will ask you to send ${plural(plan.transactions.length, "transaction")}.`],
    warning: fair.warning, yes: selling ? "Offer for sale" : "Place bid",
  });
  if (!yes) return;
  const receipt = await sendAll(plan.transactions);
  say(`${verb} ${money(plan.notes)} of notes of loan ${plan.loan_id}.`);
  event.target.reset();
  refreshWhenIndexed(receipt, refreshMarket, refreshPortfolio);
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
    const expected = q.expected_yield == null ? "" : `, ${rate(q.expected_yield)} with defaults expected`;
    const ytm = q.yield_to_maturity == null ? "nothing left to earn"
      : `the buyer's yield to maturity ${rate(q.yield_to_maturity)} a year${expected}`;
    const fair = q.fair_price_bps == null ? ""
      : ` Fair price ${percent(q.fair_price_bps)} (the buyer expects the loan's own rate there; PD now ${(q.pd_now * 100).toFixed(1)}%).`;
    return `At ${percent(q.price_bps)} of the principal outstanding: ${money(q.cost)} for ${money(q.outstanding)} of it, ${ytm}.${fair}`;
  }, (error) => error.message);
  if (current()) output.textContent = text;
}

export const quoteSale = watchQuote("sell-form");
watchQuote("bid-form");

export const offerNotes = (event) => placeOrder(event, "/api/v1/market/listings", "Offered");

export const bidForNotes = (event) => placeOrder(event, "/api/v1/market/bids", "Bid for");
