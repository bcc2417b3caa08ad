# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build, validate and parse Speech container image references (contract 1.1, 1.2).

Tag grammar (Microsoft's, case sensitive, always lowercase):
  speech-to-text          <x.y.z>-amd64-<locale>[-preview]            4.12.0-amd64-zh-cn-sichuan
  neural-text-to-speech   <x.y.z>-amd64-<locale>-<name>neural[-preview] 3.11.0-amd64-zh-cn-xiaochenneural-preview
  text-to-speech          <x.y.z>-amd64-<locale>-<name>[-preview]       1.3.0-amd64-zh-cn-kangkang-apollo-preview
  custom-speech-to-text   <x.y.z>-amd64 | <x.y.z>-preview-amd64       4.12.0-amd64, 5.0.0-preview-amd64
  language-detection      <x.y.z>-amd64[-preview]                     1.18.0-amd64-preview
  custom-text-to-speech   <x.y.z>-amd64[-preview]                     1.4.0-amd64-preview
  every kind              latest

A voice is <locale>-<name> in either form: the tag form in lower case (zh-cn-kangkang-apollo) or the SSML short name
(zh-CN-Kangkang-Apollo). A voice is known when the catalog lists it for its locale; its SSML casing comes from the
catalog's table, a neural voice's from Microsoft's <Name>Neural, or else from the operator's spelling.

Stdlib only, Python 3.8+, no Ansible imports: the filter plugin wraps these functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re

from ansible_collections.speechops.speech.plugins.module_utils import catalog

SEMVER_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
TAG_LOCALE_RE = re.compile(r"^[a-z]{2,3}-[a-z]{2}(-[a-z]{3,})?$")  # en-us, wuu-cn, zh-cn-sichuan
VOICE_RE = re.compile(r"^[a-z]{2,3}-[a-z]{2}(-[a-z0-9]+)+$")  # en-us-arianeural, zh-cn-kangkang-apollo, en-au-catherine
NEURAL_NAME_RE = re.compile(r"^[a-z][a-z0-9]*neural$")  # A5: <name>neural, e.g. arianeural, xiaoxiaoneural
REGISTRY_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$")
REPOSITORY_RE = re.compile(r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$")
DIGEST_RE = re.compile(r"^[a-z0-9]+:[a-f0-9]{32,}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
VERSION_PREFIX_RE = re.compile(r"^(?P<version>[0-9]+\.[0-9]+\.[0-9]+)(?P<rest>(-.*)?)$")

NEURAL_SUFFIX = "neural"
PLATFORM_PART = "-" + catalog.PLATFORM
PREVIEW_PART = "-" + catalog.PREVIEW_SUFFIX
MAX_NEAR_MATCHES = 5
KNOWN_LOCALES = frozenset(locale for kind in catalog.KINDS for locale in catalog.known_locales(kind))
_VOICE_KINDS_TEXT = " and ".join(kind for kind in catalog.KINDS if catalog.tag_format(kind) == catalog.TAG_VOICE)
SSML_VOICES = dict((tag_voice, ssml) for kind in catalog.KINDS for tag_voice, ssml in catalog.ssml_voices(kind).items())
ALLOW_UNKNOWN_HINT = "or set speech_allow_unknown_tags: true if Microsoft published it after this catalog"


class ImageRefError(ValueError):
    """An image reference input that cannot be turned into a valid tag; the message names the field and the fix."""

    def __init__(self, field, message):
        super(ImageRefError, self).__init__("{0}: {1}".format(field, message))
        self.field = field


# --------------------------------------------------------------------------------------------- names


def _near_matches(value, candidates):
    return difflib.get_close_matches(value, candidates, n=MAX_NEAR_MATCHES, cutoff=0.6)


def _near_match_text(value, candidates, display=str):
    matches = [display(match) for match in _near_matches(value, candidates)]
    return "near matches: " + ", ".join(matches) if matches else "no near match in the catalog"


def ssml_locale(tag_locale):
    """'zh-cn-sichuan' -> 'zh-CN-sichuan': language lower, region upper, variant lower."""
    parts = tag_locale.split("-")
    return "-".join([parts[0].lower(), parts[1].upper()] + [part.lower() for part in parts[2:]])


def normalize_locale(locale, field="locale"):
    """Any-case locale ('en-US', 'en-us') -> tag form 'en-us'; ImageRefError naming the field otherwise."""
    if not isinstance(locale, str) or not locale:
        raise ImageRefError(field, "{0!r} is not a locale: write it like en-US or zh-CN-sichuan".format(locale))
    tag_locale = locale.strip().lower()
    hyphenated = tag_locale.replace("_", "-")
    if hyphenated != tag_locale and TAG_LOCALE_RE.match(hyphenated):
        raise ImageRefError(field, "{0!r} uses '_': write the locale with hyphens, e.g. {1}".format(locale, ssml_locale(hyphenated)))
    if not TAG_LOCALE_RE.match(tag_locale):
        raise ImageRefError(field, "{0!r} is not a locale: write it as language-REGION[-variant], e.g. en-US or zh-CN-sichuan".format(locale))
    return tag_locale


def _voice_locale(tag_voice):
    """The locale of a tag-form voice: all but a neural voice's last part (zh-cn-sichuan-yunxineural); else the first two
    parts (zh-cn-kangkang-apollo), or three when they form a locale the catalog knows."""
    head, _sep, last = tag_voice.rpartition("-")
    if NEURAL_NAME_RE.match(last):
        return head
    parts = tag_voice.split("-")
    if len(parts) > 3 and "-".join(parts[:3]) in KNOWN_LOCALES:
        return "-".join(parts[:3])
    return "-".join(parts[:2])


def _split_voice(voice, field):
    """Tag-form or SSML-form voice -> (tag locale, tag voice)."""
    if not isinstance(voice, str) or not voice:
        raise ImageRefError(field, "{0!r} is not a voice: write it like en-US-AriaNeural".format(voice))
    tag_voice = voice.strip().lower()
    if tag_voice.endswith(PREVIEW_PART):
        raise ImageRefError(field, "{0!r} carries the tag suffix -preview: give the voice without it (preview is set separately)".format(voice))
    if not VOICE_RE.match(tag_voice) or not TAG_LOCALE_RE.match(_voice_locale(tag_voice)):
        raise ImageRefError(field, "{0!r} is not a voice name: write it as <locale>-<Name>, e.g. en-US-AriaNeural".format(voice))
    return _voice_locale(tag_voice), tag_voice


def _ssml_name(tag_voice, written):
    """The SSML <voice name> (case sensitive): Microsoft's casing from the catalog's table, else the operator's when
    written with capitals, else a neural voice's <Name>Neural; None when none of them gives it."""
    if tag_voice in SSML_VOICES:
        return SSML_VOICES[tag_voice]
    locale = _voice_locale(tag_voice)
    name = written.strip()[len(locale) + 1:]
    if name != name.lower():
        return ssml_locale(locale) + "-" + name
    if NEURAL_NAME_RE.match(name):
        return "{0}-{1}{2}Neural".format(ssml_locale(locale), name[:1].upper(), name[1:-len(NEURAL_SUFFIX)])
    return None


def _shown_voice(tag_voice):
    return _ssml_name(tag_voice, tag_voice) or tag_voice


def ssml_voice_name(voice):
    """'en-us-arianeural' -> 'en-US-AriaNeural', 'zh-cn-kangkang-apollo' -> 'zh-CN-Kangkang-Apollo' (the SSML
    <voice name>, case sensitive, A5/D1); ImageRefError when the casing is unknown (write the voice in SSML form)."""
    _locale, tag_voice = _split_voice(voice, "voice")
    name = _ssml_name(tag_voice, voice)
    if name is None:
        raise ImageRefError("voice", "{0!r} is not in the catalog's voice tables, so its SSML casing is unknown: write it "
                                     "as Microsoft's short name, e.g. en-US-JessaRUS".format(voice))
    return name


def tag_voice_name(voice):
    """'en-US-AriaNeural' -> 'en-us-arianeural' (the voice part of an image tag)."""
    return _split_voice(voice, "voice")[1]


# --------------------------------------------------------------------------------------------- checks


def _check_kind(kind):
    if kind not in catalog.KINDS:
        matches = _near_matches(str(kind), catalog.KINDS)
        hint = " (did you mean {0}?)".format(" or ".join(matches)) if matches else ""
        raise ImageRefError("kind", "{0!r} is not a Speech container kind{1}: use one of {2}".format(
            kind, hint, ", ".join(catalog.KINDS)))
    return kind


def _version_tuple(version):
    return tuple(int(part) for part in version.split("."))


def _check_version(kind, version):
    """None -> the catalog's latest version; 'latest' stays; else it must be x.y.z."""
    if version is None:
        return catalog.latest_version(kind)
    if isinstance(version, str) and (version == catalog.LATEST_TAG or SEMVER_RE.match(version)):
        return version
    raise ImageRefError("version", _version_fix(version))


def _version_fix(version):
    """Why a version is not x.y.z, and what to write instead."""
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        parts = str(version).split(".")
        suggestion = ".".join((parts + ["0", "0"])[:3])
        return "{0!r} is a number, not a string x.y.z: quote it in YAML, e.g. version: \"{1}\"".format(version, suggestion)
    if not isinstance(version, str):
        return "{0!r} is not a version: write x.y.z (e.g. 5.1.0) or latest".format(version)
    if version[:1] in ("v", "V") and SEMVER_RE.match(version[1:]):
        return "{0!r} has a leading 'v': write {1}".format(version, version[1:])
    if re.match(r"^[0-9]+\.[0-9]+$", version):
        return "{0!r} has two parts: write all three, e.g. {0}.0".format(version)
    if PLATFORM_PART in version or version.endswith(PREVIEW_PART):
        return "{0!r} looks like a whole tag: give only x.y.z (locale, voice and preview are separate fields)".format(version)
    return "{0!r} is not semver-like: write major.minor.patch, e.g. 5.1.0, or latest".format(version)


def _check_preview(preview):
    if preview is None or isinstance(preview, bool):
        return preview
    raise ImageRefError("preview", "{0!r} is not a boolean: write preview: true or false, or leave it unset".format(preview))


def _check_registry(registry):
    if not isinstance(registry, str) or not registry.strip():
        raise ImageRefError("registry", "{0!r} is not a registry: write a host[:port][/path], e.g. {1}".format(registry, catalog.MCR_REGISTRY))
    cleaned = registry.strip().rstrip("/")
    if "://" in cleaned:
        raise ImageRefError("registry", "{0!r} has a URL scheme: drop it, e.g. {1}".format(registry, cleaned.split("://", 1)[1]))
    if not REGISTRY_RE.match(cleaned):
        raise ImageRefError("registry", "{0!r} is not a registry: write a lowercase host[:port][/path], e.g. registry.example.com:5000/mirror".format(registry))
    return cleaned


def _unknown(field, message, allow_unknown, warnings):
    """An unknown locale or voice: an error, or a collected warning when allow_unknown is set."""
    if not allow_unknown:
        raise ImageRefError(field, message + "; fix the spelling " + ALLOW_UNKNOWN_HINT)
    warnings.append("{0}: {1}; used anyway because unknown tags are allowed".format(field, message))


def _check_known_locale(kind, tag_locale, allow_unknown, warnings):
    known = catalog.known_locales(kind)
    if tag_locale not in known:
        _unknown("locale", "{0} is not a known {1} locale ({2})".format(
            ssml_locale(tag_locale), kind, _near_match_text(tag_locale, known, ssml_locale)), allow_unknown, warnings)


def _voices_of_locale(kind, tag_locale):
    return [_shown_voice(voice) for voice in catalog.known_voices(kind) if _voice_locale(voice) == tag_locale]


def _other_kinds_of_voice(kind, tag_voice):
    return [other for other in catalog.KINDS if other != kind and tag_voice in catalog.known_voices(other)]


def _check_known_voice(kind, tag_voice, ssml_voice, allow_unknown, warnings):
    """Known when the catalog lists the voice for its locale; a voice of another kind says so."""
    known = catalog.known_voices(kind)
    if tag_voice in known:
        return
    same_locale = _voices_of_locale(kind, _voice_locale(tag_voice))
    hint = _near_match_text(tag_voice, known, _shown_voice)
    if same_locale:
        hint += "; known voices of that locale: " + ", ".join(same_locale)
    message = "{0} is not a known {1} voice ({2})".format(ssml_voice or tag_voice, kind, hint)
    if ssml_voice is None:
        message += "; write it with Microsoft's casing (<locale>-<Name>), which the smoke request needs"
    _unknown("voice", message, allow_unknown, warnings)


def _check_voice_grammar(kind, voice, tag_voice):
    """Neural voices are <locale>-<name>neural (A5); the standard kind's voices have no common suffix (D10)."""
    if catalog.fact(kind, "voice_suffix") != NEURAL_SUFFIX or NEURAL_NAME_RE.match(tag_voice.rsplit("-", 1)[1]):
        return
    others = _other_kinds_of_voice(kind, tag_voice)
    elsewhere = "; {0} is a voice of kind {1}".format(_shown_voice(tag_voice), " and ".join(others)) if others else ""
    raise ImageRefError("voice", "{0!r} is not a {1} voice: neural voice names end in Neural, e.g. en-US-AriaNeural{2}".format(
        voice, kind, elsewhere))


# --------------------------------------------------------------------------------------------- tag parts per grammar


def _locale_for_locale_tag(kind, version, locale, voice, allow_unknown, warnings):
    if voice is not None:
        raise ImageRefError("voice", "{0} images have no voice: remove voice (only {1} take one)".format(kind, _VOICE_KINDS_TEXT))
    default_locale = catalog.fact(kind, "default_locale")
    tag_locale = default_locale if locale is None else normalize_locale(locale)
    if version == catalog.LATEST_TAG and tag_locale != default_locale:
        raise ImageRefError("version", "tag latest of {0} is the {1} image: pin a version x.y.z for locale {2}".format(
            kind, ssml_locale(default_locale), ssml_locale(tag_locale)))
    _check_known_locale(kind, tag_locale, allow_unknown, warnings)
    return tag_locale


def _locale_mismatch(kind, tag_locale, tag_voice, voice_locale):
    voices = _voices_of_locale(kind, tag_locale)
    return ImageRefError("locale", "{0} does not match voice {1}, whose locale is {2}: the voice sets the image locale; "
                                   "remove locale or pick a {0} voice{3}".format(
                                       ssml_locale(tag_locale), _shown_voice(tag_voice), ssml_locale(voice_locale),
                                       " (" + ", ".join(voices) + ")" if voices else ""))


def _voice_for_voice_tag(kind, version, locale, voice, allow_unknown, warnings):
    """(tag voice, SSML voice) of a voice-grammar kind, the voice given in either form."""
    tag_locale = None if locale is None else normalize_locale(locale)
    default_voice = catalog.fact(kind, "default_voice")
    if voice is None:
        if tag_locale not in (None, catalog.fact(kind, "default_locale")):
            voices = _voices_of_locale(kind, tag_locale)
            raise ImageRefError("voice", "{0} needs a voice for locale {1}: set voice, e.g. {2}".format(
                kind, ssml_locale(tag_locale), ", ".join(voices) or "<locale>-<Name>"))
        voice = default_voice
    voice_locale, tag_voice = _split_voice(voice, "voice")
    _check_voice_grammar(kind, voice, tag_voice)
    if tag_locale is not None and tag_locale != voice_locale:
        raise _locale_mismatch(kind, tag_locale, tag_voice, voice_locale)
    if version == catalog.LATEST_TAG and tag_voice != default_voice:
        raise ImageRefError("version", "tag latest of {0} is the {1} image: pin a version x.y.z for voice {2}".format(
            kind, _shown_voice(default_voice), _shown_voice(tag_voice)))
    ssml_voice = _ssml_name(tag_voice, voice)
    _check_known_voice(kind, tag_voice, ssml_voice, allow_unknown, warnings)
    return tag_voice, ssml_voice


def _check_plain(kind, locale, voice):
    from_model = catalog.needs_model_id(kind)
    if voice is not None:
        reason = "the voice comes from the model (model_id)" if from_model else "only {0} take one".format(_VOICE_KINDS_TEXT)
        raise ImageRefError("voice", "{0} images have no voice: remove voice ({1})".format(kind, reason))
    if locale is not None:
        reason = "the locale comes from the model (ModelId)" if from_model else "the image has no locale"
        raise ImageRefError("locale", "{0} tags carry no locale ({1}): remove locale".format(kind, reason))


def _resolve_preview(kind, version, tag_voice, preview, warnings):
    preview_voices = catalog.fact(kind, "preview_voices", ())
    if version == catalog.LATEST_TAG:
        if preview:
            raise ImageRefError("preview", "tag latest has no -preview suffix: pin a version x.y.z or leave preview unset")
        return False
    if preview is None:
        return tag_voice in preview_voices or catalog.fact(kind, "default_preview")
    if preview is False and tag_voice in preview_voices:
        warnings.append("preview: voice {0} was published only as a -preview tag (2021 tag list); building it without -preview".format(
            _shown_voice(tag_voice)))
    return preview


def _check_documented_version(kind, version, allow_unknown, warnings):
    """A kind whose images the pages list completely (the legacy text to speech kinds) has only those versions."""
    versions = catalog.documented_versions(kind)
    if versions and version not in versions + (catalog.LATEST_TAG,):
        voices_note = "; the catalog's voices are those of 1.3.0" if catalog.known_voices(kind) else ""
        _unknown("version", "{0} {1} is not a version the pages name ({2}){3}".format(
            kind, version, ", ".join(versions), voices_note), allow_unknown, warnings)


def _version_warnings(kind, version, warnings):
    unsupported_before = catalog.fact(kind, "unsupported_before")
    if unsupported_before and version != catalog.LATEST_TAG and _version_tuple(version) < _version_tuple(unsupported_before):
        warnings.append("version: {0} {1} is unsupported since 2024-02-29 (all versions before {2}): use {3}".format(
            kind, version, unsupported_before, catalog.latest_version(kind)))


def format_tag(kind, version, locale=None, voice=None, preview=False):
    """Join already-validated tag parts in the kind's grammar."""
    if version == catalog.LATEST_TAG:
        return catalog.LATEST_TAG
    grammar = catalog.tag_format(kind)
    middle = {catalog.TAG_LOCALE: locale, catalog.TAG_VOICE: voice}.get(grammar)
    if preview and catalog.fact(kind, "preview_before_platform"):
        return version + PREVIEW_PART + PLATFORM_PART
    return version + PLATFORM_PART + ("-" + middle if middle else "") + (PREVIEW_PART if preview else "")


# --------------------------------------------------------------------------------------------- build


def resolve_image(kind, version=None, locale=None, voice=None, registry=catalog.MCR_REGISTRY, allow_unknown=False, preview=None,
                  status_warning=True):
    """Validate the inputs and return the image reference with its parts and any warnings.

    status_warning: whether the warnings end with the kind's status (retired, legacy); the plan words its own.
    """
    warnings = []
    kind = _check_kind(kind)
    version = _check_version(kind, version)
    preview = _check_preview(preview)
    registry = _check_registry(registry)
    grammar = catalog.tag_format(kind)
    tag_locale = tag_voice = ssml_voice = None
    if grammar == catalog.TAG_LOCALE:
        tag_locale = _locale_for_locale_tag(kind, version, locale, voice, allow_unknown, warnings)
    elif grammar == catalog.TAG_VOICE:
        tag_voice, ssml_voice = _voice_for_voice_tag(kind, version, locale, voice, allow_unknown, warnings)
        tag_locale = _voice_locale(tag_voice)
    else:
        _check_plain(kind, locale, voice)
    _check_documented_version(kind, version, allow_unknown, warnings)
    preview = _resolve_preview(kind, version, tag_voice, preview, warnings)
    _version_warnings(kind, version, warnings)
    if status_warning and catalog.status_warning(kind):
        warnings.append("kind: " + catalog.status_warning(kind))
    repository = _repository_for_registry(kind, registry)
    tag = format_tag(kind, version, tag_locale, tag_voice, preview)
    return {
        "image": "{0}/{1}:{2}".format(registry, repository, tag),
        "registry": registry,
        "repository": repository,
        "tag": tag,
        "kind": kind,
        "version": version,
        "locale": tag_locale,
        "ssml_locale": ssml_locale(tag_locale) if tag_locale else None,
        "voice": tag_voice,
        "ssml_voice": ssml_voice,
        "preview": preview,
        "warnings": warnings,
    }


def _repository_for_registry(kind, registry):
    if registry != catalog.LEGACY_REGISTRY:
        return catalog.repository(kind)
    try:
        return catalog.repository(kind, legacy=True)
    except catalog.CatalogError as exc:
        raise ImageRefError("registry", str(exc)) from exc


def image_reference(kind, version=None, locale=None, voice=None, registry=catalog.MCR_REGISTRY, allow_unknown=False, preview=None, warnings=None):
    """'<registry>/azure-cognitive-services/speechservices/<kind>:<tag>'.

    version None pins the catalog's latest version (with the default locale/voice); 'latest' is the
    floating tag. Warnings (unknown tags with allow_unknown, retired and legacy kinds, unsupported versions) are
    appended to the warnings list when one is given.
    """
    resolved = resolve_image(kind, version, locale, voice, registry, allow_unknown, preview)
    if warnings is not None:
        warnings.extend(resolved["warnings"])
    return resolved["image"]


# --------------------------------------------------------------------------------------------- parse


def _split_reference(ref):
    """Docker reference -> (registry or None, repository, tag or None, digest or None)."""
    name, _at, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    first, _sep, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag, digest or None
    return None, name, tag, digest or None


def _is_tag_voice(kind, text):
    """Whether a tag's middle is a voice of the kind's grammar, in tag form."""
    if not VOICE_RE.match(text) or not TAG_LOCALE_RE.match(_voice_locale(text)):
        return False
    return catalog.fact(kind, "voice_suffix") != NEURAL_SUFFIX or bool(NEURAL_NAME_RE.match(text.rsplit("-", 1)[1]))


def _parse_tag_rest(kind, rest, ref):
    """The tag after x.y.z -> (locale, voice, preview)."""
    preview = False
    if rest == PREVIEW_PART + PLATFORM_PART:
        return None, None, True
    if not rest.startswith(PLATFORM_PART):
        raise ImageRefError("image", "{0!r}: the tag must continue with {1} after the version".format(ref, PLATFORM_PART))
    rest = rest[len(PLATFORM_PART):]
    if rest.endswith(PREVIEW_PART):
        preview, rest = True, rest[:-len(PREVIEW_PART)]
    if rest and not rest.startswith("-"):
        raise ImageRefError("image", "{0!r}: the tag must continue with {1} after the version".format(ref, PLATFORM_PART))
    middle = rest[1:]
    grammar = catalog.tag_format(kind)
    if grammar == catalog.TAG_PLAIN and not middle:
        return None, None, preview
    if grammar == catalog.TAG_LOCALE and TAG_LOCALE_RE.match(middle):
        return middle, None, preview
    if grammar == catalog.TAG_VOICE and _is_tag_voice(kind, middle):
        return _voice_locale(middle), middle, preview
    expected = {catalog.TAG_PLAIN: "<x.y.z>-amd64[-preview]", catalog.TAG_LOCALE: "<x.y.z>-amd64-<locale>[-preview]",
                catalog.TAG_VOICE: "<x.y.z>-amd64-<locale>-<name>{0}[-preview]".format(catalog.fact(kind, "voice_suffix") or "")}[grammar]
    raise ImageRefError("image", "{0!r}: a {1} tag has the form {2}".format(ref, kind, expected))


def parse_image_reference(ref):
    """Inverse of image_reference: the parts of a Speech image reference (grammar only, no catalog check; ssml_voice
    is None for a voice whose casing the catalog does not hold)."""
    if not isinstance(ref, str) or not ref.strip():
        raise ImageRefError("image", "{0!r} is not an image reference: write <registry>/<repository>:<tag>".format(ref))
    ref = ref.strip()
    registry, repository, tag, digest = _split_reference(ref)
    kind = catalog.kind_from_repository(repository)
    if kind is None or not REPOSITORY_RE.match(repository):
        raise ImageRefError("image", "{0!r} is not a Speech container image: the repository must end in {1}/<kind> "
                                     "(or {2}<kind> on {3}) with kind one of {4}".format(
                                         ref, catalog.MCR_NAMESPACE, catalog.LEGACY_PREFIX, catalog.LEGACY_REGISTRY, ", ".join(catalog.KINDS)))
    if tag is not None and not TAG_RE.match(tag):
        raise ImageRefError("image", "{0!r} has an invalid tag {1!r}".format(ref, tag))
    if digest is not None and not DIGEST_RE.match(digest):
        raise ImageRefError("image", "{0!r} has an invalid digest {1!r}: write @sha256:<hex>".format(ref, digest))
    parsed = {
        "image": ref,
        "registry": registry,
        "repository": repository,
        "kind": kind,
        "tag": tag,
        "digest": digest,
        "legacy": repository.rsplit("/", 1)[-1].startswith(catalog.LEGACY_PREFIX),
        "retired": catalog.is_retired(kind),
        "latest": tag == catalog.LATEST_TAG,
        "version": None,
        "platform": None,
        "locale": None,
        "ssml_locale": None,
        "voice": None,
        "ssml_voice": None,
        "preview": False,
    }
    if tag is None or tag == catalog.LATEST_TAG:
        parsed["version"] = tag
        return parsed
    match = VERSION_PREFIX_RE.match(tag)
    if not match or not SEMVER_RE.match(match.group("version")):
        raise ImageRefError("image", "{0!r}: the tag must start with a version x.y.z or be latest".format(ref))
    locale, voice, preview = _parse_tag_rest(kind, match.group("rest"), ref)
    parsed.update({
        "version": match.group("version"),
        "platform": catalog.PLATFORM,
        "locale": locale,
        "ssml_locale": ssml_locale(locale) if locale else None,
        "voice": voice,
        "ssml_voice": _ssml_name(voice, voice) if voice else None,
        "preview": preview,
    })
    return parsed


def format_image_reference(parsed):
    """Exact inverse of parse_image_reference for its registry/repository/tag/digest."""
    text = parsed["repository"]
    if parsed.get("registry"):
        text = parsed["registry"] + "/" + text
    if parsed.get("tag"):
        text += ":" + parsed["tag"]
    if parsed.get("digest"):
        text += "@" + parsed["digest"]
    return text
