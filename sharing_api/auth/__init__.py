"""Authentication: Sign-In with Ethereum (EIP-4361) and short-lived access tokens."""
