"""The secondary market for LoanBook's notes (NoteMarket): listings and bids, and the trades between them."""
