// Staff: KYC review and referrals (their items in reviews.js), traces, monitoring alerts, collections and aging.

import {
  $, allPages, answerIn, api, bucketWords, day, guard, has, keepTyped, listItems, money, newest, plural, say, signInAgain, state, utcDay,
} from "./core.js";
import { keepUnmasked, kycItem, referralItem } from "./reviews.js";

export async function refreshStaff() {
  const current = newest("staff");
  const oversight = has("auditor", "admin");
  const collecting = has("underwriter", "auditor", "admin");  // underwriters work the queue: promises, plans
  const [waiting, kycQueue, grants, proposals, collections, aging, alerts, health, fairness] = await Promise.all([
    has("underwriter") ? api("/api/v1/score/referrals") : null,
    has("admin") ? api("/api/v1/admin/kyc/queue") : null,
    has("admin") ? allPages("/api/v1/admin/roles") : null,
    has("admin") ? api("/api/v1/admin/roles/pending") : null,
    collecting ? allPages("/api/v1/servicing/collections") : null,
    oversight ? api("/api/v1/servicing/aging") : null,
    oversight ? allPages("/api/v1/audit/alerts") : null,
    oversight ? fetch("/health").then((r) => r.json()) : null,  // 503 still carries the report
    oversight ? api("/api/v1/score/fairness/checks?limit=1") : null,
  ]);
  if (!current()) return;
  $("staff-section").hidden = $("staff-link").hidden = !has("underwriter", "auditor", "admin");
  $("underwriting").hidden = !has("underwriter");
  $("oversight").hidden = !oversight;
  $("collections-work").hidden = !collecting;
  if (waiting) {
    keepTyped($("referrals"), "review-note", () => $("referrals").replaceChildren(...waiting.map((d) => referralItem(d, refreshStaff))));
  }
  $("role-admin").hidden = !grants;
  if (grants) {
    $("role-grants").replaceChildren(...grants.map((g) => Object.assign(document.createElement("li"), {
      textContent: `${g.wallet}: ${g.role}, granted by ${g.granted_by}${g.confirmed_by ? `, confirmed by ${g.confirmed_by}` : ""}`,
    })));
    keepTyped($("role-pending"), [], () => $("role-pending").replaceChildren(...(proposals.length ? proposals.map(proposalItem)
      : listItems(["None: a grant proposed here waits for another admin's confirmation."]))));
  }
  $("kyc-review").hidden = !kycQueue;
  if (kycQueue) {
    keepUnmasked($("kyc-queue"), () => keepTyped($("kyc-queue"), ["kyc-note", "purpose"],
      () => $("kyc-queue").replaceChildren(...kycQueue.map((i) => kycItem(i, refreshStaff)))));
  }
  if (collections) {
    keepTyped($("collections"), ["case", "case-kind", "case-amount", "case-days", "plan-amount", "plan-days", "plan-periods"],
      () => $("collections").replaceChildren(...(collections.length ? collections.map(collectionItem)
        : listItems(["None: no loan is 16 or more days late, and no borrower asked for help."]))));
  }
  if (oversight) {
    $("ops-status").textContent = operations(health);
    $("fair-lending").textContent = fairLending(fairness[0]);
    keepTyped($("alerts"), "alert-note", () => $("alerts").replaceChildren(...(alerts.length ? alerts.map(alertItem)
      : listItems(["No alerts: nothing matches a monitoring rule."]))));
    $("aging").replaceChildren(...aging.buckets.map((b) => {
      const row = document.createElement("tr");
      for (const text of [bucketWords(b.bucket), b.loans, money(b.principal_outstanding), money(b.due_now)]) {
        row.append(Object.assign(document.createElement("td"), { textContent: text }));
      }
      return row;
    }));
  }
}

const ago = (hours) => (hours < 1 ? `${Math.round(hours * 60)} min ago` : `${hours.toFixed(1)} h ago`);

// The platform's own state, from GET /health: what is down, and what monitoring would alert on.
function operations(h) {
  const named = (names) => names.length ? ` (${names.join(", ")})` : "";
  const b = h.backups;
  return `${h.status === "ok" ? "All parts up" : `DOWN: ${h.failing.join(", ")}`}; chain block ${h.chain.latest_block ?? "?"}; `
    + `index ${h.indexer.status}${h.indexer.lag == null ? "" : `, ${h.indexer.lag} blocks behind`}; `
    + `workers ${h.workers.status}${named([...h.workers.failing ?? [], ...h.workers.stale ?? []])}; `
    + `backups ${b.status}${b.latest ? `, latest ${ago(b.age_hours)}, ${b.kept} kept` : ""}.`;
}

