"""The numbers the contracts use for roles, record categories, purposes and states.

They mirror ``contracts/src/Interfaces.sol`` (Roles, Scopes) and the contracts' enums; a test
checks the two agree by calling the deployed contracts.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum, IntEnum, IntFlag
from typing import TypeVar

E = TypeVar("E", bound=IntEnum)
F = TypeVar("F", bound=Enum)


def _label(name: str) -> str:
    return name.lower().replace("_", "-")


def _parse(cls: type[F], text: str) -> F:
    key = text.strip().upper().replace("-", "_")
    try:
        return cls[key]
    except KeyError:
        choices = ", ".join(_label(m.name or "") for m in cls)
        raise ValueError(
            f"unknown {cls.__name__.lower()} {text!r} (choose from {choices})"
        ) from None


class Role(IntFlag):
    """Role bits of an alliance member (a member may hold several)."""

    HOSPITAL = 1
    CLINIC = 2
    REGULATOR = 4
    ATTRIBUTE_AUTHORITY = 8
    TERTIARY = 16  # with HOSPITAL: a top-tier hospital (the dashboard's tiers)

    @classmethod
    def parse(cls, text: str) -> Role:
        return _parse(cls, text)

    @classmethod
    def of(cls, names: Iterable[str | Role]) -> Role:
        mask = cls(0)
        for name in names:
            mask |= name if isinstance(name, Role) else cls.parse(name)
        return mask

    def labels(self) -> list[str]:
        return [_label(r.name or "") for r in Role if r in self]


class Category(IntEnum):
    """Record categories (bit index in a consent's category mask)."""

    SUMMARY = 0
    LAB = 1
    IMAGING = 2
    PRESCRIPTION = 3
    DISCHARGE = 4
    CHRONIC_CARE = 5

    @property
    def label(self) -> str:
        return _label(self.name)

    @classmethod
    def parse(cls, text: str) -> Category:
        return _parse(cls, text)


class Purpose(IntEnum):
    """Purposes of use (bit index in a consent's purpose mask)."""

    TREATMENT = 0
    REFERRAL = 1
    CONSULTATION = 2
    RESEARCH = 3
    EMERGENCY = 4

    @property
    def label(self) -> str:
        return _label(self.name)

    @classmethod
    def parse(cls, text: str) -> Purpose:
        return _parse(cls, text)


class Basis(IntEnum):
    """What an access in the AccessLog rests on."""

    CONSENT = 0
    REFERRAL = 1
    BREAK_GLASS = 2
    CUSTODIAN = 3  # the record's custodian reading its own record
    CONSULTATION = 4  # a consultant reading named records, or the requester its report

    @property
    def label(self) -> str:
        return _label(self.name)


class Review(IntEnum):
    """The review of a break-glass access (AccessLog.Review): the reader's member justifies
    it, the regulator closes it."""

    NONE = 0
    OPEN = 1  # waiting for a justification
    JUSTIFIED = 2
    ACCEPTED = 3  # closed by the regulator
    FLAGGED = 4  # closed by the regulator

    @property
    def label(self) -> str:
        return _label(self.name)


class ReferralStatus(IntEnum):
    NONE = 0
    CREATED = 1
    ACCEPTED = 2
    REJECTED = 3
    COMPLETED = 4
    CANCELLED = 5
    WITHDRAWN = 6  # by the patient


class ConsultationStatus(IntEnum):
    """ConsultationRegistry.Status."""

    NONE = 0
    REQUESTED = 1
    ACCEPTED = 2
    DECLINED = 3
    REPORTED = 4
    CLOSED = 5
    CANCELLED = 6

    @property
    def label(self) -> str:
        return _label(self.name)


class Direction(IntEnum):
    """UP: towards a tertiary hospital; DOWN: back to a county hospital or community clinic."""

    UP = 0
    DOWN = 1


class ProposalKind(IntEnum):
    ADD_MEMBER = 0
    REMOVE_MEMBER = 1
    SET_ROLES = 2
    SET_THRESHOLD = 3
    CLEAR_GATEWAY = 4


def mask(items: Iterable[E]) -> int:
    """Bit mask of categories or purposes."""
    value = 0
    for item in items:
        value |= 1 << int(item)
    return value


def unmask(cls: type[E], value: int) -> list[E]:
    return [item for item in cls if value >> int(item) & 1]
