"""The seed domain's problems (rendered as problem+json with these stable codes)."""

from twofold_common.errors import Conflict, NotFound, Problem, ServiceUnavailable


class CodeMismatch(Problem):
    status, code, title = 422, "code-mismatch", "The code does not match the seed"


class InvalidSeed(Problem):
    status, code, title = 422, "invalid-seed", "The seed is not a usable TOTP secret"


class SeedNotFound(NotFound):
    code, title = "seed-not-found", "No such seed"


class RegistrationConflict(Conflict):
    code, title = "registration-conflict", "This registration already enrolled a different seed"


class AlreadyEnrolled(Conflict):
    """A first enrollment for a subject that has an active authenticator: adding one needs the
    ``replace`` enrollment, which auth grants only for a fresh code of the current factor."""

    code, title = "already-enrolled", "The subject already has an active authenticator"


class SeedAlreadyRevoked(Conflict):
    code, title = "seed-revoked", "The seed is revoked"


class LastAuthenticator(Conflict):
    code, title = "last-authenticator", "The last active authenticator cannot be revoked"


class KeyUnavailable(ServiceUnavailable):
    """A seed cannot be decrypted with the configured key ring: an operator must fix the deployment.

    Not a 500 (nothing crashed, and the cause is known) and not ``valid: false``
    (the caller would count a failed attempt against a person who typed the
    right code).  A 503 tells the caller that the vault, not the code, failed.
    """

    code, title = "key-unavailable", "The seed's encryption key is unavailable"