// The latest daily fair-lending check (counts by age band only; bands under its minimum are withheld).
function fairLending(check) {
  if (!check) return "Fair lending: no daily check taken yet.";
  const days = Math.round((Date.parse(check.report.until) - Date.parse(check.report.since)) / 86_400_000);
  const flagged = check.report.groups.filter((g) => g.below_four_fifths)
    .map((g) => `${g.group} (impact ratio ${g.adverse_impact_ratio.toFixed(2)})`);
  return `Fair lending, check of ${check.checked_on} over ${days} days: `
    + (flagged.length ? `BELOW FOUR FIFTHS: ${flagged.join(", ")}.` : "no age band below four fifths of the best one's approval rate")
    + (flagged.length || !check.report.note ? "" : ` (${check.report.note}).`);
}

const until = (iso) => `${iso.slice(0, 16).replace("T", " ")} UTC`;

// A grant proposed through the page waits for another admin (another person) to confirm it; a
// revocation is immediate.
export async function changeRole(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { wallet: form.get("wallet"), role: form.get("role"), action: event.submitter.value };
  const result = await api("/api/v1/admin/roles", { method: "POST", body });
  if (result.proposal) {
    say(`${result.wallet}: ${result.role} proposed; another admin must confirm it by ${until(result.proposal.expires_at)}.`);
  } else {
    say(`${result.wallet}: ${result.changed ? `${result.role} ${result.action === "grant" ? "granted" : "revoked"}` : "no change"}; `
      + `roles now ${result.roles.join(", ") || "none"}.`);
  }
  await refreshStaff();
}

// A proposed grant: Confirm (for an admin who is neither its proposer nor its grantee; the server
// checks the person behind each wallet) and Reject (any admin; its proposer withdraws it so).
function proposalItem(p) {
  const item = Object.assign(document.createElement("li"), {
    textContent: `${p.wallet}: ${p.role}, proposed by ${p.proposed_by}, until ${until(p.expires_at)}`,
  });
  item.dataset.proposal = p.id;
  const what = `${p.role} for ${p.wallet}`;
  const verdicts = p.proposed_by === state.wallet ? [["Withdraw", "reject"]] : [["Confirm", "confirm"], ["Reject", "reject"]];
  if (p.proposed_by === state.wallet) item.append(" (you proposed it: another admin confirms it)");
  for (const [label, verdict] of verdicts) {
    const button = Object.assign(document.createElement("button"), { textContent: label });
    Object.assign(button.dataset, { proposal: p.id, verdict });
    button.setAttribute("aria-label", `${label} the grant of ${what}`);
    button.onclick = guard(() => decideProposal(p.id, verdict));
    item.append(" ", button);
  }
  return item;
}

async function decideProposal(id, verdict) {
  const result = await api(`/api/v1/admin/roles/pending/${id}/${verdict}`, { method: "POST" });
  say(verdict === "confirm"
    ? `${result.wallet}: ${result.role} granted; roles now ${result.roles.join(", ") || "none"}.`
    : `${result.wallet}: ${result.role} not granted (proposal rejected).`);
  await refreshStaff();
}

// A monitoring alert for the case file: reviewed (decision, who, why), or open with Clear / Escalate.
function alertItem(a) {
  const item = Object.assign(document.createElement("li"), { textContent: `${a.rule}${a.loan_id == null ? "" : `, loan ${a.loan_id}`}: ${a.detail}` });
  item.dataset.alert = a.key;
  const what = alertName(a);
  if (a.review) {
    // The note is sealed like a case-log note: withheld from an older sign-in, gone once the borrower is erased.
    item.append(` (${a.review.decision} by ${a.review.reviewer}: ${noteText(a.review)})`);
    if (a.review.note_withheld) item.append(" ", readNotesButton(what, refreshStaff));
    return item;
  }
  const note = Object.assign(document.createElement("input"), { placeholder: "what you looked at and found" });
  note.dataset.alertNote = a.key;
  note.setAttribute("aria-label", `What you looked at and found, for ${what}`);
  item.append(" ", note);
  for (const [label, decision] of [["Clear", "cleared"], ["Escalate", "escalated"]]) {
    const button = Object.assign(document.createElement("button"), { textContent: label });
    Object.assign(button.dataset, { alert: a.key, decision });
    button.setAttribute("aria-label", `${label} ${what}`);
    button.onclick = guard(() => reviewAlert(a.key, decision, document.querySelector(`input[data-alert-note="${a.key}"]`).value));
    item.append(" ", button);
  }
  return item;
}

