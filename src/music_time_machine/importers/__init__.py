"""Importing Spotify's data exports: reading their files and turning them into PlayRecords.

`read_export` is the entry point: it yields one FileResult per file, for the pipeline to store.
"""

from music_time_machine.importers.detect import ExportFormat
from music_time_machine.importers.export import FileResult, read_export, read_file
from music_time_machine.importers.sources import Limits, UnreadableFile

__all__ = ["ExportFormat", "FileResult", "Limits", "UnreadableFile", "read_export", "read_file"]

