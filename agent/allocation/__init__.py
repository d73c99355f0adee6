"""Allocation: choose a QR code and a payable amount unique within its matching scope."""
