"""Base-image recommendations for developers: an approved catalog ranked by inventory facts."""
