"""Solidity sources, committed compiled artifacts, and the offline compile step."""
