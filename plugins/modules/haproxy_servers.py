#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: haproxy_servers
short_description: Drain, enable or reconcile speech backends in HAProxy through its runtime API
description:
  - Changes the admin state of several HAProxy servers in one call, through the stats socket (no reload), and waits
    for the outcome.
  - V(drained) sets every server to DRAIN at once (no new connections; established ones, such as speech to text
    WebSocket sessions, go on), waits until they have no sessions left or O(drain_timeout) passes, then sets them to
    MAINT. Sessions still open at the timeout are shut down and counted in RV(servers[].cut_sessions).
  - V(ready) sets every server to READY and waits until its health check says UP; fails when one is not UP within
    O(up_timeout).
  - V(drain) only sets DRAIN and returns. With several load balancers, set V(drain) on all of them first, then
    V(drained) on each, so that none of them keeps sending new sessions while another one waits.
  - V(maint) sets every server to MAINT at once, without waiting for its sessions.
  - V(reconcile) asks each server's O(servers[].ready_url) from the host the module runs on (the load balancer) and sets
    the servers that answer HTTP 200 to READY, and every other one to MAINT, so that no server is left in DRAIN
    whatever happened before (an interrupted rollout). It fails only when the socket cannot be used.
  - HAProxy's C(server-state-file) keeps these states across reloads, when the load balancer saves it before each reload.
version_added: "0.1.0"
author:
  - speechops team (@speechops)
