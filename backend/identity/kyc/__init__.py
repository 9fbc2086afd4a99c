"""KYC: submission, checks, review, attestation, erasure."""
