"""Property-based tests (hypothesis) of every parser of outside input: a clear error or a correct result."""
