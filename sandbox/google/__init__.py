"""The Google emulator (Drive v3, Sheets v4, Calendar v3 on one server).
:class:`GoogleEmulator` is in ``emulator``; each API has its module (``drive``, ``sheets``,
``calendar``) over the shared state and plumbing (``workspace``); ``query`` parses Drive's
``q``, partial-response ``fields`` and A1 ranges; the data model is ``store``, its
generation from the agency and time travel ``agency_data``, generated file bodies
``content``.
"""

from sandbox.google.emulator import GoogleEmulator

__all__ = ["GoogleEmulator"]
