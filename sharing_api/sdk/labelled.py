"""Publishing labelled records (DS4P) with :class:`~sharing_api.sdk.client.SharingClient`:
the policy the labels call for (``sdk.label_policy``), then seal and upload in one call.

Split from ``client.py`` by job; the mixin uses the client's policy and upload calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crypto.authority import AuthorityParams
from crypto.labels import UNLABELLED, SecurityLabels
from crypto.suite import Suite
from sharing_api.sdk.label_policy import ChosenPolicy, choose_policy


class LabelsMixin:
    if TYPE_CHECKING:

        def my_authority(self) -> str | None: ...
        def policy_for_sealing(self, policy: str) -> tuple[str, list[AuthorityParams]]: ...
        def crypto_suite(self) -> Suite: ...
        def upload(
            self, patient: str, category: str, policy: str, ciphertext: bytes
        ) -> dict[str, Any]: ...

    def policy_for_labels(
        self,
        labels: SecurityLabels,
        policy: str | None = None,
        care_team: str | None = None,
        allow_wider: bool = False,
    ) -> tuple[ChosenPolicy, list[AuthorityParams]]:
        """The policy a record with ``labels`` is sealed under, qualified, and the parameters
        to seal it with: the given one (with a warning when a V record's policy lets other
        members read), else the labels' default (V: ``care_team``; R: this member's doctors).
        Raises LabelPolicyError (a ValueError) when there is none."""
        own = self.my_authority()
        if policy is None:
            chosen = choose_policy(labels, None, own, care_team)
            qualified, params = self.policy_for_sealing(chosen.policy)
        else:
            qualified, params = self.policy_for_sealing(policy)
            chosen = choose_policy(labels, qualified, own, care_team, allow_wider)
        return ChosenPolicy(qualified, chosen.defaulted, chosen.warning), params

    def publish_fhir(
        self,
        patient: str,
        category: str,
        resource: bytes | str | dict[str, Any],
        labels: SecurityLabels = UNLABELLED,
        policy: str | None = None,
        care_team: str | None = None,
        allow_wider: bool = False,
    ) -> tuple[dict[str, Any], ChosenPolicy]:
        """Validate, seal (labels in the header and ``meta.security``, in the gateway's
        suite) and upload a FHIR resource: the registered record and the policy chosen (its
        ``warning`` is for the caller to show)."""
        from sharing_api.sdk.client import SharingClient  # the seal recipe lives there

        chosen, params = self.policy_for_labels(labels, policy, care_team, allow_wider)
        sealed = SharingClient.seal_fhir(
            resource, chosen.policy, params, self.crypto_suite(), labels
        )
        return self.upload(patient, category, chosen.policy, sealed), chosen
