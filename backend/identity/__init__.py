"""Identity: Sign-In with Ethereum, roles, and KYC with encrypted personal data."""
