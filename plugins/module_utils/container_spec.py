# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How one planned container runs: its settings, env file path, mounts, directories, ports and limits.

Pure functions; stdlib only; Python 3.8+. The filter speechops.speech.speech_container_spec wraps
run_spec(). A run spec holds no secret: it names which secret settings the env file must carry
(secret_settings). Only config_files() and one_shot_files() (the filter speechops.speech.speech_config_files)
put their values into the env files' content, and the roles pass that straight to the config_files module. Each
file they describe declares every name of SECRET_SETTINGS (the module's secrets option), so the module's
diff (--check --diff) masks their values, and any URL's user:password, before and after.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils._scrub import scrub
from ansible_collections.speechops.speech.plugins.module_utils.image_ref import parse_image_reference

CONTAINER_UID = 65532  # the images' nonroot user (contract 4.2); mounted folders must be writable by it
ENV_FILE_NAME = "env"
DESCRIPTION_FILE_NAME = "container.json"
DEFAULT_OPTIONS = {
    "config_dir": "/etc/speechops",
    "data_dir": "/var/lib/speechops",
    "bind_address": "0.0.0.0",
    "eula": "accept",
    "billing_endpoint": None,
    "log_level": None,
    "http_proxy": None,
    "http_proxy_creds": False,  # whether a vaulted proxy credential exists (its value never comes here)
    "no_proxy": (),
    "application_insights": False,
    "sentiment_api_key": False,
    "output": False,
    "disk_logging": False,
    "disconnected": False,
    "license_dir": None,
    "api_key_name": None,  # which of the resource's two keys the env file holds (primary/secondary), never the key
}
API_KEY_LABEL = "speechops.api_key"
RUN_HASH_LABEL = "speechops.run_hash"
# what docker_container creates a container from (roles/speech_containers/tasks/run.yml), besides the env file
RUN_HASH_FIELDS = ("name", "image", "published_ports", "cpus", "memory", "mounts", "labels")
# Environment names of the settings the role writes; ":" nests, "__" in environment names (contract 4.1).
SECRET_API_KEY = "ApiKey"
SECRET_PROXY_CREDS = "HTTP_PROXY_CREDS"
SECRET_APPLICATION_INSIGHTS = "ApplicationInsights__InstrumentationKey"
SECRET_SENTIMENT = "CloudAI__SentimentAnalysisSettings__SentimentAnalysisApiKey"
SENTIMENT_HOST_SETTING = "CloudAI:SentimentAnalysisSettings:TextAnalyticsHost"
# Every secret setting, whether a container has it or not: the files config_files() describes declare them all,
# so that the diff also masks a value the old file held (an ApiKey before a switch to disconnected mode, say).
# The billing endpoint and HTTP_PROXY are URLs: the module masks a URL's user:password by itself.
SECRET_SETTINGS = (SECRET_API_KEY, SECRET_PROXY_CREDS, SECRET_APPLICATION_INSIGHTS, SECRET_SENTIMENT)
# Settings whose value is a URL. One with a user:password in it is written from the secrets like the key (the roles pass
# speech_billing_endpoint and speech_http_proxy there), so that no run spec, which the roles show, holds the password;
# the spec's description shows it masked.
URL_SETTINGS = ("Billing", "HTTP_PROXY")


class SpecError(ValueError):
    """A planned container or an option the spec cannot be built from; names the input."""


def env_name(setting):
    """'Logging:Console:LogLevel:Default' -> 'Logging__Console__LogLevel__Default' (ASP.NET Core's env form)."""
    return setting.replace(":", "__")


def _options(options):
    unknown = sorted(set(options or {}) - set(DEFAULT_OPTIONS))
    if unknown:
        raise SpecError("unknown option(s) {0}: use {1}".format(", ".join(unknown), ", ".join(sorted(DEFAULT_OPTIONS))))
    merged = dict(DEFAULT_OPTIONS)
    merged.update((key, value) for key, value in (options or {}).items() if value is not None)
    for key in ("config_dir", "data_dir"):
        if not isinstance(merged[key], str) or not merged[key].startswith("/"):
            raise SpecError("{0} must be an absolute path, got {1!r}".format(key, merged[key]))
    if merged["disconnected"] and not merged["license_dir"]:
        raise SpecError("disconnected mode needs license_dir: the host folder holding the licence files (playbooks/license.yml)")
    if not merged["disconnected"] and not merged["billing_endpoint"]:
        raise SpecError("billing_endpoint is required in connected mode (speech_billing_endpoint)")
    if isinstance(merged["no_proxy"], str):
        merged["no_proxy"] = [part.strip() for part in merged["no_proxy"].split(",") if part.strip()]
    return merged


def _mounts(container, options, container_dir):
    """(mounts, directories, settings) for the documented mounts this container uses."""
    kind = container["kind"]
    documented = set(mount["name"] for mount in catalog.fact(kind, "mounts", ()))
    mounts, directories, settings = [], [], {}

    def bind(name, source, target, read_only=False, own=True):
        mounts.append({"type": "bind", "source": source, "target": target, "read_only": read_only})
        if own:
            directories.append({"path": source, "owner": CONTAINER_UID, "group": CONTAINER_UID, "mode": "0750", "mount": name})

    if catalog.MOUNT_MODELS["name"] in documented:
        # custom models: the container downloads the ModelId's model here once and keeps it across restarts
        bind("models", container_dir + "/models", catalog.MOUNT_MODELS["path"])
    wants_output = options["output"] or options["disk_logging"] or options["disconnected"]
    if wants_output and catalog.MOUNT_OUTPUT["name"] in documented:
        bind("output", container_dir + "/output", catalog.MOUNT_OUTPUT["path"])
        settings[catalog.MOUNT_OUTPUT["setting"]] = catalog.MOUNT_OUTPUT["path"]
    if options["disk_logging"]:
        settings["Logging:Disk:Format"] = "json"
    if options["disconnected"]:
        if catalog.MOUNT_LICENSE["name"] not in documented:
            raise SpecError("{0}: kind {1} has no disconnected mode; set speech_disconnected: false or remove the service".format(
                container["name"], kind))
        bind("license", options["license_dir"], catalog.MOUNT_LICENSE["path"], read_only=True, own=False)
        settings[catalog.MOUNT_LICENSE["setting"]] = catalog.MOUNT_LICENSE["path"]
    return mounts, directories, settings


def _proxy_settings(options):
    """The outbound proxy's settings (HTTP_PROXY, NO_PROXY) and secret setting names (HTTP_PROXY_CREDS), or none."""
    if not options["http_proxy"]:
        return {}, []
    # without NO_PROXY the container sends its own internal gRPC calls to the proxy (contract, issue #112998)
    no_proxy = catalog.EXTRA_ENVIRONMENT["NO_PROXY"].split(",") + list(options["no_proxy"])
    settings = {"HTTP_PROXY": options["http_proxy"], "NO_PROXY": ",".join(sorted(set(no_proxy), key=no_proxy.index))}
    return settings, [SECRET_PROXY_CREDS] if options["http_proxy_creds"] else []


def _settings(container, options, mount_settings):
    """Non-secret settings in environment form, sorted; plus the names of the secret ones the env file adds."""
    settings = {"Eula": options["eula"]}
    secrets = []
    if not options["disconnected"]:
        settings["Billing"] = options["billing_endpoint"]
        secrets.append(SECRET_API_KEY)
    if options["log_level"]:
        settings["Logging:Console:LogLevel:Default"] = options["log_level"]
    proxy_settings, proxy_secrets = _proxy_settings(options)
    settings.update(proxy_settings)
    secrets += proxy_secrets
    if options["application_insights"]:
        secrets.append(SECRET_APPLICATION_INSIGHTS)
    planned = container.get("settings") or {}
    if options["sentiment_api_key"] and SENTIMENT_HOST_SETTING in planned:
        secrets.append(SECRET_SENTIMENT)
    settings.update(mount_settings)
    settings.update(planned)
    for key, value in settings.items():
        if not isinstance(value, str) or any(char in value for char in "\r\n\0"):
            raise SpecError("{0}: setting {1} must be a one-line string, got {2!r}".format(container["name"], key, value))
    return dict(sorted((env_name(key), value) for key, value in settings.items())), secrets


def _credentials_to_secrets(env, secrets):
    """(env, secrets, masked): each URL setting with a user:password moved from env to the secret settings, and its value
    with the password masked, for the description."""
    masked = {}
    for name in URL_SETTINGS:
        value = env.get(name)
        if value is not None and scrub(value) != value:
            masked[name] = scrub(value)
            secrets = secrets + [name]
    return dict((name, value) for name, value in env.items() if name not in masked), secrets, masked


def _description(container, spec, masked):
    """What the container is, for audit and the endpoints catalog: never a secret, never a secret's name (a URL setting
    with a user:password shows it masked)."""
    return {
        "name": container["name"],
        "service": container["service"],
        "kind": container["kind"],
        "replica": container.get("replica"),
        "image": container["image"],
        "host_port": container["host_port"],
        "container_port": container["container_port"],
        "cpus": container["cpus"],
        "memory_mb": container["memory_mb"],
        "settings": dict(sorted((key, value) for key, value in dict(spec["env"], **masked).items() if key != "Billing")),
        "billing_endpoint": masked.get("Billing", spec["env"].get("Billing")),
        "mounts": spec["mounts"],
        "plan_hash": container.get("plan_hash"),
    }


TEXT_TO_SPEECH_KINDS = catalog.synthesis_kinds()


def _ssml_voice(container):
    """The voice of a text-to-speech container as SSML names it (en-US-AriaNeural, zh-CN-Kangkang-Apollo), for the smoke
    request: the plan's, else the one of an image whose voice the catalog knows."""
    if container["kind"] not in TEXT_TO_SPEECH_KINDS:
        return None
    if container.get("voice"):
        return container["voice"]
    try:
        return parse_image_reference(container["image"]).get("ssml_voice")
    except ValueError:
        return None


def _labels(container, settings):
    """The plan's labels, and in connected mode the name of the key in use (rotate_keys.yml reports it)."""
    labels = dict(container.get("labels") or {})
    if settings["api_key_name"] and not settings["disconnected"]:
        labels[API_KEY_LABEL] = str(settings["api_key_name"])
    return labels


def _probe_address(bind_address):
    return "127.0.0.1" if bind_address in ("0.0.0.0", "", "::") else bind_address


def run_spec(container, options=None):
    """The docker run arguments of one planned container (plan["hosts"][host]["containers"][i])."""
    for key in ("name", "service", "kind", "image", "host_port", "container_port", "cpus", "memory_mb"):
        if key not in container:
            raise SpecError("the planned container has no {0}: pass an entry of plan.hosts[host].containers, got keys {1}".format(
                key, ", ".join(sorted(container))))
    settings = _options(options)
    container_dir = settings["data_dir"] + "/" + container["name"]
    mounts, directories, mount_settings = _mounts(container, settings, container_dir)
    env, secrets, masked = _credentials_to_secrets(*_settings(container, settings, mount_settings))
    config_dir = settings["config_dir"] + "/" + container["name"]
    spec = {
        "name": container["name"],
        "service": container["service"],
        "host_port": container["host_port"],
        "image": container["image"],
        "config_dir": config_dir,
        "env_file": config_dir + "/" + ENV_FILE_NAME,
        "description_file": config_dir + "/" + DESCRIPTION_FILE_NAME,
        "env": env,
        "secret_settings": secrets,
        "mounts": mounts,
        "directories": directories,
        "published_ports": ["{0}:{1}:{2}".format(settings["bind_address"], container["host_port"], container["container_port"])],
        "cpus": container["cpus"],
        "memory": "{0}M".format(int(container["memory_mb"])),
        "labels": _labels(container, settings),
        "voice": _ssml_voice(container),
        "disconnected_capable": catalog.is_disconnected_capable(container["kind"]),
        # a text-to-speech smoke request needs the voice; a custom voice is only known from its model
        "smoke": container["kind"] not in TEXT_TO_SPEECH_KINDS or _ssml_voice(container) is not None,
        "probe_url": "http://{0}:{1}".format(_probe_address(settings["bind_address"]), container["host_port"]),
    }
    spec["description"] = _description(container, spec, masked)
    # what the probe module's targets option takes, to check many containers in one call
    spec["probe_target"] = {"name": spec["name"], "url": spec["probe_url"], "kind": container["kind"]}
    return spec


ENV_FILE_HEADER = "# Managed by speechops.speech (roles/speech_containers); changes are overwritten.\n"


def env_file_content(spec, secrets):
    """The env file of one run spec: its settings, then the values of its secret_settings from secrets."""
    missing = [name for name in spec["secret_settings"] if not secrets.get(name)]
    if missing:
        raise SpecError("{0} needs {1}, which is empty".format(spec["name"], ", ".join(missing)))
    lines = ["# Run configuration of {0}; root-only (0600): it holds the secrets.".format(spec["name"])]
    lines += ["{0}={1}".format(name, value) for name, value in spec["env"].items()]
    lines += ["{0}={1}".format(name, secrets[name]) for name in spec["secret_settings"]]
    for line in lines:
        if "\n" in line or "\r" in line:
            raise SpecError("{0}: a setting holds a line break: {1}".format(spec["name"], line.split("=", 1)[0]))
    return ENV_FILE_HEADER + "\n".join(lines) + "\n"


def run_hash(spec, secrets, run_options):
    """SHA-256 of everything a container is created from: the run spec's docker arguments, its env file's content
    (hashed first, the label must not let anyone check a guess at one setting) and the role's run options (restart
    policy, logging). A container whose label RUN_HASH_LABEL holds it, runs the image it names, and has not been
    `docker update`d since is what docker_container would leave as it is."""
    basis = dict((field, spec[field]) for field in RUN_HASH_FIELDS)
    basis["labels"] = dict((key, value) for key, value in spec["labels"].items() if key != RUN_HASH_LABEL)
    basis["env_file"] = hashlib.sha256(env_file_content(spec, secrets).encode("utf-8")).hexdigest()
    basis["run_options"] = run_options
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode("utf-8")).hexdigest()


