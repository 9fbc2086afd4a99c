"""KYC checks. Each failure is a `Reason` with a stable code; see `reasons.py` for the list."""
