# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one source of facts about the Azure AI Speech containers.

Pure data and pure functions; stdlib only; Python 3.8+; no Ansible imports.
Every fact carries a source ID: A* = current Microsoft Learn pages (azure-ai-docs), D* = older azure-docs
pages, H* = Helm charts (H1 microsoft/cognitive-services-speech-onpremise), C1 = Microsoft's batch kit.
docs/container-contract.md lists every source ID with its public page and states the facts in words; a
number in parentheses, such as (1.2), is a section of that page.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

MCR_REGISTRY = "mcr.microsoft.com"
MCR_NAMESPACE = "azure-cognitive-services/speechservices"
LEGACY_REGISTRY = "containerpreview.azurecr.io"  # gated preview registry, before 2020-09-22 (A12)
LEGACY_NAMESPACE = "microsoft"
LEGACY_PREFIX = "cognitive-services-"
DIAGNOSTIC_REPOSITORY = "azure-cognitive-services/diagnostic"  # A1, A15: a one-shot check, not a kind
PLATFORM = "amd64"  # the only platform in any tag (1.2)
PREVIEW_SUFFIX = "preview"
LATEST_TAG = "latest"
GIB = 1024  # memory_mb per GB: Docker's --memory 8g is 8 GiB

SPEECH_TO_TEXT = "speech-to-text"
CUSTOM_SPEECH_TO_TEXT = "custom-speech-to-text"
NEURAL_TEXT_TO_SPEECH = "neural-text-to-speech"
LANGUAGE_DETECTION = "language-detection"
TEXT_TO_SPEECH = "text-to-speech"
CUSTOM_TEXT_TO_SPEECH = "custom-text-to-speech"

KINDS = (
    SPEECH_TO_TEXT,
    CUSTOM_SPEECH_TO_TEXT,
    NEURAL_TEXT_TO_SPEECH,
    LANGUAGE_DETECTION,
    TEXT_TO_SPEECH,
    CUSTOM_TEXT_TO_SPEECH,
)

# Tag grammars (1.2). The builder and the parser in image_ref.py dispatch on these names.
TAG_LOCALE = "locale"  # <version>-amd64-<locale>[-preview]                 STT (A3)
TAG_VOICE = "voice"  # <version>-amd64-<locale>-<name>[-preview]           NTTS (A5), standard TTS (D1)
# D2 describes the NTTS tag as <locale>-<voice>, A5 as <voice> = <locale>-<name>neural: the same strings (10).
TAG_PLAIN = "plain"  # <version>-amd64[-preview] or <version>-preview-amd64  CSTT (A4), LID (A6)

# ---------------------------------------------------------------------------------------------
# Sizing: Docker --cpus / --memory limits, not host size (2).
# (cores, memory GB, extra model memory GB) per documentation year and level.
# The current table (A1, 01/30/2026; the 7/1/2025 version has the same content) is the default.
# Where the docs give a model-memory range "+4 to 8 GB", minimum takes the low end, recommended the high end.
# ---------------------------------------------------------------------------------------------
CURRENT_DOC_YEAR = "2026"
MINIMUM = "minimum"
RECOMMENDED = "recommended"
DOC_YEARS = ("2026", "2022", "2020")
DOC_YEAR_SOURCES = {"2026": "A1", "2022": "D2", "2020": "D1"}  # the contract's source IDs of each sizing table

_STT_SIZES = {
    # year: {level: (cores, memory_gb, model_memory_gb)}
    "2026": {MINIMUM: (4, 4, 4), RECOMMENDED: (8, 8, 8)},  # A1: 4c 4GB / 8c 8GB, +4 to 8 GB
    "2022": {MINIMUM: (4, 4, 4), RECOMMENDED: (8, 6, 6)},  # D2: 4c 4GB / 8c 6GB, +4 to 6 GB
    "2020": {MINIMUM: (2, 2, 4), RECOMMENDED: (4, 4, 6)},  # D1 (and D4 FAQ): 2c 2GB / 4c 4GB, +4 to 6 GB
}
_NTTS_SIZES = {
    "2026": {MINIMUM: (6, 12, 0), RECOMMENDED: (8, 16, 0)},  # A1
    "2022": {MINIMUM: (6, 12, 0), RECOMMENDED: (8, 16, 0)},  # D2
}
_LID_SIZES = {
    "2026": {MINIMUM: (1, 1, 0), RECOMMENDED: (1, 1, 0)},  # A1: 1 core 1 GB for both
    "2022": {MINIMUM: (1, 1, 0), RECOMMENDED: (1, 1, 0)},  # D2: "4 concurrent calls with 1 CPU / 1 GB"
}
_LEGACY_TTS_SIZES = {
    "2020": {MINIMUM: (1, 2, 0), RECOMMENDED: (2, 3, 0)},  # D1, D4: standard/custom TTS 1c 2GB / 2c 3GB
}

