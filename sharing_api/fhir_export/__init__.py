"""FHIR R4 exports of what the chain records (no record content: that stays sealed).

| module | job |
|---|---|
| `common.py` | times, and references to patients (pseudonyms), members, records |
| `purpose_codes.py` | the one table: local purposes -> HL7 v3 ActReason (+ BTG, PATRQT) |
| `consent.py` | a consent as an R4 Consent (provision purpose/period/actor/class) |
| `request_task.py` | a request between members as ServiceRequest + Task (generic) |
| `referral.py` | a referral's lifecycle mapped onto request_task |
| `consultation.py` | a remote consultation's lifecycle mapped onto request_task |
| `audit_event.py` | accesses, consents, referral and consultation steps as BALP AuditEvents |
| `audit_log.py` | the events one caller may see, from the index; Bundle and NDJSON |
| `syslog.py` | the events as RFC 5424 syslog to a collector (UDP, TCP, TLS), as IHE ATNA |

Every resource is validated (``sharing_api.fhir.validate_resource``) before it is returned.
"""
