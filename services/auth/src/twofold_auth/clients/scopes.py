"""What an API client may be allowed to do.

A module of its own, free of imports, so the operator command's ``--help`` lists the scopes without loading the
database layer."""

# "openid" lets the app sign its users in with OpenID Connect, "email" lets it read their address there
OPENID_SCOPES = frozenset({"openid", "email"})
SCOPES = frozenset({"setup", "verify", "status", "admin"}) | OPENID_SCOPES
# what ``create-client`` grants when no --scope is given: start enrollment, check codes, read a registration
DEFAULT_SCOPES = ("setup", "verify", "status")