# ---------------------------------------------------------------------------------------------
# Locales and voices as far as the contract gives them (1.4, 1.5). Microsoft adds tags often,
# so these lists drive near-match suggestions and warnings, not a closed world when
# allow_unknown is set.
# ---------------------------------------------------------------------------------------------
_STT_LOCALES_2021 = (  # D5 09/09/2021, v3.0.0
    "ar-ae ar-bh ar-eg ar-iq ar-jo ar-kw ar-lb ar-om ar-qa ar-sa ar-sy bg-bg ca-es cs-cz da-dk de-at de-ch de-de "
    "el-gr en-au en-ca en-gb en-hk en-ie en-in en-nz en-ph en-sg en-us en-za es-ar es-bo es-cl es-co es-cr es-cu "
    "es-do es-ec es-es es-gt es-hn es-mx es-ni es-pa es-pe es-pr es-py es-sv es-us es-uy es-ve et-ee fi-fi fr-ca "
    "fr-fr ga-ie gu-in hi-in hr-hr hu-hu it-it ja-jp ko-kr lt-lt lv-lv mr-in mt-mt nb-no nl-nl pl-pl pt-br pt-pt "
    "ro-ro ru-ru sk-sk sl-si sv-se ta-in te-in th-th tr-tr zh-cn zh-hk zh-tw"
).split()
_STT_LOCALES_LATER = (
    "uk-ua",  # D5, v3.0.1
    "sw-tz", "vi-vn", "wuu-cn", "yue-cn", "zh-cn-sichuan", "zu-za",  # A3 tag excerpt, 4.12.0
)
STT_LOCALES = tuple(sorted(set(_STT_LOCALES_2021) | set(_STT_LOCALES_LATER)))

# NTTS voice tags: "<locale>-<name>neural"; True marks a voice published only as a -preview tag (D5 2021, v2.0.0).
_NTTS_VOICES_2021 = (
    "am-et-amehaneural am-et-mekdesneural ar-bh-lailaneural ar-eg-salmaneural ar-eg-shakirneural "
    "ar-sa-hamedneural ar-sa-zariyahneural cs-cz-antoninneural cs-cz-vlastaneural de-ch-janneural "
    "de-ch-lenineural de-de-conradneural de-de-katjaneural en-au-natashaneural en-au-williamneural "
    "en-ca-claraneural en-ca-liamneural en-gb-libbyneural en-gb-ryanneural en-gb-sonianeural en-us-arianeural "
    "en-us-guyneural en-us-jennyneural es-es-alvaroneural es-es-elviraneural es-mx-dalianeural es-mx-jorgeneural "
    "fr-ca-antoineneural fr-ca-jeanneural fr-ca-sylvieneural fr-fr-deniseneural fr-fr-henrineural "
    "hi-in-madhurneural hi-in-swaraneural it-it-diegoneural it-it-elsaneural it-it-isabellaneural "
    "ja-jp-keitaneural ja-jp-nanamineural ko-kr-injoonneural ko-kr-sunhineural pt-br-antonioneural "
    "pt-br-franciscaneural so-so-muuseneural so-so-ubaxneural tr-tr-ahmetneural tr-tr-emelneural "
    "zh-cn-xiaoxiaoneural zh-cn-xiaoyouneural zh-cn-yunyangneural zh-cn-yunyeneural zh-cn-xiaochenneural-preview "
    "zh-cn-xiaohanneural zh-cn-xiaomoneural zh-cn-xiaoqiuneural-preview zh-cn-xiaoruineural "
    "zh-cn-xiaoshuangneural-preview zh-cn-xiaoxuanneural zh-cn-xiaoyanneural-preview zh-cn-yunxineural"
).split()
# D5 prints "ar-eg-salmaneura(sic)"; the SSML voice is ar-EG-SalmaNeural, so the list above carries the fixed name.
_NTTS_VOICES_LATER = (
    "uk-ua-ostapneural",  # A5 excerpt, 3.11.0
    "en-us-avaneural", "ta-in-pallavineural",  # H2 (third-party), 4.6.0
)
NTTS_PREVIEW_VOICES = tuple(sorted(v[:-len("-preview")] for v in _NTTS_VOICES_2021 if v.endswith("-preview")))
NTTS_VOICES = tuple(sorted(set(v.replace("-preview", "") for v in _NTTS_VOICES_2021) | set(_NTTS_VOICES_LATER)))
NTTS_RETIRED_VOICES = ("en-gb-mianeural",)  # present up to v1.7.0, later dropped (D5)

