"""The package's input error: a leaf module, so every layer (config, schema, launch, train, report) can raise it
without importing the config machinery."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad configuration input; the message is one line that names the problem and the fix."""
