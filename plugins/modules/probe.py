#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: probe
short_description: Health gate for an Azure AI Speech container
description:
  - Waits until a Speech container answers C(GET /ready) with HTTP 200, then checks C(GET /status) and fails unless its
    C(apiStatus) is one of O(expect_status).
  - C(apiStatus) is explained in words (RV(status_words)), following Microsoft's table of container status values
    (Valid, Invalid, Mismatch, CouldNotConnect, OutOfQuota, BillingEndpointBusy, ContainerUseUnauthorized, Unknown).
  - When C(/status) says C(CouldNotConnect) or C(BillingEndpointBusy), it is asked again after its C(Retry-After) time
    (else every O(interval) seconds) for up to O(status_timeout) seconds.
  - With O(smoke=true), also runs a smoke test chosen by O(kind). Text to speech kinds get a REST synthesis request
    (C(POST /speech/synthesize/cognitiveservices/v1), SSML for O(voice), output format C(riff-16khz-16bit-mono-pcm)) and
    must answer RIFF/WAVE 16 kHz 16-bit mono PCM audio of at least 1024 bytes.
    Speech to text kinds get a WebSocket upgrade on C(/speech/recognition/conversation/cognitiveservices/v1), language
    detection on C(/speech/universal/v2). The upgrade must answer HTTP 101 with the right C(Sec-WebSocket-Accept), and the
    connection is closed at once.
  - With O(targets), probes several containers at once, in parallel, in one call (no smoke test); the call fails
    when one of them fails, and RV(results) holds each one's verdict.
  - With O(billing_check=true), a container that cannot reach its billing endpoint is not waited for, and the host's
    own way to that endpoint is tried once (RV(billing)).
  - Only reads; it never reports a change.
version_added: "0.1.0"
author:
  - speechops team (@speechops)
