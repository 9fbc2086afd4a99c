"""The secondary market for LoanBook's notes (NoteMarket): listings, purchases, delistings."""
