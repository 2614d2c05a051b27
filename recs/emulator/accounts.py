"""Emulated accounts service: /authorize (consent page or non-interactive) and /api/token (code and refresh grants)."""

from __future__ import annotations

import base64
import binascii
import json
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, g, request

from recs.emulator.state import Emulator, OAuthError

bp = Blueprint("accounts", __name__)

_AUTH_FIELDS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
    "show_dialog",
)


def _emu() -> Emulator:
    emu: Emulator = g.emulator
    return emu


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = (parts.query + "&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _error_page(message: str) -> Response:
    page = f"<!doctype html><title>Error</title><h1>INVALID_CLIENT</h1><p>{escape(message)}</p>"
    return Response(page, status=400, mimetype="text/html")


def _redirect(uri: str, params: dict[str, str]) -> Response:
    return Response("", status=302, headers={"Location": _with_query(uri, params)})


def _validate(args: Any) -> Response | None:
    """Errors that Spotify shows on its own page (the redirect URI cannot be trusted yet)."""
    emu = _emu()
    if args.get("client_id") != emu.client_id:
        return _error_page("Invalid client")
    redirect_uri = args.get("redirect_uri", "")
    problem = emu.check_redirect_uri(redirect_uri)
    if problem:
        return _error_page(f"Invalid redirect URI: {problem}")
    return None


def _decide(args: Any, user_id: str | None, approve: bool) -> Response:
    emu = _emu()
    redirect_uri = args["redirect_uri"]
    state = {"state": args["state"]} if args.get("state") is not None else {}
    if args.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", **state})
    challenge = args.get("code_challenge") or None
    if challenge is not None and args.get("code_challenge_method") != "S256":
        return _redirect(
            redirect_uri,
            {"error": "invalid_request", "error_description": "code_challenge_method must be S256", **state},
        )
    if not approve:
        return _redirect(redirect_uri, {"error": "access_denied", **state})
    if user_id not in emu.household.members:
        return _error_page(f"no emulated member {user_id!r}")
    g.user_id = user_id
    code = emu.issue_code(user_id, args["client_id"], redirect_uri, args.get("scope", ""), challenge)
    return _redirect(redirect_uri, {"code": code, **state})


@bp.get("/authorize")
def authorize() -> Response:
    problem = _validate(request.args)
    if problem is not None:
        return problem
    if request.args.get("auto") == "1":
        # non-interactive sign-in for tests and the demo: the member is named in the query
        return _decide(request.args, request.args.get("emulator_user"), approve=request.args.get("deny") != "1")
    emu = _emu()
    hidden = "".join(
        f'<input type="hidden" name="{f}" value="{escape(request.args[f])}">' for f in _AUTH_FIELDS if f in request.args
    )
    choices = "".join(
        f'<label><input type="radio" name="user_id" value="{escape(m.user_id)}"{" checked" if i == 0 else ""}> '
        f"{escape(m.display_name)} <small>({escape(m.user_id)})</small></label><br>"
        for i, m in enumerate(emu.household.members.values())
    )
    scopes = "".join(f"<li>{escape(s)}</li>" for s in request.args.get("scope", "").split())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Spotify emulator: log in</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}button{{padding:.5rem 1rem}}</style></head>
<body><h1>Log in to the emulated Spotify</h1>
<p>An app wants to use your account. Who is signing in?</p>
<form method="post" action="/authorize/decide">{hidden}{choices}
<p>It will be able to:</p><ul>{scopes or "<li>read your public profile</li>"}</ul>
<button type="submit" name="action" value="agree">Agree</button>
<button type="submit" name="action" value="cancel">Cancel</button></form></body></html>"""
    return Response(page, mimetype="text/html")


@bp.post("/authorize/decide")
def decide() -> Response:
    problem = _validate(request.form)
    if problem is not None:
        return problem
    return _decide(request.form, request.form.get("user_id"), approve=request.form.get("action") == "agree")


def _token_error(error: str, description: str, status: int = 400) -> Response:
    return Response(
        json.dumps({"error": error, "error_description": description}), status=status, mimetype="application/json"
    )


@bp.post("/api/token")
def token() -> Response:
    emu = _emu()
    form = request.form
    authenticated = False
    client_id = form.get("client_id")
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            cid, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _token_error("invalid_client", "Invalid client")
        if cid != emu.client_id or secret != emu.client_secret:
            return _token_error("invalid_client", "Invalid client secret" if cid == emu.client_id else "Invalid client")
        client_id, authenticated = cid, True
    elif form.get("client_secret") is not None:
        if client_id != emu.client_id or form.get("client_secret") != emu.client_secret:
            return _token_error("invalid_client", "Invalid client secret")
        authenticated = True
    if client_id != emu.client_id:
        return _token_error("invalid_client", "Invalid client")
    grant_type = form.get("grant_type")
    try:
        if grant_type == "authorization_code":
            code = form.get("code")
            if not code:
                return _token_error("invalid_request", "code must be supplied")
            result = emu.exchange_code(
                code, form.get("redirect_uri", ""), client_id, form.get("code_verifier"), authenticated
            )
        elif grant_type == "refresh_token":
            refresh_token = form.get("refresh_token")
            if not refresh_token:
                return _token_error("invalid_request", "refresh_token must be supplied")
            grant = emu.refresh_tokens.get(refresh_token)
            if grant is not None and not grant.pkce and not authenticated:
                return _token_error("invalid_client", "Invalid client secret")
            result = emu.refresh(refresh_token)
        elif grant_type == "client_credentials":
            # an app token (no member): catalogue endpoints only; the app must authenticate with its secret
            if not authenticated:
                return _token_error("invalid_client", "Invalid client secret")
            result = emu.issue_app_token()
        else:
            return _token_error(
                "unsupported_grant_type",
                f"grant_type must be authorization_code, refresh_token or client_credentials, got {grant_type!r}",
            )
    except OAuthError as exc:
        return _token_error(exc.error, exc.description, exc.status)
    record = emu.access_tokens.get(result["access_token"])
    g.user_id = record.user_id if record else None
    return Response(json.dumps(result), mimetype="application/json", headers={"Cache-Control": "no-store"})