// What an alert's controls and messages call it: its rule, its short key (two alerts of one rule and no
// loan, say two answers_changed or role_change, would otherwise share their controls' names) and any loan.
const alertName = (a) => `alert ${a.rule} ${a.key.slice(0, 8)}${a.loan_id == null ? "" : ` on loan ${a.loan_id}`}`;

// A loan in collections with its case log, and (for underwriters and admins) a line to add to it.
function collectionItem(c) {
  const item = Object.assign(document.createElement("li"), {
    textContent: `loan ${c.loan_id} ${bucketWords(c.bucket)}${c.days_past_due == null ? "" : `, ${c.days_past_due} days past due`}: `
      + `${money(c.amount_owed)} owed; notices ${c.notices.join(", ") || "none"}`
      // reminders, texts and the automatic default wait on these until staff answer (contacted, promise to pay)
      + (c.awaiting_answer ? "; hardship request awaiting your answer" : "") + (c.dispute_open ? "; dispute open" : ""),
  });
  item.dataset.collection = c.loan_id;
  if (has("underwriter", "admin")) item.append(" ", ...caseControls(c.loan_id));
  if (c.plan) item.append(planLine(c.plan));
  if ((!c.plan || c.plan.status === "broken") && has("underwriter", "admin")) item.append(planControls(c.loan_id));
  if (c.actions.length) {
    const log = document.createElement("ul");
    log.replaceChildren(...listItems(c.actions.map((a) => `${day(a.chain_time)} ${a.kind.replaceAll("_", " ")}`
      + (a.promised_amount ? ` of ${money(a.promised_amount)} by ${utcDay(a.promised_by)} (${a.promise_status})` : "")
      + `: ${noteText(a)} (${a.actor.slice(0, 10)}…)`)));
    item.append(log);
    if (c.actions.some((a) => a.note_withheld)) item.append(readNotesButton(`loan ${c.loan_id}`, refreshStaff));
  }
  return item;
}

// A hardship plan's terms, as the borrower is told them (in tokens; the API speaks base units).
const planTerms = (p) => `${plural(p.periods, "payment")} of ${money(p.installment_amount)} every ${p.period_days} days`;

// The loan's plan: a proposal waits for another person (maker-checker: the server checks the
// person behind each wallet), a confirmed one is judged by the chain's repayments since it started.
function planLine(p) {
  const line = document.createElement("p");
  line.dataset.plan = p.id;
  if (p.status === "broken") {
    line.textContent = `Hardship plan broken: ${planTerms(p)}; by ${utcDay(p.broken_at)} less than it asked had been paid `
      + `(${money(p.paid_since)} paid since it started). Reminders and the default go ahead.`;
    return line;
  }
  if (p.status === "on_track") {
    line.textContent = `Hardship plan on track: ${planTerms(p)}; ${money(p.paid_since)} paid since it started, `
      + `${money(p.owed_by_now)} due by ${utcDay(p.next_end)}; it ends ${utcDay(p.ends_at)}`;
    return line;
  }
  line.textContent = `Hardship plan proposed: ${planTerms(p)}, by ${p.proposed_by}`;
  if (!has("underwriter", "admin")) return line;
  const mine = p.proposed_by === state.wallet;
  if (mine) line.append(" (you proposed it: another person confirms it)");
  for (const [label, verdict] of mine ? [["Withdraw", "reject"]] : [["Confirm", "confirm"], ["Reject", "reject"]]) {
    const button = Object.assign(document.createElement("button"), { textContent: label });
    Object.assign(button.dataset, { plan: p.id, verdict });
    button.setAttribute("aria-label", `${label} the hardship plan for loan ${p.loan_id}`);
    button.onclick = guard(() => decidePlan(p.loan_id, p.id, verdict));
    line.append(" ", button);
  }
  return line;
}

