"""plane-sync: mirror folders into attachments of Plane work items."""

__version__ = "0.1.0"
