"""Exceptions percepta raises for bad input: the CLI turns each into a one-line message and exit code."""


class PerceptaError(Exception):
    """Base class: a user-facing problem (bad file, bad option) with a one-line message."""


class ImageError(PerceptaError):
    """An input image is missing, unreadable, truncated, unsupported or too large."""


class ModelFileError(PerceptaError):
    """A model file is missing, corrupt, or not a percepta model."""


class WeightsError(PerceptaError):
    """The VGG-16 loss-network weights cannot be found or do not match."""


class ImageTooLargeError(ImageError):
    """An input image has more pixels than the limit (checked from its header), or trips the decompression-bomb
    guard: a limit the caller set, not a damaged file (``percepta serve`` answers 413 for it, 400 for others)."""


#: how PyTorch, ONNX Runtime and the C allocator say they ran out of memory
_OUT_OF_MEMORY = ("out of memory", "not enough memory", "allocate memory", "failed to allocate", "bad_alloc")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is running out of memory, whatever library raised it (the CLI's and the server's one test)."""
    return isinstance(exc, MemoryError) or any(words in str(exc).lower() for words in _OUT_OF_MEMORY)
