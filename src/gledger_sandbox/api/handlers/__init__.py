"""Thin async handlers, one module per spec tag: parse, call the domain, serialize."""