# Standard TTS (retired): the locales and voices of 1.3.0, the table of the 2019-11 page (D10); D1 (2020-05) names
# version 1.4.0 and moves the table to the tag list (D5). Each voice is its SSML short name with Microsoft's casing
# (D10, D1: the "short name" of the standard voice list); its tag form is the same in lower case
# (zh-CN-Kangkang-Apollo, 1.3.0-amd64-zh-cn-kangkang-apollo-preview). The casing is data: no suffix rule derives it.
_TTS_SSML_VOICES_1_3_0 = (
    ("zh-CN", ("HuihuiRUS", "Kangkang-Apollo", "Yaoyao-Apollo")),
    ("en-AU", ("Catherine", "HayleyRUS")),
    ("en-GB", ("George-Apollo", "HazelRUS", "Susan-Apollo")),
    ("en-IN", ("Heera-Apollo", "PriyaRUS", "Ravi-Apollo")),
    ("en-US", ("JessaRUS", "BenjaminRUS", "Jessa24kRUS", "ZiraRUS", "Guy24kRUS")),
    ("fr-CA", ("Caroline", "HarmonieRUS")),
    ("fr-FR", ("HortenseRUS", "Julie-Apollo", "Paul-Apollo")),
    ("de-DE", ("Hedda", "HeddaRUS", "Stefan-Apollo")),
    ("it-IT", ("Cosimo-Apollo", "LuciaRUS")),
    ("ja-JP", ("Ayumi-Apollo", "HarukaRUS", "Ichiro-Apollo")),
    ("ko-KR", ("HeamiRUS",)),
    ("pt-BR", ("Daniel-Apollo", "HeloisaRUS")),
    ("es-ES", ("ElenaRUS", "Laura-Apollo", "Pablo-Apollo")),
    ("es-MX", ("HildaRUS", "Raul-Apollo")),
)
TTS_SSML_VOICES = tuple(locale + "-" + name for locale, names in _TTS_SSML_VOICES_1_3_0 for name in names)
TTS_VOICES = tuple(voice.lower() for voice in TTS_SSML_VOICES)
TTS_LOCALES = tuple(locale.lower() for locale, _names in _TTS_SSML_VOICES_1_3_0)
TTS_VERSIONS = ("1.3.0", "1.4.0")  # D10 names 1.3.0 and its voice table; D1 names 1.4.0 for standard and custom TTS
TTS_RETIRED_ON = "2021-08-31"  # A5; D2 (2022-01): "We retired the standard speech synthesis voices and text-to-speech container"

_COMMON_SETTINGS = (
    "Eula", "Billing", "ApiKey",  # required in connected mode (A14, A1, A7)
    "ApplicationInsights:InstrumentationKey",  # A14
    "Fluentd:Host", "Fluentd:Port", "Fluentd:HeartbeatMs", "Fluentd:SendBufferSize",
    "Fluentd:TlsConnectionEstablishmentTimeoutMs", "Fluentd:UseTLS",  # D6
    "HTTP_PROXY", "HTTP_PROXY_CREDS",  # A14 (2020-21 docs used HTTPS_PROXY*, PR #60566)
    "Logging:Console:LogLevel:Default", "Logging:Disk:Format", "Logging:Disk:MaxFileSize",  # A1, D6
    "Mounts:Output",  # A7
)
_DISCONNECTED_SETTINGS = ("Mounts:License", "DownloadLicense")  # A3, A13
DECODER_MAX_COUNT = "DECODER_MAX_COUNT"  # env var: decoders, so concurrent recognitions, per STT container (D4, H1)
_STT_SETTINGS = (DECODER_MAX_COUNT,)
_STT_LEGACY_SETTINGS = (  # D1, D2, H1; absent from the current docs
    "CloudAI:SentimentAnalysisSettings:TextAnalyticsHost",
    "CloudAI:SentimentAnalysisSettings:SentimentAnalysisApiKey",
)
_CSTT_SETTINGS = (  # A4, A10
    "ModelId", "BaseModelLocale", "DisplayLocale", "RescoreId", "PunctId", "ResegmentId", "WfstitnId",
)
FORBIDDEN_SETTINGS = ("Mounts:Input",)  # not allowed for Speech (A7)
EXTRA_ENVIRONMENT = {"NO_PROXY": "localhost,127.0.0.1"}  # needed with a proxy: internal gRPC (issue #112998)

# Container-side paths (4.2). Host directories must be owned nonroot:nonroot (A3-A5).
MOUNT_OUTPUT = {"name": "output", "path": "/output", "setting": "Mounts:Output", "required": False}
MOUNT_LICENSE = {"name": "license", "path": "/license", "setting": "Mounts:License", "required": False}
MOUNT_MODELS = {"name": "models", "path": "/usr/local/models", "setting": None, "required": False}

# Concurrent requests one container is documented to serve; the public sources, as the plan and the endpoints
# catalog show them.
_STT_CONCURRENCY_SOURCE = (
    "Microsoft Learn, Speech containers FAQ: no more than two concurrent recognitions per container instance; "
    "Helm chart microsoft/cognitive-services-speech-onpremise: speechToText.numberOfConcurrentRequest, default 2, "
    "sets DECODER_MAX_COUNT")
_TTS_CONCURRENCY_SOURCE = (
    "Helm chart microsoft/cognitive-services-speech-onpremise: textToSpeech.numberOfConcurrentRequest, default 2")
_LID_CONCURRENCY_SOURCE = (
    "Microsoft Learn, Language identification container: 4 concurrent calls with 1 CPU and 1 GB, 6 with 2 CPUs and 2 GB")

_NTTS_UNSUPPORTED_BEFORE = "2.20.0"  # A5: versions <= 2.19 unsupported from 2024-02-29

