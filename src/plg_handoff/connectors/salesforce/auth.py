"""OAuth 2.0 against Salesforce's token endpoint: username-password (the security token
appended to the password), client credentials, JWT bearer (RS256-signed assertion)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests

from plg_handoff.config import SalesforceConfig, Secrets
from plg_handoff.connectors.errors import AuthError, TransientError
from plg_handoff.connectors.salesforce.errors import VENDOR, is_transport_error

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class SalesforceCredentials:
    username: str = ""
    password: str = ""
    security_token: str = ""
    client_id: str = ""
    client_secret: str = ""
    jwt_key_path: Path | None = None

    def __repr__(self) -> str:  # never print secrets
        return f"SalesforceCredentials(username={self.username!r}, client_id=<set>)"

    @classmethod
    def from_secrets(cls, secrets: Secrets) -> SalesforceCredentials:
        def value(name: str) -> str:
            secret = getattr(secrets, f"salesforce_{name}")
            return secret.get_secret_value() if secret is not None else ""

        return cls(
            username=value("username"),
            password=value("password"),
            security_token=value("security_token"),
            client_id=value("client_id"),
            client_secret=value("client_secret"),
            jwt_key_path=secrets.salesforce_jwt_key_path,
        )


@dataclass(frozen=True)
class Token:
    access_token: str
    instance_url: str


def token_form(config: SalesforceConfig, credentials: SalesforceCredentials) -> dict[str, str]:
    if config.auth == "password":
        return {
            "grant_type": "password",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "username": credentials.username,
            "password": credentials.password + credentials.security_token,
        }
    if config.auth == "client_credentials":
        return {
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        }
    if credentials.jwt_key_path is None:
        raise AuthError(VENDOR, "HANDOFF_SALESFORCE_JWT_KEY_PATH is not set")
    try:
        key = credentials.jwt_key_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthError(VENDOR, f"cannot read the JWT key: {exc}") from None
    claims = {
        "iss": credentials.client_id,
        "sub": credentials.username,
        "aud": str(config.login_url).rstrip("/"),
        "exp": int(time.time()) + 180,
    }
    return {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, key, algorithm="RS256")}


def fetch_token(
    session: requests.Session, config: SalesforceConfig, credentials: SalesforceCredentials
) -> Token:
    url = str(config.login_url).rstrip("/") + "/services/oauth2/token"
    try:
        response = session.post(url, data=token_form(config, credentials))
    except requests.RequestException as exc:
        if is_transport_error(exc):
            raise TransientError(VENDOR, f"token endpoint: {type(exc).__name__}") from None
        raise
    answer: dict[str, Any] = _json(response)
    if response.status_code >= 500:
        raise TransientError(VENDOR, "token endpoint unavailable", status=response.status_code)
    if response.status_code != 200 or "access_token" not in answer:
        error = answer.get("error", "error")
        description = answer.get("error_description", response.reason)
        raise AuthError(
            VENDOR, f"OAuth ({config.auth}): {error}: {description}", status=response.status_code
        )
    instance = str(config.instance_url or answer.get("instance_url") or "").rstrip("/")
    return Token(access_token=str(answer["access_token"]), instance_url=instance)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
