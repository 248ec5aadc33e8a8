"""Schemathesis hooks for the sign-out passes of the API contract (xtask/src/contract.rs).

Signing out everywhere (`POST /me/sessions/revoke-all`, `POST /admin/users/{id}/sessions/revoke-all`)
ends the session whose token made the request, so a run with one token would be refused (401)
from the second case on. Here every request signs in first and carries a session of its own.

Set by xtask: CONTRACT_LOGIN_URL, CONTRACT_EMAIL, CONTRACT_PASSWORD.
"""

import json
import os
import urllib.request

import schemathesis


@schemathesis.auth(refresh_interval=None)
class FreshSession:
    """A new session for every request (no caching: the last one may have been ended)."""

    def get(self, case, ctx):
        body = json.dumps(
            {
                "email": os.environ["CONTRACT_EMAIL"],
                "password": os.environ["CONTRACT_PASSWORD"],
            }
        ).encode()
        request = urllib.request.Request(
            os.environ["CONTRACT_LOGIN_URL"],
            data=body,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
