"""Events: the CloudEvents 1.0 envelope and the typed catalog every service shares.

An event class is a small frozen pydantic model with a versioned ``type`` and
the ``topic`` of the service that publishes it.  Producer and consumer import
the same class, so a field renamed on one side fails in tests, not in
production.  No event carries a secret: no seed, code, token or password.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

AUTH_TOPIC = "twofold.auth.events"
# API clients' state, keyed by client id; compacted: the latest event of each client is kept for good
AUTH_CLIENTS_TOPIC = "twofold.auth.clients"
REGISTRATION_TOPIC = "twofold.registration.events"
VAULT_TOPIC = "twofold.vault.events"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
# Topics whose events each carry their subject's whole state: Kafka keeps the latest event of each key instead of
# dropping old events after a retention time, so a reader that starts from the beginning learns the present state.
COMPACTED_TOPICS = frozenset({AUTH_CLIENTS_TOPIC})


def _absent(value: str | None) -> bool:
    return value is None


class CloudEvent(BaseModel):
    """The envelope, in CloudEvents structured mode (the whole envelope is the Kafka value).

    ``traceparent`` and ``tracestate``, the CloudEvents Distributed Tracing extension, hold the W3C trace context of
    the operation that wrote the event while tracing is on, and are absent otherwise. A malformed one is ignored
    (no parent for the consumer's span), never refused.
    """

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID
    source: str
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    traceparent: str | None = Field(
        default=None, exclude_if=_absent,
        description="Distributed Tracing extension: the W3C traceparent of the operation that wrote the event")
    tracestate: str | None = Field(
        default=None, exclude_if=_absent,
        description="Distributed Tracing extension: the W3C tracestate that goes with traceparent")


class Event(BaseModel):
    """Base of every event's data.  Subclasses set ``type`` and ``topic``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str]
    topic: ClassVar[str]
    # The services that handle it (the catalog; a test checks it against the services' handlers).
    consumed_by: ClassVar[tuple[str, ...]] = ()
    # builtins.type: inside the class body, ``type`` is the event type above
    registry: ClassVar[dict[str, builtins.type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            known = Event.registry.get(cls.type)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise TypeError(f"event type {cls.type} is defined twice")
            Event.registry[cls.type] = cls

    def subject(self) -> str | None:
        """The entity the event is about; also the Kafka key (per-user ordering)."""
        return None

    def envelope(self, source: str, *, event_id: uuid.UUID | None = None,
                 trace: Mapping[str, str] | None = None) -> CloudEvent:
        """``trace``: the W3C trace context (``tracing.trace_context``), kept in the envelope's extension."""
        trace = trace or {}
        return CloudEvent(
            id=event_id or uuid.uuid4(),
            source=source,
            type=self.type,
            time=datetime.now(UTC),
            subject=self.subject(),
            data=self.model_dump(mode="json"),
            traceparent=trace.get("traceparent"),
            tracestate=trace.get("tracestate"),
        )


class UserEvent(Event):
    """About one of our users; auth publishes them all."""

    topic = AUTH_TOPIC
    user_id: uuid.UUID

    def subject(self) -> str:
        return str(self.user_id)


# --- auth ------------------------------------------------------------------


class UserRegistered(UserEvent):
    """An account was created; it is pending until its first authenticator is enrolled."""

    type = "user.registered.v1"
    email: str


class RegistrationAttempted(UserEvent):
    """Someone registered with this existing account's email while register conceals which emails exist
    (``AUTH_CONCEAL_REGISTERED_EMAILS``): the deployment tells the owner by email, who may simply sign in."""

    type = "account.registration_attempted.v1"
    email: str


class UserDeleted(UserEvent):
    """The owner deleted the account (with a fresh code); the vault and registration forget it."""

    type = "user.deleted.v1"
    consumed_by = ("registration", "vault")


class TwoFactorEnabled(UserEvent):
    """The account's first enrollment completed: 2FA is on and the account is active."""

    type = "user.2fa_enabled.v1"
    seed_id: str


class TwoFactorReset(UserEvent):
    """An operator reset the account's 2FA: the vault revokes its seeds and recovery codes, registration ends its
    pending enrollments (each only what is older than the event), and the account enrolls again."""

    type = "user.2fa_reset.v1"
    consumed_by = ("registration", "vault")


class SessionRevoked(UserEvent):
    """A session ended early: logout, revoked by its user, a reused refresh token, idle, or account deleted.

    Ending a person's session ends the apps' sessions authorized from it (OpenID Connect), each with an event of
    its own that names its app (``client_id``) and the person's session (``parent_session_id``, the ID token's
    ``sid``): auth sends the app its back-channel logout from these alone, since an account deleted takes its
    sessions' rows along. Both are null for a person's own session.
    """

    type = "session.revoked.v1"
    consumed_by = ("gateway", "auth")
    session_id: uuid.UUID
    reason: str
    client_id: str | None = None
    parent_session_id: uuid.UUID | None = None


class LoginSucceeded(UserEvent):
    """A session started after both factors (method: a TOTP code or a recovery code)."""

    type = "login.succeeded.v1"
    session_id: uuid.UUID
    method: Literal["totp", "recovery_code"]


class LoginFailed(UserEvent):
    """A wrong password for an existing account (unknown emails publish nothing)."""

    type = "login.failed.v1"
    reason: str


class SecondFactorFailed(UserEvent):
    """A code given for the account was refused: wrong, replayed, or the account is locked."""

    type = "second_factor.failed.v1"
    reason: str


class AccountLocked(UserEvent):
    """Too many wrong codes: the account takes only a recovery code until it is unlocked."""

    type = "account.locked.v1"
    reason: str
    locked_until: datetime | None = None


UnlockedBy = Literal["recovery_code", "admin", "expiry"]


class AccountUnlocked(UserEvent):
    """The account is unlocked, by one of its recovery codes or by an operator (by)."""

    type = "account.unlocked.v1"
    by: UnlockedBy


class KeyVerifier(BaseModel):
    """One secret of a client that works now, as a verifier (``api_keys.key_verifier``, hex), never the secret;
    ``until``: when it stops working (the end of a rotation's overlap), None while it is the current one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    digest: str = Field(pattern="^[0-9a-f]{64}$")
    until: datetime | None = None


ClientChange = Literal["created", "secret_rotated", "disabled", "enabled", "verifier_recorded"]


class ClientChanged(Event):
    """An API client was created, its secret rotated, or it was disabled or enabled: its whole state as the gateway
    needs it to check the app's key itself (its scopes, whether it is enabled, a verifier of each secret that
    works). ``verifier_recorded``: a client from before verifiers authenticated, and auth recorded its verifier."""

    type = "client.changed.v1"
    topic = AUTH_CLIENTS_TOPIC
    consumed_by = ("gateway",)
    client_id: str
    change: ClientChange
    enabled: bool
    scopes: tuple[str, ...]
    verifiers: tuple[KeyVerifier, ...]

    def subject(self) -> str:
        return self.client_id


# --- registration ------------------------------------------------------------


class RegistrationEvent(Event):
    """About one registration token: a first-party user's, or a third-party app's account's."""

    topic = REGISTRATION_TOPIC
    registration_id: uuid.UUID
    user_id: uuid.UUID | None = None
    client_id: str | None = None
    account: str | None = None

    def subject(self) -> str:
        return str(self.user_id) if self.user_id else f"{self.client_id}:{self.account}"


class RegistrationCompleted(RegistrationEvent):
    """An enrollment finished: the vault holds the new seed (seed_id: the provider's, or the vault's)."""

    type = "registration.completed.v1"
    consumed_by = ("auth",)
    provider: Literal["legitate", "native"]
    seed_id: str
    completed_at: datetime


class RegistrationRejected(RegistrationEvent):
    """The person declined the authenticator setup at the provider."""

    type = "registration.rejected.v1"
    reason: str


class RegistrationExpired(RegistrationEvent):
    """A pending registration ran out of time, or its user was deleted."""

    type = "registration.expired.v1"


# --- totp-vault ----------------------------------------------------------------


class VaultEvent(Event):
    """About what the vault holds for an ``owner``, the vault's subject: a user id, or ``<client_id>:<account>``
    for a third party's user."""

    topic = VAULT_TOPIC
    owner: str

    def subject(self) -> str:
        return self.owner


class SeedEvent(VaultEvent):
    seed_id: uuid.UUID


class SeedStored(SeedEvent):
    """The vault holds a new active seed: a provider's, or a generated one its first code confirmed."""

    type = "seed.stored.v1"
    provider: Literal["legitate", "native"]


class SeedRevoked(SeedEvent):
    """A seed stopped working: replaced by a newer enrollment, revoked, or reset with its owner."""

    type = "seed.revoked.v1"
    reason: str


class RecoveryCodeUsed(VaultEvent):
    """One of the owner's recovery codes was used up; remaining says how many are left."""

    type = "recovery_code.used.v1"
    remaining: int


# --- a registry lookup that names the problem --------------------------------


class UnknownEventType(LookupError):
    pass


def event_class(event_type: str) -> type[Event]:
    try:
        return Event.registry[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def parse_event(envelope: CloudEvent) -> Event:
    return event_class(envelope.type).model_validate(envelope.data)



