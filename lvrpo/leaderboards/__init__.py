"""Published reference numbers (published.yaml, with a source per number)."""
