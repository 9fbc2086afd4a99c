"""Background workers (outbox sender, indexer, anchor batcher, ...), each running as exactly one
instance across processes and machines thanks to a lock (see lock.py)."""