options:
  socket:
    description: Path of HAProxy's stats socket, configured with C(level admin).
    type: path
    default: /run/haproxy/admin.sock
  servers:
    description: The servers to change.
    type: list
    elements: dict
    required: true
    suboptions:
      backend:
        description: Backend name (the speech service).
        type: str
        required: true
      server:
        description: Server name (the speech container).
        type: str
        required: true
      ready_url:
        description: The container's C(/ready) URL as the load balancer reaches it; required for O(state=reconcile).
        type: str
  state:
    description: The admin state to reach; see the description.
    type: str
    required: true
    choices: [drain, drained, ready, maint, reconcile]
  drain_timeout:
    description: Longest wait, in seconds, for the sessions of draining servers to end.
    type: int
    default: 600
  up_timeout:
    description: Longest wait, in seconds, for servers set to READY to pass their health check.
    type: int
    default: 60
  interval:
    description: Seconds between two looks at C(show stat).
    type: float
    default: 1.0
  missing:
    description: What to do about servers HAProxy does not have (its configuration is older than the plan).
    type: str
    choices: [fail, ignore]
    default: fail
  unavailable:
    description:
      - What to do when nothing answers on O(socket) (HAProxy is stopped, or stopping for a maintenance).
      - V(skip) returns RV(unavailable) true and changes nothing, for load balancers behind a VIP that cannot take the
        VIP again before they are reconciled (the loadbalancer role's check); V(fail) fails.
    type: str
    choices: [fail, skip]
    default: fail
notes:
  - Needs no extra package on the load balancer; it speaks to the socket with the Python standard library.
  - The O(servers[].ready_url) requests never use a proxy.
  - No secret goes into the result, whatever HAProxy or a container's C(/ready) answered. A URL's password, the values
    of C(ApiKey), C(Authorization) and the like are masked as C(<masked>), by the scrubber of the filter
    P(speechops.speech.speech_scrub#filter).
seealso:
  - module: community.general.haproxy
    description: One server per call, and a drain that fails at its timeout instead of shutting the rest down.
extends_documentation_fragment:
  - speechops.speech.attributes
attributes:
  check_mode:
    support: full
    details: Reports which servers would change, changing none.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Drain a speech container from a load balancer, at most 10 minutes
  speechops.speech.haproxy_servers:
    servers:
      - {backend: stt-en-us, server: speech-stt-en-us-1}
    state: drained
    drain_timeout: 600
  delegate_to: lb1

- name: Let no backend of a host stay drained after a rollout
  speechops.speech.haproxy_servers:
    servers:
      - {backend: stt-en-us, server: speech-stt-en-us-1, ready_url: "http://10.0.0.11:5100/ready"}
    state: reconcile
  delegate_to: lb1
"""

RETURN = r"""
unavailable:
  description: True when nothing answered on O(socket) and O(unavailable=skip) skipped this load balancer.
  returned: always
  type: bool
servers:
  description: One entry per server of O(servers) that HAProxy has.
  returned: always
  type: list
  elements: dict
  contains:
    backend: {description: Backend name., type: str, returned: always}
    server: {description: Server name., type: str, returned: always}
    before: {description: "C(show stat) status before the change, for example C(UP) or C(MAINT).", type: str, returned: always}
    after: {description: C(show stat) status at the end., type: str, returned: always}
    target: {description: "The admin state chosen: V(ready), V(drain), V(drained) or V(maint).", type: str, returned: always}
    sessions: {description: Sessions on the server when the module started., type: int, returned: always}
    cut_sessions: {description: Sessions shut down at the drain timeout., type: int, returned: always}
    healthy:
      description: With O(state=reconcile), whether O(servers[].ready_url) answered HTTP 200; else null.
      type: bool
      returned: always
    reason: {description: "What the ready check or the wait found, in words.", type: str, returned: always}
  sample:
    - {backend: stt-en-us, server: speech-stt-en-us-1, before: UP, after: MAINT, target: drained, sessions: 2,
       cut_sessions: 0, healthy: null, reason: "drained in 4.0 s"}
missing:
  description: Servers of O(servers) that HAProxy does not have, as C(backend/server).
  returned: always
  type: list
  elements: str
waited_seconds:
  description: Time spent waiting for sessions to end or checks to pass.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib import request as urllib_request
from ansible_collections.speechops.speech.plugins.module_utils import haproxy
from ansible_collections.speechops.speech.plugins.module_utils._scrub import scrub


def argument_spec():
    return dict(
        socket=dict(type="path", default="/run/haproxy/admin.sock"),
        servers=dict(type="list", elements="dict", required=True, options=dict(
            backend=dict(type="str", required=True),
            server=dict(type="str", required=True),
            ready_url=dict(type="str"),
        )),
        state=dict(type="str", required=True, choices=["drain", "drained", "ready", "maint", "reconcile"]),
        drain_timeout=dict(type="int", default=600),
        up_timeout=dict(type="int", default=60),
        interval=dict(type="float", default=1.0),
        missing=dict(type="str", choices=["fail", "ignore"], default="fail"),
        unavailable=dict(type="str", choices=["fail", "skip"], default="fail"),
    )


def ready_check(url, timeout=3.0):
    """(healthy, reason) from GET url, without any proxy."""
    opener = urllib_request.build_opener(urllib_request.ProxyHandler({}))
    try:
        answer = opener.open(url, timeout=timeout)
        code = answer.getcode()
        answer.close()
    except Exception as error:  # HTTPError (503 while warming up), URLError, timeouts: all mean "not ready"
        code = getattr(error, "code", None)
        return False, "%s answered %s" % (url, code if code is not None else error)
    return code == 200, "%s answered %s" % (url, code)


class ServerSet:
    """The requested servers, their results, and the waits on `show stat`."""

    def __init__(self, api, servers, interval):
        self.api = api
        self.interval = interval
        self.stat = api.stat()
        self.missing = haproxy.missing_servers(servers, self.stat)
        self.present = [server for server in servers if (server["backend"], server["server"]) in self.stat]
        self.results = {}
        for server in self.present:
            now = self.stat[(server["backend"], server["server"])]
            self.results[self._key(server)] = dict(
                backend=server["backend"], server=server["server"], before=now["status"], after=now["status"],
                target=None, sessions=now["sessions"], cut_sessions=0, healthy=None, reason="")
        self.waited = 0.0

    @staticmethod
    def _key(server):
        return (server["backend"], server["server"])

    def result(self, server):
        return self.results[self._key(server)]

    def refresh(self):
        self.stat = self.api.stat()
        for key, result in self.results.items():
            if key in self.stat:
                result["after"] = self.stat[key]["status"]

    def wait(self, servers, done, timeout):
        """Poll until done(stat entry) holds for every server or timeout; returns the servers still not done."""
        started = time.time()
        pending = list(servers)
        while pending:
            self.refresh()
            pending = [server for server in pending if not done(self.stat.get(self._key(server)))]
            if not pending or time.time() - started >= timeout:
                break
            time.sleep(self.interval)
        self.waited += time.time() - started
        return pending


DRAIN_ONLY = "drain"


def would_change(status, target):
    """Whether reaching target changes the admin state of a server now in `show stat` status."""
    admin = haproxy.admin_state(status)
    if target == DRAIN_ONLY:
        return admin == haproxy.READY
    if target == haproxy.DRAINED:
        return admin != haproxy.MAINT  # drained ends in MAINT
    return admin != target


def apply_drain(servers, server_set):
    for server in servers:
        if haproxy.admin_state(server_set.result(server)["after"]) == haproxy.READY:
            server_set.api.set_state(server, haproxy.DRAINED)
        server_set.result(server)["reason"] = "no new sessions"
    server_set.refresh()


def apply_drained(servers, server_set, timeout):
    api = server_set.api
    apply_drain(servers, server_set)  # a server already in MAINT takes no new sessions either
    started = time.time()
    still_busy = server_set.wait(servers, lambda entry: entry is None or entry["sessions"] == 0, timeout)
    for server in servers:
        api.set_state(server, haproxy.MAINT)
        result = server_set.result(server)
        if server in still_busy:
            entry = server_set.stat[server_set._key(server)]
            result["cut_sessions"] = entry["sessions"]
            api.shutdown_sessions(server, websocket=entry["websocket"])
            result["reason"] = "%d session(s) still open after the %d s drain timeout were shut down" % (result["cut_sessions"], timeout)
        else:
            result["reason"] = "drained in %.1f s" % (time.time() - started)
    server_set.refresh()


def apply_ready(servers, server_set, timeout):
    for server in servers:
        current = haproxy.admin_state(server_set.result(server)["after"])
        if current != haproxy.READY:
            server_set.api.set_state(server, haproxy.READY, current)
    not_up = server_set.wait(servers, lambda entry: entry is not None and haproxy.is_up(entry["status"]), timeout)
    for server in servers:
        result = server_set.result(server)
        if server in not_up:
            check = server_set.stat.get(server_set._key(server), {}).get("check", "")
            result["reason"] = "not UP after %d s (status %s, last check %s)" % (timeout, result["after"], check or "none")
        elif not result["reason"]:
            result["reason"] = "UP"
    return not_up


def apply_maint(servers, server_set):
    for server in servers:
        if haproxy.admin_state(server_set.result(server)["after"]) != haproxy.MAINT:
            server_set.api.set_state(server, haproxy.MAINT)
    server_set.refresh()


def run(module):
    params = module.params
    state = params["state"]
    if state == haproxy.RECONCILE:
        without_url = [haproxy.server_ref(server) for server in params["servers"] if not server.get("ready_url")]
        if without_url:
            module.fail_json(msg="state=reconcile needs servers[].ready_url; missing for %s" % ", ".join(without_url))
    for name in ("drain_timeout", "up_timeout"):
        if params[name] < 0:
            module.fail_json(msg="%s must be 0 or more seconds" % name)
    if not params["interval"] > 0:
        module.fail_json(msg="interval must be more than 0 seconds")

    api = haproxy.RuntimeApi(params["socket"])
    server_set = ServerSet(api, params["servers"], params["interval"])
    if server_set.missing and params["missing"] == "fail":
        module.fail_json(msg="HAProxy at %s has no server %s: apply the loadbalancer role first (its configuration is older "
                             "than the plan)" % (params["socket"], ", ".join(server_set.missing)), missing=server_set.missing)

    targets = {}
    for server in server_set.present:
        result = server_set.result(server)
        if state == haproxy.RECONCILE:
            result["healthy"], result["reason"] = ready_check(server["ready_url"])
            targets[server_set._key(server)] = haproxy.reconcile_target(result["healthy"])
        else:
            targets[server_set._key(server)] = state
        result["target"] = targets[server_set._key(server)]

    changed = any(would_change(server_set.result(server)["before"], targets[server_set._key(server)]) for server in server_set.present)
    not_up = []
    if not module.check_mode:
        def with_target(target):
            return [server for server in server_set.present if targets[server_set._key(server)] == target]

        apply_drain(with_target(DRAIN_ONLY), server_set)
        apply_drained(with_target(haproxy.DRAINED), server_set, params["drain_timeout"])
        apply_maint(with_target(haproxy.MAINT), server_set)
        not_up = apply_ready(with_target(haproxy.READY), server_set, params["up_timeout"])

    result = dict(changed=changed, unavailable=False, servers=[server_set.result(server) for server in server_set.present],
                  missing=server_set.missing, waited_seconds=round(server_set.waited, 1))
    # what HAProxy and the containers' /ready said goes into the result: scrubbed, so that no secret does
    if not_up and state == haproxy.READY:
        module.fail_json(**scrub(dict(result, msg="HAProxy does not see %s UP: %s" % (
            ", ".join(haproxy.server_ref(server) for server in not_up),
            "; ".join("%s: %s" % (haproxy.server_ref(server), server_set.result(server)["reason"]) for server in not_up)))))
    module.exit_json(**scrub(result))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        run(module)
    except haproxy.RuntimeApiUnavailable as error:
        # HAProxy stopped before or while this module used it
        if module.params["unavailable"] != "skip":
            module.fail_json(msg=scrub(str(error)))
        module.exit_json(changed=False, unavailable=True, servers=[], missing=[], waited_seconds=0,
                         msg=scrub("HAProxy does not answer on %s (%s): skipped" % (module.params["socket"], error.reason)))
    except haproxy.RuntimeApiError as error:
        module.fail_json(msg=scrub(str(error)))


if __name__ == "__main__":
    main()
