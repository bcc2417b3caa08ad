# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who may use each service's load-balancer frontend: its client authentication (keys, mtls or none), the source
networks it accepts, and for keys the clients it accepts, each by the SHA-256 of its key. Pure functions, for the
filter speechops.speech.speech_lb_access; stdlib only; Python 3.8+.

access_plan(services, settings) checks the settings (speech_lb_auth, speech_lb_auth_by_service,
speech_lb_client_keys, speech_lb_client_ca, speech_lb_allow_from, speech_lb_allow_from_by_service and
loadbalancer_tls) first against their contract (module_utils/contract.py), then against the plan's services, and
returns {ok, errors, warnings, text, services: {service: {mode, allow_from, clients: [{name, key_sha256}]}},
client_ca, client_ca_sha256}. access_files(plan, map_dir, client_ca_file) turns a plan into what the role writes: the
config_files module's arguments (a map file per service that takes keys, the client CA) and the runtime maps of the
haproxy_client_keys module. No message holds a key; no result holds one either, only its SHA-256, which is what
HAProxy compares (it hashes the key a request carries the same way).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.speechops.speech.plugins.module_utils import contract

SETTINGS = ("speech_lb_auth", "speech_lb_auth_by_service", "speech_lb_client_keys", "speech_lb_client_ca",
            "speech_lb_allow_from", "speech_lb_allow_from_by_service", "loadbalancer_tls")
KEYS, MTLS, NONE = contract.LB_AUTH_MODES
MAP_HEADER = ("# Managed by Ansible (role speechops.speech.loadbalancer): the clients fe_{service} accepts, one a line:\n"
              "# the SHA-256 of the client's key (hex, lowercase), then the client's name. No key is kept here.\n")


def key_sha256(key):
    """The SHA-256 of a client key as HAProxy computes it (sha2(256),hex,lower of the header's value)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _setting(settings, name):
    value = settings.get(name)
    return contract.RULES[name].default if value is None else value


def service_modes(names, mode, mode_by_service):
    """{service: its authentication}: speech_lb_auth_by_service's entry, else speech_lb_auth."""
    return dict((name, mode_by_service.get(name, mode)) for name in names)


def service_sources(names, allow_from, allow_from_by_service):
    """{service: the networks it accepts connections from, [] for any}: its entry of the by-service map, else the
    fleet's list."""
    return dict((name, list(allow_from_by_service.get(name, allow_from))) for name in names)


def service_clients(names, modes, client_keys):
    """{service: [{name, key_sha256}] sorted by name} for each service that takes keys: the clients whose services
    list it, or that list none (they open every service)."""
    clients = {}
    for name in names:
        if modes[name] != KEYS:
            continue
        opened = [client for client in client_keys if name in client.get("services", [name])]
        clients[name] = [{"name": client["name"], "key_sha256": key_sha256(client["key"])}
                         for client in sorted(opened, key=lambda client: client["name"])]
    return clients


def map_content(service, clients):
    """The text of a service's map file: a comment, then <sha256> <client name> per line."""
    return MAP_HEADER.format(service=service) + "".join(
        "{0} {1}\n".format(client["key_sha256"], client["name"]) for client in clients)


def _who_set(name, mode_by_service):
    return "speech_lb_auth_by_service.{0}".format(name) if name in mode_by_service else "speech_lb_auth"


def _unplanned(variable, names, planned):
    unknown = sorted(set(names) - set(planned))
    if not unknown:
        return []
    return ["{0} names {1}, which the plan does not have (its services: {2}): fix the name, or remove it from {0}"
            .format(variable, ", ".join(unknown), ", ".join(sorted(planned)) or "none")]


