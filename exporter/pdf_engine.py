"""WeasyPrint, loaded in one place so that a missing Pango says what to install.

WeasyPrint is a pip dependency, but the Pango, HarfBuzz and GLib libraries it loads at import
are not: on a fresh Windows PC ``import weasyprint`` raises OSError ("cannot load library
'libgobject-2.0-0'"), and every ``print`` and ``init --recovery-sheet x.pdf`` ended in
"unexpected problem". Here that becomes :class:`NoPdfEngine` with the fix, per WeasyPrint's
installation docs; ``print --format html`` and the browser's own print need none of it.
"""

from __future__ import annotations

from types import ModuleType

from exporter.errors import NoPdfEngine

__all__ = ["FIX", "load_weasyprint"]

FIX = ("install the Pango libraries it needs (Windows: the GTK3 runtime, or MSYS2 with "
       "'pacman -S mingw-w64-x86_64-pango' and WEASYPRINT_DLL_DIRECTORIES set to its bin "
       "folder; macOS: 'brew install pango'; Linux: the pango package), or print with "
       "'--format html' and use the browser's Print")


def load_weasyprint() -> ModuleType:
    """The ``weasyprint`` module, or :class:`NoPdfEngine` with the fix when its system
    libraries (or WeasyPrint itself) cannot be loaded."""
    try:
        import weasyprint
    except OSError as exc:  # cffi's dlopen of Pango/GObject failed
        raise NoPdfEngine(f"PDF files cannot be made on this computer because WeasyPrint's "
                          f"system libraries are missing; {FIX}.") from exc
    except ImportError as exc:
        raise NoPdfEngine(f"PDF files cannot be made because WeasyPrint is not installed "
                          f"('pip install weasyprint'); then {FIX}.") from exc
    return weasyprint
