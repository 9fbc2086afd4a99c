// Public platform figures and the signed-in wallet's notices.

import { $, api, bucketWords, money, newest, plural, say, utcDay } from "./core.js";

// Failed, the figures say so rather than "loading…" for ever (the status line says why).
export async function refreshDisclosure() {
  const current = newest("disclosure");
  try {
    await showDisclosure(current);
  } catch (error) {
    if (current()) $("disclosure").textContent = "Figures unavailable right now.";
    throw error;
  }
}

async function showDisclosure(current) {
  const d = await api("/api/v1/disclosure");
  if (!current()) return;
  const rate = (x) => (x == null ? "n/a" : `${(x * 100).toFixed(2)}%`);
  const cover = d.reserve.coverage_of_expected_loss;
  $("disclosure").textContent = `${Object.entries(d.loans).map(([k, v]) => `${v} ${k}`).join(", ")} loans; `
    + `${money(d.principal_originated)} originated, ${money(d.principal_outstanding)} outstanding; `
    + `default rate ${rate(d.default_rate)}, net loss rate ${rate(d.net_loss_rate)}; `
    + `${d.delinquency.loans_16_plus} loans 16+ days late`
    + `; chance a late loan defaults on the installment it is behind on: ${d.roll_rates.map((r) => `${bucketWords(r.bucket)} ${rate(r.rate)}`).join(", ")}`
    + ` (from ${plural(d.roll_rates[0]?.episodes ?? 0, "settled late installment")}, with a stated prior)`
    + `; reserve ${money(d.reserve.balance)}`
    + (cover == null ? "" : ` (${cover.toFixed(1)}x the expected loss)`)
    + (d.reserve.expected_cover_share == null ? "" : `, expected to pay ${rate(d.reserve.expected_cover_share)} of a default's principal`)
    + (d.reserve.stress.length ? ` (${d.reserve.stress.map((s) => `${rate(s.expected_cover_share)} with ${s.pd_multiple}x the defaults`).join(", ")})` : "")
    + `; ${d.borrowers} borrowers, ${d.investors} investors`
    + (d.concentration.top10_borrowers_share == null ? "" : `; top 10 borrowers owe ${rate(d.concentration.top10_borrowers_share)}`)
    + (d.by_grade.length ? `; default rate by grade: ${d.by_grade.map((g) => `${g.grade} ${rate(g.default_rate)}`).join(", ")}` : "")
    + `; secondary market: ${d.market.open_listings} offers, ${d.market.open_bids} bids, ${d.market.trades} trades, volume ${money(d.market.volume)}`;
  $("vintages").replaceChildren(...d.vintages.map((v) => {
    const row = document.createElement("tr");
    // A month on book not reached yet has no figure: "-" rather than a zero that looks like a record.
    const at = (m) => (v.cumulative_default_rate.length >= m ? rate(v.cumulative_default_rate[m - 1]) : "-");
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
