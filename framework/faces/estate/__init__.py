"""The estate: a central service that site appliances push their heads, verdicts and findings to."""
