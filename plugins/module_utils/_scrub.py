# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secrets out of what the collection prints: container log lines quoted in a message, a module's result, a message
(private glue of the filter speechops.speech.speech_scrub and of the modules).

scrub() masks, in this order, each as MASK:
1. every known secret value (the API keys, the registry password, the proxy's credentials, a URL's password) in the
   forms a text carries it: as given, trimmed, URL-encoded or decoded, JSON-escaped, in any case; of a user:password
   value (HTTP_PROXY_CREDS) or a URL with one, the password alone too; values shorter than MIN_SECRET_LENGTH are not
   searched for (they would mask ordinary words; the forms below still mask them);
2. the value of a setting or header that holds a secret: ApiKey=..., HTTP_PROXY_CREDS=..., "ApiKey": "...",
   Ocp-Apim-Subscription-Key: ..., Authorization: Basic ... (the scheme word kept), password=...;
3. a URL's password: scheme://user:password@host -> scheme://user:<masked>@host, and user:password@host at the start
   of a word (a proxy written without its scheme);
4. with key_like, any run of 32 or more letters and digits: an Azure key is 32 hex digits or 84 letters and digits,
   whoever printed it.
Scrubbing a scrubbed text changes nothing. Pure functions; stdlib only; Python 3.8+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from urllib.parse import quote, unquote, urlsplit

MASK = "<masked>"
MIN_SECRET_LENGTH = 4

# Names whose value is a secret, wherever they stand in a longer name (SentimentAnalysisApiKey, HTTP_PROXY_CREDS).
_SECRET_NAMES = (r"api[_-]?key", r"instrumentation[_-]?key", r"_creds", r"subscription-key", r"authorization",
                 r"password", r"passwd")
_AUTH_SCHEMES = r"(?:basic|bearer|digest|negotiate|ntlm|token|sharedkey)"
_NAMED_VALUE = re.compile(
    r"(?P<name>%s)(?P<separator>[\"']?[ \t]*[=:][ \t]*)"
    r"(?:(?P<quote>[\"'])(?P<quoted>[^\"'\r\n<>]+)(?P=quote)|(?P<scheme>%s[ \t]+)?(?!%s[ \t])(?P<bare>[^\s\"'<>,;&)\]}]+))"
    % ("|".join(_SECRET_NAMES), _AUTH_SCHEMES, _AUTH_SCHEMES), re.IGNORECASE)
# The password runs to the last "@" before the host, so that an unescaped "@" in it is masked too.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@\"'<>]*:)[^\s/?#\"'<>]*(?=@)")
_BARE_URL_PASSWORD = re.compile(r"(?<![^\s=\"',;(\[{])(?P<head>[A-Za-z0-9._~%!$*+\-]+:)[^\s/?#\"'<>]*(?=@[A-Za-z0-9\[])")
_KEY_LIKE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{32,}(?![A-Za-z0-9])")


def _password_of(secret):
    """The password of user:password or of a URL with one, or None."""
    if "://" in secret:
        try:
            return urlsplit(secret).password
        except ValueError:
            return None
    user, colon, password = secret.partition(":")
    return password if colon and user and password else None


def secret_forms(secrets):
    """Every form the known secret values take in a text, longest first."""
    forms = set()
    for secret in secrets or ():
        if secret is None:
            continue
        secret = str(secret)
        given = {secret, secret.strip(), _password_of(secret.strip()) or ""}
        for form in given:
            forms.update([form, quote(form, safe=""), unquote(form), json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]])
    return sorted((form for form in forms if len(form) >= MIN_SECRET_LENGTH), key=lambda form: (-len(form), form))


def _known_values_pattern(secrets):
    forms = secret_forms(secrets)
    if not forms:
        return None
    # a lookahead finds every occurrence, overlapping ones too; each match's group 1 is the occurrence
    return re.compile("(?=(%s))" % "|".join(re.escape(form) for form in forms), re.IGNORECASE)


def _mask_spans(text, spans):
    """text with each (start, end) span, overlapping ones merged, replaced by MASK."""
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(end, merged[-1][1])
        else:
            merged.append([start, end])
    parts, position = [], 0
    for start, end in merged:
        parts.extend([text[position:start], MASK])
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _mask_known_values(text, pattern):
    if pattern is None:
        return text
    spans = []
    for match in pattern.finditer(text):
        # the longest form that starts here (alternatives are tried longest first)
        spans.append((match.start(1), match.end(1)))
    return _mask_spans(text, spans) if spans else text


def _mask_named_value(match):
    if match.group("quoted") is not None:
        return "%s%s%s%s%s" % (match.group("name"), match.group("separator"), match.group("quote"), MASK, match.group("quote"))
    return "%s%s%s%s" % (match.group("name"), match.group("separator"), match.group("scheme") or "", MASK)


def scrub_text(text, known_values=None, key_like=False):
    """One text with every secret masked; known_values is _known_values_pattern()'s compiled form of the secrets."""
    text = _mask_known_values(text, known_values)
    text = _NAMED_VALUE.sub(_mask_named_value, text)
    text = _URL_PASSWORD.sub(lambda match: match.group("head") + MASK, text)
    text = _BARE_URL_PASSWORD.sub(lambda match: match.group("head") + MASK, text)
    if key_like:
        text = _KEY_LIKE.sub(MASK, text)
    return text


def _scrub_value(value, known_values, key_like):
    if isinstance(value, str):
        return scrub_text(value, known_values, key_like)
    if isinstance(value, dict):
        return dict((_scrub_value(key, known_values, key_like), _scrub_value(item, known_values, key_like))
                    for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_scrub_value(item, known_values, key_like) for item in value]
    return value


def scrub(value, secrets=(), key_like=False):
    """value with every secret masked (see the module's docstring): a string, or the strings in a list, tuple or dict
    (keys too) at any depth; anything else as it is. secrets: the known secret values (None and empty ones ignored)."""
    return _scrub_value(value, _known_values_pattern(secrets), key_like)
