"""The audit toolkit (`alliance audit`): re-verify the chain and stored blobs, find anomalies
in the access history, and write reports (HTML, CSV, FHIR AuditEvent bundle)."""
