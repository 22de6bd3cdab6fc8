"""exporter: a nightly encrypted archive of a home-care agency's cloud apps, printable care
plans from it with no network, and restore into another vendor."""

__version__ = "0.1.0"
