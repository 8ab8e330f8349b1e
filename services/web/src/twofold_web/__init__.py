"""Pages for people, on the public address behind the gateway; every action is a call of the public API."""
