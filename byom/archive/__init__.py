"""Opening a model.tar.gz without trusting it: `byom unpack` and the checked extraction it uses.

Owns: the refusals (absolute names, `..`, links, devices, too many members or bytes, a gzip bomb)
and the staged extraction that writes nothing unless every member passed. Must not know AWS.
"""
