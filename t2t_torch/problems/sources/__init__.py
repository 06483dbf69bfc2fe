"""Where problems read their data from."""
