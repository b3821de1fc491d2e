"""Every exception the package raises on purpose, in one place.

Each is a `ValueError` (bad input, not a bug) whose message names the file, field or value at
fault, so a page can show it in a box and the CLI in one line. Keeping them here lets any layer
raise or catch any of them without importing the layer that defines the concept.
"""


class DatasetError(ValueError):
    """A data file that cannot be used, with a message naming the file and the problem."""


class ConfigError(ValueError):
    """A training configuration that cannot run, with the field and the value named."""


class ModelFileError(ValueError):
    """A model file that cannot be used, with the reason."""


class PreprocessError(ValueError):
    """The input is not an image we can preprocess (wrong dtype, shape, or absurdly large)."""


class EngineError(ValueError):
    """A run storage or study that cannot be used (unreachable database, bad URL, unknown study
    id), said in one line."""


class CLIError(Exception):
    """A problem the command line reports in one line."""
