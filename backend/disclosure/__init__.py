"""Information disclosure: platform-wide loan performance, computed from the chain index."""
