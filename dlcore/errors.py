"""Typed exceptions raised by dlcore; pages turn them into friendly messages."""


class DlcoreError(Exception):
    """Base class for every error dlcore raises on purpose.

    The message may be a ``dlcore.i18n.Message``: ``str(error)`` then reads it in the
    language of whoever shows it, which may be another learner than the one who caused it.
    """

    @property
    def message(self):
        """The message as raised (a ``Message`` or plain text), before it is read."""
        return self.args[0] if self.args else ""


class DataUnavailable(DlcoreError):
    """A dataset file is missing or corrupt; the message says how to fix it."""


class InvalidDataset(DlcoreError):
    """An uploaded dataset cannot be used; the message names the problem."""


class InvalidImage(DlcoreError):
    """An uploaded image cannot be turned into a digit; the message says why."""


class CacheError(DlcoreError):
    """The result cache could not read or write an entry."""


class TrainingFailed(DlcoreError):
    """A training job failed; the message says what went wrong."""


class QueueFull(DlcoreError):
    """Too many trainings are waiting on this server; the message asks to try again later."""


class TrainingTooLarge(DlcoreError, ValueError):
    """A config would train for too long on a shared server; the message says what to lower.

    A ValueError too: it is a config that fails validation, like any out-of-range setting.
    """


class InvalidNetwork(DlcoreError, ValueError):
    """A weight, input, target, learning rate or step count is outside what the Forward &
    backward lesson accepts; the message names the value and its bounds."""


class TrainingServiceUnavailable(DlcoreError):
    """The shared training service (Redis and its workers) cannot be reached right now."""
