"""The `pergen` command line: thin typer commands over the library's public verbs.

`options` declares each option once; the command modules reuse those declarations.
"""
