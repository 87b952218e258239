"""Configuration and token security of the sharing API."""