def with_run_hash(specs, secrets, run_options):
    """The run specs, each with RUN_HASH_LABEL among its labels."""
    hashed = []
    for spec in specs:
        spec = dict(spec, labels=dict(spec["labels"]))
        spec["labels"][RUN_HASH_LABEL] = run_hash(spec, secrets, run_options)
        hashed.append(spec)
    return hashed


def description_content(spec):
    """container.json of one run spec: what runs, for audit; no secret."""
    return json.dumps(spec["description"], indent=4, ensure_ascii=False) + "\n"


def config_files(specs, config_root, data_root, secrets):
    """What the config_files module writes for a host's run specs: the folders (the root-only config root and
    one per container, the data root, the mounted folders owned by the images' nonroot user) and each
    container's env file (0600) and container.json (0644), each declaring SECRET_SETTINGS as its secrets."""
    directories = [{"path": config_root, "owner": "root", "group": "root", "mode": "0700"}]
    directories += [{"path": spec["config_dir"], "owner": "root", "group": "root", "mode": "0700"} for spec in specs]
    directories.append({"path": data_root, "owner": "root", "group": "root", "mode": "0755"})
    for spec in specs:
        directories += [{"path": folder["path"], "owner": str(folder["owner"]), "group": str(folder["group"]),
                         "mode": folder["mode"]} for folder in spec["directories"]]
    files = []
    for spec in specs:
        files.append({"path": spec["env_file"], "owner": "root", "group": "root", "mode": "0600",
                      "content": env_file_content(spec, secrets), "secrets": list(SECRET_SETTINGS)})
        # holds no secret; declared all the same, should a value ever be copied into a setting
        files.append({"path": spec["description_file"], "owner": "root", "group": "root", "mode": "0644",
                      "content": description_content(spec), "secrets": list(SECRET_SETTINGS)})
    return {"directories": directories, "files": files}


