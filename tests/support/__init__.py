"""Helpers the tests share and the product does not carry."""
