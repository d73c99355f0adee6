"""Web plumbing shared by the packages that render HTML (the cashier now, the admin console later)."""
