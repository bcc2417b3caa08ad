"""Container settings the way ASP.NET Core configuration reads them.

Sources, later ones win: environment variables (``__`` separates sections), then the
``Key=Value`` words after the image name (``:`` separates sections). Keys are
case-insensitive. Words without ``=`` (display model types such as ``FullDisplay``) are kept
as they are written, in order, in ``words``.
"""
import os


class SettingsError(Exception):
    """A setting is missing or invalid: the container refuses to start."""


def normalize_key(key):
    return key.replace("__", ":").strip().lower()


class Settings:
    def __init__(self, values=None, words=()):
        self._values = dict(values or {})
        self.words = list(words)

    @classmethod
    def from_sources(cls, argv, environ=None):
        values, words = {}, []
        for name, value in (os.environ if environ is None else environ).items():
            values[normalize_key(name)] = value
        for word in argv:
            key, sep, value = word.partition("=")
            if not key.strip():
                raise SettingsError(f"Cannot read the argument {word!r}: expected Key=Value.")
            if sep:
                values[normalize_key(key)] = value
            else:
                words.append(word.strip())
        return cls(values, words)

    def get(self, key, default=None):
        value = self._values.get(normalize_key(key))
        return default if value is None or value == "" else value

    def has(self, key):
        return self.get(key) is not None

    def flag(self, key, default=False):
        value = self.get(key)
        if value is None:
            return default
        return value.strip().lower() in ("true", "1", "yes", "on")

    def number(self, key, default):
        value = self.get(key)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise SettingsError(f"The setting {key} must be a number, got {value!r}.") from None

    def redacted(self):
        """The user settings (not the whole environment) with secrets masked, for a debug log line."""
        shown = ("eula", "billing", "apikey", "mounts:", "logging:", "modelid", "basemodellocale", "downloadlicense",
                 "emulator:", "http_proxy", "https_proxy", "no_proxy", "displaylocale", "rescoreid", "punctid",
                 "resegmentid", "wfstitnid")
        return {k: ("***" if any(s in k for s in ("key", "creds", "password", "secret")) else v)
                for k, v in sorted(self._values.items()) if k.startswith(shown)}

    def section(self, prefix):
        """Keys under ``prefix:``, with the prefix removed (for logging what was set)."""
        start = normalize_key(prefix) + ":"
        return {k[len(start):]: v for k, v in self._values.items() if k.startswith(start)}
