"""Offers and loans: an approved credit decision becomes EIP-712 loan terms the borrower signs
with their wallet, the platform underwriter countersigns, and the outbox submits to LoanBook."""