# The smoke test of a kind, as (test, path) (3.3, 3.4): "websocket" opens a WebSocket upgrade on a recognition path
# and closes it at once; "tts" posts SSML to the REST synthesis path and expects audio. The legacy text to speech
# kinds answer the same REST synthesis request (D7).
SMOKE_TTS = "tts"
SMOKE_WEBSOCKET = "websocket"
TTS_PATH = "/speech/synthesize/cognitiveservices/v1"  # D7, D4 (3.4)
STT_PATH = "/speech/recognition/conversation/cognitiveservices/v1"  # D4 (3.3)
LID_PATH = "/speech/universal/v2"  # SourceLanguageRecognizer (A6, 3.3)

# Seconds to wait for /ready ("ready_timeout_seconds"). STT/CSTT memory-map a large language model and NTTS loads
# its voice; "the first run is slower while models are paged in" (A1, 2). The smaller kinds get less.
_READY_TIMEOUT_LARGE = 300
_READY_TIMEOUT_SMALL = 120

# An ESTIMATE of the disk one image takes once pulled and extracted ("image_disk_mb"). Microsoft documents no image
# sizes; these are deliberately generous (STT/CSTT/NTTS ship large models). Preflight's option image_disk_mb
# (variable speech_image_disk_mb) overrides them per kind when the real sizes are known.
_IMAGE_DISK_MB_LARGE = 8000

