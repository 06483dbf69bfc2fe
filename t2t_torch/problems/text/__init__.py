"""Text problems."""
