"""Stage functions, one module per part of the asset graph."""
