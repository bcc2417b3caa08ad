#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: haproxy_client_keys
short_description: Give HAProxy's running maps the accepted client keys, without a reload
description:
  - Makes each map of O(maps) in the running HAProxy hold exactly the given clients, one entry per client, the SHA-256 of
    its key to its name, through the runtime API (the stats socket), without a reload.
  - A map that differs is replaced at once (C(prepare map), C(add map @<version>), C(commit map)), so that every request
    sees either all the old entries or all the new ones, never a map in between; during a key rotation a client is
    therefore never refused for a key that was accepted before and after.
  - The role C(speechops.speech.loadbalancer) writes the same entries into the map file first (the file HAProxy loads at
    its next start or reload), then runs this module.
  - Never receives a key, only its SHA-256, and never returns that either, only the clients' names.
version_added: "0.2.0"
author:
  - speechops team (@speechops)
options:
  socket:
    description: Path of HAProxy's stats socket, configured with C(level admin).
    type: path
    default: /run/haproxy/admin.sock
  maps:
    description: The maps to set.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: The map file, as haproxy.cfg names it in its C(map()) converter.
        type: path
        required: true
      clients:
        description: Every client the map accepts.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The client's name (the map's value; HAProxy's log shows it).
            type: str
            required: true
          key_sha256:
            description: The SHA-256 of the client's key, 64 lowercase hex digits (the map's key).
            type: str
            required: true
  missing:
    description:
      - A map the running configuration does not use (haproxy.cfg was not reloaded since it named it) - V(fail), or
        V(ignore) it (check mode before the reload that loads it).
    type: str
    choices: [fail, ignore]
    default: fail
  unavailable:
    description: Nothing answers on O(socket) (HAProxy stopped) - V(fail), or V(skip) (the file is loaded at its start).
    type: str
    choices: [fail, skip]
    default: fail
extends_documentation_fragment:
  - speechops.speech.attributes
attributes:
  check_mode:
    support: full
    details: Reports which clients each map would gain and lose, changing nothing.
  diff_mode:
    support: none
notes:
  - Needs HAProxy 2.4 or later (versioned maps); Debian bookworm ships 2.6.
  - A removed key is refused from the next request on; a WebSocket already open with it goes on to its end, since HAProxy
    checks a key once, on the upgrade request.
seealso:
  - module: speechops.speech.haproxy_servers
"""

EXAMPLES = r"""
- name: Accept the clients of speech_lb_client_keys on stt-en-us at once
  speechops.speech.haproxy_client_keys:
    maps:
      - path: /etc/haproxy/speechops/client-keys-stt-en-us.map
        clients:
          - {name: billing-app, key_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8}
"""

RETURN = r"""
unavailable:
  description: True when nothing answered on O(socket) and O(unavailable=skip) skipped this load balancer.
  returned: always
  type: bool
maps:
  description: One entry per map of O(maps).
  returned: always
  type: list
  elements: dict
  contains:
    path: {description: The map file., type: str, returned: always}
    loaded: {description: Whether the running configuration uses the map., type: bool, returned: always}
    added:
      description: Names of the clients the map gains (a new key of a known name counts as added and removed).
      type: list
      elements: str
      returned: always
    removed: {description: Names of the clients the map loses., type: list, elements: str, returned: always}
    clients:
      description: Names of every client the map accepts now (in check mode, would accept).
      type: list
      elements: str
      returned: always
  sample:
    - {path: /etc/haproxy/speechops/client-keys-stt-en-us.map, loaded: true, added: [billing-app-2], removed: [],
       clients: [billing-app, billing-app-2]}
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.speech.plugins.module_utils import haproxy

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def argument_spec():
    return dict(
        socket=dict(type="path", default="/run/haproxy/admin.sock"),
        maps=dict(type="list", elements="dict", required=True, options=dict(
            path=dict(type="path", required=True),
            clients=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                key_sha256=dict(type="str", required=True, no_log=True),
            )),
        )),
        missing=dict(type="str", choices=["fail", "ignore"], default="fail"),
        unavailable=dict(type="str", choices=["fail", "skip"], default="fail"),
    )


def wanted_entries(clients):
    """{key_sha256: name}; ValueError for what HAProxy's map would not hold as one entry."""
    entries = {}
    for client in clients:
        if not SHA256_RE.match(client["key_sha256"]):
            raise ValueError("client %s: key_sha256 must be 64 lowercase hex digits" % client["name"])
        if not NAME_RE.match(client["name"]):
            raise ValueError("client name %r: 1-64 letters, digits and _ . @ -" % client["name"])
        entries[client["key_sha256"]] = client["name"]
    return entries


def difference(current, wanted):
    """(added, removed): the names of the entries only wanted, and of those only current."""
    added = sorted(name for key, name in wanted.items() if current.get(key) != name)
    removed = sorted(name for key, name in current.items() if wanted.get(key) != name)
    return added, removed


def run(module):
    params = module.params
    api = haproxy.RuntimeApi(params["socket"])
    results, not_loaded = [], []
    for entry in params["maps"]:
        wanted = wanted_entries(entry["clients"])
        current = api.show_map(entry["path"])
        if current is None:
            not_loaded.append(entry["path"])
            results.append(dict(path=entry["path"], loaded=False, added=sorted(wanted.values()), removed=[],
                                clients=sorted(wanted.values())))
            continue
        added, removed = difference(current, wanted)
        if (added or removed) and not module.check_mode:
            api.replace_map(entry["path"], wanted)
            if api.show_map(entry["path"]) != wanted:
                module.fail_json(msg="HAProxy's map %s does not hold the clients it was given after the commit"
                                     % entry["path"], maps=results)
        results.append(dict(path=entry["path"], loaded=True, added=added, removed=removed, clients=sorted(wanted.values())))
    if not_loaded and params["missing"] == "fail":
        module.fail_json(msg="HAProxy at %s does not use %s: its running configuration is older than the map (apply the "
                             "loadbalancer role, playbooks/loadbalancer.yml, which reloads it)"
                             % (params["socket"], ", ".join(not_loaded)), maps=results, unavailable=False)
    changed = any(result["added"] or result["removed"] for result in results if result["loaded"])
    module.exit_json(changed=changed, unavailable=False, maps=results)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        run(module)
    except haproxy.RuntimeApiUnavailable as error:
        if module.params["unavailable"] != "skip":
            module.fail_json(msg=str(error))
        module.exit_json(changed=False, unavailable=True, maps=[],
                         msg="HAProxy does not answer on %s (%s): skipped; it loads the map files when it starts"
                             % (module.params["socket"], error.reason))
    except (haproxy.RuntimeApiError, ValueError) as error:
        module.fail_json(msg=str(error))


if __name__ == "__main__":
    main()
