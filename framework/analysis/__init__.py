"""Frame analysis: the compiled kernel, metrics and the image checks that judge them."""
