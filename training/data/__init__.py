"""Data sets: declared once with provenance (sources.py), parsed by one module each."""
