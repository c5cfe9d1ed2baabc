"""contimg: continuum imaging pipeline for the DSA-110 radio telescope."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("contimg")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