# The secret settings of a one-shot run (roles/speech_jobs: licence download, base models, diagnostics).
ONE_SHOT_SECRET_SETTINGS = (SECRET_API_KEY,)


def one_shot_files(runs, config_root, secrets, options=None):
    """What the config_files module writes for one-shot runs of an image ({name, env}; other keys, such as image and
    mounts, are not read): the root-only config root, and per run a root-only folder <config_root>/<name> and its env
    file (0600) with the fleet's outbound proxy (options: as run_spec's), the run's env and the ApiKey (and the proxy's
    credentials), declaring SECRET_SETTINGS as its secrets. Every one-shot run talks to Microsoft's endpoints (licence
    download, base and display models, diagnostics), so every one goes through the proxy the containers use."""
    proxy_settings, proxy_secrets = _proxy_settings(_options(options)) if options else ({}, [])
    directories = [{"path": config_root, "mode": "0700"}]
    files = []
    for index, run in enumerate(runs):
        if not isinstance(run.get("name"), str) or not run["name"] or "/" in run["name"] or not isinstance(run.get("env"), dict):
            raise SpecError("one-shot run {0} needs a name (a folder name) and env (a mapping of setting to value)".format(index))
        folder = config_root + "/" + run["name"]
        env = dict(proxy_settings, **run["env"])
        spec = {"name": run["name"], "env": env, "secret_settings": list(ONE_SHOT_SECRET_SETTINGS) + proxy_secrets}
        directories.append({"path": folder, "mode": "0700"})
        files.append({"path": folder + "/" + ENV_FILE_NAME, "mode": "0600", "content": env_file_content(spec, secrets),
                      "secrets": list(SECRET_SETTINGS)})
    return {"directories": directories, "files": files}
