"""Importers: official checkpoint files of the peers and of the Danna-Sep authors, converted into
the project's checkpoint format (``dannasep import KIND FILE -o DIR``). See `registry`."""
