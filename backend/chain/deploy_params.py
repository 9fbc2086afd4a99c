"""Deployment parameters, in a module with no imports so brownie's own venv can read them too
(`scripts/deploy.py`). Servicing terms are LoanBook constructor immutables, so no admin can
change them under a running loan."""

DAY = 86_400

# LendingClub practice: a 15-day grace period and a 5% late fee; 120 days past due is default.
GRACE_PERIOD = 15 * DAY
LATE_FEE_BPS = 500
DEFAULT_AFTER = 120 * DAY
# Platform rules (admin-settable later): the smallest ticket, in whole tokens, and the share of a
# defaulted loan's outstanding principal the reserve covers.
MIN_TICKET_TOKENS = 25
COVERAGE_RATIO_BPS = 8_000
# Not a parameter: LoanBook's constant (contracts/LoanBook.sol), mirrored for the credit policy, which
# declines what it cannot put on chain (tests/contracts/test_loan_book_admin.py compares the two).
MAX_ORIGINATION_FEE_BPS = 1_000
# KYC levels LoanBook requires: the backend attests level 2 only with an ID document, which
# borrowing needs; level 1 (checked data) is enough to invest.
BORROWER_KYC_LEVEL = 2
INVESTOR_KYC_LEVEL = 1