def _plan_problems(services, modes, sources, clients, settings):
    """(errors, warnings) of settings that met their contract, against the plan's services."""
    mode_by_service = _setting(settings, "speech_lb_auth_by_service")
    client_keys = _setting(settings, "speech_lb_client_keys")
    tls = _setting(settings, "loadbalancer_tls")
    names = sorted(services)
    errors = _unplanned("speech_lb_auth_by_service", mode_by_service, names)
    errors += _unplanned("speech_lb_allow_from_by_service", _setting(settings, "speech_lb_allow_from_by_service"), names)
    for index, client in enumerate(client_keys):
        errors += _unplanned("speech_lb_client_keys[{0}].services".format(index), client.get("services", []), names)
    warnings = []
    for name in names:
        port = services[name].get("lb_port", "?") if isinstance(services[name], dict) else "?"
        who = _who_set(name, mode_by_service)
        if modes[name] == KEYS and not clients[name]:
            errors.append("{0} (port {1}) takes client keys ({2}: keys) but speech_lb_client_keys opens it to no "
                          "client, so it would refuse every request: add a client to speech_lb_client_keys (from the "
                          "vault; without services, or with {0} among them), or choose mtls or none for it in "
                          "speech_lb_auth_by_service".format(name, port, who))
        if modes[name] == KEYS and tls == "none" and clients[name]:
            warnings.append("WARNING: {0} (port {1}) takes client keys over plain HTTP (loadbalancer_tls: none): "
                            "anyone on the network path can read a key and use it; set loadbalancer_tls to "
                            "selfsigned or provided".format(name, port))
        if modes[name] == MTLS and tls == "none":
            errors.append("{0} (port {1}) takes client certificates ({2}: mtls), which needs TLS on the load balancer, "
                          "and loadbalancer_tls is none: set loadbalancer_tls to selfsigned or provided, or choose keys "
                          "for {0}".format(name, port, who))
        if modes[name] == MTLS and not _setting(settings, "speech_lb_client_ca"):
            errors.append("{0} (port {1}) takes client certificates ({2}: mtls) but speech_lb_client_ca is empty: set "
                          "it to the PEM of the CA that signs your clients' certificates".format(name, port, who))
        if modes[name] == NONE:
            reach = ("anyone who reaches it from {0}".format(", ".join(sources[name])) if sources[name]
                     else "anyone who reaches it")
            warnings.append("WARNING: {0} (port {1}) authenticates no client ({2}: none): {3} runs requests billed to "
                            "the Speech resource. Keep it only on a network you trust, or choose keys or mtls"
                            .format(name, port, who, reach))
    return errors, warnings


def access_plan(services, settings):
    """Each service's access from the settings ({variable: value}; a missing or null one has its default), every
    error (each naming the variable and the fix) and every warning."""
    given = dict((name, settings[name]) for name in SETTINGS if settings.get(name) is not None)
    findings = contract.check(given)
    names = sorted(services)
    result = {"services": {}, "client_ca": "", "client_ca_sha256": "", "warnings": []}
    if findings:
        secrets = contract.secrets_of(given)  # a key pasted into another variable is shown nowhere either
        result["errors"] = [contract.scrub("{0} -> {1}".format(entry["message"], entry["fix"]), secrets)
                            for entry in findings]
    else:
        modes = service_modes(names, _setting(settings, "speech_lb_auth"), _setting(settings, "speech_lb_auth_by_service"))
        sources = service_sources(names, _setting(settings, "speech_lb_allow_from"),
                                  _setting(settings, "speech_lb_allow_from_by_service"))
        clients = service_clients(names, modes, _setting(settings, "speech_lb_client_keys"))
        result["errors"], result["warnings"] = _plan_problems(services, modes, sources, clients, settings)
        result["services"] = dict((name, {"mode": modes[name], "allow_from": sources[name],
                                          "clients": clients.get(name, [])}) for name in names)
        ca = _setting(settings, "speech_lb_client_ca").strip()
        result["client_ca"] = ca + "\n" if ca else ""
        result["client_ca_sha256"] = hashlib.sha256(result["client_ca"].encode("utf-8")).hexdigest() if ca else ""
    result["ok"] = not result["errors"]
    result["text"] = format_report(result["errors"], result["warnings"])
    return result


def format_report(errors, warnings):
    if errors:
        lines = ["client access: FAILED ({0} problem{1}; nothing was changed)".format(
            len(errors), "" if len(errors) == 1 else "s")] + ["  - " + error for error in errors]
    else:
        lines = ["client access: OK" + (" with {0} warning{1}".format(len(warnings), "" if len(warnings) == 1 else "s")
                                        if warnings else "")]
    return "\n".join(lines + ["  - " + warning for warning in warnings])


def map_file(map_dir, service):
    return "{0}/client-keys-{1}.map".format(map_dir.rstrip("/"), service)


def access_files(plan, map_dir, client_ca_file):
    """{directories, files, absent} for config_files - each service that takes keys gets its map file (root:haproxy,
    0640, never shown in a diff), the client CA is written while a service takes certificates; the maps of the other
    services and an unused CA are removed - and maps, the haproxy_client_keys module's [{path, clients}]."""
    keys = [name for name, access in sorted(plan["services"].items()) if access["mode"] == KEYS]
    others = [name for name, access in sorted(plan["services"].items()) if access["mode"] != KEYS]
    mtls = any(access["mode"] == MTLS for access in plan["services"].values())
    files = [{"path": map_file(map_dir, name), "owner": "root", "group": "haproxy", "mode": "0640", "diff": False,
              "content": map_content(name, plan["services"][name]["clients"])} for name in keys]
    if mtls:
        files.append({"path": client_ca_file, "owner": "root", "group": "root", "mode": "0644",
                      "content": plan["client_ca"]})
    return {
        "directories": [{"path": map_dir, "owner": "root", "group": "haproxy", "mode": "0750"}] if keys else [],
        "files": files,
        "absent": [map_file(map_dir, name) for name in others] + ([] if mtls else [client_ca_file]),
        "maps": [{"path": map_file(map_dir, name), "clients": plan["services"][name]["clients"]} for name in keys],
    }
