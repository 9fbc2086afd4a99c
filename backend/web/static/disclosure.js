// Public platform figures and the signed-in wallet's notices.

import { $, api, bucketWords, money, newest, plural, say, utcDay } from "./core.js";

// Failed, the figures say so rather than "loading…" for ever (the status line says why).
export async function refreshDisclosure() {
  const current = newest("disclosure");
  try {
    await showDisclosure(current);
  } catch (error) {
    if (current() && !error.stale) $("disclosure").textContent = "Figures unavailable right now.";
    throw error;
  }
}

async function showDisclosure(current) {
  const d = await api("/api/v1/disclosure");
  if (!current()) return;
  const rate = (x) => (x == null ? "n/a" : `${(x * 100).toFixed(2)}%`);
  const share = (x) => (x == null ? "n/a" : `${(Math.min(1, x) * 100).toFixed(1)}%`);
  const r = d.reserve;
  const feeOnly = d.defaults.fee_only ? ` (${d.defaults.fee_only} of them owing late fees only)` : "";
  const matured = d.by_grade.filter((g) => g.matured_loans);
  const platform = Object.entries(d.sources).filter(([, source]) => source.startsWith("platform records")).map(([name]) => name);
  // One line per question a reader asks, the rates that flatter a growing book (lifetime, diluted) beside
  // the ones that do not (annualised gross charge-offs, defaults among loans that ran their whole term).
  const lines = [
    `${Object.entries(d.loans).map(([k, v]) => `${v} ${k}`).join(", ")} loans; `
      + `${money(d.principal_originated)} originated, ${money(d.principal_outstanding)} outstanding`
      + (d.as_of_block == null ? "" : ` (as of block ${d.as_of_block})`),
    `${plural(d.defaults.count, "default")}${feeOnly}: default rate ${rate(d.default_rate)}, net loss rate ${rate(d.net_loss_rate)}`
      + " (of every loan ever paid out, however young)"
      + (d.gross_charge_off_rate == null ? "" : `; gross charge-offs ${rate(d.gross_charge_off_rate)} a year of the average `
        + `principal outstanding (${money(d.average_principal_outstanding)}), before the reserve's cover`),
    `${d.delinquency.loans_16_plus} loans 16+ days late`
      // forbearance held beside the lateness it would otherwise flatter
      + (d.forbearance?.loans ? `; ${plural(d.forbearance.loans, "loan")} under a hardship plan kept so far (`
        + `${share(d.forbearance.share_of_outstanding)} of the principal outstanding, ${d.forbearance.loans_16_plus} of them 16+ days late)` : "")
      + `; chance a late loan defaults on the installment it is behind on: ${d.roll_rates.map((x) => `${bucketWords(x.bucket)} ${rate(x.rate)}`).join(", ")}`
      + ` (from ${plural(d.roll_rates[0]?.episodes ?? 0, "settled late installment")}, with a stated prior)`,
    `Reserve ${money(r.balance)}`
      + (r.expected_cover_share == null ? "" : `: expected to pay ${share(r.expected_cover_share)} of a default's principal`)
      + (r.stress.length ? ` (${r.stress.map((x) => `${share(x.expected_cover_share)} with ${x.pd_multiple}x the defaults`).join(", ")})` : "")
      + (r.coverage_of_expected_loss == null ? "" : `; it could meet ${share(r.coverage_of_expected_loss)} of the expected loss`)
      + (r.largest_claim == null ? "" : `; the largest loan's default would get ${share(r.largest_claim_coverage)} of its claim of ${money(r.largest_claim)}`),
    matured.length
      ? `Defaults among loans that ran their whole term, by grade: ${matured.map((g) => `${g.grade} ${g.matured_defaulted} of ${g.matured_loans} (${rate(g.matured_default_rate)})`).join(", ")}`
      : "No loan has run its whole term yet: no default rate by grade to compare with a PD",
    ...(d.by_grade.length ? [`So far, however young (principal at default over originated): ${d.by_grade.map((g) => `${g.grade} ${rate(g.default_rate)}`).join(", ")}`] : []),
    `${d.borrowers} borrowers, ${d.investors} investors`
      + (d.concentration.top10_borrowers_share == null ? "" : `; top 10 borrowers owe ${rate(d.concentration.top10_borrowers_share)}`),
    `Secondary market: ${d.market.open_listings} offers, ${d.market.open_bids} bids, ${d.market.trades} trades, volume ${money(d.market.volume)}`,
    ...(platform.length ? [`From the platform's own records, not the chain (anyone else can rebuild the rest): ${platform.join(", ")}`] : []),
  ];
  const list = document.createElement("ul");
  list.append(...lines.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
  $("disclosure").replaceChildren(list);
  $("vintages").replaceChildren(...d.vintages.map((v) => {
    const row = document.createElement("tr");
    // A month on book not reached yet has no figure: "-" rather than a zero that looks like a record; one
    // some of the vintage's loans have not completed is a partial figure and says so.
    const at = (m) => (v.cumulative_default_rate.length < m ? "-"
      : `${rate(v.cumulative_default_rate[m - 1])}${m > v.complete_months ? " (partial)" : ""}`);
    for (const text of [v.vintage, v.loans, money(v.principal_originated), v.repaid_loans, v.defaulted_loans,
      rate(v.default_rate), rate(v.net_loss_rate), [3, 6, 12].map(at).join(" / ")]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    return row;
  }));
  const [reports, month] = await Promise.all([api("/api/v1/disclosure/reports"),
    api("/api/v1/disclosure/flows").catch(() => null)]); // no block indexed yet: no month to speak of
  if (!current()) return;
  $("disclosure-month").textContent = month == null ? "" : `This month so far (since ${utcDay(month.start)}): `
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

export async function refreshNotices() {
  const [notices, prefs] = await Promise.all([api("/api/v1/servicing/notices"), api("/api/v1/servicing/notices/preferences")]);
  const form = $("notice-prefs");
  form.hidden = false;
  form.elements.email.checked = prefs.email;
  form.elements.sms.checked = prefs.sms;
  // Newest first, each with the day it was made (UTC, and said so).
  $("notices").replaceChildren(...notices.map((n) => Object.assign(document.createElement("li"),
    { textContent: `${n.created_at.slice(0, 10)} UTC: ${n.message}` })));
}

export async function saveNoticePreferences(event) {
  event.preventDefault();
  const form = event.target.elements;
  const p = await api("/api/v1/servicing/notices/preferences", { method: "PUT", body: { email: form.email.checked, sms: form.sms.checked } });
  say(`Notices: in the app${p.email ? ", by e-mail" : ""}${p.sms ? ", payment notices by text message" : ""}.`);
}