_CATALOG = {
    SPEECH_TO_TEXT: {
        "title": "Speech to text",
        "status": "ga",  # A2, A17
        "legacy_repository": LEGACY_NAMESPACE + "/" + LEGACY_PREFIX + SPEECH_TO_TEXT,
        "port": 5000,  # 3.1
        "protocol": "ws",  # WebSocket only; REST POST gives 404 (D4)
        "client_protocols": ("ws",),
        "sizes": _STT_SIZES,
        "tag_format": TAG_LOCALE,  # A3
        "latest_version": "5.1.0",  # A2 "Latest" (12/2025); A3 example 4.12.0; H2 third-party 5.3.0
        "latest_tag_means": {"locale": "en-us"},  # A3
        "default_locale": "en-us",
        "default_preview": False,
        "locales": STT_LOCALES,
        "voices": (),
        "disconnected": True,  # A13
        "settings": _COMMON_SETTINGS + _DISCONNECTED_SETTINGS + _STT_SETTINGS + _STT_LEGACY_SETTINGS,
        "mounts": (MOUNT_OUTPUT, MOUNT_LICENSE),
        "concurrency": {
            # D4: "don't recommend keeping more than two concurrent recognitions per container instance";
            # ~0.6 core per real-time stream; scale out behind a load balancer. The Helm default is 2 (H1).
            "recommended_concurrent_requests": 2,
            "cores_per_realtime_stream": 0.6,
            "decoder_setting": DECODER_MAX_COUNT,
            "source": _STT_CONCURRENCY_SOURCE,
        },
        "ready_delay_seconds": 20,  # Helm initialDelaySeconds (H1); first start pages models in (A1)
        "retired": False,
        "retired_on": None,
        "replacement": None,
        "legacy": None,
        "unsupported_before": None,
        "model_id_required": False,
        "smoke_test": (SMOKE_WEBSOCKET, STT_PATH),
        "ready_timeout_seconds": _READY_TIMEOUT_LARGE,
        "image_disk_mb": _IMAGE_DISK_MB_LARGE,
    },
    CUSTOM_SPEECH_TO_TEXT: {
        "title": "Custom speech to text",
        "status": "ga",
        "legacy_repository": LEGACY_NAMESPACE + "/" + LEGACY_PREFIX + CUSTOM_SPEECH_TO_TEXT,
        "port": 5000,
        "protocol": "ws",
        "client_protocols": ("ws",),
        "sizes": _STT_SIZES,  # A1 lists CSTT with STT
        "tag_format": TAG_PLAIN,  # A4; real preview tags put -preview before the platform (5.0.0-preview-amd64)
        "latest_version": "5.1.0",  # A2; A4 tag list goes up to 4.12.0 and 5.0.1-preview
        "latest_tag_means": {},  # newest version; the locale comes from the model (A4)
        "default_locale": None,
        "default_preview": False,
        "preview_before_platform": True,  # A4 tag list: 5.0.0-preview-amd64, 5.0.1-preview-amd64
        "locales": (),
        "voices": (),
        "disconnected": True,  # A4, A13 (needs an S0 resource for the model and a DC0 one to run)
        "settings": _COMMON_SETTINGS + _DISCONNECTED_SETTINGS + _STT_SETTINGS + _CSTT_SETTINGS,
        "mounts": (MOUNT_OUTPUT, MOUNT_LICENSE, MOUNT_MODELS),
        "concurrency": {
            "recommended_concurrent_requests": 2,
            "cores_per_realtime_stream": 0.6,
            "decoder_setting": DECODER_MAX_COUNT,
            "source": _STT_CONCURRENCY_SOURCE,
        },
        "ready_delay_seconds": 20,
        "retired": False,
        "retired_on": None,
        "replacement": None,
        "legacy": None,
        "unsupported_before": None,
        "model_id_required": True,  # the custom model's ID from Speech Studio (A4)
        "smoke_test": (SMOKE_WEBSOCKET, STT_PATH),
        "ready_timeout_seconds": _READY_TIMEOUT_LARGE,
        "image_disk_mb": _IMAGE_DISK_MB_LARGE,
    },
    NEURAL_TEXT_TO_SPEECH: {
        "title": "Neural text to speech",
        "status": "ga",
        "legacy_repository": LEGACY_NAMESPACE + "/" + LEGACY_PREFIX + NEURAL_TEXT_TO_SPEECH,
        "port": 5000,
        "protocol": "http",  # POST /speech/synthesize/cognitiveservices/v1 (D7, D4)
        "client_protocols": ("http",),
        "sizes": _NTTS_SIZES,
        "tag_format": TAG_VOICE,  # A5
        "latest_version": "4.1.0",  # A2; A5 example 3.11.0; H2 third-party 4.6.0
        "latest_tag_means": {"locale": "en-us", "voice": "en-us-arianeural"},  # A5
        "default_locale": "en-us",
        "default_voice": "en-us-arianeural",
        "default_preview": False,
        "locales": tuple(sorted(set(v.rsplit("-", 1)[0] for v in NTTS_VOICES))),
        "voices": NTTS_VOICES,
        "preview_voices": NTTS_PREVIEW_VOICES,
        "voice_suffix": "neural",
        "disconnected": True,
        "settings": _COMMON_SETTINGS + _DISCONNECTED_SETTINGS,
        "mounts": (MOUNT_OUTPUT, MOUNT_LICENSE),
        "concurrency": {
            # No container figure is documented; the Helm chart default numberOfConcurrentRequest is 2 (H1).
            "recommended_concurrent_requests": 2,
            "source": _TTS_CONCURRENCY_SOURCE,
        },
        "ready_delay_seconds": 10,  # H1
        "retired": False,
        "retired_on": None,
        "replacement": None,
        "legacy": None,
        "unsupported_before": _NTTS_UNSUPPORTED_BEFORE,
        "model_id_required": False,
        "smoke_test": (SMOKE_TTS, TTS_PATH),
        "ready_timeout_seconds": _READY_TIMEOUT_LARGE,
        "image_disk_mb": _IMAGE_DISK_MB_LARGE,
    },
    LANGUAGE_DETECTION: {
        "title": "Speech language identification",
        "status": "preview",  # public preview (A2, A17)
        "legacy_repository": None,  # none found (1.1)
        # The container listens on 5003 in every doc version; A6 maps -p 5000:5003, D2/D9 map -p 5003:5003 (3.1).
        "port": 5003,
        "documented_host_port": 5000,  # A6 (current); D2/D9 used 5003
        # A1's host table and the A10 http include say HTTP; the batch kit (C1) connects with ws://.
        # Current docs win as default (10, "LID protocol"); clients may use either, so the LB must pass upgrades.
        "protocol": "http",
        "client_protocols": ("http", "ws"),
        "sizes": _LID_SIZES,
        "tag_format": TAG_PLAIN,  # A6
        "latest_version": "1.18.0",  # A2, A6
        "latest_tag_means": {"preview": True},  # newest preview (A6)
        "default_locale": None,
        "default_preview": True,  # every documented LID tag is a -preview tag (A6)
        "locales": (),
        "voices": (),
        # A2 (current): "Not available as a disconnected container"; D9 (2023) still had a disconnected tab.
        "disconnected": False,
        "settings": _COMMON_SETTINGS,
        "mounts": (MOUNT_OUTPUT,),
        "concurrency": {
            "recommended_concurrent_requests": 4,  # A6, D2: 4 calls with 1 CPU / 1 GB, 6 with 2 CPU / 2 GB
            "by_size": ({"cpus": 1, "memory_mb": 1 * GIB, "concurrent_requests": 4},
                        {"cpus": 2, "memory_mb": 2 * GIB, "concurrent_requests": 6}),
            "source": _LID_CONCURRENCY_SOURCE,
        },
        "ready_delay_seconds": 10,
        "retired": False,
        "retired_on": None,
        "replacement": None,
        "legacy": None,
        "unsupported_before": None,
        "model_id_required": False,
        "smoke_test": (SMOKE_WEBSOCKET, LID_PATH),
        "ready_timeout_seconds": _READY_TIMEOUT_SMALL,
        "image_disk_mb": 2000,
    },
    TEXT_TO_SPEECH: {
        "title": "Standard text to speech",
        "status": "retired",
        "legacy_repository": LEGACY_NAMESPACE + "/" + LEGACY_PREFIX + TEXT_TO_SPEECH,
        "port": 5000,
        "protocol": "http",
        "client_protocols": ("http",),
        "sizes": _LEGACY_TTS_SIZES,
        "tag_format": TAG_VOICE,  # D10, D1: <version>-amd64-<locale>-<voice>-<prerelease>
        "latest_version": "1.4.0",  # D1 "Latest"; D10 1.3.0
        "versions": TTS_VERSIONS,
        # D10 and D1: "The latest tag pulls the en-US locale and jessarus voice"; D5 (2021) says AriaRUS (10).
        "latest_tag_means": {"locale": "en-us", "voice": "en-us-jessarus"},
        "default_locale": "en-us",
        "default_voice": "en-us-jessarus",
        "default_preview": True,  # every documented tag ends in -preview (D10, D1: 1.3.0-amd64-en-us-jessarus-preview)
        "locales": TTS_LOCALES,
        "voices": TTS_VOICES,
        "ssml_voices": TTS_SSML_VOICES,
        "preview_voices": (),
        "voice_suffix": None,  # catherine, hedda, kangkang-apollo: the table decides, not a suffix
        "disconnected": False,
        "settings": _COMMON_SETTINGS,
        "mounts": (MOUNT_OUTPUT,),
        "concurrency": {"recommended_concurrent_requests": 2, "source": _TTS_CONCURRENCY_SOURCE},
        "ready_delay_seconds": 10,
        "retired": True,
        "retired_on": TTS_RETIRED_ON,
        "replacement": NEURAL_TEXT_TO_SPEECH,
        "legacy": None,
        "unsupported_before": None,
        "model_id_required": False,
        "smoke_test": (SMOKE_TTS, TTS_PATH),
        "ready_timeout_seconds": _READY_TIMEOUT_SMALL,
        "image_disk_mb": 3000,
    },
    CUSTOM_TEXT_TO_SPEECH: {
        "title": "Custom text to speech (legacy)",
        "status": "legacy",
        "legacy_repository": LEGACY_NAMESPACE + "/" + LEGACY_PREFIX + CUSTOM_TEXT_TO_SPEECH,
        "port": 5000,
        "protocol": "http",
        "client_protocols": ("http",),
        "sizes": _LEGACY_TTS_SIZES,  # D10 and D1 give standard and custom TTS the same sizes
        # The voice comes from the model (D10, D1). No page shows a tag: the catalog builds <version>-amd64-preview,
        # the plain grammar with the prerelease suffix of the standard kind's tags (inferred).
        "tag_format": TAG_PLAIN,
        "latest_version": "1.4.0",  # D1 "Latest"; D10 1.3.0
        "versions": TTS_VERSIONS,
        "latest_tag_means": {},
        "default_locale": None,
        "default_preview": True,  # a preview image in every page that shows it (D10, D1)
        "locales": (),
        "voices": (),
        "disconnected": False,
        "settings": _COMMON_SETTINGS + ("ModelId",),
        "mounts": (MOUNT_OUTPUT, MOUNT_MODELS),
        "concurrency": {"recommended_concurrent_requests": 2, "source": _TTS_CONCURRENCY_SOURCE},
        "ready_delay_seconds": 10,
        # No page calls it retired; Microsoft's current pages no longer list it, D5 (2021) is the last that does.
        "retired": False,
        "retired_on": None,
        "replacement": None,
        "legacy": "no longer in Microsoft's current pages; last documented in 2021",
        "unsupported_before": None,
        "model_id_required": True,  # "The custom voice Model ID is required to run the container" (D10, D1)
        "smoke_test": (SMOKE_TTS, TTS_PATH),
        "ready_timeout_seconds": _READY_TIMEOUT_SMALL,
        "image_disk_mb": 3000,
    },
}

