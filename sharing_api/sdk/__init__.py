"""The hospital and wallet SDK: talks to the sharing API over HTTP, signs locally (EIP-4361
sign-in, EIP-712 consents), and encrypts/decrypts records locally with CP-ABE."""

from sharing_api.sdk.client import ApiError, ApiUnreachable, DownloadInterrupted, SharingClient
from sharing_api.sdk.patient_wallet import PatientWallet

__all__ = ["ApiError", "ApiUnreachable", "DownloadInterrupted", "PatientWallet", "SharingClient"]
