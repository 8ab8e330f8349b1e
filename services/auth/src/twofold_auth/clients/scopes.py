"""What an API client may be allowed to do.

A module of its own, free of imports, so the operator command's ``--help`` lists the scopes without loading the
database layer."""

SCOPES = frozenset({"setup", "verify", "status", "admin"})
# what ``create-client`` grants when no --scope is given: start enrollment, check codes, read a registration
DEFAULT_SCOPES = ("setup", "verify", "status")
