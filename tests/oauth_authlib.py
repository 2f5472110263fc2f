"""A third-party app written with Python's authlib (OAuth2Session, requests transport),
driven by tests/oauth-clients.test.mjs; runs in build/venv (scripts/tools.sh
ensure_authlib).

Environment: SCOPIEN_ISSUER (the gateway's origin), OAUTH_CLIENT_ID,
OAUTH_CLIENT_SECRET, OAUTH_REDIRECT_URI, OAUTH_SCOPE.

Protocol on stdout, one JSON object a line:
  1. {"authorization_url", "state"}: the test opens it in a browser and approves;
  2. then it reads the redirect URL the loopback server received, one line on stdin;
  3. {results...}: what each step answered, for the test to assert.
Any failure: a traceback on stderr and a non-zero exit.
"""

import json
import os
import select
import sys
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import MismatchingStateException
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

TIMEOUT = 10  # seconds, for every HTTP request
STDIN_TIMEOUT = 90  # seconds to wait for the redirect URL


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(message):
    sys.stderr.write(f"oauth_authlib.py: {message}\n")
    sys.exit(1)


def response_summary(resp):
    try:
        body = resp.json()
    except ValueError:
        body = resp.text
    return {
        "status": resp.status_code,
        "body": body,
        "www_authenticate": resp.headers.get("WWW-Authenticate"),
    }


def main():
    issuer = os.environ["SCOPIEN_ISSUER"]
    client_id = os.environ["OAUTH_CLIENT_ID"]
    client_secret = os.environ.get("OAUTH_CLIENT_SECRET")
    redirect_uri = os.environ["OAUTH_REDIRECT_URI"]
    scope = os.environ.get("OAUTH_SCOPE", "read")

    # RFC 8414 discovery, validated by authlib's own model (http is accepted only on a
    # loopback address, RFC 8252, which is what the test server is).
    meta_resp = requests.get(
        f"{issuer}/.well-known/oauth-authorization-server", timeout=TIMEOUT
    )
    if meta_resp.status_code != 200:
        fail(f"metadata answered {meta_resp.status_code}: {meta_resp.text}")
    metadata = AuthorizationServerMetadata(meta_resp.json())
    metadata_errors = []
    try:
        metadata.validate()
    except ValueError as err:
        metadata_errors.append(str(err))
    if metadata["issuer"] != issuer:
        fail(f"metadata issuer {metadata['issuer']!r} is not {issuer!r}")

    session = OAuth2Session(
        client_id,
        client_secret,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    code_verifier = generate_token(48)
    authorization_url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=code_verifier
    )
    emit({"authorization_url": authorization_url, "state": state})

    ready, _, _ = select.select([sys.stdin], [], [], STDIN_TIMEOUT)
    if not ready:
        fail(f"no redirect URL on stdin within {STDIN_TIMEOUT} s")
    redirect = sys.stdin.readline().strip()
    if not redirect:
        fail("stdin closed before the redirect URL")

    # authlib checks state in fetch_token; it does not check RFC 9207's iss, so this app
    # does, as the metadata says the server always sends it.
    callback = parse_qs(urlsplit(redirect).query)
    iss = callback.get("iss", [None])[0]
    if metadata.get("authorization_response_iss_parameter_supported") and iss != issuer:
        fail(f"redirect iss {iss!r} is not the issuer {issuer!r}: {redirect}")
    if "error" in callback:
        fail(f"the authorization response is an error: {redirect}")

    # authlib compares state only when given it: first a forged one, which it must refuse
    # before sending anything, then the real one.
    try:
        session.fetch_token(
            metadata["token_endpoint"],
            authorization_response=redirect,
            state="not-" + state,
            code_verifier=code_verifier,
            timeout=TIMEOUT,
        )
        fail("authlib accepted a redirect whose state is not ours")
    except MismatchingStateException:
        state_mismatch_refused = True

    token = session.fetch_token(
        metadata["token_endpoint"],
        authorization_response=redirect,
        state=state,
        code_verifier=code_verifier,
        timeout=TIMEOUT,
    )
    first_access = token["access_token"]
    first_refresh = token.get("refresh_token")

    api_url = f"{issuer}/v1/opportunities"
    api = session.get(api_url, timeout=TIMEOUT)

    refreshed = session.refresh_token(metadata["token_endpoint"], timeout=TIMEOUT)
    api_after_refresh = session.get(api_url, timeout=TIMEOUT)

    introspection = session.introspect_token(
        metadata["introspection_endpoint"],
        token=refreshed["access_token"],
        token_type_hint="access_token",
        timeout=TIMEOUT,
    )
    revocation = session.revoke_token(
        metadata["revocation_endpoint"],
        token=refreshed["access_token"],
        token_type_hint="access_token",
        timeout=TIMEOUT,
    )
    api_after_revocation = session.get(api_url, timeout=TIMEOUT)

    emit(
        {
            "metadata_errors": metadata_errors,
            "iss": iss,
            "state_mismatch_refused": state_mismatch_refused,
            "token": {
                "token_type": token.get("token_type"),
                "expires_in": token.get("expires_in"),
                "scope": token.get("scope"),
                "access_token_prefix": first_access[:4],
                "has_refresh_token": bool(first_refresh),
            },
            "api": response_summary(api),
            "refreshed": {
                "rotated": bool(refreshed.get("refresh_token"))
                and refreshed.get("refresh_token") != first_refresh,
                "new_access_token": refreshed["access_token"] != first_access,
                "scope": refreshed.get("scope"),
            },
            "api_after_refresh": response_summary(api_after_refresh),
            "introspection": introspection.json()
            if introspection.status_code == 200
            else {"status": introspection.status_code, "text": introspection.text},
            "revocation": {"status": revocation.status_code, "text": revocation.text},
            "api_after_revocation": response_summary(api_after_revocation),
        }
    )


if __name__ == "__main__":
    main()
