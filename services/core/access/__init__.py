"""Who may act: JWT access tokens and the set of accounts an admin disabled."""
