"""The ``iterate`` command line, one module per command group (:mod:`iterate.commands.cli`
builds the parser)."""
