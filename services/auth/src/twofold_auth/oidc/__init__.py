"""OpenID Connect: auth is the OpenID Provider of the apps registered as clients with the ``openid`` scope.

Which library does what, and why:

- ID tokens: PyJWT (``jwt.encode`` with RS256, ``RSAAlgorithm.to_jwk`` for the JWKS), the project's JWT
  library already, which signs the access tokens (EdDSA) too. joserfc would do the same; a second JOSE
  library for the same job is a second thing to keep up to date, and PyJWT covers RS256 and the JWK form.
- PKCE: the S256 transform is one line of ``hashlib`` and ``base64`` (``rules.s256``), compared in constant
  time. Authlib's ``create_s256_code_challenge`` is the same line, and would bring Authlib's server into
  production for nothing else.
- The protocol's rules are ours, each a few lines in ``rules.py`` citing its section: Authlib's server
  (``AuthorizationServer`` with its grants) wants to own the request cycle, the client and code models and
  the session lookup, which here are the project's own (Sessions with their rotation and reuse detection,
  the clients' keyed secret hashes, one unit of work per request). Adapting them costs more code than the
  rules it would save.
- Interoperability is proven from the other side: the tests drive the flow with Authlib's client
  (``AsyncOAuth2Client`` with PKCE S256, its discovery and its ID token validation against our JWKS), a dev
  dependency only.

The pieces: ``keys`` (the RSA ring), ``rules`` (the protocol's checks, pure), ``repository`` (authorization
codes, consents, logout deliveries), ``service`` (authorize with its consent rule, the signed-out check, token,
userinfo, the check of an app's logout request), ``backchannel`` (logout tokens sent to apps when their
sessions end), ``endpoints`` (discovery, the pages' authorize, check and logout APIs, the token and userinfo
endpoints).
"""
