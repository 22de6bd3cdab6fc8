"""The care-plan desk: a local web page where staff find a client and print, with their own
logins (``exporter desk``), and the staff accounts it checks (``exporter staff``).

Loaded only when ``exporter desk`` or ``exporter staff`` runs: the web framework, the server
and Argon2 stay out of every other command's import path.

The parts, by responsibility:

- ``staff``: accounts in the archive's ``staff`` table, the password policy, Argon2id;
- ``guard``: login attempts and lockout, sessions, CSRF tokens (in memory, on the server);
- ``journal``: the views and prints waiting for the audit log (encrypted, never lost);
- ``data``: the archive on the server, its one thread, the search index, the banners;
- ``pdfs``: the one function that produces a client's PDF;
- ``pages`` and ``app``: the Starlette routes, templates and security headers;
- ``tls``: the self-signed certificate for ``--lan``;
- ``server``: uvicorn, on 127.0.0.1 or (``--lan``) HTTPS on the office network.
"""