options:
  url:
    description:
      - Base URL of the container as seen from the host the module runs on, for example V(http://127.0.0.1:5100).
      - V(http) or V(https), without user, password, query or fragment. A path is kept as a prefix (a front end).
      - Exactly one of O(url) and O(targets) is required.
    type: str
  targets:
    description:
      - Containers to probe in parallel, each with the other options of this call, instead of the one of O(url).
      - Cannot be used with O(smoke), O(voice), O(save_audio) or O(kind).
    type: list
    elements: dict
    suboptions:
      name:
        description: A name for the container, repeated in its RV(results) entry and in the messages.
        type: str
        required: true
      url:
        description: Base URL of the container, as O(url).
        type: str
        required: true
      kind:
        description: Kind of Speech container, as O(kind).
        type: str
        choices:
          - speech-to-text
          - custom-speech-to-text
          - neural-text-to-speech
          - language-detection
          - text-to-speech
          - custom-text-to-speech
  kind:
    description:
      - Kind of Speech container. Chooses the smoke test and the default of O(ready_timeout).
      - Required when O(smoke=true).
    type: str
    choices:
      - speech-to-text
      - custom-speech-to-text
      - neural-text-to-speech
      - language-detection
      - text-to-speech
      - custom-text-to-speech
  ready_timeout:
    description:
      - Seconds to wait for C(/ready) to answer HTTP 200.
      - The first start of a container is slow while its models are paged in, so the default depends on O(kind).
        It is V(300) for V(speech-to-text), V(custom-speech-to-text) and V(neural-text-to-speech),
        V(120) for V(language-detection), V(text-to-speech) and V(custom-text-to-speech), and V(300) without O(kind).
      - V(0) asks once.
    type: int
  status_timeout:
    description:
      - Seconds for which C(/status) is asked again while it says C(CouldNotConnect) or C(BillingEndpointBusy)
        or does not answer. V(0) asks once.
    type: int
    default: 30
  interval:
    description:
      - Seconds between two C(/ready) requests, and between two C(/status) requests when there is no C(Retry-After).
    type: float
    default: 1.0
  smoke:
    description:
      - Run the smoke test of O(kind) once the container is ready and its C(apiStatus) is expected.
      - The text to speech test synthesizes one short sentence, which is metered like any other query.
    type: bool
    default: false
  voice:
    description:
      - SSML voice name for the text to speech smoke test, for example V(en-US-AriaNeural) (the voice of the
        V(latest) neural-text-to-speech image). It is case sensitive and must be the voice of the container's image;
        any other voice is answered with HTTP 400 C(Voice does not match).
      - Required when O(smoke=true) and O(kind) is a text to speech kind; ignored otherwise.
    type: str
  save_audio:
    description:
      - Write the audio of a successful text to speech smoke test to this file on the host the module runs on.
        The directory must exist. Not written in check mode.
      - Writing this diagnostic file is not reported as a change.
    type: path
  billing_endpoint:
    description:
      - Billing endpoint the container was started with. Only used to name it in RV(status_words) and, with
        O(billing_check=true), to ask it once; a user, password or query in it is left out.
      - Pass it with its password masked, as the roles do with C(speech_billing_endpoint | speechops.speech.speech_scrub),
        since a module's arguments show at C(-vvv).
    type: str
  expect_status:
    description:
      - C(apiStatus) values accepted from C(/status).
    type: list
    elements: str
    choices:
      - Valid
      - Invalid
      - Mismatch
      - CouldNotConnect
      - OutOfQuota
      - BillingEndpointBusy
      - ContainerUseUnauthorized
      - Unknown
    default: [Valid]
  billing_check:
    description:
      - Stop waiting for C(/ready) as soon as a container that is not ready says on C(/status) (asked once) that it cannot
        reach its billing endpoint (C(CouldNotConnect) or C(BillingEndpointBusy)). Such a container does not become ready before its
        next billing retry, or ever again once it gave up on billing.
      - With O(targets) and O(billing_endpoint), when a container stopped for that reason, also send one C(GET) to
        O(billing_endpoint) from the host the module runs on, without a proxy, and return what it answered in RV(billing).
        Nothing more is sent while every container is ready.
    type: bool
    default: false
extends_documentation_fragment:
  - speechops.speech.attributes
  - speechops.speech.attributes.platform
attributes:
  check_mode:
    support: full
    details: The probes run in check mode as well; only O(save_audio) is not written.
  diff_mode:
    support: none
notes:
  - Requests never use a proxy, whatever C(HTTP_PROXY), C(HTTPS_PROXY) or C(NO_PROXY) say, and carry no key
    (the container API has no authentication).
  - On failure the result carries the same keys as on success, and C(msg) says in words which URL was probed,
    what was expected, the last answer of C(/ready) and what C(/status) said.
  - No secret goes into the result, whatever a container or an endpoint answered. A URL's password, the values of
    C(ApiKey), C(Authorization) and the like, and anything that looks like a key (32 or more letters and digits) are
    masked as C(<masked>), by the scrubber of the filter P(speechops.speech.speech_scrub#filter).
  - A container that cannot reach its billing endpoint stays ready but serves no queries, and stops serving after
    10 failed billing retries (10 to 15 minutes apart) until it is restarted.
seealso:
  - name: Azure AI Speech containers
    description: Endpoints of the Speech containers (C(/ready), C(/status)) and how to query them.
    link: https://learn.microsoft.com/azure/ai-services/speech-service/speech-container-howto
  - name: Azure AI containers FAQ
    description: Status values of C(/status).
    link: https://learn.microsoft.com/azure/ai-services/containers/container-faq
"""

EXAMPLES = r"""
- name: Wait for a speech to text container on host port 5100
  speechops.speech.probe:
    url: http://127.0.0.1:5100
    kind: speech-to-text

- name: Gate on a neural voice container, synthesizing a sentence and keeping the audio
  speechops.speech.probe:
    url: http://127.0.0.1:5101
    kind: neural-text-to-speech
    smoke: true
    voice: en-US-AriaNeural
    save_audio: /var/tmp/speech-ntts-probe.wav
    billing_endpoint: https://contoso-speech.cognitiveservices.azure.com
  register: ntts_probe

- name: Language detection with a short wait, accepting a busy billing endpoint
  speechops.speech.probe:
    url: http://127.0.0.1:5102
    kind: language-detection
    ready_timeout: 60
    interval: 2
    smoke: true
    expect_status: [Valid, BillingEndpointBusy]

- name: Check every container of a host in one call, recording the ones that are not Valid
  speechops.speech.probe:
    targets:
      - {name: speech-stt-1, url: "http://127.0.0.1:5100", kind: speech-to-text}
      - {name: speech-tts-1, url: "http://127.0.0.1:5101", kind: neural-text-to-speech}
    status_timeout: 0
  register: probes
  failed_when: probes.results | rejectattr('ready') | list | length > 0

- name: Check a container from the controller through its published port
  speechops.speech.probe:
    url: "http://{{ inventory_hostname }}:5100"
    kind: custom-speech-to-text
    status_timeout: 0
  delegate_to: localhost
"""

RETURN = r"""
url:
  description: The base URL that was probed, without a trailing slash.
  returned: when O(url) is set
  type: str
  sample: http://127.0.0.1:5100
ready:
  description: Whether C(/ready) answered HTTP 200 within O(ready_timeout).
  returned: when O(url) is set
  type: bool
  sample: true
waited_seconds:
  description: Seconds spent waiting for C(/ready).
  returned: when O(url) is set
  type: float
  sample: 12.04
ready_answer:
  description: The last answer of C(/ready).
  returned: when O(url) is set
  type: dict
  contains:
    status:
      description: HTTP status; null when no answer came.
      returned: always
      type: int
      sample: 200
    body:
      description: The body as one line of at most 300 characters; null when empty.
      returned: always
      type: str
      sample: '{"service": "speechtotext", "ready": "ready", "message": "The container is ready to accept queries."}'
    error:
      description: Why no answer came (connection refused, timed out); null when one came.
      returned: always
      type: str
      sample: "[Errno 111] Connection refused"
api_status:
  description: C(apiStatus) of C(/status); null when it gave none.
  returned: when O(url) is set
  type: str
  sample: Valid
api_status_message:
  description: C(apiStatusMessage) of C(/status); null when it gave none.
  returned: when O(url) is set
  type: str
  sample: Api Key is valid, no action needed.
status_words:
  description:
    - RV(api_status) in words for an operator, with what to do about it, followed by the container's own message.
    - When C(/status) gave no C(apiStatus), why (no answer, or an answer that is not the expected JSON).
  returned: when O(url) is set
  type: str
  sample: "ok: the ApiKey is valid for the Billing endpoint, no action needed (container says: Api Key is valid, no action needed.)"
smoke:
  description: The smoke test.
  returned: when O(url) is set
  type: dict
  contains:
    test:
      description: V(tts) (REST synthesis), V(websocket) (upgrade), or V(none) when O(smoke=false) or the gate failed before.
      returned: always
      type: str
      choices: [tts, websocket, none]
      sample: tts
    ok:
      description: Whether the smoke test passed; null when none ran.
      returned: always
      type: bool
      sample: true
    path:
      description: Request path of the test; null when none ran.
      returned: always
      type: str
      sample: /speech/synthesize/cognitiveservices/v1
    http_status:
      description: HTTP status of the answer (101 for a WebSocket upgrade); null when none came.
      returned: always
      type: int
      sample: 200
    error:
      description: Why the test failed; null when it passed or none ran.
      returned: always
      type: str
      sample: "synthesis answered HTTP 400: Synthesis failed. StatusCode: InvalidArgument, Details: Voice does not match."
    elapsed_seconds:
      description: Seconds the test took; null when none ran.
      returned: always
      type: float
      sample: 0.42
    voice:
      description: O(voice) as sent in the SSML.
      returned: when RV(smoke.test) is V(tts)
      type: str
      sample: en-US-AriaNeural
    output_format:
      description: The C(X-Microsoft-OutputFormat) asked for.
      returned: when RV(smoke.test) is V(tts)
      type: str
      sample: riff-16khz-16bit-mono-pcm
    content_type:
      description: C(Content-Type) of the answer.
      returned: when RV(smoke.test) is V(tts)
      type: str
      sample: audio/x-wav
    bytes:
      description: Size of the answer body.
      returned: when RV(smoke.test) is V(tts)
      type: int
      sample: 58924
    audio:
      description: The RIFF/WAVE header of the audio; null when the answer is not RIFF/WAVE.
      returned: when RV(smoke.test) is V(tts)
      type: dict
      contains:
        format_tag:
          description: WAVE format tag (1 is PCM).
          returned: always
          type: int
          sample: 1
        channels:
          description: Number of channels.
          returned: always
          type: int
          sample: 1
        sample_rate:
          description: Samples per second.
          returned: always
          type: int
          sample: 16000
        bits_per_sample:
          description: Bits per sample.
          returned: always
          type: int
          sample: 16
        data_bytes:
          description: Bytes of audio samples.
          returned: always
          type: int
          sample: 58880
    saved_to:
      description: Where the audio was written (O(save_audio)); null when it was not.
      returned: when RV(smoke.test) is V(tts)
      type: str
      sample: /var/tmp/speech-ntts-probe.wav
    accept_valid:
      description: Whether C(Sec-WebSocket-Accept) matched the key sent.
      returned: when RV(smoke.test) is V(websocket)
      type: bool
      sample: true
billing:
  description:
    - Whether the host reaches O(billing_endpoint); null unless O(billing_check=true), O(targets) is set and a container
      was not ready because it could not reach its billing endpoint.
  returned: when O(targets) is set
  type: dict
  contains:
    endpoint:
      description: O(billing_endpoint) without user, password or query.
      returned: always
      type: str
      sample: https://contoso-speech.cognitiveservices.azure.com/
    reachable:
      description: Whether it gave an HTTP answer other than 429 or 5xx.
      returned: always
      type: bool
      sample: true
    answer:
      description: Its answer in words.
      returned: always
      type: str
      sample: "HTTP 404: Resource not found"
results:
  description:
    - One entry per item of O(targets), in their order, each with RV(url), RV(ready), RV(waited_seconds), RV(ready_answer),
      RV(api_status), RV(api_status_message), RV(status_words) and RV(smoke) as for a single container.
  returned: when O(targets) is set
  type: list
  elements: dict
  contains:
    name:
      description: The target's name.
      returned: always
      type: str
      sample: speech-stt-1
    kind:
      description: The target's kind; null when it has none.
      returned: always
      type: str
      sample: speech-to-text
    failed:
      description: Whether this container failed its gate.
      returned: always
      type: bool
      sample: false
    msg:
      description: Why it failed, in words; null when it passed.
      returned: always
      type: str
      sample: null
"""

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils._scrub import scrub
from ansible_collections.speechops.speech.plugins.module_utils.probe import (
    API_STATUSES,
    RETRY_STATUSES,
    SMOKE_TESTS,
    SMOKE_TTS,
    Prober,
    public_answer,
    reaches_billing,
    ready_failure_message,
    ready_timeout_for,
    skipped_smoke,
    smoke_failure_message,
    status_failure_message,
    status_words,
)

# The catalog's kinds; DOCUMENTATION lists them too (tests/unit/plugins/modules/test_probe.py holds the two equal).
KINDS = list(catalog.KINDS)
# options a target cannot have: the smoke test is for one container behind its health gate
SINGLE_ONLY = ("smoke", "voice", "save_audio", "kind")


def argument_spec():
    return dict(
        url=dict(type="str"),
        targets=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            url=dict(type="str", required=True),
            kind=dict(type="str", choices=KINDS),
        )),
        kind=dict(type="str", choices=KINDS),
        ready_timeout=dict(type="int"),
        status_timeout=dict(type="int", default=30),
        interval=dict(type="float", default=1.0),
        smoke=dict(type="bool", default=False),
        voice=dict(type="str"),
        save_audio=dict(type="path"),
        billing_endpoint=dict(type="str"),
        expect_status=dict(type="list", elements="str", choices=list(API_STATUSES), default=["Valid"]),
        billing_check=dict(type="bool", default=False),
    )


def checked_params(module):
    """Options that argument_spec cannot check."""
    params = module.params
    if (params["url"] is None) == (params["targets"] is None):
        module.fail_json(msg="set exactly one of url (one container) and targets (several)")
    if params["targets"] is not None:
        given = [name for name in SINGLE_ONLY if params[name] not in (None, False)]
        if given:
            module.fail_json(msg="targets cannot be used with {0}: probe one container with url for that".format(", ".join(given)))
    if (params["ready_timeout"] or 0) < 0 or params["status_timeout"] < 0:
        module.fail_json(msg="ready_timeout and status_timeout must be 0 or more seconds")
    if not params["interval"] > 0:
        module.fail_json(msg="interval must be more than 0 seconds")
    kind = params["kind"]
    if params["smoke"] and SMOKE_TESTS[kind][0] == SMOKE_TTS and not params["voice"]:
        module.fail_json(msg="voice is required for the smoke test of kind {0}: the SSML voice name of the container's image, "
                             "for example en-US-AriaNeural".format(kind))
    if params["voice"] and not (params["smoke"] and kind in SMOKE_TESTS and SMOKE_TESTS[kind][0] == SMOKE_TTS):
        module.warn("voice is only used by the smoke test of a text to speech kind; it is ignored")
    if params["save_audio"] and not (params["smoke"] and kind in SMOKE_TESTS and SMOKE_TESTS[kind][0] == SMOKE_TTS):
        module.warn("save_audio is only used by the smoke test of a text to speech kind; nothing is written")


def probe(prober, kind, params, save_audio=None):
    """Gate one container: /ready, then /status, then the smoke test when asked. Returns (result, failure or None)."""
    ready_timeout = params["ready_timeout"] if params["ready_timeout"] is not None else ready_timeout_for(kind)
    url = prober.base_url
    result = dict(url=url, ready=False, waited_seconds=0.0, ready_answer=None,
                  api_status=None, api_status_message=None, status_words=None, smoke=skipped_smoke())

    ready = prober.wait_ready(ready_timeout, params["interval"], stop=prober.billing_stop() if params["billing_check"] else None)
    result.update(ready=ready["ready"], waited_seconds=ready["waited_seconds"], ready_answer=public_answer(ready["last"]))

    # Not ready: one look at /status still says why when billing is the cause.
    status = prober.check_status(params["status_timeout"] if ready["ready"] else 0, params["interval"])
    words = status_words(status, params["billing_endpoint"])
    result.update(api_status=status["api_status"], api_status_message=status["api_status_message"], status_words=words)
    if not ready["ready"]:
        return result, ready_failure_message(url, ready_timeout, ready, words)
    if status["api_status"] not in params["expect_status"]:
        return result, status_failure_message(url, params["expect_status"], status, words, ready)

    if params["smoke"]:
        result["smoke"] = prober.smoke(kind, voice=params["voice"], save_audio=save_audio)
        if not result["smoke"]["ok"]:
            return result, smoke_failure_message(url, result["smoke"], words, ready)
    return result, None


def probe_targets(module, targets):
    """Every target probed at once; a target whose URL is refused is reported, not probed."""
    def one(target):
        try:
            prober = Prober(target["url"])
        except ValueError as error:
            return dict(url=target["url"], ready=False, smoke=skipped_smoke()), str(error)
        return probe(prober, target["kind"], module.params)

    with ThreadPoolExecutor(max_workers=len(targets) or 1) as pool:
        verdicts = list(pool.map(one, targets))
    results = [dict(result, name=target["name"], kind=target["kind"], failed=failure is not None, msg=failure)
               for target, (result, failure) in zip(targets, verdicts)]
    billing = None
    params = module.params
    if params["billing_check"] and params["billing_endpoint"] and [
            entry for entry in results if not entry["ready"] and entry.get("api_status") in RETRY_STATUSES]:
        billing = reaches_billing(params["billing_endpoint"])
    failures = ["{0}: {1}".format(entry["name"], entry["msg"]) for entry in results if entry["failed"]]
    if failures:
        finish(module, "{0} of {1} containers failed: {2}".format(len(failures), len(results), "; ".join(failures)),
               results=results, billing=billing)
    finish(module, None, results=results, billing=billing)


def finish(module, failure, **result):
    """Fails with failure, or exits, with the result scrubbed: what a container or an endpoint answered can hold a key
    or a URL's password, and no secret goes into a result."""
    if failure:
        module.fail_json(**scrub(dict(result, msg=failure, changed=False), key_like=True))
    module.exit_json(**scrub(dict(result, changed=False), key_like=True))


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("smoke", True, ("kind",))],
        supports_check_mode=True,
    )
    params = module.params
    checked_params(module)
    if params["targets"] is not None:
        probe_targets(module, params["targets"])
    try:
        prober = Prober(params["url"])
    except ValueError as error:
        finish(module, str(error))
    result, failure = probe(prober, params["kind"], params, save_audio=None if module.check_mode else params["save_audio"])
    finish(module, failure, **result)


if __name__ == "__main__":
    main()