# ---------------------------------------------------------------------------------------------
# The "Install and run Speech containers" page, version by version (docs/versions.md): its source ID, the registry its
# images come from, its sizing table (a DOC_YEARS year), and per kind the version of its "Latest" column with the
# example tag it shows (None where it shows none). The 2024-09 page has the current page's sizes (A1); its row takes the
# current "Latest" versions (A2), which the catalog builds by default.
# ---------------------------------------------------------------------------------------------
PAGE_VERSIONS = ("2019-11", "2020-05", "2022-01", "2024-09")
_PAGES = {
    "2019-11": {"source": "D10", "registry": LEGACY_REGISTRY, "sizes": "2020", "kinds": {
        SPEECH_TO_TEXT: ("2.0.0", "2.0.0-amd64-en-us-preview"),
        CUSTOM_SPEECH_TO_TEXT: ("2.0.0", None),
        TEXT_TO_SPEECH: ("1.3.0", "1.3.0-amd64-en-us-jessarus-preview"),
        CUSTOM_TEXT_TO_SPEECH: ("1.3.0", None),
    }},
    "2020-05": {"source": "D1", "registry": LEGACY_REGISTRY, "sizes": "2020", "kinds": {
        SPEECH_TO_TEXT: ("2.2.0", "2.2.0-amd64-en-us-preview"),
        CUSTOM_SPEECH_TO_TEXT: ("2.2.0", None),
        TEXT_TO_SPEECH: ("1.4.0", "1.3.0-amd64-en-us-jessarus-preview"),
        CUSTOM_TEXT_TO_SPEECH: ("1.4.0", None),
    }},
    "2022-01": {"source": "D2", "registry": MCR_REGISTRY, "sizes": "2022", "kinds": {
        SPEECH_TO_TEXT: ("3.6.0", None),
        CUSTOM_SPEECH_TO_TEXT: ("3.6.0", None),
        NEURAL_TEXT_TO_SPEECH: ("2.5.0", None),
        LANGUAGE_DETECTION: ("1.5.0", None),
    }},
    "2024-09": {"source": "A1, A2", "registry": MCR_REGISTRY, "sizes": CURRENT_DOC_YEAR, "kinds": dict(
        (kind, (_CATALOG[kind]["latest_version"], None))
        for kind in (SPEECH_TO_TEXT, CUSTOM_SPEECH_TO_TEXT, NEURAL_TEXT_TO_SPEECH, LANGUAGE_DETECTION)
    )},
}

