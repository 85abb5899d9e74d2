"""The project's one base exception and its subclasses.

Every message names what the user has to fix: the file and line, the record, or the flag.
"""

from __future__ import annotations


class JourneyTriggersError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(JourneyTriggersError):
    """A flag, a config value or a duration is invalid."""


class BrokerError(JourneyTriggersError):
    """The local broker could not be started, reached or stopped."""


class InputFileError(JourneyTriggersError):
    """An input file could not be read; the message names the file and line."""
