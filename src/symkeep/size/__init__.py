"""Exact size attribution of Go binaries (``symkeep size``): every byte to a package, table or section."""
