"""Admin pages, one module per section."""
