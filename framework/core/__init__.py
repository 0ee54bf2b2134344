"""Values and tables every layer shares: no imports from the rest of watchkeeper."""
