"""Stand-in for the get-pip.py that ansible-test downloads from ci-files.testing.ansible.com.

That host is not reachable from here, while PyPI is. ansible-test runs this file with get-pip's
arguments (pip options and requirement specifiers such as pip==24.2) inside a venv made without pip
and with a scrubbed environment: seed pip from the interpreter's bundled ensurepip, make the venv's
pip trust the operating system's CA bundle (as PIP_CERT does outside), then install what was asked for.
"""
import contextlib
import ensurepip
import os
import ssl
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}
CA_BUNDLE_CANDIDATES = (
    os.environ.get("PIP_CERT"),
    os.environ.get("SSL_CERT_FILE"),
    "/etc/ssl/certs/ca-certificates.crt",  # Debian/Ubuntu: the bundle update-ca-certificates maintains
    "/etc/pki/tls/certs/ca-bundle.crt",  # RHEL family
    ssl.get_default_verify_paths().cafile,
)


def system_ca_bundle():
    return next((path for path in CA_BUNDLE_CANDIDATES if path and os.path.isfile(path)), None)


def trust_system_cas_in_venv():
    venv_pip_conf = os.path.join(sys.prefix, "pip.conf")
    bundle = system_ca_bundle()
    if bundle and not os.path.exists(venv_pip_conf):
        with open(venv_pip_conf, "w") as conf:
            conf.write("[global]\ncert = %s\n" % bundle)


with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
    ensurepip.bootstrap(upgrade=True)
os.environ.pop("PIP_CONFIG_FILE", None)  # ensurepip points it at /dev/null for its own run
trust_system_cas_in_venv()
pip_arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet"] + pip_arguments))