function planControls(loanId) {
  const line = document.createElement("p");
  const fields = [["plan-amount", "0", null, "amount each period", "payment each period, in tokens"],
    ["plan-days", "7", "31", "days a period", "days in a period"], ["plan-periods", "1", "12", "periods", "how many periods"]];
  const inputs = fields.map(([key, min, max, placeholder, label]) => {
    const input = Object.assign(document.createElement("input"), { type: "number", min, placeholder });
    if (max) input.max = max;
    input.setAttribute(`data-${key}`, loanId);
    input.setAttribute("aria-label", `Hardship plan ${label}, loan ${loanId}`);
    return input;
  });
  const propose = Object.assign(document.createElement("button"), { textContent: "Propose plan" });
  propose.setAttribute("aria-label", `Propose a hardship plan for loan ${loanId}`);
  Object.assign(propose.dataset, { loan: loanId, action: "propose-plan" });
  propose.onclick = guard(() => proposePlan(loanId, ...inputs.map((i) => i.value)));
  line.append("Hardship plan: ", ...inputs.flatMap((i) => [i, " "]), propose);
  return line;
}

async function proposePlan(loanId, amount, days, periods) {
  const body = { installment_amount: Math.round(Number(amount) * 10 ** state.decimals), period_days: Number(days),
    periods: Number(periods) };
  const p = await api(`/api/v1/servicing/collections/${loanId}/plans`, { method: "POST", body });
  say(`Loan ${loanId}: hardship plan proposed (${planTerms(p)}); another person confirms it.`);
  await refreshStaff();
}

async function decidePlan(loanId, planId, verdict) {
  const p = await api(`/api/v1/servicing/collections/${loanId}/plans/${planId}/${verdict}`, { method: "POST" });
  say(verdict === "confirm"
    ? `Loan ${loanId}: hardship plan confirmed (${planTerms(p)}); `
      + (p.next_end ? `its first period ends ${utcDay(p.next_end)}.` : `${p.status.replaceAll("_", " ")} already.`)
    : `Loan ${loanId}: hardship plan rejected.`);
  await refreshStaff();
}

// Case-log notes (hardship, what was said on the phone) come only with a sign-in of the last minutes;
// an older session gets them withheld, and the wallet signs in again to read them.
const noteText = (a) => (a.note_withheld ? "(note withheld: sign in again to read it)" : a.note ?? "(erased)");

function readNotesButton(what, redraw) {
  const button = Object.assign(document.createElement("button"), { textContent: "Sign in again to read the notes" });
  button.dataset.action = "read-notes";
  button.setAttribute("aria-label", `Sign in again to read the case-log notes of ${what}`);
  button.onclick = guard(async () => {
    if (await signInAgain()) await redraw();
  });
  return button;
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
  const labels = [[kind, "kind of entry"], [note, "what was done or said"], [amount, "promised amount, in tokens"],
    [days, "promised within days"]];
  for (const [field, text] of labels) field.setAttribute("aria-label", `${text}, loan ${loanId}`);
  const record = Object.assign(document.createElement("button"), { textContent: "Record" });
  record.setAttribute("aria-label", `Record a case-log entry for loan ${loanId}`);
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
  say(`Loan ${loanId}: ${a.kind.replaceAll("_", " ")} recorded${a.promise_status ? ` (promise ${a.promise_status})` : ""}.`
    + (a.warning ? ` Note: ${a.warning}.` : ""));  // a promise too small to move the default date
  await refreshStaff();
}

async function reviewAlert(key, decision, note) {
  const a = await api(`/api/v1/audit/alerts/${key}/review`, { method: "POST", body: { decision, note } });
  const name = alertName(a);
  say(`${name[0].toUpperCase()}${name.slice(1)}: ${a.review.decision}.`);
  await refreshStaff();
}

function eventLine(e) {
  const shown = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : v);  // struct arguments (the terms)
  const args = Object.entries(e.args).map(([k, v]) => `${k}=${shown(v)}`).join(", ");
  return `block ${e.block_number}, tx ${e.tx_hash.slice(0, 10)}…: ${e.contract}.${e.event}(${args})`;
}