# ---------------------------------------------------------------------------------------------
# Sizing profiles: "minimum" and "recommended" use the current doc; "<year>" is that year's
# recommended table and "<year>-minimum" its minimum table.
# ---------------------------------------------------------------------------------------------
DEFAULT_SIZING_PROFILE = RECOMMENDED
SIZING_PROFILES = (MINIMUM, RECOMMENDED) + tuple(
    profile for year in DOC_YEARS for profile in (year, year + "-" + MINIMUM)
)


class CatalogError(ValueError):
    """A kind, profile or other catalog lookup that names nothing the catalog knows."""


def _check_kind(kind):
    if kind in _CATALOG:
        return kind
    raise CatalogError(
        "kind {0!r} is not a Speech container kind: use one of {1}".format(kind, ", ".join(KINDS))
    )


def kind_info(kind):
    """Everything known about a kind, as a fresh dict the caller may change."""
    info = copy.deepcopy(_CATALOG[_check_kind(kind)])
    info["kind"] = kind
    info["repository"] = repository(kind)
    info["image"] = MCR_REGISTRY + "/" + info["repository"]
    info["legacy_image"] = LEGACY_REGISTRY + "/" + info["legacy_repository"] if info["legacy_repository"] else None
    info["resources"] = dict((profile, resources(kind, profile)) for profile in SIZING_PROFILES)
    return info


def repository(kind, legacy=False):
    """Repository path without registry: current MCR path, or the containerpreview one."""
    _check_kind(kind)
    if not legacy:
        return MCR_NAMESPACE + "/" + kind
    legacy_repository = _CATALOG[kind]["legacy_repository"]
    if legacy_repository is None:
        raise CatalogError("kind {0!r} has no image on {1}: use registry {2}".format(kind, LEGACY_REGISTRY, MCR_REGISTRY))
    return legacy_repository


def kind_from_repository(repository_path):
    """The kind whose current or legacy repository ends this path, or None."""
    name = repository_path.rstrip("/").rsplit("/", 1)[-1]
    if name.startswith(LEGACY_PREFIX) and name[len(LEGACY_PREFIX):] in _CATALOG:
        return name[len(LEGACY_PREFIX):]
    return name if name in _CATALOG else None


def fact(kind, name, default=None):
    """One catalog entry of a kind, e.g. fact(kind, "default_voice"); default when the kind has none."""
    return copy.deepcopy(_CATALOG[_check_kind(kind)].get(name, default))


def container_port(kind):
    return _CATALOG[_check_kind(kind)]["port"]


def protocol(kind):
    return _CATALOG[_check_kind(kind)]["protocol"]


def is_retired(kind):
    """Whether Microsoft retired the kind; the plan refuses it unless speech_allow_retired_kinds is true."""
    return _CATALOG[_check_kind(kind)]["retired"]


def retired_on(kind):
    """The date Microsoft retired the kind (YYYY-MM-DD), or None."""
    return _CATALOG[_check_kind(kind)]["retired_on"]


def is_legacy(kind):
    """Whether the kind is gone from Microsoft's current pages without a page calling it retired: planned, with a warning."""
    return _CATALOG[_check_kind(kind)]["legacy"] is not None


def status_warning(kind):
    """What running the kind means, for a warning: its retirement (date, replacement) or its legacy status; None for a
    current kind."""
    entry = _CATALOG[_check_kind(kind)]
    if entry["retired"]:
        return ("{0} (standard voices) was retired by Microsoft on {1}: use kind {2} with a neural voice, "
                "e.g. en-US-AriaNeural".format(kind, entry["retired_on"], entry["replacement"]))
    if entry["legacy"]:
        return "{0} is legacy: {1}; it runs as the 2019 and 2020 pages describe it".format(kind, entry["legacy"])
    return None


def is_disconnected_capable(kind):
    return _CATALOG[_check_kind(kind)]["disconnected"]


def latest_version(kind):
    """The newest version the contract documents for the kind."""
    return _CATALOG[_check_kind(kind)]["latest_version"]


def tag_format(kind):
    return _CATALOG[_check_kind(kind)]["tag_format"]


def known_locales(kind):
    return _CATALOG[_check_kind(kind)]["locales"]


def known_voices(kind):
    return _CATALOG[_check_kind(kind)]["voices"]


def _split_profile(profile):
    """Profile name -> (doc year, level)."""
    if profile not in SIZING_PROFILES:
        raise CatalogError(
            "sizing profile {0!r} is unknown: use one of {1}".format(profile, ", ".join(SIZING_PROFILES))
        )
    if profile in (MINIMUM, RECOMMENDED):
        return CURRENT_DOC_YEAR, profile
    year, _sep, level = profile.partition("-")
    return year, level or RECOMMENDED


