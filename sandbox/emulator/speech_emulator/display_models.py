"""Display models of custom speech to text (version 3.1.0 and later; the 2022-01 container page).

Display types are bare words after the image: Rescore, Punct, Resegment, Wfstitn, or FullDisplay for all four.
BaseModelLocale=<locale> with display types lists the latest display models of the locale; DisplayLocale=<locale>
with display types downloads them into the models folder; RescoreId, PunctId, ResegmentId and WfstitnId download
one specific model each. When several are given: BaseModelLocale, then a model ID, then DisplayLocale.

The billing stub serves the catalog below (ids derived from locale, type and release, so they never change); a
downloaded model is the folder display/<type>/<id>/ in the models folder, holding properties.json.
"""
import json
import os
import uuid

TYPES = ("Rescore", "Punct", "Resegment", "Wfstitn")
ALL_TYPES = "FullDisplay"
ID_SETTINGS = {display_type: display_type + "Id" for display_type in TYPES}
FIRST_VERSION = (3, 1, 0)
FOLDER = "display"
PROPERTIES = "properties.json"

LOCALES = ("en-US", "de-DE", "es-ES", "fr-FR")
RELEASES = ("20240601", "20251201")  # the last one is the latest
_ID_NAMESPACE = uuid.UUID("5d15b1a7-0000-4000-8000-00000000d15b")


class DisplayModelError(ValueError):
    """A display model request the container refuses to start with."""


def types_from_words(words):
    """The display types the bare words ask for, in TYPES order. The words must be written as documented."""
    unknown = [word for word in words if word not in TYPES + (ALL_TYPES,)]
    if unknown:
        raise DisplayModelError(
            f"Unknown argument(s) {', '.join(repr(w) for w in unknown)}: a word without '=' must be a display model "
            f"type, written {', '.join(TYPES)} or {ALL_TYPES} (for all four).")
    return TYPES if ALL_TYPES in words else tuple(t for t in TYPES if t in words)


def _version_tuple(version):
    try:
        return tuple(int(part) for part in version.split("-")[0].split("."))
    except ValueError:
        return None


def supports_display_models(version):
    parsed = _version_tuple(version)
    return parsed is None or parsed >= FIRST_VERSION


def model_id(locale, display_type, release):
    return str(uuid.uuid5(_ID_NAMESPACE, f"{locale}/{display_type}/{release}"))


def _entry(locale, display_type, release):
    return {"id": model_id(locale, display_type, release), "type": display_type, "locale": locale,
            "name": f"{release} ({locale} {display_type})",
            "createdDateTime": f"{release[:4]}-{release[4:6]}-{release[6:]}T00:00:00Z"}


CATALOG = [_entry(locale, display_type, release)
           for locale in LOCALES for display_type in TYPES for release in RELEASES]


def latest(locale, types):
    """The latest display model of each type for the locale (any case), in TYPES order."""
    newest = {}
    for entry in CATALOG:
        if entry["locale"].lower() == locale.lower() and entry["type"] in types:
            if entry["type"] not in newest or entry["createdDateTime"] > newest[entry["type"]]["createdDateTime"]:
                newest[entry["type"]] = entry
    return [newest[t] for t in TYPES if t in newest]


def by_id(display_model_id):
    return next((entry for entry in CATALOG if entry["id"] == display_model_id), None)


def folder(models_dir, entry):
    return os.path.join(models_dir, FOLDER, entry["type"].lower(), entry["id"])


def is_downloaded(models_dir, entry):
    return os.path.exists(os.path.join(folder(models_dir, entry), PROPERTIES))


def write(models_dir, entry):
    """Write one display model into the models folder; returns its folder."""
    path = folder(models_dir, entry)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, PROPERTIES), "w", encoding="utf-8") as handle:
        json.dump(entry, handle, indent=2)
    return path


def downloaded(models_dir):
    """Every display model in the models folder (a folder that is not one is skipped)."""
    found = []
    root = os.path.join(models_dir, FOLDER)
    for display_type in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        for name in sorted(os.listdir(os.path.join(root, display_type))):
            try:
                with open(os.path.join(root, display_type, name, PROPERTIES), encoding="utf-8") as handle:
                    entry = json.load(handle)
            except (OSError, ValueError):
                continue
            if isinstance(entry, dict) and entry.get("type") in TYPES and entry.get("id"):
                found.append(entry)
    return found


def in_use(entries, locale):
    """(used, skipped): per type the newest model of the locale, in TYPES order; the others."""
    used = {}
    for entry in entries:
        if entry.get("locale", "").lower() != locale.lower():
            continue
        current = used.get(entry["type"])
        if current is None or entry.get("createdDateTime", "") > current.get("createdDateTime", ""):
            used[entry["type"]] = entry
    chosen = [used[t] for t in TYPES if t in used]
    return chosen, [entry for entry in entries if entry not in chosen]


def describe(entry):
    return f"{entry['type']} {entry['id']} ({entry['name']})"
