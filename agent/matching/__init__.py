"""Matching provider transactions to orders."""
