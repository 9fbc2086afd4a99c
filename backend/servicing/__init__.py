"""Post-loan management: where each active loan stands (aging buckets), reminders to borrowers,
the collections queue, and defaults declared on-chain once the contract allows it."""
