"""Hostile load against a sharing API on 127.0.0.1, from ``HOSTILE_SOURCE`` (127.0.0.2).

The API half of the abuse benchmark (``scripts/bench_abuse.py``): the requests issue #13
names for the API, each a daemon-thread load like those in ``tests.support.abuse``.

* ``NonceSpam``: sign-in nonces requested back to back (the per-IP limit answers 429 soon);
* ``ConsentSpam``: fresh addresses no member attested sign in and ask the API to relay
  consents (refused: the patient is unknown to the alliance), until the nonce limit stops
  the sign-ins too.
"""

from __future__ import annotations

import httpx
from eth_account import Account

from sharing_api.sdk import SharingClient
from sharing_api.sdk.client import ApiError
from tests.support.abuse import ThreadLoad


class NonceSpam(ThreadLoad):
    """``threads`` clients asking for sign-in nonces as fast as they are answered."""

    name = "nonce_spam"

    def __init__(self, api_url: str, threads: int = 2) -> None:
        super().__init__()
        self.url, self.threads = api_url.rstrip("/") + "/auth/nonce", threads
        self.refused = 0

    def _loop(self, client: httpx.Client) -> None:
        status = client.post(self.url).status_code
        self.sent += 1
        self.refused += status == 429


class ConsentSpam(ThreadLoad):
    """A fresh, unattested address signs in and asks for a consent to be relayed."""

    name = "consent_spam"

    def __init__(self, api_url: str, grantee: str) -> None:
        super().__init__()
        self.api_url, self.grantee = api_url, grantee
        self.relayed = 0  # consents the API relayed for nobody: must stay 0

    def _loop(self, client: httpx.Client) -> None:
        nobody = Account.create()
        with SharingClient(self.api_url) as wallet:
            wallet.http.close()  # the same client, but from the hostile source address
            transport = httpx.HTTPTransport(local_address=self.source)
            wallet.http = httpx.Client(base_url=wallet.base_url, transport=transport, timeout=30)
            self.sent += 1
            try:
                wallet.login(nobody.key)
                wallet.grant_consent(
                    nobody.key, grantee=self.grantee, categories=["lab"], purposes=["treatment"]
                )
                self.relayed += 1
            except ApiError:
                pass  # refused, as it must be: 401/403/429
