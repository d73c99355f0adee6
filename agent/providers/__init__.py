"""How mapay learns about payments: the Provider interface and its implementations."""
