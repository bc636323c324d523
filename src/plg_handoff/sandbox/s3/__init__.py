"""A local S3-compatible server (ListObjectsV2, GetObject, SigV4 checked), for tests and the
demo."""

from plg_handoff.sandbox.s3.emulator import Call, S3Emulator, S3Faults

__all__ = ["Call", "S3Emulator", "S3Faults"]