// A check's detail gives times in Unix seconds ("KYC level 2 until 1827600491"): shown as dates.
const checkLine = (c) => `${c.ok ? "ok" : "FAIL"} ${c.name.replaceAll("_", " ")}: `
  + c.detail.replace(/\buntil (\d{9,11})\b/g, (_, seconds) => `until ${utcDay(Number(seconds))}`);

async function traceLoan(loanId) {
  const trace = await api(`/api/v1/audit/trace/loan/${loanId}`);
  $("trace-result").textContent = `Loan ${trace.loan_id} (${trace.status}): ${trace.consistent ? "consistent" : "INCONSISTENT"}, `
    + `${plural(trace.events.length, "event")}, ${plural(trace.case_log.length, "case-log entry", "case-log entries")}`;
  $("trace-checks").replaceChildren(...listItems(trace.checks.map(checkLine)));
  $("trace-events").replaceChildren(...listItems(trace.events.map(eventLine)));
  $("trace-case-log").replaceChildren(...listItems(trace.case_log.map((a) => `${day(a.chain_time)} ${a.kind.replaceAll("_", " ")}: `
    + `${noteText(a)} (${a.actor})`)));
  if (trace.case_log.some((a) => a.note_withheld)) {
    const line = document.createElement("li");
    line.append(readNotesButton(`loan ${loanId}`, () => traceLoan(loanId)));
    $("trace-case-log").append(line);
  }
}

async function traceTx(hash) {
  const trace = await api(`/api/v1/audit/trace/tx/${hash}`);
  const sender = trace.intent_key ? `sent by the platform (outbox ${trace.intent_key}, ${trace.intent_status}, ${trace.function})`
    : "not sent by the platform";
  $("trace-result").textContent = `Transaction ${trace.tx_hash}: ${trace.consistent ? "consistent" : "INCONSISTENT"}, `
    + `${plural(trace.events.length, "event")}, ${sender}`;
  $("trace-checks").replaceChildren(...listItems(trace.checks.map(checkLine)));
  $("trace-events").replaceChildren(...listItems(trace.events.map(eventLine)));
  $("trace-case-log").replaceChildren();
}

async function traceAddress(address) {
  const trace = await api(`/api/v1/audit/trace/address/${address}`);
  const notes = Object.entries(trace.notes).map(([loan, n]) => `loan ${loan}: ${money(n)}`).join(", ") || "none";
  $("trace-result").textContent = `${trace.address}: KYC level ${trace.attestation_level} on-chain; borrower in loans `
    + `${trace.loans_as_borrower.join(", ") || "none"}; notes ${notes}; funded ${money(trace.funded)}, repaid ${money(trace.repaid)}; `
    + (trace.consistent ? "consistent" : "INCONSISTENT");
  // Its index rows against the node first (the ledger below is the index's), then the reconciliation of a platform contract.
  const held = trace.checks.map(checkLine)
    .concat(trace.reconciliation ? [`${trace.reconciliation.ok ? "ok" : "FAIL"} reconciliation: ${trace.reconciliation.detail}`] : []);
  $("trace-checks").replaceChildren(...listItems(held.concat(trace.ledger.map((e) => `${e.direction} ${money(e.amount)} `
    + `${e.kind.replaceAll("_", " ")}${e.loan_id === null ? "" : `, loan ${e.loan_id}`}${e.via ? ` (via ${e.via})` : ""}`))));
  $("trace-events").replaceChildren(...listItems(trace.transactions.map((tx) => `transaction ${tx}`)));
  $("trace-case-log").replaceChildren();
}

function traceOf(what) {
  if (/^\d+$/.test(what)) return traceLoan(Number(what));
  if (/^0x[0-9a-fA-F]{64}$/.test(what)) return traceTx(what);
  if (/^0x[0-9a-fA-F]{40}$/.test(what)) return traceAddress(what);
  throw new Error("Trace a loan id, a transaction hash (0x + 64 hex) or an address (0x + 40 hex).");
}

export function trace() {
  const what = $("trace-what").value.trim();
  return answerIn(["trace-result", "trace-checks", "trace-events", "trace-case-log"], async () => traceOf(what), (error) => {
    $("trace-result").textContent = `No trace${what ? ` of ${what}` : ""}: ${error.message}`;
  });
}
