"""Exceptions raised by nanocomplete. Each says what went wrong and, where it can, what to run.

NanocompleteError
 ├── ModelError               a model cannot be used
 │    ├── UnknownModelError   a name that is neither in the registry nor a .gguf path
 │    ├── ModelMissingError   a registered model that has not been pulled yet
 │    └── ModelCorruptError   a file whose size or SHA-256 differs from the registry's
 ├── PullError                fetching or assembling a model failed (nothing is left behind)
 ├── EngineError              llama.cpp failed to load a model or to evaluate a batch
 ├── PromptError              a request cannot be turned into a prompt (bad cursor, too small a budget)
 └── Cancelled                a caller asked a running completion to stop

The CLI turns these into messages and exit codes; the server turns them into JSON errors.
"""


class NanocompleteError(Exception):
    """Base class of every error nanocomplete raises on purpose."""


class ModelError(NanocompleteError):
    """A model cannot be used."""


class UnknownModelError(ModelError):
    """The name is neither a registered model nor a path to a .gguf file."""


class ModelMissingError(ModelError):
    """A registered model has not been pulled into the cache yet."""


class ModelCorruptError(ModelError):
    """A model file does not match the size or SHA-256 the registry expects."""


class PullError(NanocompleteError):
    """Fetching or assembling a model failed."""


class EngineError(NanocompleteError):
    """llama.cpp failed."""


class PromptError(NanocompleteError):
    """The request cannot be turned into a prompt."""


class Cancelled(NanocompleteError):
    """The caller cancelled the request."""