def _size_table_year(sizes, year):
    """The table for the year; else the newest older one; else the oldest newer one.

    Kinds not covered by a year's doc (NTTS in 2020, retired TTS after 2020) use the nearest doc.
    """
    if year in sizes:
        return year
    older = [candidate for candidate in sizes if candidate < year]
    return max(older) if older else min(sizes)


def resources(kind, profile=DEFAULT_SIZING_PROFILE):
    """Docker limits for one container: {"cpus", "memory_mb", "model_memory_mb"}; memory_mb excludes the model."""
    sizes = _CATALOG[_check_kind(kind)]["sizes"]
    year, level = _split_profile(str(profile))
    cores, memory_gb, model_memory_gb = sizes[_size_table_year(sizes, year)][level]
    return {"cpus": float(cores), "memory_mb": memory_gb * GIB, "model_memory_mb": model_memory_gb * GIB}


def sizing_table():
    """{kind: {profile: resources}} for reports and docs."""
    return dict((kind, dict((profile, resources(kind, profile)) for profile in SIZING_PROFILES)) for kind in KINDS)


def concurrency(kind, cpus=None, memory_mb=None):
    """Concurrent requests one container of the kind is documented to serve at once.

    The kind's figure, or the largest by_size row (language identification: 6 from 2 CPUs and 2 GB) that the
    container's cpus and memory_mb both reach; without them the kind's figure.
    """
    guidance = _CATALOG[_check_kind(kind)]["concurrency"]
    count = guidance["recommended_concurrent_requests"]
    if cpus is None or memory_mb is None:
        return count
    for row in guidance.get("by_size", ()):
        if float(cpus) >= row["cpus"] and memory_mb >= row["memory_mb"]:
            count = max(count, row["concurrent_requests"])
    return count


def concurrency_source(kind):
    """Where the kind's concurrency figure comes from (public documents)."""
    return _CATALOG[_check_kind(kind)]["concurrency"]["source"]


def decoder_setting(kind):
    """The setting that sets a container's concurrency (DECODER_MAX_COUNT for speech to text), or None."""
    return _CATALOG[_check_kind(kind)]["concurrency"].get("decoder_setting")


def per_kind(name):
    """{kind: the kind's entry `name`} over every kind, in KINDS order, e.g. per_kind("image_disk_mb")."""
    return dict((kind, fact(kind, name)) for kind in KINDS)


def smoke_test(kind):
    """(smoke test, path) of the kind: (SMOKE_WEBSOCKET, a recognition path) or (SMOKE_TTS, TTS_PATH) (3.3, 3.4)."""
    return _CATALOG[_check_kind(kind)]["smoke_test"]


def ready_timeout(kind):
    """Seconds a first start of the kind may take until /ready answers 200 (models are paged in, A1)."""
    return _CATALOG[_check_kind(kind)]["ready_timeout_seconds"]


def image_disk_mb(kind):
    """The estimated MB one image of the kind takes once pulled (no image size is documented)."""
    return _CATALOG[_check_kind(kind)]["image_disk_mb"]


def needs_model_id(kind):
    """Whether a service of the kind must name its custom model (model_id, written as ModelId); the other kinds take
    no model, and the plan refuses a model_id for them."""
    return _CATALOG[_check_kind(kind)]["model_id_required"]


def custom_model_kinds():
    """The kinds that run a custom model (custom speech to text, custom text to speech)."""
    return tuple(kind for kind in KINDS if needs_model_id(kind))


def documented_versions(kind):
    """The versions the pages name for a kind whose image list is closed (the legacy text to speech kinds), or ()."""
    return _CATALOG[_check_kind(kind)].get("versions", ())


def ssml_voices(kind):
    """{tag voice: SSML short name} of the kinds whose voice names the catalog holds with Microsoft's casing."""
    return dict((voice.lower(), voice) for voice in _CATALOG[_check_kind(kind)].get("ssml_voices", ()))


def decoder_kinds():
    """The kinds whose concurrency is set by a decoder setting (speech to text and custom speech to text)."""
    return tuple(kind for kind in KINDS if decoder_setting(kind))


def synthesis_kinds():
    """The kinds that synthesize speech from text (neural, standard and custom text to speech): those whose smoke
    test posts SSML to the synthesis path. A run spec's smoke request needs their voice; the load balancer gives
    their WebSocket upgrades (the Speech SDK synthesizer's idle connection) a backend of their own."""
    return tuple(kind for kind in KINDS if smoke_test(kind)[0] == SMOKE_TTS)


def page(page_version):
    """One version of the "Install and run Speech containers" page: {"source", "registry", "sizes", "kinds"}, where
    kinds maps each kind the page documents to (its version, its example tag or None)."""
    if page_version not in _PAGES:
        raise CatalogError("page version {0!r} is unknown: use one of {1}".format(page_version, ", ".join(PAGE_VERSIONS)))
    return copy.deepcopy(_PAGES[page_version])


def page_profiles(page_version):
    """The sizing profiles of a page's table: (minimum, recommended)."""
    year = page(page_version)["sizes"]
    if year == CURRENT_DOC_YEAR:
        return MINIMUM, RECOMMENDED
    return year + "-" + MINIMUM, year
