"""A stand-in with the shape of the NemesisDB Python client's package.

Written for ndb's tests (not NemesisDB's code): `connection.py` and
`client.py` reproduce what the reply-size recipe in docs/clients.md relies
on and what makes the real client hang on a large reply.
"""
