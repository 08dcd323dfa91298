"""Developer tools that follow a running sandbox over HTTP: ``listen`` and ``events tail``.

A client of the public API like any partner's code (it imports no api, seeding or domain
code), so it works against a local or a remote sandbox alike.
"""
