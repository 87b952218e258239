"""The sharing API: a FastAPI service over the chain, the blob store and the chain index.

It never receives plaintext or a private key: records arrive encrypted (the SDK encrypts
with CP-ABE locally) and leave encrypted, and only after the access is logged on chain.
"""
