"""Sign-in with an OpenID Connect identity provider (authorization code flow with PKCE).

tandem is the relying party: it sends the browser to the provider, gets a code back, exchanges
it for an ID token, checks the token's signature (the provider's published keys), issuer,
audience, expiry and nonce, and then signs in the tandem user named by one of its claims.

The per-sign-in secrets (state, nonce, PKCE verifier) travel in a short-lived HttpOnly cookie,
and the callback only proceeds when the `state` it receives equals the cookie's: a forged
callback from another site has neither.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tandem.core.auth import Role
from tandem.core.config import Settings
from tandem.core.outbound import OutboundPolicy
from tandem.errors import InvalidInput, Unauthenticated

DISCOVERY_TTL = 3600.0  # seconds a provider's metadata and keys are reused
STATE_COOKIE = "tandem_oidc"
STATE_MAX_AGE = 600
_RESTART = "the sign-in expired or was not started here; try again"


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """How to reach the provider (TANDEM_OIDC_* settings; see docs/access.md)."""

    issuer: str
    client_id: str
    client_secret: str
    display_name: str = "single sign-on"
    username_claim: str = "preferred_username"
    create_users_as: Role | None = None  # None: only users that already exist may sign in


def oidc_settings(settings: Settings) -> OidcSettings | None:
    """The OIDC provider to offer for sign-in (the TANDEM_OIDC_* settings), or None when
    TANDEM_OIDC_ISSUER is not set."""
    values = settings.oidc
    if not values.get("issuer"):
        return None
    missing = [k for k in ("client_id", "client_secret") if not values.get(k)]
    if missing:
        names = ", ".join(f"TANDEM_OIDC_{k.upper()}" for k in missing)
        raise InvalidInput(f"TANDEM_OIDC_ISSUER is set but {names} is not")
    create = values.get("create_users") or None
    try:
        create_as = Role(create) if create else None
    except ValueError:
        roles = ", ".join(role.value for role in Role)
        raise InvalidInput(f"TANDEM_OIDC_CREATE_USERS must be a role ({roles}) or empty") from None
    return OidcSettings(
        issuer=values["issuer"],
        client_id=values["client_id"],
        client_secret=values["client_secret"],
        display_name=values.get("name") or "single sign-on",
        username_claim=values.get("username_claim") or "preferred_username",
        create_users_as=create_as,
    )


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What the browser carries from the redirect to the callback."""

    state: str
    nonce: str
    verifier: str
    next: str

    def to_cookie(self) -> str:
        raw = orjson.dumps([self.state, self.nonce, self.verifier, self.next])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_cookie(cls, value: str | None) -> PendingSignIn:
        try:
            padded = (value or "") + "=" * (-len(value or "") % 4)
            state, nonce, verifier, next_path = orjson.loads(base64.urlsafe_b64decode(padded))
            return cls(str(state), str(nonce), str(verifier), str(next_path))
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise Unauthenticated(
                "the sign-in expired or was not started here; try again"
            ) from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class OidcClient:
    """One identity provider, its metadata and keys fetched lazily and cached."""

    def __init__(
        self,
        settings: OidcSettings,
        http: httpx.Client | None = None,
        *,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        """Every call (discovery, keys, token, userinfo) goes through the outbound policy: the
        provider and the endpoints its metadata names must be public addresses unless a
        workspace admin allows them (TANDEM_OUTBOUND_ALLOW_HOSTS); redirects are not followed.
        A refused one raises DestinationRefused."""
        self.settings = settings
        self.http = http or (outbound or OutboundPolicy()).client(10.0, what="identity provider")
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._fetched_at = 0.0

    def close(self) -> None:
        self.http.close()

    def metadata(self, *, refresh: bool = False) -> dict[str, Any]:
        with self._lock:
            stale = time.monotonic() - self._fetched_at > DISCOVERY_TTL
            if self._metadata is None or self._jwks is None or stale or refresh:
                url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
                try:
                    metadata = self.http.get(url).raise_for_status().json()
                    jwks = self.http.get(metadata["jwks_uri"]).raise_for_status().json()
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    raise Unauthenticated(
                        f"the identity provider at {self.settings.issuer} cannot be reached: {exc}"
                    ) from None
                if metadata.get("issuer") != self.settings.issuer:
                    raise Unauthenticated(
                        f"the identity provider says its issuer is {metadata.get('issuer')!r}, "
                        f"not {self.settings.issuer!r}: check TANDEM_OIDC_ISSUER"
                    )
                self._metadata, self._jwks = metadata, jwks
                self._fetched_at = time.monotonic()
            return self._metadata

    def start(self, redirect_uri: str, next_path: str) -> tuple[str, PendingSignIn]:
        """The provider URL to send the browser to, and what to remember until it returns."""
        pending = PendingSignIn(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            next=next_path,
        )
        challenge = _b64url(hashlib.sha256(pending.verifier.encode()).digest())
        query = httpx.QueryParams(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid profile email",
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self.metadata()['authorization_endpoint']}?{query}", pending

    def finish(
        self, redirect_uri: str, params: dict[str, str], pending: PendingSignIn
    ) -> dict[str, Any]:
        """Check the callback, exchange its code and return the verified ID token's claims.

        Raises:
            Unauthenticated: the provider refused, the state does not match, or the token
                fails any check.
        """
        if "error" in params:
            reason = params.get("error_description") or params["error"]
            raise Unauthenticated(f"the identity provider refused the sign-in: {reason}")
        if not secrets.compare_digest(params.get("state", ""), pending.state):
            raise Unauthenticated(_RESTART)
        code = params.get("code")
        if not code:
            raise InvalidInput("the identity provider sent no code")
        metadata = self.metadata()
        try:
            response = self.http.post(
                metadata["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": pending.verifier,
                },
                auth=(self.settings.client_id, self.settings.client_secret),
            )
        except httpx.HTTPError as exc:
            raise Unauthenticated(f"the identity provider cannot be reached: {exc}") from None
        if response.status_code != 200:
            raise Unauthenticated(
                f"the identity provider refused the code ({response.status_code}): "
                f"{response.text[:200]}"
            )
        tokens = response.json()
        id_token = tokens.get("id_token")
        if not id_token:
            raise Unauthenticated("the identity provider sent no ID token")
        claims = self._verify(id_token, pending.nonce)
        if self.settings.username_claim not in claims and metadata.get("userinfo_endpoint"):
            # Many providers put profile claims only in userinfo, not in the ID token.
            claims |= self._userinfo(metadata["userinfo_endpoint"], tokens, claims["sub"])
        return claims

    def _userinfo(self, endpoint: str, tokens: dict[str, Any], sub: str) -> dict[str, Any]:
        access = tokens.get("access_token")
        if not access:
            return {}
        try:
            info = self.http.get(endpoint, headers={"authorization": f"Bearer {access}"})
            data = info.raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthenticated(f"the identity provider's userinfo failed: {exc}") from None
        if data.get("sub") != sub:  # OIDC Core 5.3.2: must match the ID token
            raise Unauthenticated("the identity provider's userinfo is for someone else")
        return {k: v for k, v in data.items() if k not in ("iss", "aud", "exp", "nonce")}

    def _verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        self.metadata()
        try:
            keys = KeySet.import_key_set(self._jwks or {})  # type: ignore[arg-type]
            token = jwt.decode(id_token, keys)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.settings.issuer},
                aud={"essential": True, "value": self.settings.client_id},
                nonce={"essential": True, "value": nonce},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(f"the ID token failed verification: {exc}") from None
        return dict(token.claims)
