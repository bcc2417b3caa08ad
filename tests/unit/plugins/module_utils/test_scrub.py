# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scrubber (_scrub.py): examples of each secret form, then properties: a secret of any content planted anywhere in
any log text never survives, and text without secrets survives as it was."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.speechops.speech.plugins.module_utils._scrub import MASK, scrub, secret_forms

KEY = "0f3c9a7b2d4e6f8091a2b3c4d5e6f708"
BILLING = "http://billing:Bill1ng-Pw@172.31.214.3:5001/"


# ------------------------------------------------------------------------------------------ examples

@pytest.mark.parametrize("line, scrubbed", [
    # Microsoft's containers log where they send usage, with the Billing setting as given
    ("info: Submitting metering to '%s'." % BILLING, "info: Submitting metering to 'http://billing:<masked>@172.31.214.3:5001/'."),
    ("proxy http://proxyuser:p@ss@proxy.example:3128 refused", "proxy http://proxyuser:<masked>@proxy.example:3128 refused"),
    ("HTTP_PROXY=proxyuser:pw@proxy.example:3128", "HTTP_PROXY=proxyuser:<masked>@proxy.example:3128"),
    ("HTTP_PROXY_CREDS=proxyuser:secret and ApiKey=abc", "HTTP_PROXY_CREDS=<masked> and ApiKey=<masked>"),
    ("CloudAI__SentimentAnalysisSettings__SentimentAnalysisApiKey=xyz", "CloudAI__SentimentAnalysisSettings__SentimentAnalysisApiKey=<masked>"),
    ('{"ApiKey": "a b", "apikey":1234}', '{"ApiKey": "<masked>", "apikey":<masked>}'),
    ("Ocp-Apim-Subscription-Key: abc123", "Ocp-Apim-Subscription-Key: <masked>"),
    ("GET /x?subscription-key=abc&format=simple", "GET /x?subscription-key=<masked>&format=simple"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic <masked>"),
    ("Proxy-Authorization: Bearer eyJhbGciOi.x.y", "Proxy-Authorization: Bearer <masked>"),
    ("registry login password=hunter2", "registry login password=<masked>"),
    ("key %s in a line" % KEY, "key <masked> in a line"),
])
def test_each_form_of_a_secret_is_masked(line, scrubbed):
    assert scrub(line, key_like=True) == scrubbed
    assert scrub(scrubbed, key_like=True) == scrubbed


@pytest.mark.parametrize("line", [
    "info: Billing calls go to 'http://172.31.214.3:5001/' directly: NO_PROXY names it.",
    "fail: Model load failed: /usr/local/models/properties.json is corrupt. Retrying.",
    "http://127.0.0.1:5100/ready answered 503 after 15 s",
    "image registry.sandbox:5000/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us",
    "Authorization failed: check the key", "--password-stdin", "time 12:30 at host-1",
])
def test_ordinary_log_lines_are_left_alone(line):
    assert scrub(line, ["Sup3r-Secret"], key_like=True) == line


def test_known_secrets_are_masked_in_every_form_and_case():
    password = "p@ss word/+"
    text = "a %s b %s c %s d %s e %s" % (password, quote(password, safe=""), password.upper(), json.dumps(password)[1:-1],
                                         "proxyuser:" + password)
    scrubbed = scrub(text, ["proxyuser:" + password])
    assert scrubbed == "a <masked> b <masked> c <masked> d <masked> e <masked>"


def test_the_password_of_a_secret_url_is_masked_on_its_own_too():
    assert scrub("the stub refused Bill1ng-Pw", [BILLING]) == "the stub refused <masked>"


def test_short_known_values_and_empty_ones_do_not_mask_ordinary_words():
    assert scrub("a true story", ["tru", "", None, "a"]) == "a true story"


def test_data_is_scrubbed_at_any_depth_keys_too_and_other_values_are_kept():
    data = {"msg": "ApiKey=abc", "items": [("x", BILLING), 3, None, True], BILLING: 1.5}
    assert scrub(data) == {"msg": "ApiKey=<masked>", "items": [["x", "http://billing:<masked>@172.31.214.3:5001/"], 3, None, True],
                           "http://billing:<masked>@172.31.214.3:5001/": 1.5}


def test_key_like_runs_are_masked_only_when_asked():
    line = "digest sha256:%s" % ("ab" * 32)
    assert scrub(line) == line
    assert scrub(line, key_like=True) == "digest sha256:<masked>"


def test_secret_forms_are_longest_first():
    forms = secret_forms(["user:longpassword"])
    assert forms[0] == "user%3Alongpassword" and "longpassword" in forms


# ------------------------------------------------------------------------------------ properties

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# A secret of any content but whitespace and the mask's own brackets, 8 to 90 characters (an 84-character Azure key).
SECRETS = st.text(st.characters(blacklist_categories=("Cs", "Z", "Cc"), blacklist_characters="<>"), min_size=8, max_size=90)
LOG_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
# Ordinary log words: letters, digits and the punctuation of a log line, never a name=value, URL or key-like run.
WORDS = st.lists(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,()[]-_/"),
                         min_size=1, max_size=20), max_size=30)


@PROPERTY_SETTINGS
@given(secrets=st.lists(SECRETS, min_size=1, max_size=4), text=LOG_TEXT, data=st.data(), key_like=st.booleans())
def test_a_planted_secret_never_survives(secrets, text, data, key_like):
    assume(all(secret not in MASK for secret in secrets))
    planted = text
    for secret in secrets:
        position = data.draw(st.integers(0, len(planted)))
        planted = planted[:position] + secret + planted[position:]
    scrubbed = scrub(planted, secrets, key_like=key_like)
    for secret in secrets:
        assert secret.lower() not in scrubbed.lower()
    assert scrub(scrubbed, secrets, key_like=key_like) == scrubbed


@PROPERTY_SETTINGS
@given(before=WORDS, after=WORDS, secret=SECRETS, key_like=st.booleans())
def test_text_around_a_secret_survives(before, after, secret, key_like):
    before, after = " ".join(before), " ".join(after)
    forms = [form.lower() for form in secret_forms([secret])]
    assume(not any(form in before.lower() or form in after.lower() for form in forms))
    scrubbed = scrub("%s %s %s" % (before, secret, after), [secret], key_like=key_like)
    assert scrubbed == "%s %s %s" % (before, MASK, after)


@PROPERTY_SETTINGS
@given(words=WORDS, secrets=st.lists(SECRETS, max_size=3))
def test_text_without_a_secret_is_left_as_it_was(words, secrets):
    text = " ".join(words)
    assume(not any(form.lower() in text.lower() for form in secret_forms(secrets)))
    assert scrub(text, secrets, key_like=True) == text
