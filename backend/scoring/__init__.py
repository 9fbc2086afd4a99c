"""Credit scoring: a points scorecard (optimal binning + logistic regression) trained offline,
served from a plain-JSON artifact with numpy lookups, priced by grade and term, and recorded
with a decision hash that goes on-chain. See docs/model_card/README.md."""
