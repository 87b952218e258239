"""Security labels (HL7 DS4P) of a record: one confidentiality code and sensitivity codes.

They travel inside the record's sealed header (``crypto.header`` version 4), never on chain:
a label such as HIV says what a record is about. The header MAC binds them for every reader
and the policy commitment on chain binds them for whoever holds the header
(``crypto.policy_commitment``), so a gateway cannot change them unnoticed.

The vocabulary is the one place that lists the codes this alliance uses, with the HL7
display names (for FHIR ``meta.security``) and plain words in English and Chinese (what the
wallet and the CLI show):

- confidentiality: HL7 v3 Confidentiality (``N`` normal, ``R`` restricted, ``V`` very
  restricted); ``U``, ``L`` and ``M`` are left out: every record here is health data, so
  at least normal.
- sensitivity: HL7 v3 ActCode, InformationSensitivityPolicy (``_ActInformationSensitivity
  Policy``): the categories a hospital keeps apart by law or custom (mental health, HIV,
  sexually transmitted infections, substance use, sexual assault and domestic violence,
  sexual and reproductive health, genetic disease).

Encoding (inside the header, canonical so the MAC and the commitment are deterministic)::

    confidentiality u8 (ASCII N, R or V) | n u8 | n x (length u8 | ASCII code)

codes sorted and unique; a reader refuses anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from crypto.encoding import Reader, Writer
from crypto.errors import FormatError

CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
SENSITIVITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
MAX_CODE_CHARS = 16


class Term(NamedTuple):
    display: str  # HL7's display name
    en: str  # plain words, English
    zh: str  # plain words, Simplified Chinese


CONFIDENTIALITY: dict[str, Term] = {
    "N": Term("normal", "normal", "普通"),
    "R": Term("restricted", "restricted", "受限"),
    "V": Term("very restricted", "very restricted", "高度受限"),
}

SENSITIVITY: dict[str, Term] = {
    "PSY": Term("psychiatry information sensitivity", "mental health", "精神心理健康"),
    "HIV": Term("HIV/AIDS information sensitivity", "HIV/AIDS", "艾滋病（HIV）"),
    "STD": Term(
        "sexually transmitted disease information sensitivity",
        "sexually transmitted infections",
        "性传播疾病",
    ),
    "ETH": Term("substance abuse information sensitivity", "alcohol or drug use", "酒精或药物滥用"),
    "SDV": Term(
        "sexual assault, abuse, or domestic violence information sensitivity",
        "sexual assault or domestic violence",
        "性侵害或家庭暴力",
    ),
    "SEX": Term(
        "sexuality and reproductive health information sensitivity",
        "sexual and reproductive health",
        "性与生殖健康",
    ),
    "GDIS": Term("genetic disease information sensitivity", "genetic conditions", "遗传病"),
}

_RANK = {"N": 0, "R": 1, "V": 2}


@dataclass(frozen=True)
class SecurityLabels:
    confidentiality: str = "N"
    sensitivity: tuple[str, ...] = ()  # sorted, unique

    def __post_init__(self) -> None:
        if self.confidentiality not in CONFIDENTIALITY:
            raise ValueError(
                f"unknown confidentiality code {self.confidentiality!r} "
                f"(known: {', '.join(CONFIDENTIALITY)})"
            )
        for code in self.sensitivity:
            if code not in SENSITIVITY:
                raise ValueError(
                    f"unknown sensitivity code {code!r} (known: {', '.join(sorted(SENSITIVITY))})"
                )
        if list(self.sensitivity) != sorted(set(self.sensitivity)):
            raise ValueError("sensitivity codes must be sorted and unique (use SecurityLabels.of)")

    @classmethod
    def of(cls, confidentiality: str = "N", sensitivity: Iterable[str] = ()) -> SecurityLabels:
        """Labels from user input: codes upper-cased, sorted, duplicates dropped."""
        codes = tuple(sorted({c.strip().upper() for c in sensitivity}))
        return cls(confidentiality.strip().upper(), codes)

    @property
    def unlabelled(self) -> bool:
        """What a header from before labels means: normal, no sensitivity."""
        return self == UNLABELLED

    @property
    def sensitive(self) -> bool:
        """Restricted or very restricted, or any sensitivity code: the wallet asks the
        patient to opt in before a consent covers such a record."""
        return _RANK[self.confidentiality] >= _RANK["R"] or bool(self.sensitivity)

    def write(self, w: Writer) -> None:
        w.u8(ord(self.confidentiality)).u8(len(self.sensitivity))
        for code in self.sensitivity:
            raw = code.encode("ascii")
            w.u8(len(raw)).raw(raw)

    def to_bytes(self) -> bytes:
        w = Writer()
        self.write(w)
        return w.getvalue()

    @classmethod
    def read(cls, r: Reader) -> SecurityLabels:
        conf = chr(r.u8())
        if conf not in CONFIDENTIALITY:
            raise FormatError(f"{r.what}: unknown confidentiality code {conf!r}")
        n = r.u8()
        if n > len(SENSITIVITY):
            raise FormatError(f"{r.what}: {n} sensitivity codes exceeds {len(SENSITIVITY)}")
        codes = []
        for _ in range(n):
            length = r.u8()
            if not 0 < length <= MAX_CODE_CHARS:
                raise FormatError(f"{r.what}: sensitivity code of {length} bytes")
            raw = r.raw(length)
            code = raw.decode("ascii", errors="replace")
            if code not in SENSITIVITY:
                raise FormatError(f"{r.what}: unknown sensitivity code {code!r}")
            codes.append(code)
        if codes != sorted(set(codes)):
            raise FormatError(f"{r.what}: sensitivity codes not sorted and unique")
        return cls(conf, tuple(codes))

    def to_json(self) -> dict[str, object]:
        return {"confidentiality": self.confidentiality, "sensitivity": list(self.sensitivity)}

    def fhir_security(self) -> list[dict[str, str]]:
        """The labels as FHIR ``meta.security`` Codings (DS4P)."""
        out = [
            {
                "system": CONFIDENTIALITY_SYSTEM,
                "code": self.confidentiality,
                "display": CONFIDENTIALITY[self.confidentiality].display,
            }
        ]
        out += [
            {"system": SENSITIVITY_SYSTEM, "code": c, "display": SENSITIVITY[c].display}
            for c in self.sensitivity
        ]
        return out


UNLABELLED = SecurityLabels()
