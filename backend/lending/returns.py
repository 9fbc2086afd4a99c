"""An investor's net annual return: the XIRR of the wallet's cash flows with LoanBook and NoteMarket
(money paid in, taken back, collected, trades) and of the notes given to or received from other
wallets, each valued at the principal outstanding it stood for then (`statement.gift_flows`: notes
moved between one's own wallets are no gain and no loss), with what it holds now counted as a final inflow
at today's value: the principal still outstanding on its notes of active loans, its refundable
money, and what it can claim. Defaulted principal is worth nothing until it is recovered, so
losses show at once, and repayments not yet claimed still count as earned. This is the figure P2P
platforms report as "net annual return" (after defaults, before tax)."""

from __future__ import annotations

from scipy.optimize import brentq

YEAR = 365 * 86_400
LOW, HIGH = -0.9999, 1_000.0  # -99.99% to +100,000% a year: the root must lie between


def xirr(flows: list[tuple[int, int]]) -> float | None:
    """The annual rate r with sum(amount / (1 + r) ** ((t - t0) / year)) = 0 over (t, amount)
    flows (seconds, base units); None when it has no meaning (no money in, or in and out at once)."""
    flows = sorted((t, a) for t, a in flows if a)
    if len(flows) < 2 or flows[-1][0] == flows[0][0] or all(a > 0 for _, a in flows) or all(a < 0 for _, a in flows):
        return None
    t0 = flows[0][0]

    def npv(rate: float) -> float:
        return sum(a / (1 + rate) ** ((t - t0) / YEAR) for t, a in flows)

    low, high = npv(LOW), npv(HIGH)
    if low * high > 0:  # no sign change in range: no rate an investor would recognise
        return None
    return brentq(npv, LOW, HIGH, xtol=1e-10)
