"""CP-ABE, policies, hybrid and streaming encryption, key formats and keystores."""
