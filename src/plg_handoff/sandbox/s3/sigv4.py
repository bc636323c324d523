"""The S3 emulator's check of AWS Signature Version 4 `Authorization` headers.

Written apart from the client's signer (`plg_handoff.connectors.segment.s3.sign`) so that each
checks the other: the canonical request is rebuilt from the request as received (the path
decoded and encoded again, the query parsed, sorted and encoded again, the signed headers'
values from the request), and the signature recomputed with the known secret. Failures come
back as S3 answers them: status, `<Code>`, `<Message>` and S3's extra fields."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _encode(text: str, safe: str) -> str:
    return "".join(
        char
        if char.isascii() and (char.isalnum() or char in safe)
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        for char in text
    )


def canonical_uri(raw_path: str) -> str:
    return _encode(unquote(raw_path), "-_.~/") or "/"


def canonical_query(raw_query: str) -> str:
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_encode(unquote(name), "-_.~"), _encode(unquote(value), "-_.~")))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def _parse_authorization(header: str) -> dict[str, str] | None:
    if not header.startswith(ALGORITHM + " "):
        return None
    fields: dict[str, str] = {}
    for part in header[len(ALGORITHM) + 1 :].split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return None
        fields[name] = value
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields


def signature(
    secret: str, day: str, region: str, service: str, string_to_sign: str
) -> str:  # the signing key chain of SigV4
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    keys: Keys,
    region: str,
    now: datetime,
) -> Refusal | None:
    """None when the request is signed by `keys` for `region`, else S3's refusal. `headers`
    have lower-case names (repeated headers joined with ',')."""
    header = headers.get("authorization")
    if not header:
        return Refusal(403, "AccessDenied", "Access Denied")
    fields = _parse_authorization(header)
    if fields is None:
        return Refusal(
            400, "AuthorizationHeaderMalformed", "The authorization header is malformed."
        )
    scope = fields["Credential"].split("/")
    if len(scope) != 5:
        return Refusal(
            400,
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; the Credential is mal-formed; "
            'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        )
    access_key_id, day, scope_region, service, terminator = scope
    if not hmac.compare_digest(access_key_id.encode(), keys.access_key_id.encode()):
        return Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            {"AWSAccessKeyId": access_key_id},
        )
    if scope_region != region:
        return Refusal(
            400,
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{scope_region}' is wrong; "
            f"expecting '{region}'",
            {"Region": region},
        )
    if service != "s3" or terminator != "aws4_request":
        return Refusal(
            400,
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; incorrect service '{service}'.",
        )
    amz_date = headers.get("x-amz-date", "")
    try:
        sent_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return Refusal(
            403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        )
    if amz_date[:8] != day:
        return Refusal(
            400,
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; Invalid credential date. "
            "Date is not the same as X-Amz-Date.",
        )
    if abs(now - sent_at) > MAX_SKEW:
        return Refusal(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            {"RequestTime": amz_date, "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
    content_sha256 = headers.get("x-amz-content-sha256")
    if content_sha256 is None:
        return Refusal(
            400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    if content_sha256 != UNSIGNED_PAYLOAD and content_sha256 != hashlib.sha256(body).hexdigest():
        return Refusal(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    token = headers.get("x-amz-security-token")
    if token != keys.session_token and (token or keys.session_token):
        return Refusal(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
    signed_names = fields["SignedHeaders"].split(";")
    unsigned = sorted(
        name for name in headers if name.startswith("x-amz-") and name not in signed_names
    )
    if "host" not in signed_names:
        unsigned.insert(0, "host")
    if unsigned:
        return Refusal(
            403,
            "AccessDenied",
            "There were headers present in the request which were not signed",
            {"HeadersNotSigned": ", ".join(unsigned)},
        )
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_names
    )
    canonical_request = "\n".join(
        [
            method,
            canonical_uri(raw_path),
            canonical_query(raw_query),
            canonical_headers,
            fields["SignedHeaders"],
            content_sha256,
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            amz_date,
            f"{day}/{scope_region}/{service}/{terminator}",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    expected = signature(keys.secret_access_key, day, region, service, string_to_sign)
    if not hmac.compare_digest(expected, fields["Signature"]):
        return Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            {
                "AWSAccessKeyId": access_key_id,
                "StringToSign": string_to_sign,
                "CanonicalRequest": canonical_request,
            },
        )
    return None
