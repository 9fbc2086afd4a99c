"""How many decimals the loan token may have. Amounts travel in base units as JSON numbers, and a
JavaScript client (the platform's own page included) reads a number as a double, exact only up to
2^53 = 9,007,199,254,740,992: at 8 decimals that is 90,071,992 tokens, which holds the largest loan
(policy.MAX_AMOUNT, 20,000 tokens = 2 x 10^12 base units) and any sum a page shows short of 90 million
tokens; at 18 (DAI, USDS) it is 0.009 tokens, and the page's `amount * 10 ** decimals` for 1,000
tokens is sent as 1e+21, which the API refuses. USDC and USDT have 6."""

from __future__ import annotations

MAX_ASSET_DECIMALS = 8
JS_SAFE_INTEGER = 2**53 - 1


def decimals_refused(decimals: int) -> str | None:
    """Why a token of `decimals` cannot be the loan token (None: it can)."""
    if 0 <= decimals <= MAX_ASSET_DECIMALS:
        return None
    return (f"the loan token has {decimals} decimals; at most {MAX_ASSET_DECIMALS} are taken, so that amounts in base "
            f"units stay exact in a browser (below 2^53: {JS_SAFE_INTEGER // 10**MAX_ASSET_DECIMALS:,} tokens at "
            f"{MAX_ASSET_DECIMALS}): use a token such as USDC (6)")  # fmt: skip
