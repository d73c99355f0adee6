"""Headless Chromium for reading provider back offices."""
